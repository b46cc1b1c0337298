"""Which dev and test videos a score covers.

A test score on fewer videos than the release's, or on videos whose damaged frames were replaced,
does not compare with the paper's; the report says so in its first lines and `metrics.json`
carries the counts. Videos leave a split at ingestion (`prepare`'s skipped.tsv, under
`dataset.skip_bad_items`) or at decode (recorded in the frame store); repaired frames are counted
by the frame store (`sign2gpt.data.video.read_repaired_frames`).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from typing import Any

from sign2gpt.data.frame_store import FrameStore
from sign2gpt.data.manifest import read_manifest

SHOWN = 3  # left-out videos named in the line


def split_coverage(split: str, manifest: str, prepare_skipped: str, frames: Sequence[str],
                   scored: int) -> dict[str, Any]:
    """{videos, scored, left_out: {id: reason}, repaired: {id: frames}} of one split: `videos` counts
    the split as annotated (the manifest plus what prepare left out), `scored` the videos with a
    hypothesis."""
    with open(prepare_skipped, encoding="utf-8", newline="") as f:
        at_prepare = {row["id"]: f"prepare: {row['reason']}" for row in csv.DictReader(f, delimiter="\t")
                      if row["split"] == split}
    samples = read_manifest(manifest)
    with FrameStore(list(frames)) as store:
        at_decode = {s.id: f"decode: {store.left_out.get(s.id, 'not in the frame store')}"
                     for s in samples if s.id not in store}
        repaired = {s.id: n for s in samples if s.id in store and (n := store.repaired_frames(s.id))}
    return {"videos": len(samples) + len(at_prepare), "scored": int(scored), "left_out": at_prepare | at_decode,
            "repaired": repaired}


def altered(coverage: Mapping[str, Any]) -> bool:
    """Whether a split was scored on fewer or repaired videos."""
    return coverage["scored"] < coverage["videos"] or bool(coverage["repaired"])


def coverage_line(split: str, c: Mapping[str, Any]) -> str:
    """"test: 640 of 642 videos scored, 2 with repaired frames (7 frames); left out: a (reason), …"."""
    line = f"{split}: {c['scored']} of {c['videos']} videos scored"
    n_rep = len(c["repaired"])
    line += (f", {n_rep} with repaired frames ({sum(c['repaired'].values())} frames replaced by a whole neighbour)"
             if n_rep else ", none with repaired frames")
    if c["left_out"]:
        named = "; ".join(f"{vid} ({why})" for vid, why in list(c["left_out"].items())[:SHOWN])
        line += f"; left out: {named}{'; …' if len(c['left_out']) > SHOWN else ''}"
    return line


def coverage_note(coverage: Mapping[str, Mapping[str, Any]]) -> str:
    """The report's first line: every split's counts, and a caution when one was altered."""
    lines = "; ".join(coverage_line(split, c) for split, c in coverage.items())
    if any(altered(c) for c in coverage.values()):
        return (f"Videos: {lines}. A split scored on fewer videos, or on repaired ones, is not the release's: its "
                f"scores do not compare with papers that score the full split.")
    return f"Videos: {lines}."


def split_note(record: Mapping[str, Any]) -> str:
    """Which split the scores are on (prepare's split.json)."""
    signers = ", ".join(record.get("test_signers", [])) or "not named"
    if record["policy"] == "official":
        return f"Split: the corpus's own (test signers: {signers})."
    how = (f"fold {record['fold']} of {record['folds']} of the signers" if "folds" in record
           else "the named signers")
    return (f"Split: signer-independent ({how} held out of training and development: {signers}). These scores "
            f"are on unseen signers and do not compare with scores on the corpus's official split.")
