"""Sign encoder (spec §5): absolute sinusoidal PE, post-norm local-attention blocks with
LayerScale and DropPath, and ×2 average-pool temporal down-sampling between stages.

Shapes (paper: D = 512, layers [2, 2]):
    x [B, T, in_dim] -> input proj (identity when in_dim == D) -> + PE -> blocks 0..1 [B, T, D]
    -> avg-pool (k3, s2, p1) [B, ceil(T/2), D], mask pooled -> blocks 2..3 -> z [B, ceil(T/2), D]
With more stages (layers [a, b, c]) there is one down-sampling between consecutive stages; with one
(layers [4]) there is none (Table 4's no-down-sampling row). layers [0] is no encoder at all (the
localization ablation's "no sign encoder"): Z is the input projection of the frame features, with
no PE, since nothing after it reads positions.

Deviations from the official code, both switchable:
- `zero_pad_before_pool=True` zeroes padded positions before pooling, so the last real position
  no longer mixes in the activations of padding (official: not zeroed).
- `pool_mask="any"` (official) marks a pooled position valid when any of its 3 inputs is real;
  for a clip of even length L padded in a longer batch this gives L/2 + 1 valid positions instead
  of the ceil(L/2) it gets alone, so the batch it lands in changes its output. `"center"` marks
  position p valid iff input 2p is real, which is the same for every padding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .local_attention import LocalSelfAttention
from .positional import sinusoidal_embedding


class LayerScale(nn.Module):
    """Per-channel scale γ (init small) on a residual branch. `gamma` is not named `weight`, so
    the optimizer's decay groups leave it undecayed."""

    def __init__(self, dim: int, init: float):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class DropPath(nn.Module):
    """Stochastic depth: drop a whole residual branch per sample at train time."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        shape = (x.shape[0],) + (1,) * (x.dim() - 1)
        return x * x.new_empty(shape).bernoulli_(keep) / keep

    def extra_repr(self) -> str:
        return f"p={self.p:.4f}"


class MLP(nn.Module):
    """Linear -> GELU -> Dropout -> Linear -> Dropout."""

    def __init__(self, dim: int, hidden: int, dropout: float):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.drop1 = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop2 = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))


class EncoderBlock(nn.Module):
    """Post-norm block: x <- LN1(x + DropPath(γ1 ⊙ Attn(x))); x <- LN2(x + DropPath(γ2 ⊙ MLP(x)))."""

    def __init__(
        self,
        dim: int,
        heads: int,
        window: int,
        *,
        mlp_ratio: float,
        dropout: float,
        drop_path: float,
        layerscale_init: float,
        attention: Literal["local", "dense", "global"] = "local",
    ):
        super().__init__()
        self.attn = LocalSelfAttention(
            dim, heads, window, attn_dropout=dropout, proj_dropout=dropout, impl=attention
        )
        self.ls1 = LayerScale(dim, layerscale_init)
        self.norm1 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, int(dim * mlp_ratio), dropout)
        self.ls2 = LayerScale(dim, layerscale_init)
        self.norm2 = nn.LayerNorm(dim)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.drop_path(self.ls1(self.attn(x, mask))))
        x = self.norm2(x + self.drop_path(self.ls2(self.mlp(x))))
        return x


def pool_time(
    x: torch.Tensor,
    mask: torch.Tensor,
    *,
    zero_pad: bool = True,
    mask_rule: Literal["any", "center"] = "any",
) -> tuple[torch.Tensor, torch.Tensor]:
    """×2 temporal down-sampling: x [B, T, D], mask [B, T] -> [B, ceil(T/2), D], [B, ceil(T/2)].

    Features: average pool, kernel 3, stride 2, padding 1, boundary zeros counted. Mask: see the
    module docstring; position 0 is always valid.
    """
    if zero_pad:
        x = x * mask[..., None].to(x.dtype)
    pooled = F.avg_pool1d(x.transpose(1, 2), kernel_size=3, stride=2, padding=1, count_include_pad=True)
    pooled = pooled.transpose(1, 2)  # [B, ceil(T/2), D]
    if mask_rule == "any":
        # max-pool pads with -inf, so the boundary never counts as a real frame
        new_mask = F.max_pool1d(mask[:, None].float(), kernel_size=3, stride=2, padding=1)[:, 0] > 0
    elif mask_rule == "center":
        new_mask = mask[:, ::2].clone()
    else:
        raise ValueError(f"pool mask rule must be 'any' or 'center', got {mask_rule!r}")
    new_mask[:, 0] = True
    return pooled, new_mask


class SignEncoder(nn.Module):
    """Local-attention transformer over frame features with ×2 down-sampling between stages."""

    def __init__(
        self,
        in_dim: int,
        dim: int = 512,
        heads: int = 8,
        layers: Sequence[int] = (2, 2),
        window: int = 7,
        mlp_ratio: float = 4.0,
        dropout: float = 0.1,
        drop_path: float = 0.1,
        layerscale_init: float = 1e-5,
        *,
        zero_pad_before_pool: bool = True,
        pool_mask: Literal["any", "center"] = "any",
        attention: Literal["local", "dense", "global"] = "local",
        checkpointing: bool = False,
    ):
        super().__init__()
        layers = [int(n) for n in layers]
        if not layers or any(n < 0 for n in layers) or (sum(layers) == 0 and layers != [0]):
            raise ValueError(f"encoder layers must be non-negative block counts with a positive sum, or [0] "
                             f"(no encoder), got {layers}")
        if pool_mask not in ("any", "center"):
            raise ValueError(f"pool_mask must be 'any' or 'center', got {pool_mask!r}")
        self.in_dim, self.dim, self.layers = in_dim, dim, layers
        self.zero_pad_before_pool = zero_pad_before_pool
        self.pool_mask = pool_mask
        self.checkpointing = checkpointing

        self.input_proj = nn.Identity() if in_dim == dim else nn.Linear(in_dim, dim)
        n_blocks = sum(layers)
        rates = torch.linspace(0.0, drop_path, n_blocks, device="cpu").tolist()  # 0 .. drop_path over all blocks
        self.blocks = nn.ModuleList(
            EncoderBlock(
                dim, heads, window, mlp_ratio=mlp_ratio, dropout=dropout, drop_path=rate,
                layerscale_init=layerscale_init, attention=attention,
            )
            for rate in rates
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform Linear weights, zero biases, LayerNorm (1, 0) (spec §5.7)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    @classmethod
    def from_config(cls, in_dim: int, cfg: Mapping[str, Any], **overrides: Any) -> SignEncoder:
        """Build from the yaml `encoder:` section (every key; config.yaml sets them)."""
        kwargs: dict[str, Any] = dict(
            dim=int(cfg["dim"]),
            heads=int(cfg["heads"]),
            layers=list(cfg["layers"]),
            window=int(cfg["window"]),
            mlp_ratio=float(cfg["mlp_ratio"]),
            dropout=float(cfg["dropout"]),
            drop_path=float(cfg["drop_path"]),
            layerscale_init=float(cfg["layerscale_init"]),
            zero_pad_before_pool=bool(cfg["zero_pad_before_pool"]),
            pool_mask=cfg["pool_mask"],
            attention=cfg["attention"],
            checkpointing=bool(cfg["checkpointing"]),
        )
        kwargs.update(overrides)
        return cls(in_dim, **kwargs)

    @property
    def downsample_factor(self) -> int:
        return 2 ** (len(self.layers) - 1)

    def output_length(self, length: int) -> int:
        """Time steps after the encoder for an input of `length` frames (ceil(T/2) per pooling)."""
        for _ in range(len(self.layers) - 1):
            length = (length + 1) // 2
        return length

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, T, in_dim], mask bool [B, T] (True = real) -> z [B, T', D], mask [B, T']."""
        if x.dim() != 3 or mask.shape != x.shape[:2]:
            raise ValueError(f"expected x [B, T, D] and mask [B, T], got {tuple(x.shape)} and {tuple(mask.shape)}")
        mask = mask.bool()
        x = self.input_proj(x)
        if not self.blocks:  # layers [0]: no encoder
            return x, mask
        x = x + sinusoidal_embedding(x.shape[1], self.dim, device=x.device).to(x.dtype)  # padding included
        first = 0
        for stage, n_blocks in enumerate(self.layers):
            if stage > 0:
                x, mask = pool_time(x, mask, zero_pad=self.zero_pad_before_pool, mask_rule=self.pool_mask)
            for block in self.blocks[first : first + n_blocks]:
                if self.checkpointing and self.training and torch.is_grad_enabled():
                    x = checkpoint(block, x, mask, use_reentrant=False)
                else:
                    x = block(x, mask)
            first += n_blocks
        return x, mask
