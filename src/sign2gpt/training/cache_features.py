"""The two caches of frozen parts: rule cache_features (Z) and rule frame_features (a frozen backbone).

cache_features runs the frozen pretrained sign model once per video and stores Z (spec §12): eval
mode, no augmentation, all even frames; the `z` variant then trains only FC_m and the LM adapters on
these features, without touching a video again. The cache names the checkpoint and manifest it was
made from (SHA-256), and the translation stage refuses a mismatch.

frame_features runs a frozen backbone once over every stored frame (sign2gpt.data.frame_features):
the stages of an experiment that freezes its backbone and does not augment read it instead of the
frames, and refuse it when the backbone or preprocessing differ.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from sign2gpt.core.io import file_sha256
from sign2gpt.core.settings import FrameSettings
from sign2gpt.data.dataset import SignDataset, batch_frames, make_loader
from sign2gpt.data.feature_cache import write_feature_cache
from sign2gpt.data.frame_features import write_frame_features
from sign2gpt.data.frame_store import FrameStore
from sign2gpt.data.manifest import read_manifest
from sign2gpt.models.sign_model import build_sign_model
from sign2gpt.models.spatial import SpatialModel
from sign2gpt.runtime.checkpoint import load_weights
from sign2gpt.runtime.device import reserve_for_workers, resolve_device, seed_everything
from sign2gpt.runtime.precision import select_precision

log = logging.getLogger(__name__)


def run_cache_features(
    *,
    checkpoint: str,
    manifest: str,
    frames: list[str],
    out_path: str,
    spatial: Mapping[str, Any],
    encoder: Mapping[str, Any],
    frames_cfg: Mapping[str, Any] | FrameSettings,
    batch_size: int = 8,
    num_workers: int = 0,
    device: str = "auto",
    precision: str = "auto",
) -> int:
    frames_cfg = FrameSettings.from_config(frames_cfg)
    seed_everything(0)
    dev = resolve_device(device)
    prec = select_precision(dev, precision)
    model = build_sign_model(spatial, encoder)
    load_weights(checkpoint, model, prefix_map={"sign_model.": ""})
    model.to(dev).eval()
    store = FrameStore(frames)
    samples = store.held(read_manifest(manifest))
    dataset = SignDataset(samples, store, train=False, image_size=spatial["image_size"],
                          stride=frames_cfg.frame_stride, max_frames=frames_cfg.max_frames)
    reserve_for_workers(num_workers)
    loader = make_loader(dataset, batch_size, False, num_workers, device=dev)
    log.info("cache features of %d videos on %s, %d loader workers", len(samples), dev, num_workers)

    def features() -> Iterator[tuple[str, np.ndarray]]:
        with torch.no_grad(), prec.autocast():
            for batch in tqdm(loader, desc="cache features", leave=False):
                z, mask = model(batch_frames(batch, dev), batch["lengths"])  # [B, T', D], [B, T']
                z, mask = z.float().cpu(), mask.cpu()  # the host waits for the GPU once per batch, not per video
                for vid, features, steps in zip(batch["ids"], z, mask.sum(dim=1).tolist()):
                    yield vid, features[:steps].numpy()

    n = write_feature_cache(out_path, features(), checkpoint_sha256=file_sha256(checkpoint),
                            manifest_sha256=file_sha256(manifest))
    log.info("cached features of %d videos (dim %d) in %s", n, model.dim, out_path)
    return n


def run_frame_features(*, frames: list[str], out_path: str, spatial: Mapping[str, Any], device: str = "auto",
                       precision: str = "auto") -> int:
    """The frozen backbone's pooled feature of every stored frame in `frames`, under the precision the
    training stages run it in (the features they would compute), written to `out_path`."""
    dev = resolve_device(device)
    prec = select_precision(dev, precision)
    model = SpatialModel.from_config(spatial, out_dim=1)  # only the backbone runs: the projection is not used
    with prec.autocast():
        n = write_frame_features(out_path, frames, model, image_size=int(spatial["image_size"]), device=dev)
    log.info("frame features of %d videos (hidden %d) in %s", n, model.hidden_size, out_path)
    return n
