"""SignModel = SpatialModel + SignEncoder: frames of a batch of clips -> encoder features Z.

Both training stages build it with `build_sign_model(cfg["spatial"], cfg["encoder"])`, so the
parameter names (`spatial.*`, `encoder.*`) match and a stage-1 checkpoint loads by name in stage 2.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from .sign_encoder import SignEncoder
from .spatial import SpatialModel


class SignModel(nn.Module):
    """frames [N, 3, H, W] + lengths [B] -> z [B, T', D], mask [B, T']."""

    def __init__(self, spatial: SpatialModel, encoder: SignEncoder):
        super().__init__()
        if spatial.out_dim != encoder.in_dim:
            raise ValueError(f"spatial output {spatial.out_dim} != encoder input {encoder.in_dim}")
        self.spatial = spatial
        self.encoder = encoder

    @property
    def dim(self) -> int:
        return self.encoder.dim

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], *, allow_download: bool = False) -> SignModel:
        """Build from a full config dict (its `spatial:` and `encoder:` sections)."""
        return build_sign_model(cfg["spatial"], cfg["encoder"], allow_download=allow_download)

    def forward(self, frames: torch.Tensor, lengths: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        x, mask = self.spatial(frames, lengths)  # [B, T, D], [B, T]
        return self.encoder(x, mask)  # [B, T', D], [B, T']


def build_sign_model(
    spatial_cfg: Mapping[str, Any], encoder_cfg: Mapping[str, Any], *, allow_download: bool = False
) -> SignModel:
    """The spatial model projects straight to the encoder width, so the encoder input is the identity."""
    dim = int(encoder_cfg["dim"])
    spatial = SpatialModel.from_config(spatial_cfg, out_dim=dim, allow_download=allow_download)
    encoder = SignEncoder.from_config(dim, encoder_cfg)
    return SignModel(spatial, encoder)
