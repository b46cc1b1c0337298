"""Pseudo-gloss pretraining head (spec §6): prototype similarity, class × time softmax,
presence scores in [0, 1], multi-label BCE.

    z [B, T', D] -> Dropout -> Linear(D -> P) -> cosine to frozen prototypes [V + 1, P]
    S [B, T', V+1];  A = softmax_v(S / τ_U);  Π = softmax_t(S / τ_T, real frames only)
    E = A ⊙ Π;  Ê = Σ_t E  ->  scores = Ê[:, :V]

The last prototype is the zero vector: its cosine is 0 for every frame, so it acts as a
constant-logit "blank" class that can absorb a frame's class mass. Because Π is a distribution
over time and A <= 1, Ê is a Π-weighted average of per-frame class probabilities, in [0, 1].
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

TAU_MIN, TAU_MAX = 0.01, 1.0


class PseudoGlossHead(nn.Module):
    """Scores the presence of each pseudo-gloss in a clip; also returns the localisation map E."""

    def __init__(
        self,
        in_dim: int,
        prototypes: torch.Tensor,
        *,
        dropout: float = 0.2,
        tau_init: float = 0.1,
        learnable_tau: bool = True,
        loss_weight: float = 10.0,
        eps: float = 1e-8,
    ):
        super().__init__()
        if prototypes.dim() != 2 or prototypes.shape[0] < 2:
            raise ValueError(f"prototypes must be [V + 1, P] with V >= 1, got {tuple(prototypes.shape)}")
        if prototypes[-1].abs().max() != 0:
            raise ValueError("the last prototype row must be the zero (blank) prototype")
        self.num_classes = prototypes.shape[0] - 1  # V
        self.loss_weight = float(loss_weight)
        self.eps = eps
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(in_dim, prototypes.shape[1])  # default PyTorch init, as upstream
        self.register_buffer("prototypes", prototypes.detach().float().clone())  # frozen, [V + 1, P]
        tau_class = torch.tensor(float(tau_init))
        tau_time = torch.tensor(float(tau_init))
        if learnable_tau:
            self.tau_class = nn.Parameter(tau_class)
            self.tau_time = nn.Parameter(tau_time)
        else:
            self.register_buffer("tau_class", tau_class)
            self.register_buffer("tau_time", tau_time)

    @classmethod
    def from_config(cls, in_dim: int, prototypes: torch.Tensor, cfg: Mapping[str, Any]) -> PseudoGlossHead:
        """Build from the yaml `pgp_head:` section (every key; config.yaml sets them)."""
        return cls(
            in_dim,
            prototypes,
            dropout=float(cfg["dropout"]),
            tau_init=float(cfg["tau_init"]),
            learnable_tau=bool(cfg["learnable_tau"]),
            loss_weight=float(cfg["loss_weight"]),
        )

    def similarity(self, z: torch.Tensor) -> torch.Tensor:
        """Cosine similarity S [B, T', V + 1] in float32; the blank column is exactly 0."""
        y = self.proj(self.dropout(z)).float()  # [B, T', P]
        y = y / y.norm(dim=-1, keepdim=True).clamp_min(self.eps)
        p = self.prototypes / self.prototypes.norm(dim=-1, keepdim=True).clamp_min(self.eps)  # zero row stays 0
        return y @ p.t()

    def forward(self, z: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z [B, T', D], mask bool [B, T'] -> scores [B, V] in [0, 1], E [B, T', V] (0 at padding)."""
        s = self.similarity(z)  # [B, T', V + 1]
        tau_u = self.tau_class.float().clamp(TAU_MIN, TAU_MAX)
        tau_t = self.tau_time.float().clamp(TAU_MIN, TAU_MAX)
        a = (s / tau_u).softmax(dim=-1)  # over classes
        time_logits = (s / tau_t).masked_fill(~mask.bool()[..., None], torch.finfo(s.dtype).min)
        pi = time_logits.softmax(dim=1)  # over real frames
        e = (a * pi)[..., : self.num_classes]  # [B, T', V], blank dropped
        return e.sum(dim=1), e

    def loss(self, scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """weight × mean over all B·V entries of BCE(clamp(scores, 1e-8, 1 - 1e-8), targets).

        In float32 outside autocast (BCE refuses to run under CUDA autocast). Note 1 - 1e-8 rounds
        to 1.0 in float32; torch's BCE clamps the log at -100, which keeps a score of exactly 1
        finite, as upstream.
        """
        if scores.shape != targets.shape:
            raise ValueError(f"scores {tuple(scores.shape)} and targets {tuple(targets.shape)} differ in shape")
        with torch.autocast(device_type=scores.device.type, enabled=False):
            p = scores.float().clamp(1e-8, 1.0 - 1e-8)
            bce = F.binary_cross_entropy(p, targets.float(), reduction="mean")
        return self.loss_weight * bce

    @staticmethod
    def multi_hot(
        targets: Sequence[Sequence[int]], num_classes: int, device: torch.device | None = None
    ) -> torch.Tensor:
        """Lists of class ids -> float multi-hot [B, V] (duplicates collapse)."""
        out = torch.zeros(len(targets), num_classes, device=device)
        for i, ids in enumerate(targets):
            if len(ids):
                idx = torch.as_tensor(list(ids), dtype=torch.long, device=device)
                if int(idx.min()) < 0 or int(idx.max()) >= num_classes:
                    raise ValueError(f"target ids of item {i} fall outside 0..{num_classes - 1}: {list(ids)}")
                out[i, idx] = 1.0
        return out
