"""Clips of frames for training and evaluation, the batch collate and the DataLoader (spec §2.4).

Every random choice of an item (frame sampling, augmentation) comes from a numpy Generator
seeded with (seed, epoch, index), so an item is the same whatever the number of workers, the
rank, or whether the run was resumed. Call `set_epoch` before each epoch (the Trainer does): the
loader's sampler hands the epoch to the dataset with every index, so persistent workers (which
keep their own copy of the dataset) see it too.

Split of the work: the loader workers read and decode the sampled frames and draw the clip's
augmentation; the frames cross the DataLoader as uint8 and `batch_frames` turns them into the
model's float input on the training device (resample, colour, normalise). A float32
[ΣT, 3, 224, 224] batch is 3-4x the bytes of its uint8 frames, and this float work is the part a
GPU does in a fraction of the time a CPU worker takes. When training on the CPU the float work
runs in the workers instead (`make_loader(device=...)`), where it is parallel; the result is the
same either way.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, DistributedSampler, Sampler

from sign2gpt.core.errors import DataError
from sign2gpt.data.augment import AugmentConfig, as_clip_tensor, clip_frames, draw_params
from sign2gpt.data.sampling import sample_indices
from sign2gpt.runtime.device import to_device


class FrameSource(Protocol):
    """What the dataset needs from a frame store (`sign2gpt.data.frame_store.FrameStore`)."""

    def num_frames(self, id: str) -> int: ...

    def read(self, id: str, indices: Sequence[int] | np.ndarray | None = None) -> np.ndarray: ...


class SignDataset(Dataset):
    """Item i: dict(id, pixels uint8 [T, H, W, 3], params (the clip's augmentation, None for the
    plain resize), size S, text, targets list[int]); `item_frames(item)` is its float [T, 3, S, S].
    From a frozen backbone's feature cache (`sign2gpt.data.frame_features.FrameFeatureStore`, same
    sampling) the item holds `features` float [T, hidden] instead of pixels.

    Index with i (the epoch set by `set_epoch`) or with (epoch, i), as the loader's sampler does.

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

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        sample = self.samples[index]
        rng = np.random.default_rng([self.seed, int(epoch), int(index)])
        n = int(self.store.num_frames(sample.id))
        if n < 1:
            raise DataError(sample.id, "has no stored frames")
        idx = sample_indices(
            n, train=self.train, rng=rng, stride=self.stride, max_frames=self.max_frames, store_stride=self.store_stride
        )
        clip = self.store.read(sample.id, idx)
        targets = list(self.targets_fn(sample.text)) if self.targets_fn is not None else []
        if getattr(self.store, "features", False):  # a frozen backbone's cached features [T, hidden]
            return {"id": sample.id, "features": torch.from_numpy(np.asarray(clip, dtype=np.float32)),
                    "text": sample.text, "targets": targets}
        if not isinstance(clip, np.ndarray) or clip.dtype != np.uint8 or clip.ndim != 4 or clip.shape[-1] != 3:
            raise DataError(sample.id, f"frame store returned {getattr(clip, 'dtype', type(clip))} "
                            f"{getattr(clip, 'shape', '')}, expected uint8 [T, H, W, 3]")
        if clip.shape[0] != len(idx):
            raise DataError(sample.id, f"asked the frame store for {len(idx)} frames, got {clip.shape[0]}")
        pixels = as_clip_tensor(clip)
        params = None  # the same draws, in the same order, as when the workers did the float work
        if self.train and self.augment_cfg.enabled:
            params = draw_params(pixels.shape[1], pixels.shape[2], self.augment_cfg, rng)
        return {"id": sample.id, "pixels": pixels, "params": params, "size": self.image_size,
                "text": sample.text, "targets": targets}


def item_frames(item: dict[str, Any]) -> torch.Tensor:
    """The float frames [T, 3, S, S] of one dataset item, on the CPU (or its cached features [T, hidden])."""
    if "features" in item:
        return item["features"]
    return clip_frames(item["pixels"], item["params"], item["size"])


def collate(batch: list[dict[str, Any]], *, to_float: bool = False) -> dict[str, Any]:
    """Variable-length clips stay a list (spec §2.4); `batch_frames` makes the concatenation the
    spatial model eats.

    Returns ids, texts, targets (list[list[int]]), lengths (list[int]), and either the uint8
    pixels (list of [T_i, H, W, 3]) with each clip's params and the size S, or, with `to_float`
    (the float work in the loader worker), frames float [ΣT, 3, S, S] (cached features: [ΣT, hidden]).
    """
    if not batch:
        raise ValueError("collate got an empty batch")
    out = {
        "ids": [item["id"] for item in batch],
        "texts": [item["text"] for item in batch],
        "targets": [list(item["targets"]) for item in batch],
        "lengths": [int(item["features" if "features" in item else "pixels"].shape[0]) for item in batch],
    }
    if to_float or "features" in batch[0]:  # cached features are the model's input as they are
        out["frames"] = torch.cat([item_frames(item) for item in batch], dim=0)
    else:
        out.update(pixels=[item["pixels"] for item in batch], params=[item["params"] for item in batch],
                   size=int(batch[0]["size"]))
    return out


