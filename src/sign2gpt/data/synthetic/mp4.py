"""Write rendered frames as an H.264 mp4 that decord (and any player) reads back.

libx264, yuv420p, constant quantiser 25, preset veryfast (3x faster than medium at these sizes,
same fidelity), one thread and no B-frames (so every decoder agrees on the frame count and
order). yuv420p keeps chroma at half resolution, so colour edges blur by a pixel, which hands
several pixels wide survive; most of the file size is the simulated camera noise.

Constant quantiser, not crf: x264's rate control (crf, with its lookahead) is not repeatable. The
same frames encoded 100 times in one process gave 2 or 3 different files (PyAV 18.1.0's libx264,
one thread), with rgb24 or yuv420p input, in mp4 or raw .h264, with `force-cfr` too; one changed
macroblock changes every later P-frame, so the synthetic corpus, and every score trained on it,
differed between runs of one commit. With a fixed quantiser there is no rate control. qp 25 costs
what crf 20 did (12 clips at 64²: 39.2 vs 38.9 kB per video, decoded mean |Δ| from the render 8.69
vs 8.80 levels); tests/test_synthetic.py encodes each test and dev clip 40 times.
"""

from __future__ import annotations

import os
from fractions import Fraction

import av
import numpy as np

CODEC = "libx264"
QP = 25


def write_mp4(path: str | os.PathLike, frames: np.ndarray, fps: int, *, qp: int = QP) -> None:
    """Encode uint8 frames [T, H, W, 3] (H and W even) to `path`."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"{path}: frames must be uint8 [T, H, W, 3], got {frames.dtype} "
                         f"{frames.shape}")
    t, h, w, _ = frames.shape
    if t == 0 or h % 2 or w % 2:
        raise ValueError(f"{path}: need at least one frame and even sizes for yuv420p, "
                         f"got {frames.shape}")
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream(CODEC, rate=Fraction(int(fps)))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"qp": str(qp), "preset": "veryfast", "bf": "0", "threads": "1"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():  # flush
            container.mux(packet)
