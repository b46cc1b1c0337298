"""Reading the frames of one video: a video file (decord) or a folder of frame images (PIL).

Both give `uint8 [T, H, W, 3]` RGB. Stored frame t is source frame `t * stride`. With `size`,
frames are squashed to size × size (the aspect ratio is not kept, as in the official data, which
resizes PHOENIX's 210×260 and CSL's 512×512 frames to 256×256). Video files are resized by decord
itself (FFmpeg's bilinear scaler inside the decoder: measured 2.4× faster than decoding at full
size and resizing with PIL); frame folders with PIL's bicubic filter, the official resampler, after
letting the JPEG decoder downscale by a power of two where that stays at or above the target
(CSL-Daily's 512×512 JPEGs decode at 256×256 directly: 3.6× faster, 0.4 levels mean difference).
"""

from __future__ import annotations

import io
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from sign2gpt.core.errors import DataError
from sign2gpt.data.jpeg import decode_jpeg

log = logging.getLogger(__name__)

FRAME_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp"})
JPEG_MAGIC = b"\xff\xd8"


def natural_key(name: str) -> list:
    """Sort key that orders `img2.png` before `img10.png`."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def list_frame_files(folder: str | os.PathLike) -> list[Path]:
    """The frame images of a folder in natural order (hidden files and other files ignored)."""
    folder = Path(folder)
    try:
        entries = list(os.scandir(folder))
    except OSError as e:
        raise DataError(str(folder), f"cannot list frame folder: {e.strerror or e}") from None
    names = [
        e.name
        for e in entries
        if not e.name.startswith(".") and Path(e.name).suffix.lower() in FRAME_EXTENSIONS and e.is_file()
    ]
    return [folder / n for n in sorted(names, key=natural_key)]


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass
class FrameCheck:
    """What a cheap look at a video or frame folder found: its frame count and which frames are
    damaged (source frame indices, ascending), with the first problem in words."""

    num_frames: int
    bad: list[int] = field(default_factory=list)
    first_problem: str = ""


def frame_file_problem(path: Path, size: int) -> str:
    """Why one frame file is damaged ("" when it looks whole), from its size, its first bytes (the
    format's signature) and its last ones (a PNG's IEND chunk, a JPEG's end marker): a zero-byte,
    foreign or truncated file, without decoding it."""
    if size == 0:
        return "zero bytes"
    ext = path.suffix.lower()
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            f.seek(max(0, size - 32))
            tail = f.read(32)
    except OSError as e:
        return f"cannot read: {e.strerror or e}"
    if ext == ".png":
        if head != PNG_MAGIC:
            return "not a PNG (no PNG signature)"
        if b"IEND" not in tail:
            return "truncated (no PNG end chunk)"
    elif ext in (".jpg", ".jpeg"):
        if head[:2] != JPEG_MAGIC:
            return "not a JPEG (no start-of-image marker)"
        if b"\xff\xd9" not in tail:
            return "truncated (no JPEG end-of-image marker)"
    elif ext == ".bmp":
        if head[:2] != b"BM":
            return "not a BMP (no BM signature)"
        if int.from_bytes(head[2:6], "little") > size:
            return "truncated (shorter than its BMP header says)"
    return ""


def check_frames(path: str | os.PathLike) -> FrameCheck:
    """Frame count and damaged frames of a video file or frame folder, checked cheaply (ingestion).

    A frame folder's files are checked one by one (`frame_file_problem`: zero-byte files occur by
    the ten thousand in some PHOENIX copies); a video file is opened and its frames counted.
    DataError naming the path when nothing can be counted: a missing or empty folder, a video that
    cannot be opened or has no frames.
    """
    path = Path(path)
    if path.is_dir():
        files = list_frame_files(path)
        if not files:
            raise DataError(str(path), "frame folder has no image files")
        check = FrameCheck(len(files))
        for i, f in enumerate(files):
            problem = frame_file_problem(f, f.stat().st_size)
            if problem:
                check.bad.append(i)
                check.first_problem = check.first_problem or f"{f.name}: {problem}"
        return check
    return FrameCheck(len(_open_video(path)))


def check_damage(path: str | os.PathLike, damaged: int, total: int, first_problem: str, max_share: float) -> None:
    """The one bound on damaged frames, at ingestion (`check_frames`) and at decode
    (`read_repaired_frames`): DataError naming the path when no frame is whole, or when more than
    `max_share` of the `total` frames are damaged."""
    if damaged == total:
        raise DataError(str(path), f"no frame could be read: {damaged} of {total} frames are damaged "
                                   f"(first: {first_problem})")
    if damaged > max_share * total:
        raise DataError(str(path), f"{damaged} of {total} frames are damaged (first: {first_problem}); "
                                   f"dataset.max_bad_frame_share allows {max_share:g}")


def count_frames(path: str | os.PathLike) -> int:
    """Frame count of a video file or frame folder that must be whole (no damaged frame).

    DataError naming the path otherwise (see `check_frames`).
    """
    check = check_frames(path)
    check_damage(path, len(check.bad), check.num_frames, check.first_problem, 0.0)
    return check.num_frames


def _open_video(path: Path, width: int = -1, height: int = -1):
    """A decord VideoReader with at least one frame, or DataError."""
    import decord

    if not path.is_file():
        raise DataError(str(path), "video file not found")
    if path.stat().st_size == 0:
        raise DataError(str(path), "video file is empty (0 bytes)")
    try:
        reader = decord.VideoReader(str(path), ctx=decord.cpu(0), width=width, height=height)
    except Exception as e:  # decord raises RuntimeError / DECORDError with FFmpeg's message
        raise DataError(str(path), f"cannot open video: {_first_line(e)}") from None
    if len(reader) == 0:
        raise DataError(str(path), "video has no frames")
    return reader


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else type(e).__name__


def read_frames(path: str | os.PathLike, stride: int = 1, size: int | None = None) -> np.ndarray:
    """All frames `0, stride, 2*stride, ...` of a whole video file or frame folder: uint8 [T, H, W, 3].

    size: squash every frame to size × size; None keeps the source resolution. A damaged frame is
    a DataError (`read_repaired_frames` repairs a bounded share instead).
    """
    return read_repaired_frames(path, stride, size)[0]


def read_repaired_frames(
    path: str | os.PathLike, stride: int = 1, size: int | None = None, *, bad: Sequence[int] = (),
    max_bad_share: float = 0.0,
) -> tuple[np.ndarray, int]:
    """Frames as `read_frames`, each damaged one replaced by the nearest earlier whole frame (the
    next one at the start), and how many of the returned frames are such copies.

    bad: source frame indices already known to be damaged (ingestion's `check_frames`): not read.
    Frames that fail to decode here join them. More than `max_bad_share` of the returned frames
    damaged, or none whole: DataError naming the path and the first problem.
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if size is not None and size < 1:
        raise ValueError(f"size must be >= 1 or None, got {size}")
    path = Path(path)
    if path.is_dir():
        frames, problem = _read_folder(path, stride, size, set(bad))
    else:
        frames, problem = _read_video(path, stride, size)
    damaged = sum(f is None for f in frames)
    check_damage(path, damaged, len(frames), problem, max_bad_share)
    if damaged:
        log.warning("%s: %d of %d frames damaged, replaced by their nearest whole neighbour (first: %s)",
                    path, damaged, len(frames), problem)
    return np.stack(_fill_damaged(frames)), damaged


def _fill_damaged(frames: list[np.ndarray | None]) -> list[np.ndarray]:
    """Each None replaced by the nearest earlier frame, or the next one where none is earlier."""
    filled = list(frames)
    for t in range(1, len(filled)):
        if filled[t] is None:
            filled[t] = filled[t - 1]
    for t in range(len(filled) - 2, -1, -1):
        if filled[t] is None:
            filled[t] = filled[t + 1]
    return filled


def _read_video(path: Path, stride: int, size: int | None) -> tuple[list[np.ndarray | None], str]:
    """A video's frames; frames a damaged file no longer holds (a truncated tail) are None."""
    side = size if size is not None else -1
    reader = _open_video(path, width=side, height=side)
    indices = list(range(0, len(reader), stride))
    try:
        frames = reader.get_batch(indices).asnumpy()  # [T, H, W, 3] uint8 RGB
    except Exception as e:
        if "DECORDArrayCopyFromTo" in str(e):
            # decord 0.6 mis-copies frames of some output widths <= 72 (e.g. 16, 24, 48): PyAV instead.
            log.debug("%s: decord cannot produce width %s, decoding with PyAV", path, size)
            problem = ""
        else:  # a damaged file: PyAV keeps every frame it can decode
            problem = f"cannot decode frames: {_first_line(e)}"
            log.debug("%s: %s; decoding what PyAV can", path, problem)
        decoded, pyav_problem = _read_video_pyav(path, stride, size)
        missing = max(0, len(indices) - len(decoded))
        if missing and not problem:
            problem = pyav_problem or f"{missing} frames the container lists cannot be decoded"
        return [*decoded, *([None] * missing)], problem
    if frames.ndim != 4 or frames.shape[0] != len(indices) or frames.shape[-1] != 3:
        raise DataError(str(path), f"decoder returned shape {frames.shape} for {len(indices)} frames")
    return list(np.ascontiguousarray(frames, dtype=np.uint8)), ""


def _read_video_pyav(path: Path, stride: int, size: int | None) -> tuple[list[np.ndarray], str]:
    """Sequential decode with PyAV (bilinear swscale, the filter decord's resize uses): the frames
    up to the first that fails, and that failure in words ("" when none)."""
    import av

    frames = []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for t, frame in enumerate(container.decode(stream)):
                if t % stride:
                    continue
                if size is not None:
                    frame = frame.reformat(width=size, height=size, format="rgb24", interpolation="BILINEAR")
                frames.append(frame.to_ndarray(format="rgb24"))
    except (av.FFmpegError, IndexError, ValueError) as e:
        return frames, f"cannot decode frames: {_first_line(e)}"
    return frames, ""


def _read_folder(path: Path, stride: int, size: int | None, bad: set[int]) -> tuple[list[np.ndarray | None], str]:
    """A frame folder's frames; damaged ones (listed in `bad` or failing to decode) are None."""
    files = list_frame_files(path)
    if not files:
        raise DataError(str(path), "frame folder has no image files")
    frames: list[np.ndarray | None] = []
    problem = ""
    for i in range(0, len(files), stride):
        f = files[i]
        if i in bad:
            frames.append(None)
            problem = problem or f"{f.name}: damaged at ingestion"
            continue
        try:
            data = f.read_bytes()
            if data[:2] == JPEG_MAGIC:  # DCT-domain downscale by 1/2..1/8, still >= size
                frame = decode_jpeg(data, size)
            else:
                with Image.open(io.BytesIO(data)) as im:
                    frame = np.asarray(im.convert("RGB"), dtype=np.uint8)
            if size is not None and frame.shape[:2] != (size, size):
                frame = np.asarray(Image.fromarray(frame).resize((size, size), Image.Resampling.BICUBIC))
            frames.append(frame)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:  # PIL: SyntaxError = bad chunk
            frames.append(None)
            problem = problem or f"cannot decode frame {f.name}: {_first_line(e)}"
    shapes = {a.shape for a in frames if a is not None}
    if len(shapes) > 1:
        raise DataError(str(path), f"frames have different sizes {sorted(shapes)}; set a decode size")
    return frames, problem
