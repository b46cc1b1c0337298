"""FC_m: the sign features Z turned into the LM's cross-attention memory (spec §8.1).

Z gets an absolute sinusoidal PE (interleaved sin/cos at Z's width) added *before* a Linear to
the LM width: the paper's ablation says pseudo-gloss pretraining removes temporal information,
so positions are re-introduced here. No norm, no activation; each decoder layer normalises the
memory with its own frozen pre-attention norm (see `gated_lm`).
"""

from __future__ import annotations

import torch
from torch import nn

from sign2gpt.models.positional import sinusoidal_embedding


class MemoryProjection(nn.Module):
    """`[B, S, memory_dim]` -> `[B, S, lm_dim]` (PE added to every position, padding included)."""

    def __init__(self, memory_dim: int, lm_dim: int):
        super().__init__()
        if memory_dim % 2:
            raise ValueError(f"memory_dim must be even for the sinusoidal PE, got {memory_dim}")
        self.memory_dim = memory_dim
        self.linear = nn.Linear(memory_dim, lm_dim)

    def forward(self, memory: torch.Tensor) -> torch.Tensor:
        if memory.dim() != 3 or memory.shape[-1] != self.memory_dim:
            raise ValueError(f"memory must be [B, S, {self.memory_dim}], got {tuple(memory.shape)}")
        pe = sinusoidal_embedding(memory.shape[1], self.memory_dim, device=memory.device)  # [S, D] fp32
        return self.linear(memory + pe.to(memory.dtype))