def batch_frames(batch: dict[str, Any], device: torch.device | str) -> torch.Tensor:
    """The batch's model input float [ΣT, 3, S, S] on `device`.

    From uint8 pixels, each clip is moved and transformed on the device (in float32, outside any
    autocast, as the workers would); float frames made in the workers are only moved (pinned and
    asynchronously, `to_device`).
    """
    if "frames" in batch:
        return to_device(batch["frames"], device)
    device = torch.device(device)
    with torch.autocast(device.type, enabled=False):
        clips = [clip_frames(to_device(p, device), params, batch["size"])
                 for p, params in zip(batch["pixels"], batch["params"])]
    return torch.cat(clips, dim=0)


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


class EpochSampler(Sampler):
    """Yields (epoch, index) from a sampler: the epoch reaches the dataset in persistent workers."""

    def __init__(self, sampler: DistributedSampler | WholeSteps):
        self.sampler = sampler
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return ((self.epoch, int(i)) for i in self.sampler)


class WholeSteps(Sampler):
    """The first items of `sampler` that fill whole optimizer steps of `step_items` (all of them when
    the data is smaller than one step): the partial global batch an epoch ends with is dropped."""

    def __init__(self, sampler: DistributedSampler, step_items: int):
        self.sampler, self.step_items = sampler, step_items

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        n = len(self.sampler)
        return n if n <= self.step_items else n - n % self.step_items

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(iter(self.sampler), len(self))


class RankBatches(Sampler):
    """Batches `rank`, `rank + world`, ... of `batches`: one rank's share of an evaluation."""

    def __init__(self, batches: BatchSampler, rank: int, world: int):
        self.batches, self.rank, self.world = batches, rank, world

    def __len__(self) -> int:
        return len(range(self.rank, len(self.batches), self.world))

    def __iter__(self) -> Iterator[list]:
        return itertools.islice(iter(self.batches), self.rank, None, self.world)


def make_loader(
    dataset: Dataset,
    batch_size: int,
    train: bool,
    num_workers: int = 0,
    distributed: bool = False,
    *,
    seed: int = 0,
    collate_fn: Callable[[list], Any] | None = None,
    device: torch.device | str | None = None,
    pin_memory: bool | None = None,
    step_items: int | None = None,
) -> DataLoader:
    """DataLoader as in spec §2.4: train shuffles (and drops the last partial batch when the
    data is larger than one batch), eval keeps order and every item.

    step_items (train): the items this process takes per optimizer step when `batch_size` is a
    micro-batch of it (`core.batching`): the epoch then ends with whole steps, not whole batches.
    Under DDP each rank takes `len // world` items of the epoch's permutation (rank r every world-th):
    the global batch of step j is the permutation's items [j*B, (j+1)*B) whatever the world size.

    The order always comes from a DistributedSampler (one replica when not distributed), whose
    permutation depends only on (seed, epoch): a resumed run sees the same order, and the
    Trainer's `set_epoch` reshuffles. `distributed` without an initialised process group means
    one replica. An eval loader under DDP gives each rank every world-size-th batch of the one
    process order (`RankBatches`): no item repeated or left out, and every batch as one process
    makes it, so a sharded evaluation put back together (`distributed.merge_shards`) scores as one
    process does.

    Workers are persistent (started once per loader, not per epoch); a dataset with a
    `set_epoch` gets (epoch, index) keys from the sampler. collate_fn: default `collate`, with
    the float work in the workers unless `device` is an accelerator (then `batch_frames` does it
    there).
    """
    if distributed and torch.distributed.is_available() and torch.distributed.is_initialized():
        replicas, rank = torch.distributed.get_world_size(), torch.distributed.get_rank()
    else:
        replicas, rank = 1, 0
    sampler = DistributedSampler(dataset, num_replicas=replicas if train else 1, rank=rank if train else 0,
                                 shuffle=train, seed=seed, drop_last=train and replicas > 1)
    if train and step_items:
        sampler, drop_last = WholeSteps(sampler, step_items), False
    else:
        drop_last = bool(train and len(sampler) > batch_size)
    if hasattr(dataset, "set_epoch"):
        sampler = EpochSampler(sampler)
    batching: dict[str, Any] = dict(batch_size=batch_size, sampler=sampler, drop_last=drop_last)
    if not train and replicas > 1:
        batching = dict(batch_sampler=RankBatches(BatchSampler(sampler, batch_size, drop_last=False), rank, replicas))
    if collate_fn is None:
        collate_fn = functools.partial(collate, to_float=device is None or torch.device(device).type == "cpu")
    generator = torch.Generator().manual_seed(seed)  # worker base seeds; never the global RNG
    return DataLoader(
        dataset,
        **batching,
        num_workers=num_workers,
        collate_fn=collate_fn,
        generator=generator,
        pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
        persistent_workers=num_workers > 0,
    )
