"""Self-supervised pretraining of the spatial backbone (embedded default only).

The paper starts from DINOv2 weights pretrained on 142 M images. Those are out of reach offline,
and a backbone trained from scratch by the pseudo-gloss loss alone barely moves within a CPU
budget: the video-level multi-label signal is too weak to shape pixel features. So, as the
workflow makes its own small pretrained LM (`lm_pretrain`), it makes its own pretrained backbone
from the unlabelled training frames and saves it with `save_pretrained`; stage 1 then loads it
exactly as it would load `facebook/dinov2-small`.

Objective: single-view time-contrastive learning (Sermanet et al., "Time-Contrastive Networks",
2018) with the NT-Xent loss of SimCLR. A batch holds `frames` anchor frames from each of
`videos` training videos; each anchor's positive is a frame of the same video 1..`max_offset`
stored frames away. Every other frame in the batch is a negative, including the anchors' own
videos' frames further away in time. Those share the signer, clothes and background with the
anchor, so the cheapest way to tell them apart is what the hands and face are doing: the
features sign recognition needs. No labels, no true segments, any video corpus.

Measured on the embedded default (docs/results.md): a linear probe from frame features to
glosses on dev rises from 0.63 (random ResNet) to 0.78 (`benchmarks/backbone_probe.py`), and
pseudo-gloss pretraining from the result reaches dev macro-F1 0.35 in 15 epochs, against 0.02
from random weights.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from sign2gpt.core.errors import ConfigError, DataError
from sign2gpt.core.io import atomic_path, write_json
from sign2gpt.data.augment import eval_transform
from sign2gpt.data.frame_store import FrameStore
from sign2gpt.data.manifest import read_manifest
from sign2gpt.models.spatial import SpatialModel, backbone_width, build_backbone
from sign2gpt.runtime.device import resolve_device, seed_everything, set_threads
from sign2gpt.runtime.tensorboard_log import write_epoch_events
from sign2gpt.training.optim import build_optimizer, build_scheduler

log = logging.getLogger(__name__)

STATS_FILE = "spatial_pretrain.json"
KEYS = ("epochs", "videos", "frames", "max_offset", "temperature", "lr", "weight_decay", "warmup_epochs",
        "projection_dim", "seed")  # of `spatial.pretrain:`; config.yaml sets every one


def sample_pairs(
    num_frames: Sequence[int], rng: np.random.Generator, *, videos: int, frames: int, max_offset: int
) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """One batch: `videos` distinct videos, and per video `frames` anchor indices and their
    positives 1..max_offset frames away (clipped to the video; a 1-frame video pairs with itself).

    Returns [(video index, anchors [frames], positives [frames])]."""
    chosen = rng.choice(len(num_frames), size=min(videos, len(num_frames)), replace=False)
    batch = []
    for v in chosen:
        n = int(num_frames[v])
        anchors = rng.choice(n, size=frames, replace=n < frames)
        offsets = rng.integers(1, max_offset + 1, size=frames) * rng.choice((-1, 1), size=frames)
        positives = np.clip(anchors + offsets, 0, n - 1)
        batch.append((int(v), anchors, positives))
    return batch


def nt_xent(anchors: torch.Tensor, positives: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's NT-Xent over 2N embeddings: each view's positive is its partner, the other 2N - 2
    views are negatives. anchors, positives [N, P] (normalised here) -> scalar mean loss."""
    z = F.normalize(torch.cat([anchors, positives]).float(), dim=-1)  # [2N, P]
    n = anchors.shape[0]
    sim = z @ z.t() / temperature  # [2N, 2N]
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, partner)


class ContrastiveBackbone(nn.Module):
    """The backbone with its pooling, then SimCLR's projection head (Linear-BN-ReLU-Linear; the
    spatial model's own Linear + BN serve as the first two). Only the backbone is kept."""

    def __init__(self, backbone: nn.Module, projection_dim: int, pooling: str | None = None):
        super().__init__()
        self.spatial = SpatialModel(backbone, backbone_width(backbone), pooling=pooling)
        self.out = nn.Linear(self.spatial.out_dim, projection_dim)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """frames [N, 3, S, S] -> projections [N, projection_dim]."""
        h = self.spatial.bn(self.spatial.proj(self.spatial.frame_features(frames)))  # [N, hidden]
        return self.out(F.relu(h))


