"""One function chooses a job's precision: bf16 where the GPU has it, fp16 + GradScaler on older
GPUs (V100, T4), fp32 on CPU. CUDA capabilities are mocked; the fp16 training path (scaled
backward, unscale before clipping, scaler state resumed) runs on the CPU's fp16 autocast."""

from __future__ import annotations

import json
import os

import pytest
import torch
from test_loop import make_run

from sign2gpt.core.errors import ConfigError
from sign2gpt.runtime.checkpoint import load_checkpoint
from sign2gpt.runtime.precision import Precision, select_precision


def fake_gpu(monkeypatch, capability, name) -> list:
    """Every CUDA device reports `capability` and `name`; returns the devices asked about."""
    asked = []
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: asked.append(device) or capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: asked.append(device) or name)
    return asked


def test_the_device_asked_about_is_the_jobs(monkeypatch):
    """On a node with several GPUs, the job's own (cuda:1 here) decides, not the first one."""
    asked = fake_gpu(monkeypatch, (8, 0), "NVIDIA A100")
    for requested in ("auto", "bf16"):
        asked.clear()
        p = select_precision("cuda:1", requested)
        assert p.device_type == "cuda"  # autocast's device type
        assert asked and all(d == torch.device("cuda:1") for d in asked), asked


def test_seeding_makes_python_numpy_and_torch_repeat(monkeypatch):
    import random

    import numpy as np

    from sign2gpt.runtime.device import seed_everything

    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    draws = []
    for _ in range(2):
        seed_everything(7)
        draws.append((random.random(), float(np.random.rand()), float(torch.rand(1))))
    assert draws[0] == draws[1]
    seed_everything(8)
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) != draws[0]
    assert os.environ["PYTHONHASHSEED"] == "7"  # set where the user had not (for the processes it starts)
    seed_everything(123456)  # each generator seeded with the seed itself
    expected = (random.Random(123456).random(), float(np.random.RandomState(123456).rand()),
                float(torch.rand(1, generator=torch.Generator().manual_seed(123456))))
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == expected


def test_the_fp16_scaler_is_a_working_one_on_the_jobs_device():
    """A GradScaler made for CUDA on a machine without it disables itself with a warning (fp16 would
    then run without loss scaling while every test of the step still passes): the job's is enabled."""
    scaler = Precision("fp16", "cpu", "CPU fp16 autocast standing in for a V100").make_scaler()
    assert scaler.is_enabled() and scaler.get_scale() == 2.0**16
    assert Precision("bf16", "cpu", "").make_scaler() is None


@pytest.fixture(autouse=True)
def tf32_switches():
    """select_precision sets the TF32 switches on (faked) CUDA: restored after each test."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def test_fp32_on_a_gpu_is_exact_and_the_autocast_choices_may_use_tf32(monkeypatch):
    """TF32 for the fp32 matmuls and convolutions left under bf16/fp16 autocast; none under fp32
    (torch's default would let cuDNN convolutions, e.g. DINOv2's patch embedding, use it)."""
    fake_gpu(monkeypatch, (9, 0), "NVIDIA H100")
    torch.backends.cudnn.allow_tf32 = True  # torch's default
    select_precision("cuda", "fp32")
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    for requested in ("auto", "fp16"):
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        select_precision("cuda", requested)
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32, requested
    select_precision("cpu", "fp32")  # a CPU job leaves them as they are
    assert torch.backends.cudnn.allow_tf32


@pytest.mark.parametrize("capability,name,expected", [
    ((9, 0), "NVIDIA H100", "bf16"), ((8, 0), "NVIDIA A100", "bf16"), ((8, 9), "NVIDIA L4", "bf16"),
    ((7, 0), "Tesla V100", "fp16"), ((7, 5), "Tesla T4", "fp16"), ((6, 0), "Tesla P100", "fp16"),
])
def test_auto_on_gpus(monkeypatch, capability, name, expected):
    fake_gpu(monkeypatch, capability, name)
    p = select_precision(torch.device("cuda:0"))
    assert p.name == expected and name in p.reason and p.device_type == "cuda"
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


def test_fp16_clipping_sees_the_true_gradients(tmp_path, monkeypatch):
    """GradScaler's scale is 2**16 at first: clipping before `unscale_` would clip gradients 10^4
    times too large (and then barely move). The norms the clipping sees are the fp32 run's order."""
    import math

    import sign2gpt.training.loop as loop

    seen, clip = [], loop.clip_gradients

    def spy(params, clip_value, clip_norm):
        params = list(params)
        seen.append(math.sqrt(sum(float(p.grad.float().pow(2).sum()) for p in params if p.grad is not None)))
        return clip(params, clip_value, clip_norm)

    monkeypatch.setattr(loop, "clip_gradients", spy)
    fp16 = Precision("fp16", "cpu", "test: CPU fp16 autocast stands in for a V100")
    make_run(tmp_path / "r", 2, total_epochs=2, precision=fp16)[0].fit()
    finite = [n for n in seen if math.isfinite(n)]  # an overflowing step is skipped by the scaler
    assert len(finite) >= 4 and max(finite) < 100, seen  # the true norms here are 2-8 (fp32 run: 2.5-7.4)


class _Built(Exception):
    """Raised by the stand-in model builder once it has seen what a stage asked for."""


@pytest.mark.parametrize("requested,dtype", [("bf16", torch.bfloat16), ("fp32", torch.float32)])
def test_the_stages_load_the_lm_in_the_chosen_precision(tmp_path, monkeypatch, requested, dtype):
    """What select_precision chooses is what the translate and evaluate stages load the frozen LM in
    (bf16 is allowed on a CPU, so both choices run here); both build FC_m with translate.memory_pe."""
    import sign2gpt.evaluation.evaluate as evaluate_stage
    import sign2gpt.training.translate as translate_stage
    from sign2gpt.core.config import load_config

    asked = []

    def builder(*args, lm_dtype=None, memory_pe=None, **kwargs):
        asked.append((lm_dtype, memory_pe))
        raise _Built

    monkeypatch.setattr(translate_stage, "build_translator", builder)
    monkeypatch.setattr(evaluate_stage, "build_translator", builder)
    config = load_config()
    config["translate"]["memory_pe"] = "learned_random"
    common = dict(variant="scratch", lm="unused", spatial=config["spatial"], encoder=config["encoder"],
                  frames_cfg=config["frames"], language="de", seed=1, device="cpu", precision=requested)
    with pytest.raises(_Built):
        translate_stage.run_translate(**common, train_manifest="unused", dev_manifest="unused",
                                      out_dir=str(tmp_path / "t"), train=config["translate"],
                                      evaluate=config["evaluate"], decode=config["decode"])
    with pytest.raises(_Built):
        evaluate_stage.run_evaluate(**common, checkpoint="unused", manifests={}, out_metrics=str(tmp_path / "m"),
                                    out_hyps={}, evaluate=config["evaluate"],
                                    train={k: config["translate"][k]
                                           for k in ("lora", "memory_pe", "batch_size", "num_workers")})
    assert asked == [(dtype, "learned_random")] * 2


def test_to_device_moves_to_the_device_it_is_given():
    """Off CUDA it is a plain move (the pinned, asynchronous copy to a GPU runs only where one is)."""
    from sign2gpt.runtime.device import to_device

    t = torch.arange(3)
    assert to_device(t, "meta").device.type == "meta" and to_device(t, torch.device("cpu")) is t
