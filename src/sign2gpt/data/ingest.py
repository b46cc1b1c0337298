"""Ingestion: a corpus in its release layout -> one manifest per split (`{out_dir}/{split}.tsv`).

Kinds:
- `synthetic`: the generated corpus, in the PHOENIX-2014T layout with mp4 videos and a segments
  file per split (docs/architecture.md).
- `phoenix14t`: the official release: `annotations/manual/PHOENIX-2014-T.{split}.corpus.csv` and
  PNG frame folders under `features/fullFrame-210x260px/{split}/`.
- `csldaily`: the release: `sentence_label/split_1.txt`, `sentence_label/csl2020ct_v2.pkl` (read
  with an unpickler that only builds plain containers) and JPEG frame folders under
  `sentence/frames_512x512/`.
- `how2sign`: the release (ASL -> English): the realigned sentence tables
  `how2sign_realigned_{train,val,test}.csv` (tab-separated: VIDEO_ID, VIDEO_NAME, SENTENCE_ID,
  SENTENCE_NAME, START_REALIGNED, END_REALIGNED, SENTENCE) and the sentence clips
  `{train,val,test}_rgb_front_clips/raw_videos/<SENTENCE_NAME>.mp4`; `val` is the dev split. The
  tables name no signer (the per-signer report says so).
- `folder`: any videos (or frame folders) under a root with a CSV index: id,file,split,text
  (optional signer, glosses).

Problems with the corpus as a whole (a missing annotation file or column, duplicate ids, a path
that leaves the root, text that is not UTF-8) are errors. A video loses frames before it is lost:
damaged frames (zero-byte, foreign or truncated files: `video.check_frames`) up to
`max_bad_frame_share` of a video's frames are listed in the manifest's `bad_frames`, and decode
replaces them. Problems with one video beyond that (missing, unreadable, too many damaged frames,
empty text) make it bad: every item is checked, then the bad ones are one error that counts them,
or with skip_bad_items they are left out and listed in `{out_dir}/skipped.tsv` (always written, so a
workflow can declare it).
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from sign2gpt.core.errors import ConfigError, DataError
from sign2gpt.core.io import load_plain_pickle, write_json, write_text
from sign2gpt.data.manifest import Sample, parse_segments, spans, write_manifest
from sign2gpt.data.release_paths import (
    CSL_FRAMES,
    CSL_PICKLE,
    CSL_SPLIT_FILE,
    PHOENIX_FRAMES,
    how2sign_clips,
    how2sign_table,
    phoenix_corpus_csv,
)
from sign2gpt.data.video import FrameCheck, check_damage, check_frames

log = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")


@dataclass
class _Item:
    """A video as the annotations describe it, before its frames are counted."""

    split: str
    id: str
    path: Path
    where: str  # file:line of the annotation, for messages
    signer: str = ""
    text: str = ""
    glosses: list[str] = field(default_factory=list)
    segments: list[tuple[int, int]] = field(default_factory=list)
    problem: str | None = None  # found while parsing; the item is bad


# ---------------------------------------------------------------------------------------------
# Reading annotation files


def _read_utf8(path: Path) -> str:
    if not path.is_file():
        raise DataError(str(path), "annotation file not found")
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}", f"not valid UTF-8 (byte {data[e.start]:#04x})") from None


def _read_table(
    path: Path, delimiter: str, required: tuple[str, ...]
) -> list[tuple[int, dict[str, str]]]:
    """Rows of a delimited file with a header, as (line number, {column: value})."""
    text = _read_utf8(path)
    quoting = csv.QUOTE_NONE if delimiter == "|" else csv.QUOTE_MINIMAL  # the PHOENIX files have no quoting
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as e:
        raise DataError(f"{path}:1", f"malformed CSV header: {e}") from None
    if header is None:
        raise DataError(str(path), "empty file (no header)")
    header = [h.strip() for h in header]
    missing = [c for c in required if c not in header]
    if missing:
        raise DataError(str(path), f"missing column(s) {', '.join(missing)} (header: {delimiter.join(header)})")
    rows = []
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:  # an unterminated quote, a field over the csv module's limit
            raise DataError(f"{path}:{start}", f"malformed CSV row: {e}") from None
        if not row or all(not v.strip() for v in row):
            continue
        if len(row) != len(header):
            raise DataError(f"{path}:{reader.line_num}", f"{len(row)} fields, the header has {len(header)}")
        rows.append((reader.line_num, {h: v.strip() for h, v in zip(header, row)}))
    return rows


def _clean_text(text: str) -> str:
    """One line, single spaces (tabs and line breaks cannot go into a TSV field)."""
    return " ".join(text.split())


def _inside(root: Path, relative: str, where: str) -> Path:
    """root / relative, refusing any path that leaves root (`../`, absolute paths elsewhere).

    The check is on the normalised path, not through symbolic links, so a corpus whose folders
    are links to another disk still works.
    """
    if not relative:
        raise DataError(where, "empty path")
    path = Path(os.path.abspath(root / relative))
    if path != root and root not in path.parents:
        raise DataError(where, f"path {relative!r} points outside the dataset root {root}")
    return path


# ---------------------------------------------------------------------------------------------
# The four kinds


def _phoenix_csv(root: Path, split: str) -> Path:
    return phoenix_corpus_csv(root, split)


def _synthetic(root: Path, index: str) -> list[_Item]:
    items = []
    for split in SPLITS:
        corpus = _phoenix_csv(root, split)
        seg_file = root / "annotations" / "segments" / f"PHOENIX-2014-T.{split}.segments.csv"
        segments: dict[str, tuple[list[tuple[int, int]], str]] = {}
        for line, row in _read_table(seg_file, "|", ("name", "segments")):
            try:
                segments[row["name"]] = (parse_segments(row["segments"]), f"{seg_file}:{line}")
            except ValueError as e:
                raise DataError(f"{seg_file}:{line}", str(e)) from None
        for line, row in _read_table(corpus, "|", ("name", "video", "speaker", "orth", "translation")):
            where = f"{corpus}:{line}"
            glosses = row["orth"].split()
            if row["name"] not in segments:
                raise DataError(where, f"video {row['name']!r} has no entry in {seg_file}")
            segs, seg_where = segments[row["name"]]
            if len(segs) != len(glosses):
                raise DataError(seg_where, f"{len(segs)} segments for the {len(glosses)} glosses of {row['name']!r}")
            items.append(
                _Item(split, row["name"], _inside(root, row["video"], where), where, row["speaker"],
                      _clean_text(row["translation"]), glosses, segs)
            )
    return items


def _phoenix14t(root: Path, index: str) -> list[_Item]:
    items = []
    for split in SPLITS:
        corpus = _phoenix_csv(root, split)
        split_dir = root / PHOENIX_FRAMES / split
        for line, row in _read_table(corpus, "|", ("name", "video", "speaker", "orth", "translation")):
            where = f"{corpus}:{line}"
            # The release's `video` is like `<name>/1/*.png`: its folder part, else `<name>`.
            video = row["video"].replace("\\", "/")
            parts = video.split("/")
            if parts and ("*" in parts[-1] or Path(parts[-1]).suffix.lower() == ".png"):
                parts = parts[:-1]
            candidates = [_inside(root, str(Path(PHOENIX_FRAMES, split, *parts)), where)] if parts else []
            candidates.append(_inside(root, str(Path(PHOENIX_FRAMES, split, row["name"])), where))
            folder = next((c for c in candidates if c.is_dir()), None)
            item = _Item(split, row["name"], folder or candidates[0], where, row["speaker"],
                         _clean_text(row["translation"]), row["orth"].split())
            if folder is None:
                tried = " or ".join(str(c.relative_to(split_dir)) for c in dict.fromkeys(candidates))
                item.problem = f"frame folder not found under {split_dir} (tried {tried})"
            items.append(item)
    return items


def _csldaily(root: Path, index: str) -> list[_Item]:
    split_file = root / CSL_SPLIT_FILE
    splits: dict[str, tuple[str, int]] = {}
    for line, row in _read_table(split_file, "|", ("name", "split")):
        if row["name"] in splits:
            raise DataError(f"{split_file}:{line}",
                            f"duplicate name {row['name']!r} (first on line {splits[row['name']][1]})")
        splits[row["name"]] = (row["split"], line)

    pkl = root / CSL_PICKLE
    data = load_plain_pickle(pkl)
    info = data.get("info") if isinstance(data, dict) else None
    if not isinstance(info, list):
        raise DataError(str(pkl), "expected a dict with an 'info' list")
    annotations: dict[str, dict] = {}
    for i, entry in enumerate(info):
        missing = [k for k in ("name", "label_gloss", "label_char", "signer")
                   if not isinstance(entry, dict) or k not in entry]
        if missing:
            raise DataError(f"{pkl}: info[{i}]", f"missing key(s) {', '.join(missing)}")
        if not isinstance(entry["label_char"], (list, tuple)) or not isinstance(entry["label_gloss"], (list, tuple)):
            raise DataError(f"{pkl}: info[{i}] ({entry['name']!r})", "label_char and label_gloss must be lists")
        annotations[str(entry["name"])] = entry

    items = []
    for name, (split, line) in splits.items():
        if split not in SPLITS:
            continue  # the release's split file may list other subsets
        where = f"{split_file}:{line}"
        item = _Item(split, name, _inside(root, str(Path(CSL_FRAMES, name)), where), where)
        entry = annotations.get(name)
        if entry is None:
            item.problem = f"no annotation in {pkl}"
        else:
            item.signer = str(entry["signer"])
            item.text = _clean_text("".join(str(c) for c in entry["label_char"]))
            item.glosses = [str(g) for g in entry["label_gloss"]]
        items.append(item)
    return items


def _folder(root: Path, index: str) -> list[_Item]:
    index_file = _inside(root, index, f"dataset.index {index!r}")
    items = []
    for line, row in _read_table(index_file, ",", ("id", "file", "split", "text")):
        where = f"{index_file}:{line}"
        if not row["id"]:
            raise DataError(where, "empty id")
        if row["split"] not in SPLITS:
            raise DataError(where, f"split {row['split']!r} is not one of {', '.join(SPLITS)}")
        items.append(
            _Item(row["split"], row["id"], _inside(root, row["file"], where), where, row.get("signer", ""),
                  _clean_text(row["text"]), row.get("glosses", "").split())
        )
    return items


def _how2sign(root: Path, index: str) -> list[_Item]:
    items = []
    for split in SPLITS:
        table, clips = how2sign_table(root, split), how2sign_clips(root, split)
        columns = ("VIDEO_NAME", "SENTENCE_NAME", "SENTENCE")
        for line, row in _read_table(table, "\t", columns):
            where = f"{table}:{line}"
            name = row["SENTENCE_NAME"]
            items.append(_Item(split, name, _inside(clips, f"{name}.mp4", where), where, "",
                               _clean_text(row["SENTENCE"])))
    return items


KINDS: dict[str, Callable[[Path, str], list[_Item]]] = {
    "synthetic": _synthetic,
    "phoenix14t": _phoenix14t,
    "csldaily": _csldaily,
    "how2sign": _how2sign,
    "folder": _folder,
}


# ---------------------------------------------------------------------------------------------
# The stage


def _check_item(item: _Item, max_bad_share: float) -> FrameCheck:
    """The item's frames and their damage; DataError when the item is bad: unreadable, no whole
    frame, or more than `max_bad_share` of its frames damaged."""
    if item.problem:
        raise DataError(item.id, item.problem)
    if not item.text:
        raise DataError(item.id, "empty text")
    if not item.path.exists():
        raise DataError(item.id, f"video not found: {item.path}")
    try:
        check = check_frames(item.path)
        check_damage(item.path, len(check.bad), check.num_frames, check.first_problem, max_bad_share)
    except DataError as e:
        raise DataError(item.id, f"{e.problem} ({e.item})") from None
    if item.segments and max(end for _, end in item.segments) > check.num_frames:
        raise DataError(item.id, f"segments end at {max(end for _, end in item.segments)} "
                                 f"but the video has {check.num_frames} frames")
    return check


def _checked(items: list[_Item], max_bad_share: float, workers: int) -> Iterator[tuple[_Item, FrameCheck | DataError]]:
    """Each item with its check or its DataError, in order; `workers` threads look at the files
    (the checks are file-system calls, which release the GIL)."""
    def work(item: _Item) -> FrameCheck | DataError:
        try:
            return _check_item(item, max_bad_share)
        except DataError as e:
            return e

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="prepare") as pool:
        yield from zip(items, pool.map(work, items))


def _bad_items_error(bad: list[tuple[_Item, str]], total: int, max_bad_share: float) -> DataError:
    """One error for every bad item: the first, how many per split, the next few, and the two switches."""
    per_split = ", ".join(f"{split} {n}" for split in SPLITS if (n := sum(i.split == split for i, _ in bad)))
    following = "".join(f"; {item.id} ({item.where}): {reason}" for item, reason in bad[1:5])
    return DataError(
        f"{bad[0][0].id} ({bad[0][0].where})",
        f"{bad[0][1]}. {len(bad)} of {total} videos are bad ({per_split}){following}"
        f"{'; …' if len(bad) > 5 else ''}. Set dataset.skip_bad_items: true to leave them out (listed in "
        f"skipped.tsv; the report counts any dev or test video left out), or raise dataset.max_bad_frame_share "
        f"(now {max_bad_share:g}) to keep videos with more damaged frames (replaced by a whole neighbour)."
    )


def signer_independent_split(
    samples: dict[str, list[Sample]], policy: Mapping[str, Any] | None
) -> tuple[dict[str, list[Sample]], dict[str, Any]]:
    """The splits re-drawn so that the test signers are unseen, and the policy as recorded.

    policy: None (the corpus's own split), `{test_signers: [names]}`, or `{folds: k, fold: i}` (the
    signers in name order, every k-th from the i-th, 0-based, held out). Every clip of a held-out
    signer, from any split, goes to test; the other signers' test clips join training and dev
    keeps its other-signer clips, so no test signer is seen in training or in model selection.
    """
    every = [s for split in SPLITS for s in samples[split]]
    signers = sorted({s.signer for s in every if s.signer})
    if not policy:
        return samples, {"policy": "official", "test_signers": sorted({s.signer for s in samples["test"]} - {""})}
    if not signers:
        raise ConfigError("dataset.signer_independent needs a corpus whose annotations name the signer; "
                          "this one names none")
    if "test_signers" in policy:
        held = [str(x) for x in policy["test_signers"]]
        unknown = [x for x in held if x not in signers]
        if unknown:
            raise ConfigError(f"dataset.signer_independent.test_signers names {unknown}, not among the corpus's "
                              f"signers {signers}")
    else:
        k, i = int(policy["folds"]), int(policy["fold"])
        if not 2 <= k <= len(signers) or not 0 <= i < k:
            raise ConfigError(f"dataset.signer_independent: fold {i} of {k} folds is not possible with "
                              f"{len(signers)} signers (2 <= folds <= signers, 0 <= fold < folds)")
        held = signers[i::k]
    if len(held) == len(signers):
        raise ConfigError("dataset.signer_independent holds out every signer: nothing is left to train on")
    out = {
        "train": [s for split in ("train", "test") for s in samples[split] if s.signer not in held],
        "dev": [s for s in samples["dev"] if s.signer not in held],
        "test": [s for s in every if s.signer in held],
    }
    log.info("signer-independent split, test signers %s: %s", ", ".join(held),
             ", ".join(f"{split} {len(out[split])}" for split in SPLITS))
    return out, {"policy": "signer_independent", **dict(policy), "test_signers": sorted(held)}


def prepare_dataset(
    kind: str,
    root: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    skip_bad_items: bool = False,
    max_bad_frame_share: float = 0.0,
    index: str = "index.csv",
    workers: int = 1,
    signer_independent: Mapping[str, Any] | None = None,
) -> dict[str, list[Sample]]:
    """Write `{out_dir}/{train,dev,test}.tsv`, `{out_dir}/skipped.tsv` and `{out_dir}/split.json`
    (which split the manifests hold: the corpus's own, or `signer_independent_split`'s); return the
    samples per split.

    Every item is checked before any error: a bad item (see `_check_item`) fails the stage with one
    message counting them all, or with skip_bad_items is left out and listed. A video with damaged
    frames within `max_bad_frame_share` of its frames is kept, its damaged frames listed in the
    manifest's `bad_frames` (decode replaces them by a whole neighbour).
    index: the CSV under root for kind `folder`; workers: threads checking files.
    """
    if kind not in KINDS:
        raise ConfigError(f"dataset.kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if root is None:
        raise ConfigError(f"dataset.root must be set for dataset.kind {kind!r}")
    if not 0.0 <= max_bad_frame_share < 1.0:
        raise ConfigError(f"dataset.max_bad_frame_share must be in [0, 1), got {max_bad_frame_share}")
    root = Path(os.path.abspath(root))
    if not root.is_dir():
        raise DataError(str(root), "dataset root is not a folder")
    items = KINDS[kind](root, index)

    first: dict[str, str] = {}
    for item in items:
        if item.id in first:
            raise DataError(item.where, f"duplicate id {item.id!r} (first at {first[item.id]})")
        first[item.id] = item.where

    samples: dict[str, list[Sample]] = {split: [] for split in SPLITS}
    skipped: list[tuple[_Item, str]] = []
    damaged = 0
    checked = _checked(items, max_bad_frame_share, workers)
    for item, check in tqdm(checked, total=len(items), desc=f"prepare {kind}", unit="video"):
        if isinstance(check, DataError):
            skipped.append((item, check.problem))
            continue
        damaged += bool(check.bad)
        samples[item.split].append(Sample(item.id, str(item.path), check.num_frames, item.signer, item.text,
                                          item.glosses, item.segments, spans(check.bad)))
    if skipped and not skip_bad_items:
        raise _bad_items_error(skipped, len(items), max_bad_frame_share)
    for item, reason in skipped:
        log.warning("skipping %s (%s): %s", item.id, item.where, reason)

    samples, split_record = signer_independent_split(samples, signer_independent)
    out_dir = Path(out_dir)
    for split in SPLITS:
        write_manifest(out_dir / f"{split}.tsv", samples[split])
    write_json(out_dir / "split.json", {**split_record, "videos": {split: len(samples[split]) for split in SPLITS}})
    lines = ["split\tid\tsource\treason"] + [
        "\t".join(_clean_text(x) for x in (item.split, item.id, item.where, reason)) for item, reason in skipped
    ]
    write_text(out_dir / "skipped.tsv", "\n".join(lines) + "\n")
    log.info(
        "prepared %s from %s: %s; %d skipped, %d kept with damaged frames",
        kind, root, ", ".join(f"{s} {len(samples[s])}" for s in SPLITS), len(skipped), damaged,
    )
    return samples
