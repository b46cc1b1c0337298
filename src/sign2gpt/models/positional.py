"""Positional encodings shared by the sign encoder and the LM side (spec §5, §8.1).

Two kinds:
- absolute sinusoidal PE with *interleaved* sin/cos (PE[t, 2i] = sin, PE[t, 2i+1] = cos), added to
  the features at the encoder input and again before FC_m in stage 2;
- rotary PE (RoPE) in the GPT-NeoX "rotate-half" layout: channel j is paired with j + d/2.

Both tables are always computed in float32 from scratch (no cached buffers), so neither
`model.to(bfloat16)` nor autocast can coarsen the angles: the official code computed RoPE tables
in bf16 under autocast, where integer positions are exact only up to 256 (a recommended
deviation, spec §13).
"""

from __future__ import annotations

import torch


def _positions(length_or_positions: int | torch.Tensor, device: torch.device | None) -> torch.Tensor:
    """0..length-1, or the given positions, as float32."""
    if isinstance(length_or_positions, torch.Tensor):
        return length_or_positions.to(device=device or length_or_positions.device, dtype=torch.float32)
    return torch.arange(int(length_or_positions), device=device, dtype=torch.float32)


def sinusoidal_embedding(
    length_or_positions: int | torch.Tensor,
    dim: int,
    *,
    base: float = 10000.0,
    device: torch.device | None = None,
) -> torch.Tensor:
    """Absolute sinusoidal PE, float32 `[*positions.shape, dim]`, sin/cos interleaved.

    PE[t, 2i] = sin(t / base^(2i/dim)), PE[t, 2i+1] = cos(t / base^(2i/dim)).
    """
    if dim % 2:
        raise ValueError(f"sinusoidal PE needs an even dimension, got {dim}")
    pos = _positions(length_or_positions, device)
    inv_freq = base ** (-torch.arange(0, dim, 2, device=pos.device, dtype=torch.float32) / dim)  # [dim/2]
    angles = pos[..., None] * inv_freq  # [..., dim/2]
    # stack on a new last axis then flatten: [..., dim/2, 2] -> [..., dim] = sin0, cos0, sin1, cos1, ...
    return torch.stack((angles.sin(), angles.cos()), dim=-1).flatten(-2)


def rope_cos_sin(
    length_or_positions: int | torch.Tensor,
    head_dim: int,
    *,
    base: float = 10000.0,
    device: torch.device | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """RoPE tables (cos, sin), float32 `[*positions.shape, head_dim]`, rotate-half layout.

    Frequency i (0 <= i < head_dim/2) is base^(-2i/head_dim) and drives channels i and
    i + head_dim/2, so the tables are the half-size tables concatenated with themselves.
    """
    if head_dim % 2:
        raise ValueError(f"RoPE needs an even head dimension, got {head_dim}")
    pos = _positions(length_or_positions, device)
    inv_freq = base ** (-torch.arange(0, head_dim, 2, device=pos.device, dtype=torch.float32) / head_dim)
    angles = pos[..., None] * inv_freq  # [..., head_dim/2]
    angles = torch.cat((angles, angles), dim=-1)  # [..., head_dim]
    return angles.cos(), angles.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2) -> (-x2, x1) over the last axis split in halves."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate `x [..., T, head_dim]` by the tables `[T, head_dim]` (broadcast over leading axes).

    The rotation runs in float32 and the result is cast back to `x.dtype`.
    """
    xf = x.float()
    return (xf * cos + rotate_half(xf) * sin).to(x.dtype)
