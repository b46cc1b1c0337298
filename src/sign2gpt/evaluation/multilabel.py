"""The pseudo-gloss pretraining head's dev metrics: multi-label accuracy and F1 (spec §7)."""

from __future__ import annotations

import torch


def f1_scores(scores: torch.Tensor, targets: torch.Tensor, threshold: float = 0.5) -> dict[str, float]:
    """Dev metrics of spec §7: accuracy, micro-F1, macro-F1 over classes with a positive in dev."""
    pred = scores >= threshold
    gold = targets > 0.5
    tp = (pred & gold).sum(0).double()
    fp = (pred & ~gold).sum(0).double()
    fn = (~pred & gold).sum(0).double()
    present = gold.any(0)
    per_class = tp / (tp + 0.5 * (fp + fn)).clamp_min(1e-12)
    macro = per_class[present].mean().item() if present.any() else 0.0
    micro_den = (tp.sum() + 0.5 * (fp.sum() + fn.sum())).item()
    micro = tp.sum().item() / micro_den if micro_den else 0.0
    return {
        "dev_accuracy": (pred == gold).double().mean().item(),
        "dev_micro_f1": micro,
        "dev_macro_f1": macro,
    }
