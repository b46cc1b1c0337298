"""One function chooses a job's precision: bf16 where the GPU has it, fp16 + GradScaler on older
GPUs (V100, T4), fp32 on CPU. CUDA capabilities are mocked; the fp16 training path (scaled
backward, unscale before clipping, scaler state resumed) runs on the CPU's fp16 autocast."""

from __future__ import annotations

import json

import pytest
import torch
from test_loop import make_run

from sign2gpt.core.errors import ConfigError
from sign2gpt.runtime.checkpoint import load_checkpoint
from sign2gpt.runtime.precision import Precision, select_precision


def fake_gpu(monkeypatch, capability, name):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)


@pytest.mark.parametrize("capability,name,expected", [
    ((9, 0), "NVIDIA H100", "bf16"), ((8, 0), "NVIDIA A100", "bf16"), ((8, 9), "NVIDIA L4", "bf16"),
    ((7, 0), "Tesla V100", "fp16"), ((7, 5), "Tesla T4", "fp16"), ((6, 0), "Tesla P100", "fp16"),
])
def test_auto_on_gpus(monkeypatch, capability, name, expected):
    fake_gpu(monkeypatch, capability, name)
    p = select_precision(torch.device("cuda:0"))
    assert p.name == expected and name in p.reason
    assert p.grad_scaler is (expected == "fp16")
    assert p.lm_dtype == {"bf16": torch.bfloat16, "fp16": torch.float16}[expected]


def test_forced_choices_on_gpus(monkeypatch):
    fake_gpu(monkeypatch, (7, 0), "Tesla V100")
    with pytest.raises(ConfigError, match="bf16 needs compute capability"):
        select_precision("cuda", "bf16")
    assert select_precision("cuda", "fp32").autocast_dtype is None
    fake_gpu(monkeypatch, (8, 0), "NVIDIA A100")
    assert select_precision("cuda", "fp16").grad_scaler


def test_cpu():
    p = select_precision("cpu")
    assert p.name == "fp32" and p.lm_dtype == torch.float32 and p.make_scaler() is None
    with pytest.raises(ConfigError, match="fp16 autocast needs a CUDA GPU"):
        select_precision("cpu", "fp16")
    bf16 = select_precision("cpu", "bf16")
    with bf16.autocast():
        assert torch.nn.Linear(4, 4)(torch.randn(2, 4)).dtype == torch.bfloat16
    with pytest.raises(ConfigError, match="precision: one of"):
        select_precision("cpu", "fp8")


def test_fp16_training_scales_the_loss_and_resumes_the_scaler(tmp_path):
    fp16 = Precision("fp16", "cpu", "test: CPU fp16 autocast stands in for a V100")
    trainer, model = make_run(tmp_path / "r", 2, total_epochs=2, precision=fp16)
    assert trainer.scaler is not None
    before = [p.detach().clone() for p in model.parameters()]
    trainer.fit()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))  # steps were taken
    history = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert all(torch.isfinite(torch.tensor(r["train_loss"])) for r in history)
    state = load_checkpoint(tmp_path / "r" / "last.safetensors", model)["extra"]["trainer"]
    assert state["precision"] == "fp16" and state["grad_scaler"]["scale"] == trainer.scaler.get_scale()
    assert trainer.scaler.get_scale() != torch.amp.GradScaler("cpu").get_scale()  # it moved, so a restore shows
    resumed, _ = make_run(tmp_path / "r", 2, total_epochs=2, precision=fp16)
    resumed.fit()  # nothing left to train, but the scaler comes back from the checkpoint
    assert resumed.scaler.get_scale() == trainer.scaler.get_scale()


def test_fp32_training_has_no_scaler(tmp_path):
    trainer, _ = make_run(tmp_path / "r", 1, total_epochs=1)
    assert trainer.precision.name == "fp32" and trainer.scaler is None
