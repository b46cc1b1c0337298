"""Write a synthetic signing corpus in the PHOENIX-2014T release layout (`layout="videos"`: mp4
files with true gloss segments), or in the exact release layouts of PHOENIX-2014T / CSL-Daily
(frame folders; `layouts.py`), for rehearsing the presets.

```
annotations/manual/PHOENIX-2014-T.{split}.corpus.csv    name|video|start|end|speaker|orth|translation
annotations/segments/PHOENIX-2014-T.{split}.segments.csv name|segments   (start-end per gloss)
videos/{split}/{name}.mp4
```
The text comes from a grammar (`grammar.py`) or from the `orth`/`translation` columns of a
PHOENIX-format CSV (`from_csv`: a synthetic twin of a real corpus's text). Signers are spread
over the splits, except the last `test_only_signers`, who appear only in test (signer-
independent evaluation). Every random choice comes from a seed derived from (`seed`, purpose,
split, index), so the corpus is the same whatever the number of workers. The corpus is rendered
into a temporary directory and renamed into place when complete.
"""

from __future__ import annotations

import csv
import logging
import multiprocessing
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from sign2gpt.core.errors import ConfigError, DataError
from sign2gpt.core.io import atomic_path
from sign2gpt.data.release_paths import how2sign_table, phoenix_corpus_csv
from sign2gpt.data.synthetic.grammar import generate_pairs
from sign2gpt.data.synthetic.layouts import (
    LAYOUTS,
    video_column,
    video_path,
    write_csl_annotations,
    write_how2sign_tables,
    write_video,
)
from sign2gpt.data.synthetic.render import render_video
from sign2gpt.data.synthetic.signers import Signer, make_signers

log = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
CORPUS_HEADER = ["name", "video", "start", "end", "speaker", "orth", "translation"]
SEGMENTS_HEADER = ["name", "segments"]
_TEXT, _SIGNERS, _VIDEO = 1, 2, 3  # seed purposes

# The smallest useful corpus, for tests and smoke runs (seconds to render).
TINY_CORPUS: dict[str, Any] = {
    "language": "de",
    "splits": {"train": 24, "dev": 6, "test": 6},
    "signers": 3,
    "test_only_signers": 1,
    "image_size": 32,
    "fps": 25,
    "frames_per_gloss": (4, 6),
    "transition_frames": (1, 2),
    "noise": 0.02,
    "seed": 0,
}


def corpus_csv(root: str | os.PathLike, split: str) -> Path:
    return phoenix_corpus_csv(root, split)


def segments_csv(root: str | os.PathLike, split: str) -> Path:
    return Path(root) / "annotations" / "segments" / f"PHOENIX-2014-T.{split}.segments.csv"


@dataclass(frozen=True)
class Item:
    """One video to render."""

    split: str
    index: int
    name: str
    signer: Signer
    glosses: list[str]
    translation: str


# ---------------------------------------------------------------- text


