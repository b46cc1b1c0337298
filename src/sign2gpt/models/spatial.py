"""Spatial backbone (spec §4): DINOv2 CLS feature per frame -> Linear -> BatchNorm1d over the
real frames of the whole batch -> per-clip zero padding to the batch maximum.

    frames [N = Σ T_i, 3, H, W] -> Dinov2Model -> CLS after the final LayerNorm [N, hidden]
    -> Linear(hidden -> D) -> BatchNorm1d(D) over the N real frames (padding never seen)
    -> split per clip, zero-pad -> x [B, T_max, D], mask [B, T_max]

The backbone is `transformers.Dinov2Model`: `from_pretrained` when the config names weights
(`facebook/dinov2-small` = ViT-S/14 in the presets), else built from a small `Dinov2Config`.
Weights are looked up locally only (`local_files_only=True`) unless `allow_download=True`, so a
missing download is a clear error, never a silent fetch. Get them once with
`hf download facebook/dinov2-small` (or point `spatial.pretrained` at a `save_pretrained` dir).

Tuning (`tune`): `full` trains everything; `lora` freezes the base and adds peft LoRA to the top
N layers (q/k/v/o projections and MLP fc1/fc2; r 4, alpha 4, dropout 0.1, A ~ N(0, 0.02^2),
B = 0 as upstream); `frozen` trains only Linear+BN. Upstream had one shared rank-4 adapter on the
fused qkv projection; transformers' DINOv2 has separate q/k/v, so each gets its own adapter.
Deviations: padding to the batch maximum instead of a constant 512; HF resizes the position
grid bicubically to the exact patch grid (upstream used DINOv2's +0.1 scale-offset trick).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import nn
from transformers import Dinov2Config, Dinov2Model

from ..errors import ConfigError

log = logging.getLogger(__name__)

# the embedded default's backbone: tiny, CPU-friendly, same architecture as ViT-S/14
DEFAULT_BACKBONE: dict[str, Any] = {
    "image_size": 56,
    "patch_size": 8,
    "hidden_size": 96,
    "num_hidden_layers": 3,
    "num_attention_heads": 3,
    "mlp_ratio": 2,
}
# names of the adapted Linear layers inside each transformers Dinov2Layer
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "fc1", "fc2")
Tune = Literal["full", "lora", "frozen"]


def build_backbone(
    pretrained: str | None = None,
    config: Mapping[str, Any] | None = None,
    *,
    allow_download: bool = False,
) -> Dinov2Model:
    """A Dinov2Model: pretrained weights by hub name or local dir, else random from `config`."""
    if pretrained:
        source = os.path.expanduser(str(pretrained))
        if not os.path.isdir(source):
            if source.startswith(("/", "./", "../")):
                raise ConfigError(f"spatial.pretrained: local DINOv2 directory {pretrained!r} does not exist")
            source = str(pretrained)  # a hub name, resolved in the local cache
        try:
            return Dinov2Model.from_pretrained(source, local_files_only=not allow_download, dtype=torch.float32)
        except OSError as exc:
            raise ConfigError(
                f"spatial.pretrained: cannot load DINOv2 weights {pretrained!r} without downloading ({exc}). "
                f"Fetch them first (`hf download {pretrained}`) or set spatial.pretrained to a local "
                "directory written by save_pretrained."
            ) from exc
    values = dict(DEFAULT_BACKBONE)
    values.update(config or {})
    try:
        cfg = Dinov2Config(**values)
    except Exception as exc:  # TypeError, or huggingface_hub's strict-dataclass validation error
        raise ConfigError(f"spatial.config: not a valid Dinov2Config ({exc})") from exc
    return Dinov2Model(cfg)


def add_lora(backbone: Dinov2Model, layers: int, r: int = 4, alpha: float = 4, dropout: float = 0.1) -> int:
    """Inject LoRA into the top `layers` blocks in place; returns the number of adapted Linears."""
    from peft import LoraConfig, inject_adapter_in_model
    from peft.tuners.lora import LoraLayer

    n_layers = backbone.config.num_hidden_layers
    if not 1 <= layers <= n_layers:
        raise ConfigError(f"spatial.lora.layers: must be in 1..{n_layers} for this backbone, got {layers}")
    lora_cfg = LoraConfig(
        r=int(r),
        lora_alpha=alpha,
        lora_dropout=float(dropout),
        target_modules=list(LORA_TARGETS),
        layers_to_transform=list(range(n_layers - layers, n_layers)),
        layers_pattern="layer",
        bias="none",
    )
    inject_adapter_in_model(lora_cfg, backbone)
    adapted = [m for m in backbone.modules() if isinstance(m, LoraLayer)]
    if len(adapted) != layers * len(LORA_TARGETS):
        raise ConfigError(
            f"spatial.lora: expected {layers * len(LORA_TARGETS)} adapted layers, peft adapted {len(adapted)} "
            "(the transformers Dinov2Layer module names changed?)"
        )
    for m in adapted:  # upstream init: A ~ N(0, 0.02^2), B = 0 (peft already zeroes B)
        for lin in m.lora_A.values():
            nn.init.normal_(lin.weight, std=0.02)
    return len(adapted)


class SpatialModel(nn.Module):
    """Per-frame DINOv2 CLS features projected to the encoder width, batch-normed, padded per clip."""

    def __init__(
        self,
        backbone: Dinov2Model,
        out_dim: int,
        *,
        tune: Tune = "full",
        lora: Mapping[str, Any] | None = None,
        chunk_size: int | None = None,
        pooling: str = "cls",
    ):
        super().__init__()
        if tune not in ("full", "lora", "frozen"):
            raise ConfigError(f"spatial.tune: must be full, lora or frozen, got {tune!r}")
        self.tune = tune
        self.chunk_size = int(chunk_size) if chunk_size else None
        if pooling not in ("cls", "mean"):
            raise ConfigError(f"spatial.pooling: must be cls or mean, got {pooling!r}")
        self.pooling = pooling
        self.backbone = backbone
        self.hidden_size = backbone.config.hidden_size
        self.out_dim = out_dim
        # created before LoRA so a `full` and a `lora` model built under one seed share these weights
        self.proj = nn.Linear(self.hidden_size, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        if tune == "lora":
            lora = dict(lora or {})
            add_lora(
                backbone,
                layers=int(lora.get("layers", 3)),
                r=int(lora.get("r", 4)),
                alpha=float(lora.get("alpha", 4)),
                dropout=float(lora.get("dropout", 0.1)),
            )
        if tune != "full":
            for name, p in self.backbone.named_parameters():
                p.requires_grad_(tune == "lora" and "lora_" in name)
        log.info(
            "spatial model: DINOv2 hidden %d, %d layers, tune=%s, trainable parameters %d (backbone %d)",
            self.hidden_size, backbone.config.num_hidden_layers, tune,
            self.num_trainable(), sum(p.numel() for p in self.backbone.parameters() if p.requires_grad),
        )

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], out_dim: int, *, allow_download: bool = False) -> "SpatialModel":
        """Build from the yaml `spatial:` section (pretrained, config, tune, lora, optional chunk_size)."""
        backbone = build_backbone(cfg.get("pretrained"), cfg.get("config"), allow_download=allow_download)
        return cls(
            backbone,
            out_dim,
            tune=cfg.get("tune", "full"),
            lora=cfg.get("lora"),
            chunk_size=cfg.get("chunk_size"),
            pooling=cfg.get("pooling", "cls"),
        )

    def num_trainable(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def _pool(self, out: Any) -> torch.Tensor:
        """CLS after the final LayerNorm (the paper), or the mean of the normed patch tokens."""
        if self.pooling == "cls":
            return out.pooler_output  # [N, hidden]
        return out.last_hidden_state[:, 1:].mean(dim=1)  # [N, hidden]

    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """CLS token after the final LayerNorm for every frame: [N, 3, H, W] -> [N, hidden]."""
        chunks = frames.split(self.chunk_size) if self.chunk_size else (frames,)
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.tune != "frozen"):
            feats = [self._pool(self.backbone(pixel_values=c)) for c in chunks]
        return torch.cat(feats) if len(feats) > 1 else feats[0]

    def forward(self, frames: torch.Tensor, lengths: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """frames [N, 3, H, W] (all clips concatenated), lengths [B] -> x [B, T_max, D], mask [B, T_max]."""
        lengths = [int(n) for n in lengths]
        if frames.dim() != 4:
            raise ValueError(f"frames must be [N, 3, H, W], got shape {tuple(frames.shape)}")
        if any(n <= 0 for n in lengths):
            raise ValueError(f"every clip needs at least one frame, got lengths {lengths}")
        if sum(lengths) != frames.shape[0]:
            raise ValueError(f"lengths sum to {sum(lengths)} but {frames.shape[0]} frames were given")
        x = self.bn(self.proj(self.frame_features(frames)))  # [N, D], BN statistics from real frames only
        x = nn.utils.rnn.pad_sequence(list(x.split(lengths)), batch_first=True)  # [B, T_max, D], zero padded
        t = torch.arange(x.shape[1], device=x.device)
        mask = t[None, :] < torch.tensor(lengths, device=x.device)[:, None]  # [B, T_max]
        return x, mask
