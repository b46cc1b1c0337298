"""Which stored frames a clip is made of (spec §2.2).

Train: a random start in {0..3} and a random end in {N-4..N}, then every `stride`-th frame, so
each epoch sees a different phase and trim of the video. Eval: 0, stride, 2*stride, ... < N.
A cap `max_frames` bounds the clip length: at train a random subset (sorted, as the official
code does), at eval an evenly spaced subset (deterministic; the official code would draw a
random subset at eval too, but PHOENIX clips never reach the cap after striding).

Indices are in *stored*-frame units. When the decode stage already kept every `store_stride`-th
source frame, the sampling stride and the trim are divided by it, so the sampled clip covers
the same source frames whatever the decode stride was.
"""

from __future__ import annotations

import math

import numpy as np


def effective_stride(stride: int, store_stride: int = 1) -> int:
    """Sampling stride in stored frames: `stride` source frames, at least 1."""
    if stride < 1 or store_stride < 1:
        raise ValueError(f"strides must be >= 1 (stride={stride}, store_stride={store_stride})")
    return max(1, round(stride / store_stride))


def sample_indices(
    num_frames: int,
    *,
    train: bool,
    rng: np.random.Generator | None = None,
    stride: int = 2,
    max_frames: int | None = None,
    store_stride: int = 1,
    trim: int = 4,
) -> np.ndarray:
    """Sorted int64 indices into the stored frames of one video; never empty.

    num_frames: N, the number of stored frames. rng: required at train (all randomness comes
    from it, so a seeded Generator gives the same clip). trim: the maximum number of source
    frames cut at each end at train (4 in the official code).
    """
    if num_frames < 1:
        raise ValueError(f"a video needs at least one frame (got {num_frames})")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be >= 1 (got {max_frames})")
    step = effective_stride(stride, store_stride)
    n = num_frames
    if train:
        if rng is None:
            raise ValueError("train sampling needs a numpy Generator")
        cut = math.ceil(trim / store_stride)  # stored frames that span `trim` source frames
        start = int(rng.integers(0, cut)) if cut > 0 else 0  # {0..cut-1}
        end = int(rng.integers(max(n - cut, 0), n + 1))  # {N-cut..N}
        idx = np.arange(start, end, step, dtype=np.int64)
    else:
        idx = np.arange(0, n, step, dtype=np.int64)
    if idx.size == 0:  # very short clip trimmed away: use every frame (official CSL behaviour)
        idx = np.arange(n, dtype=np.int64)
    if max_frames is not None and idx.size > max_frames:
        if train:
            keep = np.sort(rng.choice(idx.size, size=max_frames, replace=False))
        else:
            keep = np.linspace(0, idx.size - 1, max_frames).round().astype(np.int64)
        idx = idx[keep]
    return idx
