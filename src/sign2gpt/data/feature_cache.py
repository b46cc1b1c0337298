"""HDF5 cache of sign features Z (the frozen pretrained encoder's output), one dataset per video.

The cache records what it was made from (SHA-256 of the encoder checkpoint and of the manifest),
and a reader refuses a cache that does not match what the caller expects, so a translation run
can never train on features of a different encoder or split.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

if TYPE_CHECKING:
    import torch

from sign2gpt.core.errors import DataError
from sign2gpt.core.io import atomic_path

FORMAT = "sign2gpt-feature-cache-v1"


def write_feature_cache(
    path: str | os.PathLike,
    items: Iterable[tuple[str, np.ndarray]],
    *,
    checkpoint_sha256: str,
    manifest_sha256: str,
) -> int:
    """Write (id, Z [T', D] float) pairs; returns the number of videos written. Atomic."""
    count = 0
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["checkpoint_sha256"] = checkpoint_sha256
            f.attrs["manifest_sha256"] = manifest_sha256
            grp = f.create_group("features")
            ids: list[str] = []
            for vid, z in items:
                z = np.asarray(z, dtype=np.float32)
                if z.ndim != 2 or z.shape[0] == 0:
                    raise DataError(vid, f"feature array must be [T', D] with T' > 0, got {z.shape}")
                grp.create_dataset(str(len(ids)), data=z)
                ids.append(vid)
                count += 1
            f.create_dataset("ids", data=np.array(ids, dtype=object), dtype=h5py.string_dtype())
            f.attrs["complete"] = True
    return count


class FeatureCache:
    """Random access to cached features by video id."""

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        checkpoint_sha256: str | None = None,
        manifest_sha256: str | None = None,
    ):
        self.path = Path(path)
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as exc:
            raise DataError(str(path), f"not a readable feature cache ({exc})") from None
        attrs = self._file.attrs
        if attrs.get("format") != FORMAT or not attrs.get("complete", False):
            self._file.close()
            raise DataError(str(path), "not a complete sign2gpt feature cache; delete it and rerun cache_features")
        for key, expected in (("checkpoint_sha256", checkpoint_sha256), ("manifest_sha256", manifest_sha256)):
            stored = str(attrs.get(key, ""))
            if expected is not None and stored != expected:
                self._file.close()
                raise DataError(
                    str(path),
                    f"stale cache: made from {key.split('_')[0]} {stored[:12]}…, "
                    f"expected {expected[:12]}…; rerun cache_features",
                )
        self.ids = [s.decode() if isinstance(s, bytes) else s for s in self._file["ids"][()]]
        self._index = {vid: i for i, vid in enumerate(self.ids)}
        self.dim = int(self._file["features/0"].shape[1]) if self.ids else 0

    def __contains__(self, vid: str) -> bool:
        return vid in self._index

    def read(self, vid: str) -> np.ndarray:
        try:
            i = self._index[vid]
        except KeyError:
            raise DataError(vid, f"not in feature cache {self.path}") from None
        return self._file[f"features/{i}"][()]

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        for vid in self.ids:
            yield vid, self.read(vid)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> FeatureCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class FeatureDataset:
    """Cached Z per video for the `z` variant: item = dict(id, features [T', D], text)."""

    def __init__(self, samples: list, cache: FeatureCache):
        missing = [s.id for s in samples if s.id not in cache]
        if missing:
            raise DataError(missing[0], f"missing from feature cache {cache.path} ({len(missing)} videos missing)")
        self.samples = list(samples)
        self.cache = cache

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        import torch

        sample = self.samples[index]
        return {"id": sample.id, "features": torch.from_numpy(self.cache.read(sample.id)), "text": sample.text}


def pad_features(features: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Cached Z per video [T'_i, D] → padded [B, T'_max, D] and a bool mask [B, T'_max]."""
    import torch

    lengths = torch.tensor([f.shape[0] for f in features])
    memory = torch.nn.utils.rnn.pad_sequence(list(features), batch_first=True)
    mask = torch.arange(memory.shape[1])[None, :] < lengths[:, None]
    return memory, mask


def collate_features(batch: list[dict]) -> dict:
    """Pad cached features into memory [B, T'_max, D] + mask, keeping ids and texts."""
    memory, mask = pad_features([item["features"] for item in batch])
    return {"ids": [b["id"] for b in batch], "texts": [b["text"] for b in batch], "memory": memory, "memory_mask": mask}
