"""AdamW with the spec's weight-decay rule, the warm-up + cosine schedule, gradient clipping (§7).

Decay applies only to `weight` tensors of modules that are not normalisation or embedding
layers; biases, norm/embedding weights and every parameter with another name (LayerScale γ,
temperatures, gates, CLS/position tokens) get no decay.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

NO_DECAY_MODULES: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._NormBase,  # BatchNorm*, SyncBatchNorm, InstanceNorm*
    nn.LayerNorm,
    nn.GroupNorm,
    nn.LocalResponseNorm,
    nn.RMSNorm,
    nn.Embedding,
    nn.EmbeddingBag,
)


def _no_decay_module(module: nn.Module) -> bool:
    # custom norms in model libraries (e.g. LlamaRMSNorm) are not nn.LayerNorm subclasses
    return isinstance(module, NO_DECAY_MODULES) or "norm" in type(module).__name__.lower()


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two AdamW groups, `decay` and `no_decay`, over the trainable parameters (each once)."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    seen: set[int] = set()
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            (decay if name == "weight" and not _no_decay_module(module) else no_decay).append(p)
    return [
        {"params": decay, "weight_decay": float(weight_decay), "name": "decay"},
        {"params": no_decay, "weight_decay": 0.0, "name": "no_decay"},
    ]


def build_optimizer(
    model: nn.Module, lr: float, weight_decay: float, *, lr_scales: Mapping[str, float] | None = None
) -> torch.optim.AdamW:
    """AdamW(β=(0.9, 0.999), ε=1e-8) over `param_groups` (spec §7).

    lr_scales: {name suffix: factor}; parameters whose name ends with a suffix get their own group
    with lr × factor (e.g. {".gate": 10}: the zero-initialised gates open within a short run).
    """
    groups = param_groups(model, weight_decay)
    for suffix, factor in (lr_scales or {}).items():
        if factor == 1:
            continue
        chosen = {id(p) for n, p in model.named_parameters() if n.endswith(suffix) and p.requires_grad}
        moved = [p for g in groups for p in g["params"] if id(p) in chosen]
        for g in groups:
            g["params"] = [p for p in g["params"] if id(p) not in chosen]
        if moved:
            groups.append({"params": moved, "weight_decay": 0.0, "name": f"scaled{suffix}", "lr": lr * float(factor)})
    if not any(g["params"] for g in groups):
        raise ValueError("the model has no trainable parameters")
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), eps=1e-8)


class WarmupCosine:
    """Per-iteration lr factor: linear from min_lr_ratio to 1 over `warmup_steps`, then one
    cosine from 1 to min_lr_ratio at `total_steps` (held there after).

    Call `step()` after every optimizer step. The state is plain numbers (JSON-safe), so a
    checkpoint stores it without pickling.
    """

    def __init__(
        self, optimizer: torch.optim.Optimizer, *, warmup_steps: int, total_steps: int, min_lr_ratio: float = 0.01
    ):
        if total_steps < 1 or warmup_steps < 0 or not 0.0 <= min_lr_ratio <= 1.0:
            raise ValueError(
                f"bad schedule: warmup_steps={warmup_steps} total_steps={total_steps} min_lr_ratio={min_lr_ratio}"
            )
        self.optimizer = optimizer
        self.warmup_steps = int(warmup_steps)
        self.total_steps = int(total_steps)
        self.min_lr_ratio = float(min_lr_ratio)
        self.base_lrs = [float(g.get("initial_lr", g["lr"])) for g in optimizer.param_groups]
        for g, lr in zip(optimizer.param_groups, self.base_lrs):
            g["initial_lr"] = lr
        self.last_step = 0
        self._apply()

    def factor(self, step: int) -> float:
        r = self.min_lr_ratio
        if step < self.warmup_steps:
            return r + (1.0 - r) * step / self.warmup_steps
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return r + (1.0 - r) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def _apply(self) -> None:
        f = self.factor(self.last_step)
        for g, lr in zip(self.optimizer.param_groups, self.base_lrs):
            g["lr"] = lr * f

    def step(self) -> None:
        self.last_step += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        return [float(g["lr"]) for g in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {
            "last_step": self.last_step,
            "base_lrs": list(self.base_lrs),
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
            "min_lr_ratio": self.min_lr_ratio,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ("warmup_steps", "total_steps", "min_lr_ratio"):
            if state[key] != getattr(self, key):
                raise ValueError(
                    f"schedule mismatch on resume: {key} is {getattr(self, key)}, checkpoint has {state[key]}"
                )
        self.base_lrs = [float(x) for x in state["base_lrs"]]
        self.last_step = int(state["last_step"])
        self._apply()


def build_scheduler(
    optimizer: torch.optim.Optimizer, *, epochs: int, steps_per_epoch: int, warmup_epochs: float, min_lr_ratio: float
) -> WarmupCosine:
    """The spec's schedule in epochs: warm-up over `warmup_epochs`, cosine over the rest."""
    total = max(1, int(epochs) * int(steps_per_epoch))
    warmup = min(total, int(round(warmup_epochs * steps_per_epoch)))
    return WarmupCosine(optimizer, warmup_steps=warmup, total_steps=total, min_lr_ratio=min_lr_ratio)


def clip_gradients(
    params: Iterable[torch.Tensor], clip_value: float | None, clip_norm: float | None
) -> torch.Tensor:
    """Clip each gradient entry to ±clip_value, then the global norm to clip_norm (spec §7).

    Returns the global gradient norm before any clipping (0 when no parameter has a gradient):
    non-finite whenever a gradient is, which value clipping would hide (it clamps inf to ±clip_value).
    A value <= 0 or None disables that clip.
    """
    params = [p for p in params if p.grad is not None]
    if not params:
        return torch.zeros(())
    if clip_value is None or clip_value <= 0:
        if clip_norm is not None and clip_norm > 0:
            return nn.utils.clip_grad_norm_(params, clip_norm)
        return nn.utils.get_total_norm([p.grad for p in params])
    norm = nn.utils.get_total_norm([p.grad for p in params])
    nn.utils.clip_grad_value_(params, clip_value)
    if clip_norm is not None and clip_norm > 0:
        nn.utils.clip_grad_norm_(params, clip_norm)
    return norm
