"""Local (banded) multi-head self-attention with memory and time linear in T (spec §5.3).

Query i attends key j iff |i - j| <= window // 2 and key j is a real frame; the diagonal is
always allowed, so a padded query still has one key and its softmax never sees an empty row.
Disallowed pairs get the dtype minimum before the softmax, as in the official code.

`local_attention` never builds a T x T matrix: K and V are zero-padded by r = window // 2 on
both sides of time, and for each of the 2r + 1 offsets the query is paired with the shifted
keys (slices are views, so autograd stores no copies). Scores are [B, H, T, 2r + 1].
`dense_band_attention` is the plain reference with a T x T band mask, used by the tests and the
benchmark to check the two agree and to show the memory difference. `global_attention` drops the
band (every query attends every real frame): the paper's "no local attention (+ global attention)"
ablation row (Table 4).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from .positional import apply_rope, rope_cos_sin


def _check_inputs(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int) -> None:
    if q.dim() != 4 or q.shape != k.shape or k.shape != v.shape:
        raise ValueError(f"q, k, v must share the shape [B, H, T, Dh]; got {q.shape}, {k.shape}, {v.shape}")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")


def _upcast(scores: torch.Tensor) -> torch.Tensor:
    """Softmax in at least float32 (bf16/fp16 scores are upcast, float64 kept)."""
    return scores.to(torch.promote_types(scores.dtype, torch.float32))


def local_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    key_mask: torch.Tensor | None,
    window: int,
    *,
    dropout_p: float = 0.0,
    training: bool = False,
    scale: float | None = None,
) -> torch.Tensor:
    """Banded attention, linear in T. q, k, v: [B, H, T, Dh]; key_mask: bool [B, T] (True = real).

    Returns [B, H, T, Dh]. Scores and softmax run in at least float32.
    """
    _check_inputs(q, k, v, window)
    B, H, T, Dh = q.shape
    r = window // 2
    span = 2 * r + 1
    scale = Dh**-0.5 if scale is None else scale

    # keys/values padded in time: position t + o of the padded sequence is key t + o - r
    kp = F.pad(k, (0, 0, r, r))  # [B, H, T + 2r, Dh]
    vp = F.pad(v, (0, 0, r, r))
    scores = torch.stack([(q * kp[:, :, o : o + T]).sum(-1) for o in range(span)], dim=-1)
    scores = _upcast(scores) * scale  # [B, H, T, span]

    # allowed[b, t, o]: key t + o - r exists and is real, or o == r (the diagonal)
    if key_mask is None:
        key_mask = torch.ones(B, T, dtype=torch.bool, device=q.device)
    key_ok = F.pad(key_mask.bool(), (r, r), value=False).unfold(1, span, 1)  # [B, T, span]
    diagonal = torch.arange(span, device=q.device) == r  # [span]
    allowed = key_ok | diagonal  # [B, T, span]
    scores = scores.masked_fill(~allowed[:, None], torch.finfo(scores.dtype).min)

    probs = scores.softmax(dim=-1).to(v.dtype)  # [B, H, T, span]
    probs = F.dropout(probs, p=dropout_p, training=training)
    out = probs[..., 0, None] * vp[:, :, 0:T]
    for o in range(1, span):
        out = out + probs[..., o, None] * vp[:, :, o : o + T]
    return out  # [B, H, T, Dh]


def band_mask(key_mask: torch.Tensor, window: int) -> torch.Tensor:
    """Dense bool mask [B, T, T]: |i - j| <= window // 2 and (key j real or i == j)."""
    B, T = key_mask.shape
    idx = torch.arange(T, device=key_mask.device)
    dist = (idx[:, None] - idx[None, :]).abs()  # [T, T]
    band = dist <= window // 2
    return band & (key_mask.bool()[:, None, :] | (dist == 0))


def dense_band_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    key_mask: torch.Tensor | None,
    window: int,
    *,
    dropout_p: float = 0.0,
    training: bool = False,
    scale: float | None = None,
) -> torch.Tensor:
    """Reference: full T x T scores with the band mask. Same contract as `local_attention`."""
    _check_inputs(q, k, v, window)
    B, H, T, Dh = q.shape
    scale = Dh**-0.5 if scale is None else scale
    if key_mask is None:
        key_mask = torch.ones(B, T, dtype=torch.bool, device=q.device)
    scores = _upcast(q @ k.transpose(-2, -1)) * scale  # [B, H, T, T]
    allowed = band_mask(key_mask, window)[:, None]  # [B, 1, T, T]
    scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
    probs = scores.softmax(dim=-1).to(v.dtype)
    probs = F.dropout(probs, p=dropout_p, training=training)
    return probs @ v  # [B, H, T, Dh]


def global_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    key_mask: torch.Tensor | None,
    *,
    dropout_p: float = 0.0,
    training: bool = False,
    scale: float | None = None,
) -> torch.Tensor:
    """Full attention over the real frames: the band of `dense_band_attention` widened to the whole
    sequence (|i - j| <= T - 1 for every pair). Same contract, without a window."""
    return dense_band_attention(q, k, v, key_mask, 2 * q.shape[2] - 1, dropout_p=dropout_p, training=training,
                                scale=scale)


class LocalSelfAttention(nn.Module):
    """Multi-head self-attention of the sign encoder: q, k, v projections with bias, RoPE on q
    and k per head (positions 0..T-1 of the padded sequence), banded attention, output
    projection and residual dropout.

    `impl="dense"` swaps in the T x T reference (same parameters, same result); it exists for the
    benchmark and for debugging. `impl="global"` is not banded: every query attends every real
    frame (`window` unused), the paper's global-attention ablation.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        window: int,
        *,
        attn_dropout: float = 0.0,
        proj_dropout: float = 0.0,
        rope: bool = True,
        rope_base: float = 10000.0,
        impl: Literal["local", "dense", "global"] = "local",
    ):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        if impl not in ("local", "dense", "global"):
            raise ValueError(f"impl must be 'local', 'dense' or 'global', got {impl!r}")
        self.dim, self.heads, self.head_dim = dim, heads, dim // heads
        self.window = window
        self.attn_dropout = attn_dropout
        self.rope, self.rope_base = rope, rope_base
        self.impl = impl
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """x: [B, T, D], mask: bool [B, T] (True = real) -> [B, T, D]."""
        B, T, D = x.shape
        split = (B, T, self.heads, self.head_dim)
        q = self.q_proj(x).view(split).transpose(1, 2)  # [B, H, T, Dh]
        k = self.k_proj(x).view(split).transpose(1, 2)
        v = self.v_proj(x).view(split).transpose(1, 2)
        if self.rope:
            cos, sin = rope_cos_sin(T, self.head_dim, base=self.rope_base, device=x.device)  # [T, Dh] fp32
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        options = dict(dropout_p=self.attn_dropout, training=self.training, scale=1.0 / math.sqrt(self.head_dim))
        if self.impl == "global":
            out = global_attention(q, k, v, mask, **options)  # [B, H, T, Dh]
        elif self.impl == "dense":
            out = dense_band_attention(q, k, v, mask, self.window, **options)
        else:
            out = local_attention(q, k, v, mask, self.window, **options)
        out = out.transpose(1, 2).reshape(B, T, D)
        return self.proj_drop(self.out_proj(out))
