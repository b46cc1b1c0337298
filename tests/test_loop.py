"""The generic Trainer: exact resume, best/last checkpoints, metrics files, eval_every, SIGTERM."""

import csv
import json
import os
import signal

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset
from torch.utils.data._utils.collate import default_collate

from sign2gpt.core.errors import ConfigError
from sign2gpt.data.dataset import make_loader
from sign2gpt.runtime.checkpoint import load_checkpoint
from sign2gpt.runtime.device import seed_everything
from sign2gpt.runtime.tensorboard_log import EpochEvents, read_scalars
from sign2gpt.training.loop import TIMING_COLUMNS, Trainer, TrainingInterrupted
from sign2gpt.training.optim import build_optimizer, build_scheduler


class Pairs(Dataset):
    def __init__(self, n=24, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 6, generator=g)
        self.y = (self.x[:, :1] * 2 - self.x[:, 1:2]).clone()

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def make_run(out_dir, epochs, total_epochs=3, seed=0, **kw):
    """A tiny model with dropout, a shuffled loader, AdamW + warm-up cosine: everything random."""
    seed_everything(seed)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 1))
    data, dev = Pairs(24, 0), Pairs(8, 1)
    loader = make_loader(data, 5, train=True, seed=3, collate_fn=default_collate)
    opt = build_optimizer(model, 1e-2, 0.01)
    sched = build_scheduler(opt, epochs=total_epochs, steps_per_epoch=len(loader), warmup_epochs=1, min_lr_ratio=0.01)

    def train_step(batch):
        x, y = batch
        return nn.functional.mse_loss(model(x), y)

    def evaluate():
        return {"neg_mse": -nn.functional.mse_loss(model(dev.x), dev.y).item(), "extra": torch.tensor(1.5)}

    kw.setdefault("select_metric", "neg_mse")
    trainer = Trainer(model, opt, sched, loader, train_step, evaluate, out_dir=out_dir, epochs=epochs, **kw)
    return trainer, model


def test_resume_matches_an_uninterrupted_run_exactly(tmp_path):
    straight, model_a = make_run(tmp_path / "a", 3)
    straight.fit()
    first, _ = make_run(tmp_path / "b", 2)
    first.fit()
    resumed, model_b = make_run(tmp_path / "b", 3, seed=123)  # different init: must be overwritten
    summary = resumed.fit()
    assert summary["epochs_run"] == 1
    for (k, a), b in zip(model_a.state_dict().items(), model_b.state_dict().values()):
        assert torch.equal(a, b), k
    hist_a = json.loads((tmp_path / "a" / "metrics.json").read_text())
    hist_b = json.loads((tmp_path / "b" / "metrics.json").read_text())
    strip = lambda rows: [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in rows]  # noqa: E731
    assert strip(hist_a) == strip(hist_b) and len(hist_a) == 3
    assert load_checkpoint(tmp_path / "b" / "last.safetensors", model_b)["epoch"] == 3
    # TensorBoard: one point per epoch and tag in the resumed run, the same values as the straight one
    events_a, events_b = read_scalars(tmp_path / "a" / "tensorboard"), read_scalars(tmp_path / "b" / "tensorboard")
    assert {"train/loss", "train/learning_rate", "other/neg_mse", "other/extra",
            "time/seconds_per_epoch"} <= set(events_b)
    for tag in ("train/loss", "train/learning_rate", "other/neg_mse"):
        assert [step for step, _ in events_b[tag]] == [1, 2, 3]
        assert events_b[tag] == events_a[tag]


def test_tensorboard_resume_purges_repeated_epochs(tmp_path):
    """A run that crashed after writing epoch 3's events but before its checkpoint repeats epoch 3."""
    first = EpochEvents(tmp_path)
    for epoch in (1, 2, 3):
        first.add({"epoch": epoch, "train_loss": 10.0 + epoch, "note": "text is skipped"})
    first.close()
    again = EpochEvents(tmp_path, first_epoch=3)
    for epoch in (3, 4):
        again.add({"epoch": epoch, "train_loss": 20.0 + epoch, "dev_bleu4": float("nan")})
    again.close()
    scalars = read_scalars(tmp_path)
    assert scalars == {"train/loss": [(1, 11.0), (2, 12.0), (3, 23.0), (4, 24.0)]}


def test_a_finished_run_does_not_train_again(tmp_path):
    trainer, _ = make_run(tmp_path, 2, total_epochs=2)
    trainer.fit()
    again, model = make_run(tmp_path, 2, total_epochs=2)
    calls = []
    again.train_step = lambda batch: calls.append(1)
    summary = again.fit()
    assert calls == [] and summary["epochs_run"] == 0 and summary["best_metric"] == trainer.best_metric