def _settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    missing = [k for k in KEYS if k not in settings]
    if missing:
        raise ConfigError(f"config section 'spatial.pretrain': missing key(s) {missing} (config.yaml sets every key)")
    s = dict(settings)
    for key in ("epochs", "videos", "frames", "max_offset", "projection_dim"):
        if int(s[key]) < 1:
            raise ConfigError(f"spatial.pretrain.{key}: must be >= 1, got {s[key]}")
    if not float(s["temperature"]) > 0:
        raise ConfigError(f"spatial.pretrain.temperature: must be > 0, got {s['temperature']}")
    return s


def pretrain_spatial(
    train_manifest: str | os.PathLike,
    frames: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    spatial: Mapping[str, Any],
    settings: Mapping[str, Any],
    device: str = "auto",
    threads: int | None = None,
) -> dict[str, Any]:
    """Train the backbone described by `spatial.config` on the training frames; write a
    `save_pretrained` directory (plus `spatial_pretrain.json`) atomically to `out_dir`."""
    s = _settings(settings)
    set_threads(threads)
    seed_everything(int(s["seed"]))
    dev = resolve_device(device)
    store = FrameStore(list(frames))
    samples = store.held(read_manifest(train_manifest))
    num_frames = [store.num_frames(x.id) for x in samples]
    if len(samples) < 2:
        raise DataError(str(train_manifest), "time-contrastive pretraining needs at least two videos")

    backbone = build_backbone(None, spatial.get("config"))
    size = int(spatial["image_size"])
    model = ContrastiveBackbone(backbone, int(s["projection_dim"]), spatial.get("pooling")).to(dev).train()
    per_batch = min(int(s["videos"]), len(samples)) * int(s["frames"])
    # an epoch sees about as many anchors as the training split has frames (once per stored frame)
    steps = max(1, math.ceil(sum(num_frames) / per_batch))
    optimizer = build_optimizer(model, float(s["lr"]), float(s["weight_decay"]))
    scheduler = build_scheduler(optimizer, epochs=int(s["epochs"]), steps_per_epoch=steps,
                                warmup_epochs=float(s["warmup_epochs"]), min_lr_ratio=0.01)
    rng = np.random.default_rng(int(s["seed"]))
    log.info("time-contrastive pretraining of %s (%d parameters) on %d videos / %d frames: %d epochs × %d steps, "
             "%d anchors per step", type(backbone).__name__, sum(p.numel() for p in backbone.parameters()),
             len(samples), sum(num_frames), int(s["epochs"]), steps, per_batch)

    history, rows = [], []
    for epoch in range(int(s["epochs"])):
        total, t0 = 0.0, time.time()
        bar = tqdm(range(steps), desc=f"spatial_pretrain {epoch + 1}/{s['epochs']}", unit="step", leave=False)
        for _ in bar:
            batch = sample_pairs(num_frames, rng, videos=int(s["videos"]), frames=int(s["frames"]),
                                 max_offset=int(s["max_offset"]))
            views = []
            for v, anchors, positives in batch:
                clip = store.read(samples[v].id, np.concatenate([anchors, positives]))  # [2F, H, W, 3]
                views.append(eval_transform(clip, size).view(2, len(anchors), 3, size, size))
            x = torch.cat(views, dim=1).to(dev)  # [2, N, 3, S, S]: anchors, positives
            z = model(x.flatten(0, 1)).view(2, x.shape[1], -1)
            loss = nt_xent(z[0], z[1], float(s["temperature"]))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.item()
            bar.set_postfix(loss=f"{loss.item():.3f}")
        history.append(total / steps)
        seconds = time.time() - t0
        rows.append({"epoch": epoch + 1, "train_loss": history[-1], "lr": optimizer.param_groups[0]["lr"],
                     "frames_per_s": 2 * per_batch * steps / max(seconds, 1e-9), "seconds": round(seconds, 3)})
        # chance level is log(2N - 1): the loss of embeddings that tell nothing apart
        log.info("epoch %d/%d: NT-Xent %.4f (chance %.4f)", epoch + 1, s["epochs"], history[-1],
                 math.log(2 * per_batch - 1))

    stats = {"objective": "time-contrastive NT-Xent", "loss_per_epoch": history,
             "chance_loss": math.log(2 * per_batch - 1), "steps_per_epoch": steps, "videos": len(samples),
             "frames": int(sum(num_frames)), "settings": s, "backbone": type(backbone).__name__}
    backbone.eval()
    with atomic_path(out_dir, is_dir=True) as tmp:
        backbone.save_pretrained(tmp, safe_serialization=True)
        write_json(tmp / STATS_FILE, stats)
        write_epoch_events(tmp / "tensorboard", rows)
    return stats
