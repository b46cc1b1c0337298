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


def count_frames(path: str | os.PathLike) -> int:
    """Frame count of a video file or frame folder, checked cheaply (used at ingestion).

    A folder with no frames or with zero-byte frame files (they occur in some PHOENIX copies), a
    video that cannot be opened or has no frames: DataError naming the path.
    """
    path = Path(path)
    if path.is_dir():
        files = list_frame_files(path)
        if not files:
            raise DataError(str(path), "frame folder has no image files")
        empty = [f.name for f in files if f.stat().st_size == 0]
        if empty:
            raise DataError(str(path), f"{len(empty)} of {len(files)} frame files are zero bytes (first: {empty[0]})")
        return len(files)
    return len(_open_video(path))


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
    """All frames `0, stride, 2*stride, ...` of a video file or frame folder: uint8 [T, H, W, 3].

    size: squash every frame to size × size; None keeps the source resolution.
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if size is not None and size < 1:
        raise ValueError(f"size must be >= 1 or None, got {size}")
    path = Path(path)
    if path.is_dir():
        return _read_folder(path, stride, size)
    return _read_video(path, stride, size)


def _read_video(path: Path, stride: int, size: int | None) -> np.ndarray:
    side = size if size is not None else -1
    reader = _open_video(path, width=side, height=side)
    indices = list(range(0, len(reader), stride))
    try:
        frames = reader.get_batch(indices).asnumpy()  # [T, H, W, 3] uint8 RGB
    except Exception as e:
        if "DECORDArrayCopyFromTo" not in str(e):
            raise DataError(str(path), f"cannot decode frames: {_first_line(e)}") from None
        # decord 0.6 mis-copies frames of some output widths <= 72 (e.g. 16, 24, 48): PyAV instead.
        log.debug("%s: decord cannot produce width %s, decoding with PyAV", path, size)
        frames = _read_video_pyav(path, stride, size)
    if frames.ndim != 4 or frames.shape[0] != len(indices) or frames.shape[-1] != 3:
        raise DataError(str(path), f"decoder returned shape {frames.shape} for {len(indices)} frames")
    return np.ascontiguousarray(frames, dtype=np.uint8)


def _read_video_pyav(path: Path, stride: int, size: int | None) -> np.ndarray:
    """Sequential decode with PyAV; bilinear swscale, the filter decord's resize uses."""
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
        raise DataError(str(path), f"cannot decode frames: {_first_line(e)}") from None
    if not frames:
        raise DataError(str(path), "video has no frames")
    return np.stack(frames)


def _read_folder(path: Path, stride: int, size: int | None) -> np.ndarray:
    files = list_frame_files(path)
    if not files:
        raise DataError(str(path), "frame folder has no image files")
    frames = []
    for f in files[::stride]:
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
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise DataError(str(path), f"cannot decode frame {f.name}: {_first_line(e)}") from None
    shapes = {a.shape for a in frames}
    if len(shapes) > 1:
        raise DataError(str(path), f"frames have different sizes {sorted(shapes)}; set a decode size")
    return np.stack(frames)
