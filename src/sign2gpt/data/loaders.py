"""The data loader of one split for a translation variant: video frames, or cached sign features
for `z`. Shared by training and evaluation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from sign2gpt.core.errors import ConfigError
from sign2gpt.core.io import file_sha256
from sign2gpt.core.settings import FrameSettings
from sign2gpt.data.dataset import SignDataset, make_loader
from sign2gpt.data.feature_cache import FeatureCache, FeatureDataset, collate_features
from sign2gpt.data.frame_features import FrameFeatureStore, open_frames
from sign2gpt.data.manifest import read_manifest


def make_split_loader(
    variant: str, manifest: str, *, train: bool, batch_size: int, seed: int, frames: list[str] | None = None,
    features: str | None = None, pretrained: str | None = None, spatial: Mapping[str, Any] | None = None,
    frames_cfg: Mapping[str, Any] | FrameSettings | None = None, distributed: bool = False, num_workers: int = 0,
    device: torch.device | str | None = None, step_items: int | None = None, spatial_model: Any = None,
):
    """A loader of videos (frames, or a frozen backbone's cached features of them: `frames` names the
    cache, which is checked against `spatial_model`) or of cached sign features for z, for one split,
    as the variant needs (`batch_size`: the micro-batch; `step_items`: see `make_loader`)."""
    samples = read_manifest(manifest)
    if variant == "z":
        cache = FeatureCache(features, checkpoint_sha256=file_sha256(pretrained), manifest_sha256=file_sha256(manifest))
        dataset = FeatureDataset([s for s in samples if s.id in cache], cache)  # decode may have left some out
        return make_loader(dataset, batch_size, train, 0, distributed, seed=seed, collate_fn=collate_features,
                           step_items=step_items)
    if frames_cfg is None:
        raise ConfigError(f"the {variant} variant reads frames: it needs the `frames:` settings")
    frames_cfg = FrameSettings.from_config(frames_cfg)
    store = open_frames(frames)
    if isinstance(store, FrameFeatureStore):
        if spatial_model is None:
            raise ConfigError("a frame-feature cache is read only beside the model it was made for")
        store.check(spatial_model, spatial["image_size"])
    dataset = SignDataset(
        store.held(samples), store, train=train, image_size=spatial["image_size"],
        stride=frames_cfg.frame_stride, max_frames=frames_cfg.max_frames, seed=seed,
        augment_cfg=frames_cfg.augment_config(),
    )
    return make_loader(dataset, batch_size, train, num_workers, distributed, seed=seed, device=device,
                       step_items=step_items)
