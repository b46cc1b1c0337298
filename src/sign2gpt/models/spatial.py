"""Spatial backbone (spec §4): one feature per frame -> Linear -> BatchNorm1d over the real
frames of the whole batch -> per-clip zero padding to the batch maximum.

    frames [N = Σ T_i, 3, H, W] -> backbone -> pooled feature [N, hidden]
    -> Linear(hidden -> D) -> BatchNorm1d(D) over the N real frames (padding never seen)
    -> split per clip, zero-pad -> x [B, T_max, D], mask [B, T_max]

Two backbone families, both `transformers` models loaded with `from_pretrained` or built from a
small config (`spatial.config.model_type`):
- `dinov2` (the paper; the presets load `facebook/dinov2-small` = ViT-S/14): CLS after the final
  LayerNorm, or the mean of the normed patch tokens.
- `resnet` (the embedded default): global average pool of the last stage. A ViT trained from
  scratch on a few thousand CPU frames does not generalise (it needs the pretrained weights the
  paper starts from); a small ResNet does. On the default corpus, supervised per-frame gloss
  recognition on dev after 6 epochs: DINOv2 32²/patch 4 0.39, ResNet [32, 64, 128] at 32² 0.79
  (`benchmarks/backbone_probe.py --architectures 6`).

Weights are looked up locally only (`local_files_only=True`) unless `allow_download=True` (which
also needs `SIGN2GPT_ALLOW_DOWNLOAD=1`: importing sign2gpt puts the hub client offline), so a
missing download is a clear error, never a silent fetch. Get them once with
`hf download facebook/dinov2-small` (or point `spatial.pretrained` at a `save_pretrained` dir).

Tuning (`tune`): `full` trains everything; `lora` (DINOv2 only) freezes the base and adds LoRA
to the top N layers (attention q/k/v and output projections, MLP fc1/fc2; r 4, alpha 4, dropout
0.1, A ~ N(0, 0.02^2), B = 0 as upstream); `frozen` trains only Linear+BN. Upstream's DINOv2 has one
fused qkv projection with one adapter on it: `lora.qkv: fused` gives transformers' separate q, k, v
the same adapter (`FusedQKVLoRA`: one A of r x d on the block's input, one B of 3d x r whose thirds
update q, k and v; 6,144 parameters per ViT-S block where three adapters have 9,216), the paper's
Table 1 count; `separate` gives each projection its own (peft). Deviations: padding to the batch
maximum instead of a constant 512; HF resizes the position grid bicubically to the exact patch
grid (upstream used DINOv2's +0.1 scale-offset trick).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint
from transformers import AutoModel, Dinov2Config, Dinov2Model, ResNetConfig, ResNetModel

from sign2gpt.core.errors import ConfigError

log = logging.getLogger(__name__)

# config classes of the supported backbone families, and the values a bare `model_type` gets
BACKBONES: dict[str, tuple[type, type]] = {"dinov2": (Dinov2Config, Dinov2Model), "resnet": (ResNetConfig, ResNetModel)}
DEFAULT_BACKBONE: dict[str, dict[str, Any]] = {
    # tiny, CPU-friendly, same architecture as ViT-S/14
    "dinov2": {"image_size": 56, "patch_size": 8, "hidden_size": 96, "num_hidden_layers": 3,
               "num_attention_heads": 3, "mlp_ratio": 2},
    # three basic-block stages; the stem (7×7/2 conv, 3×3/2 max pool) takes 32² frames to 8²
    "resnet": {"embedding_size": 32, "hidden_sizes": [32, 64, 128], "depths": [1, 1, 1],
               "layer_type": "basic", "downsample_in_first_stage": False},
}
Backbone = Dinov2Model | ResNetModel
# names of the adapted Linear layers inside each transformers Dinov2Layer
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "fc1", "fc2")
QKV = ("q_proj", "k_proj", "v_proj")


class FusedQKVLoRA(nn.Module):
    """One LoRA adapter on an attention's q, k and v together, as on a fused qkv projection:
    q += s * B_q A drop(x), k += s * B_k A drop(x), v += s * B_v A drop(x), with A [r, d] shared and
    B [3d, r] = [B_q; B_k; B_v] (s = alpha / r; one dropout mask for all three, as upstream).

    Attached as `attention.qkv_lora`; hooks on the attention (its input, once per forward) and on
    q/k/v (their outputs) apply it, so the DINOv2 code runs unchanged (and recomputes it under
    gradient checkpointing)."""

    def __init__(self, attention: nn.Module, r: int, alpha: float, dropout: float):
        super().__init__()
        projections = [getattr(attention, name) for name in QKV]
        self.width = projections[0].out_features
        self.lora_A = nn.Linear(projections[0].in_features, r, bias=False)
        self.lora_B = nn.Linear(r, 3 * self.width, bias=False)
        nn.init.normal_(self.lora_A.weight, std=0.02)  # upstream init: A ~ N(0, 0.02^2), B = 0
        nn.init.zeros_(self.lora_B.weight)
        self.dropout = nn.Dropout(dropout)
        self.scaling = alpha / r
        self._down: torch.Tensor | None = None  # A drop(x) of the current forward [.., L, r]
        attention.register_forward_pre_hook(self._project_input, with_kwargs=True)
        for part, projection in enumerate(projections):
            projection.register_forward_hook(lambda module, args, out, part=part: self._add(part, out))
        attention.register_forward_hook(lambda *_: setattr(self, "_down", None))

    def _project_input(self, attention: nn.Module, args: tuple, kwargs: dict) -> None:
        hidden = args[0] if args else kwargs["hidden_states"]
        self._down = self.lora_A(self.dropout(hidden))

    def _add(self, part: int, out: torch.Tensor) -> torch.Tensor:
        B = self.lora_B.weight[part * self.width:(part + 1) * self.width]  # [d, r]
        return out + self.scaling * nn.functional.linear(self._down, B)
Tune = Literal["full", "lora", "frozen"]


def build_backbone(
    pretrained: str | None = None,
    config: Mapping[str, Any] | None = None,
    *,
    allow_download: bool = False,
) -> Backbone:
    """A Dinov2Model or ResNetModel: pretrained weights by hub name or local dir, else random from
    `config` (its `model_type` picks the family, dinov2 when absent)."""
    if pretrained:
        source = os.path.expanduser(str(pretrained))
        if not os.path.isdir(source):
            if source.startswith(("/", "./", "../")):
                raise ConfigError(f"spatial.pretrained: local backbone directory {pretrained!r} does not exist")
            source = str(pretrained)  # a hub name, resolved in the local cache
        try:
            model = AutoModel.from_pretrained(source, local_files_only=not allow_download, dtype=torch.float32)
        except OSError as exc:
            raise ConfigError(
                f"spatial.pretrained: cannot load backbone weights {pretrained!r} without downloading ({exc}). "
                f"Fetch them first (`hf download {pretrained}`) or set spatial.pretrained to a local "
                "directory written by save_pretrained."
            ) from exc
        if not isinstance(model, (Dinov2Model, ResNetModel)):
            raise ConfigError(f"spatial.pretrained: {pretrained!r} is a {type(model).__name__}; "
                              "the spatial model takes a DINOv2 or ResNet backbone")
        return model
    values = dict(config or {})
    family = values.pop("model_type", "dinov2")
    if family not in BACKBONES:
        raise ConfigError(f"spatial.config.model_type: one of {sorted(BACKBONES)}, got {family!r}")
    config_cls, model_cls = BACKBONES[family]
    values = {**DEFAULT_BACKBONE[family], **values}
    try:
        cfg = config_cls(**values)
    except Exception as exc:  # TypeError, or huggingface_hub's strict-dataclass validation error
        raise ConfigError(f"spatial.config: not a valid {config_cls.__name__} ({exc})") from exc
    return model_cls(cfg)


def backbone_width(backbone: Backbone) -> int:
    """Width of the pooled feature: DINOv2's hidden size, a ResNet's last stage's channels."""
    cfg = backbone.config
    return int(cfg.hidden_size if isinstance(backbone, Dinov2Model) else cfg.hidden_sizes[-1])


