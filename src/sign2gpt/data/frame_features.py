"""HDF5 cache of a frozen backbone's per-frame features: every stored frame of a split, computed once.

A frozen backbone (`spatial.tune: frozen`, which keeps it in eval mode) fed frames without
augmentation is a fixed function of each frame: the training stages can read its pooled feature
[hidden] instead of running it on the frame every epoch. The cache holds every stored frame of every
video (the clip sampling picks rows from it, as it picks frames from the frame store), and it records
what it was made from: the backbone's weights (SHA-256 over its tensors), the image size and pooling,
and the frame stores' decode settings (which the sampling reads, as from the frame store).
`FrameFeatureStore` reads it with the frame store's interface (`ids`, `num_frames`, `held`, `read`,
`meta`), and `check` refuses a cache made by another backbone, image size or pooling than the
model's. The cache is computed under the precision of the stage that writes it (the workflow gives
rule frame_features the run's `device` and `precision`, as the training stages).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from sign2gpt.core.errors import DataError
from sign2gpt.core.io import atomic_path
from sign2gpt.data.frame_store import FrameStore, held_samples

if TYPE_CHECKING:
    import torch

# `spatial` below is a sign2gpt.models.spatial.SpatialModel (its backbone, pooling, tune, hidden_size
# and frame_features); not imported: the data layer sits below the models.
SpatialModel = Any

log = logging.getLogger(__name__)
FORMAT = "sign2gpt-frame-features-v1"


def backbone_sha256(spatial: SpatialModel) -> str:
    """SHA-256 over the backbone's parameters and buffers (names, dtypes, shapes, values) and its pooling."""
    import torch

    h = hashlib.sha256(f"pooling={spatial.pooling}".encode())
    for name, tensor in sorted(spatial.backbone.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def write_frame_features(path: str | os.PathLike, frames: Sequence[str | os.PathLike], spatial: SpatialModel, *,
                         image_size: int, device: torch.device | str = "cpu", chunk: int = 256) -> int:
    """Run the frozen backbone over every stored frame of the frame stores `frames` and write the
    pooled features [frames, hidden] per video; returns the number of videos. Atomic."""
    import torch
    from tqdm import tqdm

    from sign2gpt.data.augment import as_clip_tensor, clip_frames

    if spatial.tune != "frozen":
        raise DataError(str(path), f"a frame-feature cache needs a frozen backbone (spatial.tune is {spatial.tune})")
    store = FrameStore(frames)
    spatial.eval().to(device)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f, torch.no_grad():
        f.attrs.update(format=FORMAT, backbone_sha256=backbone_sha256(spatial), image_size=int(image_size),
                       pooling=spatial.pooling, hidden=int(spatial.hidden_size), frame_meta=json.dumps(store.meta))
        group = f.create_group("features")
        ids = store.ids
        for k, vid in enumerate(tqdm(ids, desc=f"frame features {Path(path).name}", unit="video")):
            pixels = as_clip_tensor(store.read(vid))
            feats = [spatial.frame_features(clip_frames(part.to(device), None, int(image_size))).float().cpu()
                     for part in pixels.split(chunk)]
            group.create_dataset(str(k), data=torch.cat(feats).numpy())  # [frames, hidden]
        f.create_dataset("ids", data=np.array(ids, dtype=object), dtype=h5py.string_dtype())
        f.create_dataset("left_out", data=np.array(sorted(store.left_out.items()), dtype=object).reshape(-1, 2),
                         dtype=h5py.string_dtype())
        f.attrs["complete"] = True  # last: a reader trusts a file only with this flag
    store.close()
    return len(ids)


class FrameFeatureStore:
    """The cached features of one or more splits, read like a FrameStore (rows instead of frames).

    Files are opened per process on first read (HDF5 handles must not cross a fork), so a store can
    be given to DataLoader workers."""

    features = True  # what SignDataset asks: rows [T, hidden], not uint8 frames

    def __init__(self, paths: str | os.PathLike | Sequence[str | os.PathLike]):
        self.paths = [Path(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)]
        self._where: dict[str, tuple[int, str]] = {}
        self._num_frames: dict[str, int] = {}
        self.left_out: dict[str, str] = {}
        self.attrs: dict[str, Any] = {}
        for i, path in enumerate(self.paths):
            try:
                with h5py.File(path, "r", locking=False) as f:
                    attrs = {k: f.attrs[k] for k in ("format", "backbone_sha256", "image_size", "pooling", "hidden",
                                                     "frame_meta", "complete") if k in f.attrs}
                    if attrs.get("format") != FORMAT or not attrs.get("complete", False):
                        raise DataError(str(path), "not a complete sign2gpt frame-feature cache; delete it and rerun")
                    ids = list(f["ids"].asstr()[:])
                    counts = [f["features"][str(k)].shape[0] for k in range(len(ids))]
                    self.left_out.update(dict(f["left_out"].asstr()[:].tolist()))
            except OSError as exc:
                raise DataError(str(path), f"not a readable frame-feature cache ({exc})") from None
            attrs.pop("complete")
            if self.attrs and attrs != self.attrs:
                raise DataError(str(path), f"made with other settings than {self.paths[0]}")
            self.attrs = attrs
            for k, (vid, n) in enumerate(zip(ids, counts)):
                self._where[vid], self._num_frames[vid] = (i, str(k)), int(n)
        self.meta: dict[str, Any] = json.loads(self.attrs["frame_meta"])  # the frame stores' decode settings
        self._files: dict[int, h5py.File] = {}
        self._pid = os.getpid()

    def check(self, spatial: SpatialModel, image_size: int) -> None:
        """Refuse features made by another backbone, pooling or image size than the model's."""
        expected = {"backbone_sha256": backbone_sha256(spatial), "image_size": int(image_size),
                    "pooling": spatial.pooling}
        stale = {k: (self.attrs[k], v) for k, v in expected.items() if self.attrs[k] != v}
        if stale:
            key, (stored, wanted) = next(iter(stale.items()))
            raise DataError(str(self.paths[0]), f"stale frame-feature cache: {key} {str(stored)[:16]} where the "
                                                f"model has {str(wanted)[:16]}; delete it and rerun")

    @property
    def ids(self) -> list[str]:
        return list(self._where)

    def __contains__(self, id: object) -> bool:
        return id in self._where

    def num_frames(self, id: str) -> int:
        return self._num_frames[id]

    def held(self, samples: Sequence[Any]) -> list[Any]:
        """The samples the cache holds, in order (as FrameStore.held: an unknown id is a DataError)."""
        return held_samples(samples, self._where, self.left_out, f"the frame-feature cache {self.paths[0]}")

    def read(self, id: str, indices: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """Features float32 [T, hidden] of the stored frames `indices` (all without)."""
        if os.getpid() != self._pid:
            self._files, self._pid = {}, os.getpid()
        shard, key = self._where[id]
        if shard not in self._files:
            self._files[shard] = h5py.File(self.paths[shard], "r", locking=False)
        rows = self._files[shard]["features"][key]
        return rows[:] if indices is None else rows[:][np.asarray(indices)]

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files = {}


def is_frame_feature_cache(path: str | os.PathLike) -> bool:
    """Whether `path` is a frame-feature cache (else a frame store, or not ours)."""
    try:
        with h5py.File(path, "r", locking=False) as f:
            return f.attrs.get("format") == FORMAT
    except OSError:
        return False


def open_frames(paths: Sequence[str | os.PathLike]) -> FrameStore | FrameFeatureStore:
    """The frames of a split as a stage reads them: the frame stores, or a frozen backbone's cache."""
    paths = list(paths)
    return FrameFeatureStore(paths) if paths and is_frame_feature_cache(paths[0]) else FrameStore(paths)
