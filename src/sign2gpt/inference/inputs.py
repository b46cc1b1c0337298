"""What `sign2gpt translate` is given: video files, frame folders, folders of videos and lists of
videos, each opened once to check it before any model loads."""

from __future__ import annotations

import csv
from pathlib import Path

from sign2gpt.core.errors import DataError
from sign2gpt.data.video import FRAME_EXTENSIONS, count_frames, list_frame_files

VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg"})
LIST_EXTENSIONS = frozenset({".csv", ".tsv", ".txt"})


def _listed_videos(path: Path) -> list[str]:
    """A .csv/.tsv/.txt list of videos: the `video` column when there is a header with one, else
    the first column; blank lines and '#' comments skipped; relative paths are relative to the list."""
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    rows = [r for r in csv.reader(path.read_text(encoding="utf-8").splitlines(), delimiter=delimiter)
            if r and r[0].strip() and not r[0].lstrip().startswith("#")]
    column = 0
    if rows and "video" in [c.strip() for c in rows[0]]:
        column = [c.strip() for c in rows[0]].index("video")
        rows = rows[1:]
    return [str(path.parent / r[column].strip()) for r in rows if len(r) > column]


def _folder_videos(path: Path) -> list[str]:
    """A folder is one video when it holds frame images; otherwise the videos (files, or frame
    folders) inside it."""
    if list_frame_files(path):
        return [str(path)]
    inside = sorted(path.iterdir())
    return [str(p) for p in inside if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file()] + \
           [str(p) for p in inside if p.is_dir() and not p.name.startswith(".") and list_frame_files(p)]


def collect_videos(items: list[str]) -> tuple[list[str], list[DataError]]:
    """The videos named by `items` (video files, frame folders, folders of videos, lists of videos),
    each opened once to check it: (readable videos, one DataError per bad one)."""
    videos, errors = [], []
    for item in items:
        path = Path(item)
        try:
            if path.is_file() and path.suffix.lower() in LIST_EXTENSIONS:
                candidates = _listed_videos(path)
            elif path.is_dir():
                candidates = _folder_videos(path)
            else:
                candidates = [item]
            if not candidates:
                raise DataError(item, "no videos or frame folders in it")
        except (OSError, UnicodeDecodeError) as e:
            errors.append(DataError(item, f"cannot read: {e}"))
            continue
        except DataError as e:
            errors.append(e)
            continue
        for video in candidates:
            try:
                if Path(video).suffix.lower() in FRAME_EXTENSIONS:
                    raise DataError(video, "a single image, not a video; give the folder of frames")
                count_frames(video)
                videos.append(video)
            except DataError as e:
                errors.append(e)
    return videos, errors