def add_lora(
    backbone: Dinov2Model, layers: int, r: int = 4, alpha: float = 4, dropout: float = 0.1, qkv: str = "separate"
) -> int:
    """Add LoRA to the top `layers` blocks in place (`qkv`: fused or separate, see the module doc);
    returns the number of adapters."""
    from peft import LoraConfig, inject_adapter_in_model
    from peft.tuners.lora import LoraLayer

    n_layers = backbone.config.num_hidden_layers
    if not 1 <= layers <= n_layers:
        raise ConfigError(f"spatial.lora.layers: must be in 1..{n_layers} for this backbone, got {layers}")
    if qkv not in ("fused", "separate"):
        raise ConfigError(f"spatial.lora.qkv: fused or separate, got {qkv!r}")
    top = list(range(n_layers - layers, n_layers))
    targets = [t for t in LORA_TARGETS if qkv == "separate" or t not in QKV]
    lora_cfg = LoraConfig(r=int(r), lora_alpha=alpha, lora_dropout=float(dropout), target_modules=targets,
                          layers_to_transform=top, layers_pattern="layer", bias="none")
    inject_adapter_in_model(lora_cfg, backbone)
    adapted = [m for m in backbone.modules() if isinstance(m, LoraLayer)]
    if len(adapted) != layers * len(targets):
        raise ConfigError(
            f"spatial.lora: expected {layers * len(targets)} adapted layers, peft adapted {len(adapted)} "
            "(the transformers Dinov2Layer module names changed?)"
        )
    for m in adapted:  # upstream init: A ~ N(0, 0.02^2), B = 0 (peft already zeroes B)
        for lin in m.lora_A.values():
            nn.init.normal_(lin.weight, std=0.02)
        # peft casts each input to the adapter's fp32 first: under bf16 autocast that keeps an fp32 copy
        # of every adapted layer's input for backward, while the matmul runs in bf16 all the same;
        # without autocast the input is fp32 already
        m.cast_input_dtype_enabled = False
    if qkv == "fused":
        for i in top:
            attention = backbone.encoder.layer[i].attention
            attention.qkv_lora = FusedQKVLoRA(attention, int(r), float(alpha), float(dropout))
        return len(adapted) + layers
    return len(adapted)


