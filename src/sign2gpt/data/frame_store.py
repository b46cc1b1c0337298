"""The HDF5 frame store: decoded frames of many videos, with random access for training.

One file per shard. Layout:
    attrs      format, version, stride, size (0 = source size), storage, jpeg_quality,
               compression, complete (written last: a file without it is refused)
    ids        utf-8 strings [N]: video ids (ids may hold any character, so datasets are
               named by position, not by id)
    num_frames int64 [N]: stored frames per video; source_num_frames int64 [N]: frames of the
               source video (stored frame t is source frame t * stride)
    repaired_frames int64 [N]: stored frames that copy a whole neighbour in place of a damaged
               frame (`sign2gpt.data.video.read_repaired_frames`; stores written before it
               existed read as 0)
    left_out   utf-8 strings [M, 2]: (id, reason) of each video decode left out (`skip_bad_items`)
    frames/{k} raw:  uint8 [T, H, W, 3], one chunk per frame (a clip read touches only its frames)
               jpeg: variable-length uint8 [T], one JPEG per frame
Storage `jpeg` (quality 90, like the PHOENIX data of the official code) is the default: 8-11×
smaller than `raw`, with the same random-access read rate at 256×256 and ample speed at 64×64.
`raw` is lossless and reads fastest; its default is no HDF5 filter, because on video frames
(sensor or rendering noise) lzf saves ~5% and gzip ~25% at a 4-12× slower write and 1.5-2.5×
slower read (figures: benchmarks/decode.py --compare-storage).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Container, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py
import numpy as np

from sign2gpt.core.errors import DataError
from sign2gpt.core.io import atomic_path
from sign2gpt.data.jpeg import decode_jpeg, encode_jpeg

log = logging.getLogger(__name__)

FORMAT = "sign2gpt-frames"
VERSION = 1
STORAGES = ("raw", "jpeg")


# a scattered selection is read as the slice that covers it while that slice holds at most this
# many frames per requested frame
SPAN_READ_FACTOR = 8


def _compression_args(compression: str | None) -> dict[str, Any]:
    """HDF5 filter for raw frames: None/"none", "lzf", "gzip" or "gzip1".."gzip9"."""
    if compression in (None, "none"):
        return {}
    if compression == "lzf":
        return {"compression": "lzf"}
    if compression.startswith("gzip"):
        level = compression[4:] or "4"
        if not (level.isdigit() and 0 <= int(level) <= 9):
            raise ValueError(f"unknown compression {compression!r} (gzip level must be 0..9)")
        return {"compression": "gzip", "compression_opts": int(level)}
    raise ValueError(f"unknown compression {compression!r}: none | lzf | gzip | gzip0..gzip9")


class FrameStoreWriter:
    """Writes one shard; the file appears under its final name only when the block succeeds.

        with FrameStoreWriter(path, stride=1, size=64, storage="jpeg") as w:
            w.add(video_id, frames_uint8_THW3, source_num_frames)
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        stride: int,
        size: int | None,
        storage: str = "jpeg",
        jpeg_quality: int = 90,
        compression: str | None = "none",
    ):
        if storage not in STORAGES:
            raise ValueError(f"unknown storage {storage!r}: one of {', '.join(STORAGES)}")
        if not 1 <= int(jpeg_quality) <= 100:
            raise ValueError(f"jpeg_quality must be in 1..100, got {jpeg_quality}")
        self.path = Path(path)
        self.stride = int(stride)
        self.size = None if size is None else int(size)
        self.storage = storage
        self.jpeg_quality = int(jpeg_quality)
        self.compression = compression if storage == "raw" else None
        self._filters = _compression_args(self.compression)
        self._ids: list[str] = []
        self._seen: set[str] = set()
        self._num_frames: list[int] = []
        self._source_num_frames: list[int] = []
        self._repaired: list[int] = []
        self._left_out: list[tuple[str, str]] = []
        self._stack: ExitStack | None = None
        self._file: h5py.File | None = None

    def __enter__(self) -> FrameStoreWriter:
        self._stack = ExitStack()
        tmp = self._stack.enter_context(atomic_path(self.path))
        self._file = h5py.File(tmp, "w")
        self._file.create_group("frames")
        return self

    def encode(self, frames: np.ndarray, id: str = "video") -> np.ndarray:
        """One video as it is stored: the uint8 [T, H, W, 3] frames (raw), or T JPEG byte arrays.

        Needs no open file and touches no state, so other threads can encode videos while this
        one writes (`sign2gpt.data.decode` runs decode + encode in a pool of workers).
        """
        frames = np.asarray(frames)
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 1:
            raise DataError(id, f"frames must be uint8 [T>=1, H, W, 3], got {frames.dtype} {frames.shape}")
        if self.storage == "raw":
            return frames
        encoded = np.empty(frames.shape[0], dtype=object)
        for i in range(frames.shape[0]):
            encoded[i] = encode_jpeg(frames[i], self.jpeg_quality)
        return encoded

    def add(self, id: str, frames: np.ndarray, source_num_frames: int | None = None, repaired: int = 0) -> None:
        """Append one video: frames uint8 [T, H, W, 3] with T >= 1, `repaired` of them copies of a neighbour."""
        self.add_encoded(id, self.encode(frames, id), source_num_frames, repaired)

    def add_encoded(self, id: str, encoded: np.ndarray, source_num_frames: int | None = None,
                    repaired: int = 0) -> None:
        """Append one video that `encode` prepared."""
        if self._file is None:
            raise RuntimeError("FrameStoreWriter.add outside its `with` block")
        if id in self._seen:
            raise DataError(id, f"duplicate id in frame store {self.path}")
        name = f"frames/{len(self._ids)}"
        t = encoded.shape[0]
        if self.storage == "raw":
            self._file.create_dataset(name, data=encoded, chunks=(1, *encoded.shape[1:]), **self._filters)
        else:
            self._file.create_dataset(name, data=encoded, dtype=h5py.vlen_dtype(np.uint8))
        self._ids.append(id)
        self._seen.add(id)
        self._num_frames.append(t)
        self._source_num_frames.append(int(source_num_frames) if source_num_frames is not None else t * self.stride)
        self._repaired.append(int(repaired))

    def leave_out(self, id: str, reason: str) -> None:
        """Record a video decode could not store, so readers can tell it from a foreign id."""
        self._left_out.append((id, reason))

    def _finish(self) -> None:
        f = self._file
        f.create_dataset("ids", data=np.array(self._ids, dtype=object), dtype=h5py.string_dtype("utf-8"))
        f.create_dataset("num_frames", data=np.array(self._num_frames, dtype=np.int64))
        f.create_dataset("source_num_frames", data=np.array(self._source_num_frames, dtype=np.int64))
        f.create_dataset("repaired_frames", data=np.array(self._repaired, dtype=np.int64))
        f.create_dataset("left_out", data=np.array(self._left_out, dtype=object).reshape(-1, 2),
                         dtype=h5py.string_dtype("utf-8"))
        f.attrs.update(
            format=FORMAT,
            version=VERSION,
            stride=self.stride,
            size=self.size or 0,
            storage=self.storage,
            jpeg_quality=self.jpeg_quality,
            compression=self.compression or "none",
        )
        f.attrs["complete"] = True  # last: a reader trusts a file only with this flag

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        assert self._file is not None and self._stack is not None
        try:
            if exc is None:
                self._finish()
        except BaseException as e:  # finishing failed: discard the temporary file too
            self._file.close()
            self._stack.__exit__(type(e), e, e.__traceback__)
            raise
        self._file.close()
        self._file = None
        self._stack.__exit__(exc_type, exc, tb)  # renames on success, deletes on error
        return False


