"""Multi-process training through torchrun (DDP); everything is a no-op in a single process.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; `init_distributed` reads them and joins the
process group: NCCL when the process drives a GPU, gloo on CPU. BatchNorm becomes SyncBatchNorm
(spec §2.4) only on CUDA: torch's SyncBatchNorm refuses CPU tensors in training, so a CPU
(gloo) run keeps per-process BatchNorm statistics.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from sign2gpt.runtime.checkpoint import unwrap
from sign2gpt.runtime.device import resolve_device

log = logging.getLogger(__name__)

T = TypeVar("T")

__all__ = ["DistInfo", "init_distributed", "wrap_model", "unwrap", "is_main", "barrier", "all_reduce_sum",
           "all_gather_objects", "merge_shards", "rank_and_world", "merge_dicts", "cleanup"]


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _active() -> bool:
    return dist.is_available() and dist.is_initialized()


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the torchrun process group (once); a single process gets rank 0 of 1 on `device`."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(0, 1, 0, resolve_device(device))
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    if not _active():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world)
        log.info("joined process group: rank %d/%d, backend %s, device %s", rank, world, backend, dev)
    return DistInfo(rank, world, local_rank, dev)


def wrap_model(
    model: nn.Module, info: DistInfo, *, sync_bn: bool = True, find_unused_parameters: bool = False,
    constant_buffers: str | None = None,
) -> nn.Module:
    """Move to the device; under DDP convert BatchNorm to SyncBatchNorm (CUDA only) and wrap.

    DDP sends rank 0's buffers to every rank before each forward (BatchNorm's running statistics must
    agree); `constant_buffers`, a name prefix, leaves out buffers that never change (the frozen LM's
    position tables: XGLM's is 8-16 MB), which every rank already holds the same."""
    model = model.to(info.device)
    if not info.distributed:
        return model
    if sync_bn and info.device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    if constant_buffers:
        names = [name for name, _ in model.named_buffers() if name.startswith(constant_buffers)]
        nn.parallel.DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(model, names)
    device_ids = [info.device.index] if info.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(
        model, device_ids=device_ids, find_unused_parameters=find_unused_parameters
    )


def is_main() -> bool:
    """True on rank 0 (and in a single process): the one process that writes files."""
    return not _active() or dist.get_rank() == 0


def rank_and_world() -> tuple[int, int]:
    """This process's rank and the number of processes ((0, 1) in one process)."""
    return (dist.get_rank(), dist.get_world_size()) if _active() else (0, 1)


def barrier() -> None:
    if _active():
        dist.barrier()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum `tensor` over all processes, in place; returned for chaining."""
    if _active():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_gather_objects(obj: Any) -> list[Any]:
    """Every rank's `obj` (picklable), in rank order, on every rank; `[obj]` in one process."""
    if not _active():
        return [obj]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def merge_shards(parts: Sequence[tuple[int, T]]) -> list[T]:
    """A sharded evaluation put back together: every rank's `(batch index, result)` pairs, in the
    batch order of one process (so sums and means round as they do on one rank)."""
    merged = [pair for rank_parts in all_gather_objects(list(parts)) for pair in rank_parts]
    return [result for _, result in sorted(merged, key=lambda pair: pair[0])]


def merge_dicts(part: Mapping[str, T]) -> dict[str, T]:
    """Every rank's `{video id: result}` in one dict (a sharded evaluation's hypotheses)."""
    return {k: v for rank_part in all_gather_objects(dict(part)) for k, v in rank_part.items()}


def cleanup() -> None:
    """Leave the process group (safe to call when not distributed)."""
    if _active():
        dist.destroy_process_group()
