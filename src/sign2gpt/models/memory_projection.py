"""FC_m: the sign features Z turned into the LM's cross-attention memory (spec §8.1).

Z gets a positional encoding added *before* a Linear to the LM width: the paper's ablation says
pseudo-gloss pretraining removes temporal information, so positions are re-introduced here. The
method's is an absolute sinusoidal PE (interleaved sin/cos at Z's width); the paper's Table 4 also
tries none, and a learnable table initialised at zero or at random (`translate.memory_pe`). No norm,
no activation; each decoder layer normalises the memory with its own frozen pre-attention norm
(see `gated_lm`).
"""

from __future__ import annotations

import torch
from torch import nn

from sign2gpt.core.config import LEARNED_MEMORY_POSITIONS
from sign2gpt.models.positional import sinusoidal_embedding

MEMORY_PE = ("sinusoidal", "none", "learned_zero", "learned_random")
LEARNED_POSITIONS = LEARNED_MEMORY_POSITIONS  # rows of a learnable table (the config check bounds max_frames by it)


class MemoryProjection(nn.Module):
    """`[B, S, memory_dim]` -> `[B, S, lm_dim]` (the PE is added to every position, padding included)."""

    def __init__(self, memory_dim: int, lm_dim: int, *, positional: str = "sinusoidal"):
        super().__init__()
        if positional not in MEMORY_PE:
            raise ValueError(f"memory positional encoding must be one of {MEMORY_PE}, got {positional!r}")
        if positional == "sinusoidal" and memory_dim % 2:
            raise ValueError(f"memory_dim must be even for the sinusoidal PE, got {memory_dim}")
        self.memory_dim, self.positional = memory_dim, positional
        if positional.startswith("learned"):
            self.position_embedding = nn.Parameter(torch.zeros(LEARNED_POSITIONS, memory_dim))  # [P, D]
            if positional == "learned_random":
                nn.init.normal_(self.position_embedding, std=0.02)
        self.linear = nn.Linear(memory_dim, lm_dim)

    def forward(self, memory: torch.Tensor) -> torch.Tensor:
        if memory.dim() != 3 or memory.shape[-1] != self.memory_dim:
            raise ValueError(f"memory must be [B, S, {self.memory_dim}], got {tuple(memory.shape)}")
        S = memory.shape[1]
        if self.positional == "sinusoidal":
            memory = memory + sinusoidal_embedding(S, self.memory_dim, device=memory.device).to(memory.dtype)
        elif self.positional != "none":
            if S > LEARNED_POSITIONS:
                raise ValueError(f"a learned memory PE covers {LEARNED_POSITIONS} positions, got a memory of {S}")
            memory = memory + self.position_embedding[:S].to(memory.dtype)  # [S, D] broadcast over B
        return self.linear(memory)

    def extra_repr(self) -> str:
        return f"positional={self.positional}"