def held_samples(samples: Sequence[Any], held: Container[str], left_out: Mapping[str, str], where: str) -> list[Any]:
    """The samples (manifest rows) a store `held`, in order, leaving out those decode could not read
    (`left_out`: id -> why; logged). An id neither held nor left out is a DataError: the store
    (`where`, for the message) was made from another manifest."""
    foreign = [s.id for s in samples if s.id not in held and s.id not in left_out]
    if foreign:
        raise DataError(foreign[0], f"not in {where} ({len(foreign)} such videos): decoded from another manifest?")
    kept = [s for s in samples if s.id in held]
    if len(kept) < len(samples):
        left = [s.id for s in samples if s.id not in held]
        log.warning("%d of %d videos were left out by decode (first: %s: %s)",
                    len(left), len(samples), left[0], left_out[left[0]])
    return kept


class FrameStore:
    """Random access to the videos of one or more shards.

    Headers are read at construction and the files closed again; each process opens its own
    handles on first read (HDF5 handles must not cross a fork), so a FrameStore can be given to
    DataLoader workers.
    """

    def __init__(self, paths: str | os.PathLike | Sequence[str | os.PathLike]):
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        self.paths = [Path(p) for p in paths]
        if not self.paths:
            raise ValueError("FrameStore needs at least one file")
        self._where: dict[str, tuple[int, int]] = {}  # id -> (shard, position)
        self._num_frames: dict[str, int] = {}
        self._source_num_frames: dict[str, int] = {}
        self._repaired: dict[str, int] = {}
        self.left_out: dict[str, str] = {}  # id -> why decode left it out
        self.meta: dict[str, Any] = {}
        for shard, path in enumerate(self.paths):
            meta, ids, num_frames, source, repaired, left_out = self._read_header(path)
            self.left_out.update(left_out)
            if not self.meta:
                self.meta = meta
            elif meta != self.meta:
                raise DataError(str(path), f"decode settings {meta} differ from {self.paths[0]}'s {self.meta}")
            for k, (vid, n, ns, r) in enumerate(zip(ids, num_frames, source, repaired)):
                if vid in self._where:
                    raise DataError(str(path), f"id {vid!r} is also in {self.paths[self._where[vid][0]]}")
                self._where[vid] = (shard, k)
                self._num_frames[vid] = int(n)
                self._source_num_frames[vid] = int(ns)
                self._repaired[vid] = int(r)
        self._files: dict[int, h5py.File] = {}
        self._pid = os.getpid()
        log.debug("frame store: %d videos in %d file(s), %s", len(self._where), len(self.paths), self.meta)

    @staticmethod
    def _read_header(path: Path) -> tuple[dict[str, Any], list[str], np.ndarray, np.ndarray, np.ndarray, dict]:
        if not path.is_file():
            raise DataError(str(path), "frame store not found")
        try:
            with h5py.File(path, "r", locking=False) as f:
                attrs = dict(f.attrs)
                if attrs.get("format") != FORMAT:
                    raise DataError(str(path), f"not a sign2gpt frame store (format {attrs.get('format')!r})")
                if not attrs.get("complete", False):
                    raise DataError(str(path), "incomplete frame store (the writer did not finish); decode it again")
                if int(attrs["version"]) != VERSION:
                    raise DataError(str(path), f"frame store version {attrs['version']}, this code reads {VERSION}")
                ids = list(f["ids"].asstr()[:])
                num_frames = f["num_frames"][:]
                source = f["source_num_frames"][:]
                repaired = f["repaired_frames"][:] if "repaired_frames" in f else np.zeros(len(ids), np.int64)
                left_out = dict(f["left_out"].asstr()[:].tolist()) if "left_out" in f else {}
        except OSError as e:
            raise DataError(str(path), f"not a readable HDF5 file: {e}") from None
        meta = {
            "stride": int(attrs["stride"]),
            "size": int(attrs["size"]) or None,
            "storage": str(attrs["storage"]),
            "jpeg_quality": int(attrs["jpeg_quality"]),
            "compression": str(attrs["compression"]),
        }
        return meta, ids, num_frames, source, repaired, left_out

    @property
    def ids(self) -> list[str]:
        return list(self._where)

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, id: object) -> bool:
        return id in self._where

    def num_frames(self, id: str) -> int:
        """Stored frames of a video (source frames / stride, rounded up)."""
        return self._num_frames[self._check(id)]

    def source_num_frames(self, id: str) -> int:
        return self._source_num_frames[self._check(id)]

    def held(self, samples: Sequence[Any]) -> list[Any]:
        """The samples (manifest rows) this store holds, in order, leaving out those decode could not
        read under `dataset.skip_bad_items` (the report counts dev and test videos left out). An id
        the store neither holds nor left out is a DataError: the store was decoded from another
        manifest."""
        where = f"the frame store {self.paths[0]}{' …' if len(self.paths) > 1 else ''}"
        return held_samples(samples, self._where, self.left_out, where)

    def repaired_frames(self, id: str) -> int:
        """Stored frames of a video that copy a whole neighbour in place of a damaged frame."""
        return self._repaired[self._check(id)]

    def _check(self, id: str) -> str:
        if id not in self._where:
            raise KeyError(f"video {id!r} is not in the frame store ({len(self)} videos in {len(self.paths)} file(s))")
        return id

    def _file(self, shard: int) -> h5py.File:
        if os.getpid() != self._pid:  # forked: the parent's handles are not ours to use
            self._files = {}
            self._pid = os.getpid()
        f = self._files.get(shard)
        if f is None:
            f = self._files[shard] = h5py.File(self.paths[shard], "r", locking=False)
        return f

    def read(self, id: str, indices: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """Frames `indices` (any order, repeats allowed; None: all) of a video: uint8 [T, H, W, 3]."""
        shard, k = self._where[self._check(id)]
        ds = self._file(shard)[f"frames/{k}"]
        n = self._num_frames[id]
        if indices is None:
            data = ds[:]
            return data if self.meta["storage"] == "raw" else np.stack([decode_jpeg(b) for b in data])
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size == 0:
            raise ValueError(f"video {id!r}: no frame indices given")
        if idx.min() < 0 or idx.max() >= n:
            raise IndexError(f"video {id!r}: frame indices must be in [0, {n}), got {idx.min()}..{idx.max()}")
        # h5py reads increasing, unique selections; a regular step is read as one slice.
        steps = np.diff(idx)
        if idx.size == 1 or (steps[0] > 0 and np.all(steps == steps[0])):
            step = int(steps[0]) if idx.size > 1 else 1
            data = ds[int(idx[0]) : int(idx[-1]) + 1 : step]
            order = None
        else:
            uniq, order = np.unique(idx, return_inverse=True)
            lo, hi = int(uniq[0]), int(uniq[-1]) + 1
            if hi - lo <= SPAN_READ_FACTOR * uniq.size:  # h5py's point selections are slow: one slice,
                data = ds[lo:hi][uniq - lo]  # then pick in memory (17× faster for 16 of 50 frames)
            else:
                data = ds[uniq]
        if self.meta["storage"] == "jpeg":
            data = np.stack([decode_jpeg(b) for b in data])
        return data if order is None else data[order]

    def close(self) -> None:
        if os.getpid() == self._pid:  # a forked child leaves the parent's handles alone
            for f in self._files.values():
                f.close()
        self._files = {}

    def __enter__(self) -> FrameStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_files"] = {}  # handles never travel to another process
        return state

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