def read_phoenix_csv(path: str | os.PathLike) -> list[tuple[str, list[str], str]]:
    """(name, orth glosses, translation) of every row of a `|`-separated PHOENIX-format CSV."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f, delimiter="|", quoting=csv.QUOTE_NONE))
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(str(path), f"cannot read the CSV ({e})") from e
    if not rows:
        raise DataError(str(path), "empty file (expected a header name|...|orth|translation)")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in ("name", "orth", "translation") if c not in header]
    if missing:
        raise DataError(str(path), f"header {'|'.join(header)!r} lacks column(s) {missing}")
    col = {c: header.index(c) for c in ("name", "orth", "translation")}
    out = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        where = f"{path}:{line}"
        if len(row) != len(header):
            raise DataError(where, f"{len(row)} fields, header has {len(header)}")
        name, orth, translation = (row[col[c]].strip() for c in ("name", "orth", "translation"))
        if not name or "/" in name or "\\" in name or name in (".", ".."):
            raise DataError(where, f"name {name!r} cannot be a file name")
        if not orth.split():
            raise DataError(f"{where} ({name})", "empty orth: nothing to sign")
        if not translation:
            raise DataError(f"{where} ({name})", "empty translation")
        out.append((name, orth.split(), translation))
    return out


def read_how2sign_table(path: Path) -> list[tuple[str, list[str], str]]:
    """(name, glosses, translation) per row of a How2Sign realigned table. How2Sign has no glosses:
    the sign sequence is the sentence's pseudo-glosses (the English pipeline's lemmas of its content
    words, upper-cased), or all its words where it has none, in English word order."""
    from sign2gpt.text.pipelines import build_pipeline
    from sign2gpt.text.pseudo_glosses import items_from_doc

    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    nlp = build_pipeline("en")
    out = []
    for line, row in enumerate(rows, start=2):
        name, text = (row.get("SENTENCE_NAME") or "").strip(), " ".join((row.get("SENTENCE") or "").split())
        if not name or not text:
            raise DataError(f"{path}:{line}", "a row needs SENTENCE_NAME and SENTENCE")
        glosses = [g.upper() for g in items_from_doc(nlp(text), "en")] or [w.upper() for w in text.split()]
        out.append((name, glosses, text))
    return out


def _csv_splits(from_csv: str | os.PathLike) -> dict[str, list[tuple[str, list[str], str]]]:
    """Splits from a directory of `*.{split}.corpus.csv` files or How2Sign's realigned tables, or
    one CSV used as train."""
    src = Path(from_csv)
    if src.is_file():
        return {"train": read_phoenix_csv(src)}
    if not src.is_dir():
        raise DataError(str(src), "from_csv: no such file or directory")
    if any(how2sign_table(src, split).is_file() for split in SPLITS):
        return {split: read_how2sign_table(how2sign_table(src, split))
                for split in SPLITS if how2sign_table(src, split).is_file()}
    found: dict[str, list] = {}
    for folder in (src, src / "annotations" / "manual"):
        for split in SPLITS:
            matches = sorted(folder.glob(f"*.{split}.corpus.csv")) if folder.is_dir() else []
            if matches and split not in found:
                if len(matches) > 1:
                    names = [m.name for m in matches]
                    raise DataError(str(folder), f"several {split} CSVs: {names}")
                found[split] = read_phoenix_csv(matches[0])
    if not found:
        raise DataError(str(src), "from_csv: no PHOENIX-2014-T.{train,dev,test}.corpus.csv (nor How2Sign "
                                  "table) in it")
    return found


# ---------------------------------------------------------------- signers


def assign_signers(
    sizes: dict[str, int], n_signers: int, n_test_only: int, seed: int
) -> dict[str, list[int]]:
    """Signer index per item of each split: shared signers evenly over train/dev/test, the last
    `n_test_only` only in test (each test-only signer first in the test rotation, so every one
    of them appears as soon as test has that many items)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, _SIGNERS]))
    shared = list(range(n_signers - n_test_only))
    test_only = list(range(n_signers - n_test_only, n_signers))
    out = {}
    for split in SPLITS:
        if split not in sizes:
            continue
        pool = test_only + [int(s) for s in rng.permutation(shared)] if split == "test" else \
            [int(s) for s in rng.permutation(shared)]
        ids = np.resize(np.asarray(pool, dtype=int), sizes[split])
        rng.shuffle(ids)
        out[split] = [int(i) for i in ids]
    return out


# ---------------------------------------------------------------- rendering


def _render_one(task: tuple) -> tuple[int, list[tuple[int, int]], int]:
    """Render and encode one video (a top-level function, so a worker process can run it)."""
    path, glosses, signer, entropy, params = task
    rng = np.random.default_rng(np.random.SeedSequence(entropy))
    frames, segments = render_video(
        glosses, signer, rng, image_size=params["image_size"],
        frames_per_gloss=params["frames_per_gloss"], transition_frames=params["transition_frames"],
        noise=params["noise"],
    )
    return len(frames), segments, write_video(Path(path), params["layout"], frames, params["fps"])


