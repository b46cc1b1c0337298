"""The manifest: one TSV per split listing every video of a corpus, the contract between
ingestion (any corpus layout) and every later stage (which only ever read manifests).

Columns: id, video, num_frames, signer, text, glosses, segments, bad_frames. `video` is an
absolute path to a video file or a frame folder; `glosses` is space separated; `segments` is space
separated `start-end` pairs in source-frame indices (end exclusive), one per gloss when present;
`bad_frames` lists the source frames ingestion found damaged in the same form (decode replaces
them by a whole neighbour; manifests written before it existed read as none). Fields
never contain tabs or newlines (writing refuses them), so the file is plain TSV without quoting
and any TSV tool reads it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sign2gpt.core.errors import DataError
from sign2gpt.core.io import atomic_path

COLUMNS: tuple[str, ...] = ("id", "video", "num_frames", "signer", "text", "glosses", "segments", "bad_frames")
OPTIONAL_COLUMNS = frozenset({"bad_frames"})


@dataclass
class Sample:
    """One video of a corpus with its annotation."""

    id: str
    video: str
    num_frames: int
    signer: str = ""
    text: str = ""
    glosses: list[str] = field(default_factory=list)
    segments: list[tuple[int, int]] = field(default_factory=list)
    bad_frames: list[tuple[int, int]] = field(default_factory=list)  # damaged source frames, as spans

    def bad_frame_indices(self) -> list[int]:
        return [t for a, b in self.bad_frames for t in range(a, b)]


def spans(indices: Iterable[int]) -> list[tuple[int, int]]:
    """Ascending frame indices as maximal `(start, end)` runs (end exclusive): [2, 3, 7] -> [(2, 4), (7, 8)]."""
    out: list[tuple[int, int]] = []
    for t in indices:
        if out and out[-1][1] == t:
            out[-1] = (out[-1][0], t + 1)
        else:
            out.append((t, t + 1))
    return out


def format_segments(segments: Iterable[tuple[int, int]]) -> str:
    return " ".join(f"{int(a)}-{int(b)}" for a, b in segments)


def parse_segments(value: str) -> list[tuple[int, int]]:
    """`"0-7 7-15"` -> [(0, 7), (7, 15)]; raises ValueError naming the bad pair."""
    segments = []
    for pair in value.split():
        start, sep, end = pair.partition("-")
        if not sep or not start.isdigit() or not end.isdigit():
            raise ValueError(f"segment {pair!r} is not 'start-end' with non-negative integers")
        a, b = int(start), int(end)
        if b <= a:
            raise ValueError(f"segment {pair!r} is empty or reversed (end is exclusive)")
        segments.append((a, b))
    return segments


def _check_sample(sample: Sample) -> None:
    """The invariants every manifest row satisfies (checked on both write and read)."""
    if not sample.id:
        raise ValueError("empty id")
    if not sample.video:
        raise ValueError("empty video path")
    if not isinstance(sample.num_frames, int) or isinstance(sample.num_frames, bool) or sample.num_frames < 1:
        raise ValueError(f"num_frames must be a positive integer, got {sample.num_frames!r}")
    bad = [g for g in sample.glosses if not g or any(c.isspace() for c in g)]
    if bad:
        raise ValueError(f"gloss {bad[0]!r} is empty or contains whitespace (glosses are space separated)")
    if sample.segments:
        if len(sample.segments) != len(sample.glosses):
            raise ValueError(f"{len(sample.segments)} segments for {len(sample.glosses)} glosses")
        last = max(end for _, end in sample.segments)
        if last > sample.num_frames:
            raise ValueError(f"segment end {last} is past num_frames {sample.num_frames}")
    if sample.bad_frames and max(end for _, end in sample.bad_frames) > sample.num_frames:
        raise ValueError(f"bad frames end past num_frames {sample.num_frames}")


def write_manifest(path: str | os.PathLike, samples: Iterable[Sample]) -> None:
    """Write the manifest atomically; a field with a tab or newline is a DataError naming the id."""
    lines = ["\t".join(COLUMNS)]
    seen: set[str] = set()
    for s in samples:
        try:
            _check_sample(s)
        except ValueError as e:
            raise DataError(f"{path}: sample {s.id!r}", str(e)) from None
        if s.id in seen:
            raise DataError(f"{path}: sample {s.id!r}", "duplicate id")
        seen.add(s.id)
        fields = [s.id, s.video, str(s.num_frames), s.signer, s.text, " ".join(s.glosses), format_segments(s.segments),
                  format_segments(s.bad_frames)]
        for name, value in zip(COLUMNS, fields):
            if any(c in value for c in "\t\n\r"):
                raise DataError(f"{path}: sample {s.id!r}", f"column {name} contains a tab or line break")
        lines.append("\t".join(fields))
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_manifest(path: str | os.PathLike) -> list[Sample]:
    """Read and validate a manifest; every problem is a DataError naming the file and line."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(str(path), f"cannot read manifest: {e.strerror or e}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}", "not valid UTF-8") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise DataError(str(path), "empty file (no header)")
    header = lines[0].lstrip("\ufeff").rstrip("\r").split("\t")
    missing = [c for c in COLUMNS if c not in header and c not in OPTIONAL_COLUMNS]
    if missing:
        raise DataError(f"{path}:1", f"header lacks column(s) {', '.join(missing)}")
    col = {name: header.index(name) for name in COLUMNS if name in header}

    samples: list[Sample] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(lines[1:], start=2):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != len(header):
            raise DataError(f"{path}:{lineno}", f"{len(parts)} fields, the header has {len(header)}")
        fields = {name: "" for name in OPTIONAL_COLUMNS} | {name: parts[i] for name, i in col.items()}
        get = fields.__getitem__
        sid = get("id")
        if sid in seen:
            raise DataError(f"{path}:{lineno}", f"duplicate id {sid!r} (first on line {seen[sid]})")
        seen[sid] = lineno
        try:
            num_frames = int(get("num_frames"))
        except ValueError:
            raise DataError(f"{path}:{lineno}", f"num_frames {get('num_frames')!r} is not an integer") from None
        try:
            segments, bad_frames = parse_segments(get("segments")), parse_segments(get("bad_frames"))
        except ValueError as e:
            raise DataError(f"{path}:{lineno}", str(e)) from None
        sample = Sample(
            id=sid,
            video=get("video"),
            num_frames=num_frames,
            signer=get("signer"),
            text=get("text"),
            glosses=get("glosses").split(),
            segments=segments,
            bad_frames=bad_frames,
        )
        try:
            _check_sample(sample)
        except ValueError as e:
            raise DataError(f"{path}:{lineno}", f"sample {sid!r}: {e}") from None
        samples.append(sample)
    return samples
