"""TensorBoard event files for the training stages, so a multi-day run can be watched live
(`tensorboard --logdir results/`).

One scalar per numeric column of a stage's per-epoch row (the rows of its metrics.csv), at step =
epoch (1-based), under a tag that groups it: train/, dev/, gates/, throughput/, time/. Rank 0
writes; a resumed run purges the events from the first epoch it writes again, so a run
interrupted after any epoch and resumed has exactly one point per epoch and tag.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from typing import Any

TAGS = {
    "train_loss": "train/loss",
    "lr": "train/learning_rate",
    "gate_mean": "gates/mean",
    "frames_per_s": "throughput/train_frames_per_s",
    "videos_per_s": "throughput/train_videos_per_s",
    "seconds": "time/seconds_per_epoch",
}
SKIPPED = frozenset({"epoch"})  # the step


def tag_for(column: str) -> str:
    """The TensorBoard tag of a metrics column: dev_beam_bleu4 -> dev/beam_bleu4, and so on."""
    if column in TAGS:
        return TAGS[column]
    for prefix in ("dev", "train", "gate"):
        if column.startswith(prefix + "_"):
            return f"{'gates' if prefix == 'gate' else prefix}/{column[len(prefix) + 1:]}"
    return f"other/{column}"


class EpochEvents:
    """A SummaryWriter for per-epoch rows; `first_epoch` > 1 on resume purges that epoch and later."""

    def __init__(self, log_dir: str | os.PathLike, *, first_epoch: int = 1):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(log_dir), purge_step=first_epoch if first_epoch > 1 else None)

    def add(self, row: Mapping[str, Any]) -> None:
        step = int(row["epoch"])
        for column, value in row.items():
            if column in SKIPPED or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if math.isfinite(float(value)):
                self.writer.add_scalar(tag_for(column), float(value), step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def write_epoch_events(log_dir: str | os.PathLike, rows: Iterable[Mapping[str, Any]]) -> None:
    """All rows at once (stages that write their output folder atomically at the end)."""
    events = EpochEvents(log_dir)
    try:
        for row in rows:
            events.add(row)
    finally:
        events.close()


def read_scalars(log_dir: str | os.PathLike) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value), ...]} as TensorBoard shows them (purged steps dropped)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
