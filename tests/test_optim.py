"""Weight-decay groups, AdamW settings, warm-up + cosine schedule and clipping order (spec §7)."""

import json
import math

import pytest
import torch
from torch import nn

from sign2gpt.training.optim import WarmupCosine, build_optimizer, build_scheduler, clip_gradients, param_groups


class MyRMSNorm(nn.Module):  # a library norm that is not an nn.LayerNorm subclass
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.proj = nn.Linear(4, 4)
        self.conv = nn.Conv1d(4, 4, 3)
        self.ln = nn.LayerNorm(4)
        self.bn = nn.BatchNorm1d(4)
        self.rms = MyRMSNorm(4)
        self.gamma = nn.Parameter(torch.full((4,), 1e-5))  # LayerScale
        self.tau = nn.Parameter(torch.tensor(0.1))  # temperature
        self.gate = nn.Parameter(torch.zeros(1))
        self.frozen = nn.Linear(4, 4)
        self.frozen.requires_grad_(False)
        self.tied = nn.Linear(10, 4, bias=False)
        self.head = nn.Linear(4, 10, bias=False)
        self.head.weight = self.embed.weight  # tied to the embedding: counted once


def names(model, params):
    by_id = {id(p): n for n, p in model.named_parameters()}
    return sorted(by_id[id(p)] for p in params)


def test_decay_rule():
    m = Block()
    decay, no_decay = param_groups(m, 0.001)
    assert decay["weight_decay"] == 0.001 and no_decay["weight_decay"] == 0.0
    assert names(m, decay["params"]) == ["conv.weight", "proj.weight", "tied.weight"]
    assert names(m, no_decay["params"]) == [
        "bn.bias", "bn.weight", "conv.bias", "embed.weight", "gamma", "gate", "ln.bias", "ln.weight",
        "proj.bias", "rms.weight", "tau",
    ]
    all_ids = [id(p) for p in decay["params"] + no_decay["params"]]
    assert len(all_ids) == len(set(all_ids))


def test_build_optimizer_uses_the_spec_adamw():
    opt = build_optimizer(Block(), lr=3e-4, weight_decay=0.001)
    assert isinstance(opt, torch.optim.AdamW)
    g = opt.param_groups[0]
    assert g["lr"] == 3e-4 and g["betas"] == (0.9, 0.999) and g["eps"] == 1e-8
    assert [g["weight_decay"] for g in opt.param_groups] == [0.001, 0.0]
    frozen = nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(ValueError):
        build_optimizer(frozen, 1e-3, 0.0)


def lrs(steps, **kw):
    opt = torch.optim.AdamW([nn.Parameter(torch.zeros(1))], lr=3e-4)
    sched = WarmupCosine(opt, **kw)
    out = [opt.param_groups[0]["lr"]]
    for _ in range(steps):
        sched.step()
        out.append(opt.param_groups[0]["lr"])
    return out


def test_warmup_cosine_values():
    out = lrs(120, warmup_steps=10, total_steps=110, min_lr_ratio=0.01)
    assert out[0] == pytest.approx(3e-6)
    assert out[5] == pytest.approx(3e-6 + (3e-4 - 3e-6) * 0.5)
    assert out[10] == pytest.approx(3e-4)
    assert out[60] == pytest.approx(3e-6 + (3e-4 - 3e-6) * 0.5)  # half-way through the cosine
    assert out[110] == pytest.approx(3e-6) and out[119] == pytest.approx(3e-6)
    assert all(a < b for a, b in zip(out[:10], out[1:11]))
    assert all(a >= b for a, b in zip(out[10:110], out[11:111]))
    no_warmup = lrs(3, warmup_steps=0, total_steps=4, min_lr_ratio=0.0)
    assert no_warmup[0] == pytest.approx(3e-4) and no_warmup[2] == pytest.approx(1.5e-4)


def test_scheduler_state_roundtrip_is_json_and_checked():
    opt = torch.optim.AdamW([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = WarmupCosine(opt, warmup_steps=3, total_steps=10)
    for _ in range(4):
        sched.step()
    state = json.loads(json.dumps(sched.state_dict()))
    opt2 = torch.optim.AdamW([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched2 = WarmupCosine(opt2, warmup_steps=3, total_steps=10)
    sched2.load_state_dict(state)
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == sched2.get_last_lr()[0]
    sched.step(), sched2.step()
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    with pytest.raises(ValueError, match="total_steps"):
        WarmupCosine(opt2, warmup_steps=3, total_steps=11).load_state_dict(state)


def test_build_scheduler_counts_in_epochs():
    opt = torch.optim.AdamW([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = build_scheduler(opt, epochs=100, steps_per_epoch=7, warmup_epochs=5, min_lr_ratio=0.01)
    assert sched.warmup_steps == 35 and sched.total_steps == 700


def test_clip_by_value_then_by_norm():
    p = nn.Parameter(torch.zeros(2))
    p.grad = torch.tensor([3.0, 4.0])
    norm = clip_gradients([p], clip_value=1.0, clip_norm=1.0)
    # value first -> (1, 1), norm sqrt(2) -> scaled to unit norm; norm-then-value would give (0.6, 0.8)
    assert norm.item() == pytest.approx(5.0)  # the norm before clipping
    torch.testing.assert_close(p.grad, torch.tensor([1.0, 1.0]) / math.sqrt(2))
    q = nn.Parameter(torch.zeros(2))
    q.grad = torch.tensor([3.0, 4.0])
    assert clip_gradients([q, nn.Parameter(torch.zeros(1))], None, 0).item() == pytest.approx(5.0)
    torch.testing.assert_close(q.grad, torch.tensor([3.0, 4.0]))
    # a non-finite gradient shows in the norm although value clipping clamps it
    r = nn.Parameter(torch.zeros(2))
    r.grad = torch.tensor([float("inf"), 1.0])
    assert not torch.isfinite(clip_gradients([r], clip_value=1.0, clip_norm=1.0))


def test_lr_scales_put_matching_parameters_in_their_own_group():
    import torch
    from torch import nn

    from sign2gpt.training.optim import build_optimizer

    class Gated(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(3, 3)
            self.gate = nn.Parameter(torch.zeros(2))

    model = Gated()
    opt = build_optimizer(model, 1e-3, 0.01, lr_scales={".gate": 20.0, "gate": 20.0})
    scaled = [g for g in opt.param_groups if any(p is model.gate for p in g["params"])]
    assert len(scaled) == 1 and scaled[0]["lr"] == pytest.approx(2e-2) and scaled[0]["weight_decay"] == 0.0
    assert sum(len(g["params"]) for g in opt.param_groups) == 3  # each parameter exactly once
    plain = build_optimizer(model, 1e-3, 0.01, lr_scales={".gate": 1.0})
    assert all(g["lr"] == pytest.approx(1e-3) for g in plain.param_groups)