def _results(tasks: list[tuple], workers: int) -> Iterable[tuple[int, list[tuple[int, int]], int]]:
    if workers <= 1:
        yield from map(_render_one, tasks)
        return
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that may hold torch threads
    with ctx.Pool(workers) as pool:
        yield from pool.imap(_render_one, tasks, chunksize=4)


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        for row in [header, *rows]:
            for cell in row:
                if "|" in cell or "\n" in cell:
                    raise DataError(f"{path.name}: {row[0]}",
                                    f"field {cell!r} contains '|' or a newline")
            f.write("|".join(row) + "\n")


def _check(splits, signers, test_only_signers, image_size, fps, frames_per_gloss, transition_frames,
           noise) -> None:
    """Fail early, naming the config key, on settings that cannot work."""
    bad = [s for s in splits if s not in SPLITS]
    if bad:
        raise ConfigError(f"synthetic.splits: unknown split(s) {bad}; use {list(SPLITS)}")
    if any(int(n) < 0 for n in splits.values()):
        raise ConfigError(f"synthetic.splits: sizes must be >= 0, got {splits}")
    if signers < 1 or not 0 <= test_only_signers < signers:
        raise ConfigError(
            f"synthetic.signers={signers}, test_only_signers={test_only_signers}: need "
            "signers >= 1 and 0 <= test_only_signers < signers (someone must sign train)"
        )
    if image_size < 16 or image_size % 2:
        raise ConfigError(f"synthetic.image_size={image_size}: must be even and >= 16 (yuv420p)")
    if fps <= 0:
        raise ConfigError(f"synthetic.fps={fps}: must be > 0")
    lo, hi = frames_per_gloss
    if not 1 <= lo <= hi:
        raise ConfigError(
            f"synthetic.frames_per_gloss={list(frames_per_gloss)}: need 1 <= min <= max")
    lo, hi = transition_frames
    if not 0 <= lo <= hi:
        raise ConfigError(
            f"synthetic.transition_frames={list(transition_frames)}: need 0 <= min <= max")
    if noise < 0:
        raise ConfigError(f"synthetic.noise={noise}: must be >= 0")


