"""The epoch loop shared by pseudo-gloss pretraining and translation (spec §7, §9).

Per epoch: train (in the job's precision, `sign2gpt.runtime.precision`: bf16 autocast, fp16 autocast with
a GradScaler, or fp32; clip by value then by norm; the schedule steps per iteration), evaluate every
`eval_every` epochs and at the
last, append a row to metrics.csv / metrics.json, save `last.safetensors` every epoch and
`best.safetensors` when the selection metric improves, and the row as TensorBoard scalars in
`tensorboard/` (with the epoch's training throughput). A run resumes exactly from `last`.

Exact resume: the checkpoint is written after evaluation, so it holds the RNG state the next
epoch starts from (every rank's under DDP); the sampler order and the per-item augmentation depend
only on (seed, epoch, index). On CPU a resumed run therefore ends with the same weights as an
uninterrupted one. A run resumed with another number of processes cannot restore per-rank states:
each rank re-derives its generators from (seed, epoch, rank), and the log says so.

One recipe on any hardware: an optimizer step takes the global batch (`core.batching`), each
process its share in `accumulation` micro-batches, and the loss is the mean over the whole global
batch (see `_backward`), so the steps, the schedule and the gradients do not depend on the number of
GPUs or the micro-batch size (up to float rounding). BatchNorm (the spatial model's) sees one
micro-batch at a time: its batch statistics are a micro-batch's, per process on a CPU and synchronised
over the processes on CUDA (SyncBatchNorm), so a recipe run with smaller micro-batches normalises
with noisier statistics; that is the one way the split shows.

Non-finite values: the step checks its loss (the global batch's) and the gradient norm before
clipping (of the gradients DDP summed), both the same on every rank, so every rank stops at the same
step with the same message without a collective of its own. In fp16 the GradScaler skips a step
with inf/NaN gradients (that is its job); only `MAX_SKIPPED_STEPS` skipped in a row stop the run.

SIGTERM (SLURM's warning before a kill): the current step finishes, nothing more is written, and
`TrainingInterrupted` (a SystemExit with status 143) ends the process; the last complete
checkpoint stays. SIGKILL is covered by the atomic writes.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import math
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from sign2gpt.core.errors import ConfigError
from sign2gpt.core.io import atomic_path, write_json, write_text
from sign2gpt.runtime.checkpoint import load_checkpoint, process_rng_state, save_checkpoint
from sign2gpt.runtime.device import seed_everything
from sign2gpt.runtime.precision import Precision, select_precision
from sign2gpt.runtime.tensorboard_log import EpochEvents
from sign2gpt.training.distributed import all_gather_objects, all_reduce_sum, barrier, is_main, rank_and_world
from sign2gpt.training.optim import clip_gradients

log = logging.getLogger(__name__)

TIMING_COLUMNS = frozenset({"seconds", "frames_per_s", "videos_per_s"})  # per-epoch columns that measure time
# fp16: the GradScaler halves its scale at each skipped step; 25 in a row take the default 2**16 below
# 2**-8, where no finite gradient is left to find
MAX_SKIPPED_STEPS = 25


class TrainingInterrupted(SystemExit):
    """Raised after SIGTERM once the current step is done; exits with 128 + signal number."""

    def __init__(self, signum: int):
        super().__init__(128 + signum)
        self.signum = signum


def _scalar(v: Any) -> Any:
    """Metric values as JSON-safe scalars."""
    if isinstance(v, torch.Tensor):
        return v.item()
    if isinstance(v, (bool, int, float, str)) or v is None:
        return v
    try:
        return float(v)  # numpy scalars
    except (TypeError, ValueError):
        return str(v)


def metrics_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """CSV text of `rows` with the union of their columns (first-seen order); blanks where absent."""
    rows = list(rows)
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


class Trainer:
    """Train `model` for `epochs` with resume; `fit()` returns the run summary.

    train_step(batch) -> scalar loss tensor: moves the batch to the device and runs the model
    (it runs under autocast: upcast logits to fp32 before the loss, as the spec asks).
    train_step(batch) may return `(mean loss, count)`: the loss is the mean over `count` units
    (tokens, clips), and the step weights micro-batches and processes by their counts; a bare loss
    counts as one unit. accumulation: micro-batches (loader batches) per optimizer step.
    evaluate() -> {metric: value}: called under `torch.no_grad()` with the model in eval mode;
    under DDP it is called on every rank, which may each score a share and merge them
    (`distributed.merge_shards`); rank 0's result is used. Use the unwrapped module there (a DDP
    forward on one rank alone may wait for the others). seed: the run's seed, from which the ranks
    re-derive their generators when a run resumes with another number of processes.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: Any | None,
        train_loader: Iterable,
        train_step: Callable[[Any], torch.Tensor],
        evaluate: Callable[[], Mapping[str, Any]],
        *,
        out_dir: str | Path,
        epochs: int,
        select_metric: str,
        select_mode: str = "max",
        eval_every: int = 1,
        clip_value: float | None = 1.0,
        clip_norm: float | None = 1.0,
        precision: Precision | None = None,
        resume: bool = True,
        only_trainable: bool = False,
        extra: Mapping[str, Any] | None = None,
        device: torch.device | None = None,
        seed: int | None = None,
        accumulation: int = 1,
    ):
        if select_mode not in ("max", "min"):
            raise ConfigError(f"select_mode must be 'max' or 'min', got {select_mode!r}")
        if epochs < 1 or eval_every < 1:
            raise ConfigError(f"epochs and eval_every must be >= 1 (got {epochs}, {eval_every})")
        if extra and "trainer" in extra:
            raise ValueError("extra: the key 'trainer' is reserved for the loop's own state")
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.train_loader = train_loader
        self.train_step = train_step
        self.evaluate = evaluate
        self.out_dir = Path(out_dir)
        self.epochs = int(epochs)
        self.select_metric = select_metric
        self.select_mode = select_mode
        self.eval_every = int(eval_every)
        self.clip_value = clip_value
        self.clip_norm = clip_norm
        self.resume = resume
        self.only_trainable = only_trainable
        self.extra = dict(extra or {})
        self.seed = seed
        if accumulation < 1:
            raise ConfigError(f"accumulation must be >= 1, got {accumulation}")
        self.accumulation = int(accumulation)
        self.device = device or next(model.parameters()).device
        self.precision = precision or select_precision(self.device)
        self.scaler = self.precision.make_scaler()  # fp16 only
        log.info("precision: %s (%s)", self.precision.name, self.precision.reason)
        self.params = [p for p in model.parameters() if p.requires_grad]
        self._stop_signal: int | None = None
        # run state (restored on resume)
        self.history: list[dict[str, Any]] = []
        self.best_metric: float | None = None
        self.best_epoch: int | None = None
        self.last_metrics: dict[str, Any] = {}
        self.throughput: dict[str, float] = {}
        self.events: EpochEvents | None = None

    @property
    def last_path(self) -> Path:
        return self.out_dir / "last.safetensors"

    @property
    def best_path(self) -> Path:
        return self.out_dir / "best.safetensors"

    @property
    def best_state_path(self) -> Path:
        """The best checkpoint as the loop keeps it; Snakemake deletes a failed job's declared
        outputs (best.safetensors) but not this copy, so a resumed run can still deliver `best`."""
        return self.out_dir / "state" / "best.safetensors"

    def _publish_best(self) -> None:
        if self.best_state_path.exists():
            with atomic_path(self.best_path) as tmp:
                shutil.copyfile(self.best_state_path, tmp)

    # -----------------------------------------------------------------------------------------

    def _autocast(self) -> contextlib.AbstractContextManager:
        return self.precision.autocast()

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        log.warning("signal %d received: stopping after the current step, no checkpoint will be written", signum)
        self._stop_signal = signum

    def _check_stop(self) -> None:
        if self._stop_signal is not None:
            raise TrainingInterrupted(self._stop_signal)

    def _state_extra(self) -> dict[str, Any]:
        trainer = {
            "history": self.history,
            "best_epoch": self.best_epoch,
            "last_metrics": self.last_metrics,
            "select_metric": self.select_metric,
            "select_mode": self.select_mode,
            "precision": self.precision.name,
            "grad_scaler": self.scaler.state_dict() if self.scaler is not None else None,
        }
        return {**self.extra, "trainer": trainer}

    def _restore(self) -> int:
        """Resume from `last` when present; returns the number of epochs already done."""
        if not (self.resume and self.last_path.exists()):
            return 0
        rank, world = rank_and_world()
        state = load_checkpoint(self.last_path, self.model, self.optimizer, self.scheduler, rank=rank,
                                world_size=world)
        if state["rng"] == "other world size":
            if self.seed is None:
                log.warning("the RNG states in %s are another number of processes': rank %d continues "
                            "with the generators it was seeded with", self.last_path, rank)
            else:
                derived = int(np.random.SeedSequence([self.seed, int(state["epoch"]), rank]).generate_state(1)[0])
                seed_everything(derived)
                log.warning("the RNG states in %s are another number of processes': rank %d re-derives its "
                            "generators from (seed %d, epoch %d, rank %d)", self.last_path, rank, self.seed,
                            state["epoch"], rank)
        trainer = state["extra"].get("trainer", {})
        self.history = list(trainer.get("history", []))
        self.best_metric = state["best_metric"]
        self.best_epoch = trainer.get("best_epoch")
        self.last_metrics = dict(trainer.get("last_metrics", {}))
        if self.scaler is not None and trainer.get("grad_scaler"):
            self.scaler.load_state_dict(trainer["grad_scaler"])
        log.info("resumed from %s after epoch %d (best %s=%s)",
                 self.last_path, state["epoch"], self.select_metric, self.best_metric)
        return int(state["epoch"])

    def _write_metrics(self) -> None:
        write_text(self.out_dir / "metrics.csv", metrics_csv(self.history))
        write_json(self.out_dir / "metrics.json", self.history)

    def _improved(self, value: float) -> bool:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        if self.best_metric is None:
            return True
        return value > self.best_metric if self.select_mode == "max" else value < self.best_metric

    # -----------------------------------------------------------------------------------------

    def _steps(self) -> Iterator[list[Any]]:
        """The loader's micro-batches in groups of `accumulation`, one group per optimizer step (a
        shorter group only when the epoch is smaller than one step: `make_loader(step_items=...)`
        otherwise ends an epoch with whole steps)."""
        group: list[Any] = []
        for batch in self.train_loader:
            group.append(batch)
            if len(group) == self.accumulation:
                yield group
                group = []
        if group:
            yield group

    def steps_per_epoch(self) -> int:
        """Optimizer steps per epoch (what the learning-rate schedule counts)."""
        return math.ceil(len(self.train_loader) / self.accumulation)

    def _backward(self, group: list[Any], totals: torch.Tensor) -> torch.Tensor:
        """Forward and backward of one optimizer step's micro-batches; returns the step's loss, the
        mean over the whole global batch (every rank gets the same value).

        A micro-batch's loss is the mean over its `count` units (tokens, clips). Over several
        micro-batches or processes, each is weighted by its count and the gradients are divided by
        the global count afterwards (one all-reduce of [loss sum, count]), so the step's gradient is
        that of the global batch's mean however it was split. DDP synchronises the last micro-batch
        only (`no_sync` before it) and averages over the processes, which the division undoes."""
        world = rank_and_world()[1]
        whole = len(group) == 1 and world == 1  # the micro-batch is the global batch: its mean is the loss
        sums = torch.zeros(2, dtype=torch.float64, device=self.device)  # Σ count x loss, Σ count
        no_sync = getattr(self.model, "no_sync", None)  # DDP's
        for k, batch in enumerate(group):
            last = k == len(group) - 1
            with contextlib.nullcontext() if last or no_sync is None else no_sync():
                with self._autocast():
                    out = self.train_step(batch)
                loss, count = out if isinstance(out, tuple) else (out, 1)  # count: an int or a device tensor
                weighted = loss if whole else loss * count
                (weighted if self.scaler is None else self.scaler.scale(weighted)).backward()
            sums[0] += loss.detach().double() * count
            sums[1] += count
            if isinstance(batch, Mapping):  # what the step consumed: videos, and frames for a video batch
                totals[3] += len(batch.get("ids", ()))
                if "pixels" in batch or "frames" in batch:
                    totals[2] += sum(batch.get("lengths", ()))
        if self.scaler is not None:  # fp16: clipping and the division see the true gradients
            self.scaler.unscale_(self.optimizer)
        if whole:
            return loss.detach().double()
        all_reduce_sum(sums)
        factor = world / sums[1]
        for p in self.params:
            if p.grad is not None:
                p.grad.mul_(factor.to(p.grad.dtype))
        return sums[0] / sums[1]

    def train_epoch(self, epoch: int) -> float:
        """One pass over the train loader (0-based `epoch`); returns the mean step loss."""
        for obj in (getattr(self.train_loader, "sampler", None), getattr(self.train_loader, "dataset", None)):
            if hasattr(obj, "set_epoch"):
                obj.set_epoch(epoch)
        self.model.train()
        totals = torch.zeros(4, dtype=torch.float64, device=self.device)  # loss sum, steps, frames, videos
        skipped = 0  # fp16 steps skipped in a row
        t0 = time.time()
        bar = tqdm(self._steps(), total=self.steps_per_epoch(), desc=f"epoch {epoch + 1}/{self.epochs}",
                   disable=not is_main(), leave=False, dynamic_ncols=True)
        for step, group in enumerate(bar):
            self.optimizer.zero_grad(set_to_none=True)
            loss = self._backward(group, totals)
            norm = clip_gradients(self.params, self.clip_value, self.clip_norm)
            # the loss is the global batch's and DDP summed the gradients: the same on every rank
            finite = bool(torch.isfinite(loss) & torch.isfinite(norm.to(loss.device)))
            where = f"epoch {epoch + 1}, step {step + 1}"
            if not finite and (self.scaler is None or bool(torch.isfinite(norm))):
                raise FloatingPointError(f"non-finite loss or gradients at {where}; every process stops here, "
                                         "the last checkpoint is kept")
            if self.scaler is None:
                self.optimizer.step()
            else:  # fp16: a step with inf/NaN gradients is skipped by the GradScaler
                self.scaler.step(self.optimizer)
                self.scaler.update()
                skipped = 0 if finite else skipped + 1
                if skipped >= MAX_SKIPPED_STEPS:
                    raise FloatingPointError(f"fp16: {skipped} steps in a row had inf/NaN gradients (up to {where}); "
                                             "every process stops here, the last checkpoint is kept")
            if self.scheduler is not None:
                self.scheduler.step()
            if finite:
                totals[0] += loss
            totals[1] += 1
            if step % 10 == 0:
                bar.set_postfix(loss=f"{float(loss):.4f}", lr=f"{self.optimizer.param_groups[0]['lr']:.2e}")
            self._check_stop()
        all_reduce_sum(totals[2:])  # frames and videos of every process (the loss is already global)
        seconds = max(time.time() - t0, 1e-9)
        self.throughput = {"frames_per_s": float(totals[2]) / seconds} if totals[2] > 0 else {}
        if totals[3] > 0:
            self.throughput["videos_per_s"] = float(totals[3]) / seconds
        return float(totals[0] / totals[1]) if totals[1] > 0 else float("nan")

    def run_evaluation(self) -> dict[str, Any]:
        self.model.eval()
        with torch.no_grad(), self._autocast():
            metrics = self.evaluate() or {}
        return {k: _scalar(v) for k, v in metrics.items()}

    def fit(self) -> dict[str, Any]:
        """Train from scratch or from `last`, to `epochs`; returns the summary."""
        if is_main():
            self.out_dir.mkdir(parents=True, exist_ok=True)
        start = self._restore()
        if is_main() and not self.best_path.exists():
            self._publish_best()
        if is_main() and self.history:
            self._write_metrics()
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, self._on_sigterm)
        if is_main():
            self.events = EpochEvents(self.out_dir / "tensorboard", first_epoch=start + 1)
        t0 = time.time()
        try:
            for epoch in range(start, self.epochs):
                self._run_epoch(epoch)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            if self.events is not None:
                self.events.close()
                self.events = None
        seconds = time.time() - t0
        summary = {
            "epochs": self.epochs,
            "epochs_run": self.epochs - start,
            "select_metric": self.select_metric,
            "best_metric": self.best_metric,
            "best_epoch": self.best_epoch,
            "seconds": round(seconds, 3),
        }
        log.info(
            "done: %d epochs (%d this run), best %s=%s at epoch %s, %.1f s",
            self.epochs, self.epochs - start, self.select_metric, self.best_metric, self.best_epoch, seconds,
        )
        return summary

    def _run_epoch(self, epoch: int) -> None:
        t0 = time.time()
        train_loss = self.train_epoch(epoch)
        row: dict[str, Any] = {"epoch": epoch + 1, "train_loss": train_loss, "lr": self.optimizer.param_groups[0]["lr"],
                               **self.throughput}
        improved = False
        if (epoch + 1) % self.eval_every == 0 or epoch + 1 == self.epochs:
            metrics = self.run_evaluation()
            self._check_stop()
            self.last_metrics = metrics
            row.update(metrics)
            if is_main():
                if self.select_metric not in metrics:
                    raise ConfigError(
                        f"select_metric {self.select_metric!r} not among the evaluation metrics {sorted(metrics)}"
                    )
                value = metrics[self.select_metric]
                improved = self._improved(value)
                if improved:
                    self.best_metric, self.best_epoch = value, epoch + 1
        row["seconds"] = round(time.time() - t0, 3)
        self.history.append(row)
        if is_main():
            # events first: a crash before the checkpoint repeats this epoch, and the resumed writer
            # purges the epoch's first events; after it, they are already there
            self.events.add(row)
            if improved:
                save_checkpoint(self.best_state_path, self.model, epoch=epoch + 1, best_metric=self.best_metric,
                                extra=self._state_extra(), rng_state=False, only_trainable=self.only_trainable)
                self._publish_best()
        rank_rng = all_gather_objects(process_rng_state())  # every rank's, for an exact resume
        if is_main():
            save_checkpoint(self.last_path, self.model, self.optimizer, self.scheduler, epoch=epoch + 1,
                            best_metric=self.best_metric, extra=self._state_extra(), rank_rng=rank_rng,
                            only_trainable=self.only_trainable)
            self._write_metrics()
        barrier()
        shown = {k: v for k, v in row.items() if k not in ("epoch",)}
        log.info("epoch %d/%d: %s", epoch + 1, self.epochs,
                 ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items()))
