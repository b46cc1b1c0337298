"""Clips of frames for training and evaluation, the batch collate and the DataLoader (spec §2.4).

Every random choice of an item (frame sampling, augmentation) comes from a numpy Generator
seeded with (seed, epoch, index), so an item is the same whatever the number of workers, the
rank, or whether the run was resumed. Call `set_epoch` before each epoch (the Trainer does).
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from sign2gpt.data.augment import AugmentConfig, augment_clip
from sign2gpt.data.sampling import sample_indices
from sign2gpt.errors import DataError


class FrameSource(Protocol):
    """What the dataset needs from a frame store (`sign2gpt.data.frame_store.FrameStore`)."""

    def num_frames(self, id: str) -> int: ...

    def read(self, id: str, indices: Sequence[int] | np.ndarray | None = None) -> np.ndarray: ...


class SignDataset(Dataset):
    """Item i: dict(id, frames float [T, 3, S, S], text, targets list[int]).

    samples: manifest rows (`sign2gpt.data.manifest.Sample`; only `.id` and `.text` are used).
    store: the frame store; its `meta["stride"]` (when present) says how many source frames one
    stored frame stands for, and sampling divides `stride` by it. targets_fn: sentence -> vocab
    ids (the pseudo-gloss targets), or None for no targets. augment_cfg: an AugmentConfig, its
    dict form, or a bool (on with the official defaults / off); only used when `train`.
    """

    def __init__(
        self,
        samples: Sequence[Any],
        store: FrameSource,
        *,
        train: bool,
        image_size: int,
        stride: int = 2,
        max_frames: int | None = None,
        targets_fn: Callable[[str], list[int]] | None = None,
        augment_cfg: AugmentConfig | dict | bool | None = None,
        seed: int = 0,
    ):
        self.samples = list(samples)
        self.store = store
        self.train = train
        self.image_size = int(image_size)
        self.stride = int(stride)
        self.max_frames = max_frames
        self.targets_fn = targets_fn
        if isinstance(augment_cfg, bool):  # the config's `augment: true/false`
            augment_cfg = AugmentConfig(enabled=augment_cfg)
        if not isinstance(augment_cfg, AugmentConfig):
            augment_cfg = AugmentConfig.from_dict(augment_cfg)
        self.augment_cfg = augment_cfg
        self.seed = int(seed)
        self.epoch = 0
        meta = getattr(store, "meta", None) or {}
        self.store_stride = int(meta.get("stride", 1))

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch's random stream (DataLoader workers copy the dataset per epoch)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.samples)

    def rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, int(index)])

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.samples[index]
        rng = self.rng(index)
        n = int(self.store.num_frames(sample.id))
        if n < 1:
            raise DataError(sample.id, "has no stored frames")
        idx = sample_indices(
            n, train=self.train, rng=rng, stride=self.stride, max_frames=self.max_frames, store_stride=self.store_stride
        )
        clip = self.store.read(sample.id, idx)
        if not isinstance(clip, np.ndarray) or clip.dtype != np.uint8 or clip.ndim != 4 or clip.shape[-1] != 3:
            raise DataError(sample.id, f"frame store returned {getattr(clip, 'dtype', type(clip))} "
                            f"{getattr(clip, 'shape', '')}, expected uint8 [T, H, W, 3]")
        if clip.shape[0] != len(idx):
            raise DataError(sample.id, f"asked the frame store for {len(idx)} frames, got {clip.shape[0]}")
        frames = augment_clip(clip, self.image_size, train=self.train, rng=rng, cfg=self.augment_cfg)
        targets = list(self.targets_fn(sample.text)) if self.targets_fn is not None else []
        return {"id": sample.id, "frames": frames, "text": sample.text, "targets": targets}


def collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Variable-length clips stay a list (spec §2.4), plus the concatenation the spatial model eats.

    Returns ids, texts, targets (list[list[int]]), lengths (list[int]), frames [ΣT, 3, S, S],
    clips (list of [T_i, 3, S, S] views into `frames`).
    """
    if not batch:
        raise ValueError("collate got an empty batch")
    lengths = [int(item["frames"].shape[0]) for item in batch]
    frames = torch.cat([item["frames"] for item in batch], dim=0)
    return {
        "ids": [item["id"] for item in batch],
        "texts": [item["text"] for item in batch],
        "targets": [list(item["targets"]) for item in batch],
        "lengths": lengths,
        "frames": frames,
        "clips": list(frames.split(lengths)),
    }


def multi_hot(targets: Sequence[Sequence[int]], num_classes: int) -> torch.Tensor:
    """[B, V] float32 presence matrix from per-item class ids (duplicates are fine)."""
    out = torch.zeros(len(targets), num_classes, dtype=torch.float32)
    for row, ids in enumerate(targets):
        ids = list(ids)
        if not ids:
            continue
        bad = [i for i in ids if not 0 <= int(i) < num_classes]
        if bad:
            raise ValueError(f"batch item {row}: target ids {bad} outside the vocabulary of {num_classes}")
        out[row, torch.as_tensor(ids, dtype=torch.long)] = 1.0
    return out


def make_loader(
    dataset: Dataset,
    batch_size: int,
    train: bool,
    num_workers: int = 0,
    distributed: bool = False,
    *,
    seed: int = 0,
    collate_fn: Callable[[list], Any] = collate,
    pin_memory: bool | None = None,
) -> DataLoader:
    """DataLoader as in spec §2.4: train shuffles (and drops the last partial batch when the
    data is larger than one batch), eval keeps order and every item.

    The order always comes from a DistributedSampler (one replica when not distributed), whose
    permutation depends only on (seed, epoch): a resumed run sees the same order, and the
    Trainer's `set_epoch` reshuffles. `distributed` without an initialised process group means
    one replica. Under DDP the eval sampler pads with repeated items so
    every rank gets the same number of batches: evaluate on rank 0 with a non-distributed
    loader when exact counts matter.
    """
    if distributed and torch.distributed.is_available() and torch.distributed.is_initialized():
        replicas, rank = torch.distributed.get_world_size(), torch.distributed.get_rank()
    else:
        replicas, rank = 1, 0
    sampler = DistributedSampler(dataset, num_replicas=replicas, rank=rank, shuffle=train, seed=seed, drop_last=False)
    drop_last = bool(train and len(sampler) > batch_size)
    generator = torch.Generator().manual_seed(seed)  # worker base seeds; never the global RNG
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate_fn,
        drop_last=drop_last,
        generator=generator,
        pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
        persistent_workers=False,  # workers must see the dataset's new epoch each epoch
    )
