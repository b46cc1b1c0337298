"""The decode stage: the videos of one manifest shard into one HDF5 frame store.

Shard `s` of `n` holds the manifest's videos i with i % n == s, so shards are balanced and can
run as parallel cluster jobs. Inside a job, `threads` workers decode videos and encode their
frames for storage in parallel (decord and PIL release the GIL) while the job's own thread writes
the HDF5 file in manifest order (benchmarks/decode.py).
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from pathlib import Path

import numpy as np
from tqdm import tqdm

from sign2gpt.core.errors import ConfigError, DataError
from sign2gpt.core.io import write_text
from sign2gpt.data.frame_store import STORAGES, FrameStoreWriter
from sign2gpt.data.manifest import Sample, read_manifest
from sign2gpt.data.video import read_repaired_frames

log = logging.getLogger(__name__)

SKIPPED_HEADER = "id\tvideo\treason"


def skipped_path(out_path: str | os.PathLike) -> Path:
    """The skip list written beside a shard: `<out_path>.skipped.tsv`."""
    return Path(f"{out_path}.skipped.tsv")


def _prepared(
    samples: list[Sample], stride: int, size: int | None, encode: Callable[[np.ndarray, str], np.ndarray], workers: int,
    max_bad_share: float = 0.0,
) -> Iterator[tuple[Sample, tuple[np.ndarray, int, int] | DataError]]:
    """(sample, (stored form, frame count, repaired frames) or the DataError of that sample), in
    manifest order. Damaged frames (the manifest's `bad_frames` and any that fail to decode) are
    replaced by a whole neighbour up to `max_bad_share` of a video's frames.

    `workers` threads each decode a video and encode its frames for storage (decord, PIL's PNG /
    JPEG codecs and resizing release the GIL), at most `workers + 1` videos ahead of the writer,
    which leaves only the HDF5 write to the calling thread. The result is the same for any number
    of workers.
    """

    def work(s: Sample) -> tuple[np.ndarray, int, int] | DataError:
        try:
            frames, repaired = read_repaired_frames(s.video, stride, size, bad=s.bad_frame_indices(),
                                                    max_bad_share=max_bad_share)
        except DataError as e:
            return e
        return encode(frames, s.id), frames.shape[0], repaired

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="decode") as pool:
        queue: deque[tuple[Sample, Future]] = deque()
        upcoming = iter(samples)
        for sample in islice(upcoming, max(1, workers) + 1):
            queue.append((sample, pool.submit(work, sample)))
        while queue:
            sample, future = queue.popleft()
            following = next(upcoming, None)
            if following is not None:
                queue.append((following, pool.submit(work, following)))
            yield sample, future.result()


def decode_shard(
    manifest_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    shard: int,
    num_shards: int,
    stride: int,
    size: int | None,
    storage: str,
    jpeg_quality: int = 90,
    skip_bad_items: bool = False,
    max_bad_frame_share: float = 0.0,
    compression: str | None = "none",
    threads: int = 1,
) -> None:
    """Decode shard `shard` of `num_shards` of a manifest into the frame store `out_path`.

    threads: videos decoded and encoded in parallel inside this job (the rule's threads).

    Frames are every `stride`-th source frame squashed to size × size (None: source size).
    Damaged frames up to `max_bad_frame_share` of a video's frames are replaced by a whole
    neighbour and counted in the store (`repaired_frames`). A video beyond that, or that cannot be
    decoded, is a DataError, or with skip_bad_items is left out and listed in
    `<out_path>.skipped.tsv` (always written, header only when nothing was skipped); the later
    stages then use the videos the store holds, and the report counts the ones left out.
    compression applies to storage `raw` only.
    """
    if num_shards < 1 or not 0 <= shard < num_shards:
        raise ConfigError(f"decode: shard {shard} is not in 0..{num_shards - 1}")
    if stride < 1:
        raise ConfigError(f"decode.stride must be >= 1, got {stride}")
    if size is not None and size < 1:
        raise ConfigError(f"decode.size must be >= 1, got {size}")
    if storage not in STORAGES:
        raise ConfigError(f"decode.storage must be one of {', '.join(STORAGES)}, got {storage!r}")
    samples = read_manifest(manifest_path)[shard::num_shards]  # i % num_shards == shard

    start = time.perf_counter()
    skipped: list[tuple[Sample, str]] = []
    frames_written = 0
    with FrameStoreWriter(
        out_path, stride=stride, size=size, storage=storage, jpeg_quality=jpeg_quality, compression=compression
    ) as writer:
        prepared = _prepared(samples, stride, size, writer.encode, int(threads), max_bad_frame_share)
        bar = tqdm(prepared, total=len(samples), desc=f"decode {Path(out_path).name}", unit="video")
        for sample, result in bar:
            if isinstance(result, DataError):
                if not skip_bad_items:
                    raise DataError(f"video {sample.id!r} ({sample.video})", result.problem) from result
                log.warning("skipping video %r: %s", sample.id, result)
                skipped.append((sample, result.problem))
                writer.leave_out(sample.id, result.problem)
                continue
            stored, count, repaired = result
            expected = -(-sample.num_frames // stride)
            if count != expected:
                log.warning(
                    "video %r: decoded %d frames, the manifest's num_frames %d with stride %d gives %d",
                    sample.id, count, sample.num_frames, stride, expected,
                )
            writer.add_encoded(sample.id, stored, source_num_frames=sample.num_frames, repaired=repaired)
            frames_written += count

    lines = [SKIPPED_HEADER] + [
        "\t".join(x.replace("\t", " ").replace("\n", " ") for x in (s.id, s.video, reason)) for s, reason in skipped
    ]
    write_text(skipped_path(out_path), "\n".join(lines) + "\n")
    seconds = time.perf_counter() - start
    nbytes = Path(out_path).stat().st_size
    log.info(
        "decode %s shard %d/%d: %d videos, %d frames, %.1f s (%.0f frames/s), %d bytes (%.0f per frame) "
        "-> %s; %d skipped",
        manifest_path, shard, num_shards, len(samples) - len(skipped), frames_written, seconds,
        frames_written / max(seconds, 1e-9), nbytes, nbytes / max(frames_written, 1), out_path, len(skipped),
    )