def generate_corpus(
    out_dir: str | os.PathLike,
    *,
    language: str = "de",
    splits: dict[str, int] | None = None,
    signers: int = 7,
    test_only_signers: int = 1,
    image_size: int = 64,
    fps: int = 25,
    frames_per_gloss: tuple[int, int] | list[int] = (7, 11),
    transition_frames: tuple[int, int] | list[int] = (2, 4),
    noise: float = 0.04,
    seed: int = 0,
    from_csv: str | os.PathLike | None = None,
    workers: int = 1,
    layout: str = "videos",
) -> None:
    """Render a synthetic corpus into `out_dir` (PHOENIX-2014T layout, see the module doc).

    With `from_csv` the text and the splits come from that CSV (or directory of CSVs) and
    `splits` is ignored; otherwise `language`'s grammar writes `splits` sentences per split.
    `layout`: `videos` (mp4 files and true gloss segments, the embedded default), or the release
    layout of `phoenix14t` (PNG frame folders), `csldaily` (JPEG folders, split file, pickle) or
    `how2sign` (mp4 sentence clips, realigned tables);
    see `layouts`.
    """
    if layout not in LAYOUTS:
        raise ConfigError(f"synthetic layout {layout!r}: one of {', '.join(LAYOUTS)}")
    splits = dict(splits if splits is not None else {"train": 320, "dev": 48, "test": 48})
    frames_per_gloss, transition_frames = tuple(frames_per_gloss), tuple(transition_frames)
    _check(splits, signers, test_only_signers, image_size, fps, frames_per_gloss,
           transition_frames, noise)
    started = time.perf_counter()

    # text: (name, glosses, translation) per split
    if from_csv is not None:
        texts = _csv_splits(from_csv)
        log.info("text from %s: %s", from_csv, {s: len(v) for s, v in texts.items()})
    else:
        sizes = {s: int(splits[s]) for s in SPLITS if s in splits}
        pairs = generate_pairs(language, sum(sizes.values()),
                               np.random.default_rng(np.random.SeedSequence([seed, _TEXT])))
        texts, start = {}, 0
        for split, n in sizes.items():
            texts[split] = [(f"{language}_{split}_{i:05d}", g, t)
                            for i, (g, t) in enumerate(pairs[start:start + n])]
            start += n
    names = [name for rows in texts.values() for name, _, _ in rows]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})[:5]
        raise DataError(str(from_csv or out_dir), f"duplicate video names {dup}")

    people = make_signers(signers, seed)
    sizes = {s: len(v) for s, v in texts.items()}
    assignment = assign_signers(sizes, signers, test_only_signers, seed)
    items = [
        Item(split, i, name, people[assignment[split][i]], glosses, translation)
        for split, rows in texts.items()
        for i, (name, glosses, translation) in enumerate(rows)
    ]
    params = {"image_size": int(image_size), "fps": int(fps), "frames_per_gloss": frames_per_gloss,
              "transition_frames": transition_frames, "noise": float(noise), "layout": layout}

    with atomic_path(out_dir, is_dir=True) as tmp:
        for it in items:
            video_path(tmp, layout, it.split, it.name).parent.mkdir(parents=True, exist_ok=True)
        tasks = [
            (str(video_path(tmp, layout, it.split, it.name)), it.glosses, it.signer,
             [seed, _VIDEO, SPLITS.index(it.split), it.index], params)
            for it in items
        ]
        corpus_rows: dict[str, list[list[str]]] = {s: [] for s in texts}
        segment_rows: dict[str, list[list[str]]] = {s: [] for s in texts}
        csl_rows: list[tuple[str, str, str, list[str], str, int]] = []
        total_frames = total_bytes = 0
        results = _results(tasks, workers)
        for it, (n_frames, segments, size) in tqdm(
            zip(items, results), total=len(items), desc=f"render {out_dir}", unit="video"
        ):
            corpus_rows[it.split].append([it.name, video_column(layout, it.split, it.name), "-1", "-1",
                                          it.signer.signer_id, " ".join(it.glosses), it.translation])
            segment_rows[it.split].append([it.name, " ".join(f"{a}-{b}" for a, b in segments)])
            csl_rows.append((it.split, it.name, it.signer.signer_id, it.glosses, it.translation, n_frames))
            total_frames += n_frames
            total_bytes += size
        if layout == "csldaily":
            write_csl_annotations(tmp, csl_rows)
        if layout == "how2sign":
            write_how2sign_tables(tmp, [(split, name, text, n, int(fps)) for split, name, _, _, text, n in csl_rows])
        for split in texts if layout not in ("csldaily", "how2sign") else ():
            _write_csv(corpus_csv(tmp, split), CORPUS_HEADER, corpus_rows[split])
            if layout == "videos":  # the real PHOENIX-2014T release has no gloss segments
                _write_csv(segments_csv(tmp, split), SEGMENTS_HEADER, segment_rows[split])

    seconds = time.perf_counter() - started
    log.info(
        "synthetic corpus %s: %d videos (%s), %d frames = %.1f s of video at %d fps, "
        "%.1f kB per video, %d signers (%d test-only), rendered in %.1f s",
        out_dir, len(items), ", ".join(f"{s} {len(v)}" for s, v in texts.items()), total_frames,
        total_frames / fps, fps, total_bytes / 1024 / max(1, len(items)), signers,
        test_only_signers, seconds,
    )
