"""How a rendered corpus is written to disk: as the workflow's own video corpus, or in the exact
release layout of PHOENIX-2014T, CSL-Daily or How2Sign, so the presets' ingestion and decoding run
on synthetic data exactly as they would on the real corpora.

```
videos       videos/{split}/{name}.mp4 + annotations/manual/*.corpus.csv + annotations/segments/*.csv
phoenix14t   features/fullFrame-210x260px/{split}/{name}/images0001.png ... (210 wide, 260 high)
             annotations/manual/PHOENIX-2014-T.{split}.corpus.csv (video column `{name}/1/*.png`,
             as in the release; no gloss segments: the release has none)
csldaily     sentence/frames_512x512/{name}/000000.jpg ... (512 x 512 JPEG)
             sentence_label/split_1.txt (name|split), sentence_label/csl2020ct_v2.pkl
             ({"info": [{"name", "label_gloss", "label_char", "signer", "length"}], ...})
how2sign     {train,val,test}_rgb_front_clips/raw_videos/{name}.mp4 (square, at the rendered size;
             the release's are 1280x720) + how2sign_realigned_{train,val,test}.csv (tab-separated)
```
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sign2gpt.data.release_paths import (
    CSL_FRAMES,
    CSL_PICKLE,
    CSL_SPLIT_FILE,
    PHOENIX_FRAMES,
    how2sign_clips,
    how2sign_table,
)
from sign2gpt.data.synthetic.mp4 import write_mp4

LAYOUTS = ("videos", "phoenix14t", "csldaily", "how2sign")
HOW2SIGN_HEADER = ("VIDEO_ID", "VIDEO_NAME", "SENTENCE_ID", "SENTENCE_NAME", "START_REALIGNED", "END_REALIGNED",
                   "SENTENCE")
PHOENIX_SIZE = (210, 260)  # (width, height) of fullFrame-210x260px
CSL_SIZE = (512, 512)


def video_path(root: Path, layout: str, split: str, name: str) -> Path:
    """Where one video (a file, or a folder of frames) goes."""
    if layout == "videos":
        return root / "videos" / split / f"{name}.mp4"
    if layout == "phoenix14t":
        return root / PHOENIX_FRAMES / split / name
    if layout == "csldaily":
        return root / CSL_FRAMES / name
    if layout == "how2sign":
        return how2sign_clips(root, split) / f"{name}.mp4"
    raise ValueError(f"unknown layout {layout!r}; one of {LAYOUTS}")


def video_column(layout: str, split: str, name: str) -> str:
    """The corpus CSV's `video` field for one video."""
    return f"videos/{split}/{name}.mp4" if layout == "videos" else f"{name}/1/*.png"


def _resized(frame: np.ndarray, size: tuple[int, int]):
    from PIL import Image

    image = Image.fromarray(frame)
    return image if image.size == size else image.resize(size, Image.Resampling.BILINEAR)


def write_video(path: Path, layout: str, frames: np.ndarray, fps: int) -> int:
    """Write one rendered video [T, H, W, 3] uint8; returns the bytes written."""
    if layout in ("videos", "how2sign"):
        write_mp4(path, frames, fps)
        return path.stat().st_size
    path.mkdir(parents=True, exist_ok=True)
    if layout == "phoenix14t":
        files = [path / f"images{i + 1:04d}.png" for i in range(len(frames))]
        for frame, file in zip(frames, files):
            _resized(frame, PHOENIX_SIZE).save(file, compress_level=1)
    else:
        files = [path / f"{i:06d}.jpg" for i in range(len(frames))]
        for frame, file in zip(frames, files):
            _resized(frame, CSL_SIZE).save(file, quality=90)
    return sum(f.stat().st_size for f in files)


def write_csl_annotations(root: Path, rows: Sequence[tuple[str, str, str, list[str], str, int]]) -> None:
    """CSL-Daily's split file and annotation pickle, from (split, name, signer, glosses, text, frames)."""
    split_file = root / CSL_SPLIT_FILE
    split_file.parent.mkdir(parents=True, exist_ok=True)
    split_file.write_text("name|split\n" + "".join(f"{name}|{split}\n" for split, name, *_ in rows), encoding="utf-8")
    info = [{"name": name, "label_gloss": list(glosses), "label_char": list("".join(text.split())),
             "signer": int(signer.removeprefix("Signer")) - 1, "length": n}  # the release numbers signers from 0
            for _, name, signer, glosses, text, n in rows]
    glosses = sorted({g for entry in info for g in entry["label_gloss"]})
    chars = sorted({c for entry in info for c in entry["label_char"]})
    data = {"info": info, "gloss_map": glosses, "char_map": chars}
    with open(root / CSL_PICKLE, "wb") as f:
        pickle.dump(data, f, protocol=4)


def write_how2sign_tables(root: Path, rows: Sequence[tuple[str, str, str, int, int]]) -> None:
    """How2Sign's realigned sentence tables from (split, name, text, frames, fps): each clip its own
    source video (VIDEO_ID = name), starting at 0 s."""
    for split in ("train", "dev", "test"):
        lines = ["\t".join(HOW2SIGN_HEADER)]
        lines += [f"{name}\t{name}-rgb_front\t{name}\t{name}\t0.00\t{n / fps:.2f}\t{text}"
                  for s, name, text, n, fps in rows if s == split]
        path = how2sign_table(root, split)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