class SpatialModel(nn.Module):
    """Per-frame backbone features projected to the encoder width, batch-normed, padded per clip."""

    def __init__(
        self,
        backbone: Backbone,
        out_dim: int,
        *,
        tune: Tune = "full",
        lora: Mapping[str, Any] | None = None,
        chunk_size: int | None = None,
        pooling: str | None = None,
        checkpointing: bool = False,
    ):
        super().__init__()
        if tune not in ("full", "lora", "frozen"):
            raise ConfigError(f"spatial.tune: must be full, lora or frozen, got {tune!r}")
        self.tune = tune
        self.chunk_size = int(chunk_size) if chunk_size else None
        self.is_vit = isinstance(backbone, Dinov2Model)
        pooling = pooling or ("cls" if self.is_vit else "mean")  # the paper's CLS; a ResNet's global pool
        if pooling not in ("cls", "mean"):
            raise ConfigError(f"spatial.pooling: must be cls or mean, got {pooling!r}")
        if not self.is_vit and (pooling == "cls" or tune == "lora"):
            raise ConfigError(f"spatial: a ResNet backbone has no CLS token and no LoRA targets here; use "
                              f"pooling: mean and tune: full or frozen (got pooling {pooling}, tune {tune})")
        self.pooling = pooling
        self.backbone = backbone
        self.hidden_size = backbone_width(backbone)
        self.out_dim = out_dim
        # created before LoRA so a `full` and a `lora` model built under one seed share these weights
        self.proj = nn.Linear(self.hidden_size, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        if tune == "lora":
            missing = [k for k in ("layers", "r", "alpha", "dropout", "qkv") if k not in (lora or {})]
            if missing:
                raise ConfigError(f"spatial.lora: tune: lora needs layers, r, alpha, dropout and qkv "
                                  f"(missing {missing})")
            add_lora(backbone, layers=int(lora["layers"]), r=int(lora["r"]), alpha=float(lora["alpha"]),
                     dropout=float(lora["dropout"]), qkv=lora["qkv"])
        if tune != "full":
            for name, p in self.backbone.named_parameters():
                p.requires_grad_(tune == "lora" and "lora_" in name)
        if self.is_vit:
            # DINOv2's mask token replaces masked patches in its own self-supervised training only; it
            # never reaches the features here, and a trainable parameter without a gradient stops
            # DDP (find_unused_parameters off) at its second step
            backbone.embeddings.mask_token.requires_grad_(False)
        # Gradient checkpointing per chunk of frames: training keeps only each chunk's pooled
        # features and recomputes the chunk's backbone pass in backward, so the backbone's activation
        # memory is one chunk's (`chunk_size` frames), not the whole batch's (8 x 256 frames in the
        # presets). A DINOv2's frozen bottom blocks (tune: lora tunes the top 3 of 12) run once without
        # a graph and only the tuned blocks are recomputed: per frame at 224², forward + backward cost
        # 1.20x the FLOPs of the same step without checkpointing (1.81x when all 12 blocks were
        # recomputed; benchmarks/train_step.py). Results are identical.
        self.checkpointing = bool(checkpointing)
        if self.checkpointing and not self.is_vit:  # its BatchNorm would count every chunk twice
            raise ConfigError("spatial.checkpointing: DINOv2 backbones only (a ResNet's BatchNorm running "
                              "statistics would be updated again by the recomputation)")
        log.info(
            "spatial model: %s hidden %d, tune=%s, trainable parameters %d (backbone %d)",
            type(backbone).__name__, self.hidden_size, tune,
            self.num_trainable(), sum(p.numel() for p in self.backbone.parameters() if p.requires_grad),
        )

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], out_dim: int, *, allow_download: bool = False) -> SpatialModel:
        """Build from the yaml `spatial:` section (config.yaml sets every key; `config` is read only
        without `pretrained`, `lora` only with tune: lora)."""
        backbone = build_backbone(cfg["pretrained"], cfg.get("config"), allow_download=allow_download)
        return cls(
            backbone,
            out_dim,
            tune=cfg["tune"],
            lora=cfg.get("lora"),
            chunk_size=cfg["chunk_size"],
            pooling=cfg["pooling"],
            checkpointing=bool(cfg["checkpointing"]),
        )

    def num_trainable(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def train(self, mode: bool = True) -> SpatialModel:
        """A frozen backbone stays in eval mode: a fixed function of the frame (a ResNet's BatchNorm
        keeps its pretrained statistics instead of the batch's), which its feature cache relies on."""
        super().train(mode)
        if self.tune == "frozen":
            self.backbone.eval()
        return self

    def _pool(self, out: Any) -> torch.Tensor:
        """CLS after the final LayerNorm (the paper), the mean of the normed patch tokens, or a
        ResNet's global average pool."""
        if not self.is_vit:
            return out.pooler_output.flatten(1)  # [N, C, 1, 1] -> [N, C]
        return self._pool_tokens(out.last_hidden_state)

    def _pool_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """DINOv2's normed tokens [N, 1 + patches, hidden] -> [N, hidden]: CLS or patch mean."""
        return tokens[:, 0] if self.pooling == "cls" else tokens[:, 1:].mean(dim=1)

    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """The pooled backbone feature of every frame: [N, 3, H, W] -> [N, hidden]."""
        chunks = frames.split(self.chunk_size) if self.chunk_size else (frames,)
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.tune != "frozen"):
            if self.checkpointing and self.training and torch.is_grad_enabled():
                frozen = self.frozen_blocks()  # the same for every chunk of the pass
                feats = [self._checkpointed_features(c, frozen) for c in chunks]
            else:
                feats = [self._backbone_features(c) for c in chunks]
        return torch.cat(feats) if len(feats) > 1 else feats[0]

    def _backbone_features(self, chunk: torch.Tensor) -> torch.Tensor:
        return self._pool(self.backbone(pixel_values=chunk))  # [n, 3, H, W] -> [n, hidden]

    def frozen_blocks(self) -> int:
        """How many bottom DINOv2 blocks (after frozen patch embeddings) hold no trainable parameter."""
        if any(p.requires_grad for p in self.backbone.embeddings.parameters()):
            return 0
        blocks = self.backbone.encoder.layer
        return next((i for i, b in enumerate(blocks) if any(p.requires_grad for p in b.parameters())), len(blocks))

    def _checkpointed_features(self, chunk: torch.Tensor, frozen: int) -> torch.Tensor:
        """The backbone pass with only its trained part recomputed in backward: the embeddings and the
        `frozen` bottom blocks run once under no_grad, the rest (and the final LayerNorm) under
        checkpoint. Non-reentrant: gradients reach the LoRA weights although its input needs none."""
        if not frozen:
            return checkpoint(self._backbone_features, chunk, use_reentrant=False)
        with torch.no_grad():
            hidden = self.backbone.embeddings(chunk)  # [n, 1 + patches, hidden]
            for block in self.backbone.encoder.layer[:frozen]:
                hidden = block(hidden)
        return checkpoint(self._top_features, hidden, frozen, use_reentrant=False)

    def _top_features(self, hidden: torch.Tensor, start: int) -> torch.Tensor:
        """Blocks `start`.. and the final LayerNorm, as Dinov2Model.forward runs them, then pooling."""
        for block in self.backbone.encoder.layer[start:]:
            hidden = block(hidden)
        return self._pool_tokens(self.backbone.layernorm(hidden))

    def forward(self, frames: torch.Tensor, lengths: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """frames [N, 3, H, W] (all clips concatenated), or a frozen backbone's cached features of them
        [N, hidden] (sign2gpt.data.frame_features), lengths [B] -> x [B, T_max, D], mask [B, T_max]."""
        lengths = [int(n) for n in lengths]
        cached = frames.dim() == 2
        if cached and (self.tune != "frozen" or frames.shape[1] != self.hidden_size):
            raise ValueError(f"cached features [N, {self.hidden_size}] need a frozen backbone (tune {self.tune}), "
                             f"got shape {tuple(frames.shape)}")
        if not cached and frames.dim() != 4:
            raise ValueError(f"frames must be [N, 3, H, W], got shape {tuple(frames.shape)}")
        if any(n <= 0 for n in lengths):
            raise ValueError(f"every clip needs at least one frame, got lengths {lengths}")
        if sum(lengths) != frames.shape[0]:
            raise ValueError(f"lengths sum to {sum(lengths)} but {frames.shape[0]} frames were given")
        feats = frames if cached else self.frame_features(frames)  # [N, hidden]
        x = self.bn(self.proj(feats))  # [N, D], BN statistics from real frames only
        real = torch.ones(x.shape[0], dtype=torch.bool, device=x.device)  # made on the device: no host copy
        mask = nn.utils.rnn.pad_sequence(list(real.split(lengths)), batch_first=True)  # [B, T_max]
        x = nn.utils.rnn.pad_sequence(list(x.split(lengths)), batch_first=True)  # [B, T_max, D], zero padded
        return x, mask
