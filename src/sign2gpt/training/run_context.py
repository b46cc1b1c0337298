"""What both training stages do around their loop, in one place: join the process group (torchrun),
seed each rank, choose the precision, fingerprint the run and discard checkpoints written with other
settings, and leave the process group in `finally` (an exception on one stage no longer skips it)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sign2gpt.runtime.checkpoint import config_fingerprint, discard_stale_checkpoint
from sign2gpt.runtime.device import seed_everything
from sign2gpt.runtime.precision import Precision, select_precision
from sign2gpt.training.distributed import DistInfo, barrier, cleanup, init_distributed, is_main


@dataclass(frozen=True)
class TrainingRun:
    dist: DistInfo  # rank, world size, this rank's device
    out: Path  # the stage's output folder
    fingerprint: str  # what a resumed run must share with its checkpoints
    precision: Precision


@contextlib.contextmanager
def training_run(
    out_dir: str, *, seed: int, device: str, precision: str, fingerprint: Mapping[str, Any]
) -> Iterator[TrainingRun]:
    """A training stage's process: rank `r` seeded with `seed + r`; `last` and the best-state
    checkpoints of other settings (another `fingerprint`) discarded by rank 0 before anything loads."""
    dist = init_distributed(device)
    try:
        seed_everything(seed + dist.rank)
        chosen = select_precision(dist.device, precision)
        out = Path(out_dir)
        digest = config_fingerprint(dict(fingerprint))
        if is_main():
            for stale in (out / "last.safetensors", out / "state" / "best.safetensors"):
                discard_stale_checkpoint(stale, digest)
        barrier()  # no rank may resume from a checkpoint rank 0 is about to discard
        yield TrainingRun(dist, out, digest, chosen)
    finally:
        cleanup()
