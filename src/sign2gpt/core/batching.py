"""How the recipe's batch becomes the work of each process: one recipe on any hardware.

`batch_size` (config) is the global batch of one optimizer step, the recipe; `gpus` and
`micro_batch_size` are how a job runs it. Each of the `world` processes takes `batch_size / world`
items per step, in micro-batches of `micro_batch_size` (null: all of them in one pass), and
accumulates their gradients; the Trainer normalises the loss over the whole global batch. So 1 GPU
with 4 micro-batches of 4, 2 GPUs with 8 each and 1 GPU with 16 take the same optimizer steps
with the same gradients, up to float rounding (tests/test_distributed.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from sign2gpt.core.errors import ConfigError


@dataclass(frozen=True)
class BatchPlan:
    global_batch: int  # items per optimizer step, over all processes (the recipe)
    per_process: int  # items per optimizer step on each process
    micro_batch: int  # items per forward/backward pass (the loader's batch)
    accumulation: int  # micro-batches per optimizer step on each process

    def steps(self, micro_batches: int) -> int:
        """Optimizer steps of an epoch of `micro_batches` loader batches (what the schedule counts)."""
        return -(-int(micro_batches) // self.accumulation)


def batch_plan(batch_size: int, micro_batch_size: int | None, world_size: int, *, section: str) -> BatchPlan:
    """Split `batch_size` over `world_size` processes and micro-batches; a ConfigError naming the
    keys when it does not divide."""
    batch_size, world_size = int(batch_size), int(world_size)
    if batch_size % world_size:
        raise ConfigError(f"{section}.batch_size {batch_size} (the global batch of one optimizer step) does not "
                          f"divide over {world_size} processes (gpus): use a multiple of {world_size}")
    per_process = batch_size // world_size
    micro = int(micro_batch_size) if micro_batch_size else per_process
    if per_process % micro:
        raise ConfigError(f"{section}.micro_batch_size {micro} does not divide the {per_process} items each of the "
                          f"{world_size} processes takes per step ({section}.batch_size {batch_size} / gpus)")
    return BatchPlan(batch_size, per_process, micro, per_process // micro)