def test_best_checkpoint_metrics_files_and_eval_every(tmp_path):
    trainer, model = make_run(tmp_path, 5, total_epochs=5, eval_every=2)
    scores = iter([0.3, 0.9, 0.5])  # evaluations at epochs 2, 4 and 5 (the last)
    trainer.evaluate = lambda: {"neg_mse": next(scores), "bleu": 1.0}
    summary = trainer.fit()
    assert summary["best_metric"] == 0.9 and summary["best_epoch"] == 4
    best = load_checkpoint(tmp_path / "best.safetensors", model, restore_rng=False)
    assert best["epoch"] == 4 and best["best_metric"] == 0.9
    assert load_checkpoint(tmp_path / "last.safetensors", model)["epoch"] == 5
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4", "5"]
    assert [r["neg_mse"] for r in rows] == ["", "0.3", "", "0.9", "0.5"]
    assert {"train_loss", "lr", "seconds", "bleu"} <= set(rows[0])
    assert all(float(r["train_loss"]) > 0 for r in rows)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.safetensors", "last.safetensors", "metrics.csv",
                                                          "metrics.json",
                                                         "state", "tensorboard"]


def test_select_mode_min(tmp_path):
    trainer, _ = make_run(tmp_path, 3, select_metric="wer", select_mode="min")
    scores = iter([0.5, 0.2, 0.4])
    trainer.evaluate = lambda: {"wer": next(scores)}
    assert trainer.fit()["best_epoch"] == 2


def test_missing_select_metric_is_a_config_error(tmp_path):
    trainer, _ = make_run(tmp_path, 1, select_metric="macro_f1")
    with pytest.raises(ConfigError, match="macro_f1"):
        trainer.fit()


def test_non_finite_loss_stops_with_a_clear_error(tmp_path):
    """Checked on the gradient norm before clipping (value clipping would turn inf into ±1)."""
    for bad in (float("nan"), float("inf")):
        trainer, _ = make_run(tmp_path / str(bad), 1)
        inner = trainer.train_step
        steps = []

        def step(batch, inner=inner, steps=steps, bad=bad):
            steps.append(1)
            return inner(batch) * (bad if len(steps) == 2 else 1.0)

        trainer.train_step = step
        with pytest.raises(FloatingPointError, match="non-finite loss or gradients at epoch 1, step 2"):
            trainer.fit()
        assert not (tmp_path / str(bad) / "last.safetensors").exists()


def test_a_non_finite_loss_with_finite_gradients_stops_at_its_step(tmp_path):
    """The step's loss is checked as well as its gradients (under DDP the loss is the global batch's)."""
    trainer, _ = make_run(tmp_path, 2)
    inner = trainer.train_step
    trainer.train_step = lambda batch: inner(batch) + torch.tensor(float("nan"))  # no gradient path
    with pytest.raises(FloatingPointError, match="non-finite loss or gradients at epoch 1, step 1"):
        trainer.fit()
    assert not (tmp_path / "last.safetensors").exists()


def test_fp16_skips_overflowing_steps_and_stops_after_a_run_of_them(tmp_path, monkeypatch):
    from sign2gpt.runtime.precision import Precision
    from sign2gpt.training import loop

    fp16 = Precision("fp16", "cpu", "test: CPU fp16 autocast stands in for a V100")
    monkeypatch.setattr(loop, "MAX_SKIPPED_STEPS", 4)
    trainer, model = make_run(tmp_path / "some", 2, total_epochs=2, precision=fp16)
    inner, steps = trainer.train_step, []

    def step(batch):
        steps.append(1)
        return inner(batch) * (float("inf") if len(steps) in (3, 4) else 1.0)  # skipped steps, then fine

    trainer.train_step = step
    assert trainer.fit()["epochs_run"] == 2
    assert trainer.scaler.get_scale() < 2.0**16  # the scaler backed off
    trainer, _ = make_run(tmp_path / "all", 2, total_epochs=2, precision=fp16)
    inner = trainer.train_step
    trainer.train_step = lambda batch: inner(batch) * float("inf")
    with pytest.raises(FloatingPointError, match="4 steps in a row"):
        trainer.fit()


def test_sigterm_stops_after_the_step_without_writing(tmp_path):
    trainer, model = make_run(tmp_path, 3)
    inner = trainer.train_step
    steps = []

    def step(batch):
        steps.append(1)
        if len(steps) == 6:  # second step of epoch 2 (4 steps per epoch)
            os.kill(os.getpid(), signal.SIGTERM)
        return inner(batch)

    trainer.train_step = step
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(TrainingInterrupted) as e:
        trainer.fit()
    assert e.value.code == 143 and len(steps) == 6  # the current step finished, no further one
    assert signal.getsignal(signal.SIGTERM) is before
    assert load_checkpoint(tmp_path / "last.safetensors", model)["epoch"] == 1
    assert len(json.loads((tmp_path / "metrics.json").read_text())) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no partial files
