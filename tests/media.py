"""Tiny test videos, shared by the test modules (`from media import make_video`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import numpy as np


def make_video(
    path: Path, n: int, size: int = 32, codec: str = "libx264",
    colour: Callable[[int], int | tuple[int, int, int]] = lambda t: (20 * t) % 256,
) -> Path:
    """An `n`-frame video of flat frames, frame t filled with `colour(t)`; `n = 0` gives a valid
    container with no frames. Parent folders are created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=25)
        s.width = s.height = size
        s.pix_fmt = "yuv420p"
        c.start_encoding()  # writes the header even when no frame follows
        for t in range(n):
            frame = np.full((size, size, 3), colour(t), np.uint8)
            c.mux(s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        c.mux(s.encode())  # flush
    return path
