"""Epoch time of a frozen-backbone row: the frames path against the frame-feature cache, in one run.

On a finished run of the embedded default (its training frames and the backbone the workflow made),
the default's sign model with `spatial.tune: frozen` trains one epoch over the training split
(batch 8, the pretraining's sampling: frame stride 4, no augmentation) reading the frames, and one
reading the backbone's frame-feature cache (sign2gpt.data.frame_features); the loss stands in for the
head (mean square of Z: the same on both paths). The two paths alternate `--repeats` times and the
medians are compared. Also reported: the time to build the cache once, and the largest difference
between the two paths' first-batch losses. The final line of stdout is a JSON summary.

    python benchmarks/frame_feature_cache.py --results results/synthetic-de
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from sign2gpt.core.config import load_config
from sign2gpt.data.dataset import SignDataset, batch_frames, make_loader
from sign2gpt.data.frame_features import open_frames, write_frame_features
from sign2gpt.data.manifest import read_manifest
from sign2gpt.models.sign_model import build_sign_model

REPO = Path(__file__).resolve().parents[1]


def epoch(model: torch.nn.Module, loader, optimizer) -> tuple[float, float]:
    """Seconds of one training epoch, and the first batch's loss."""
    first = None
    start = time.perf_counter()
    for batch in loader:
        z, mask = model(batch_frames(batch, "cpu"), batch["lengths"])
        loss = z[mask].square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        first = float(loss) if first is None else first
    return time.perf_counter() - start, first


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", type=Path, required=True, help="results/<dataset> of a finished default run")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_config()
    spatial = {**cfg["spatial"], "tune": "frozen", "pretrained": str(args.results / "spatial")}
    frames = sorted(str(p) for p in (args.results / "frames" / "train").glob("shard*.h5"))
    samples = read_manifest(str(args.results / "manifest" / "train.tsv"))
    torch.manual_seed(0)
    model = build_sign_model(spatial, cfg["encoder"])
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "train.h5"
        start = time.perf_counter()
        write_frame_features(cache, frames, model.spatial, image_size=spatial["image_size"])
        build_s = time.perf_counter() - start
        stores = {"frames": open_frames(frames), "cache": open_frames([cache])}
        times: dict[str, list[float]] = {"frames": [], "cache": []}
        losses: dict[str, float] = {}
        for _ in range(args.repeats):
            for path, store in stores.items():
                torch.manual_seed(0)  # the same model and the same batches on both paths
                model = build_sign_model(spatial, cfg["encoder"]).train()
                optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
                ds = SignDataset(store.held(samples), store, train=True, image_size=spatial["image_size"],
                                 stride=cfg["frames"]["frame_stride"], max_frames=cfg["frames"]["max_frames"],
                                 augment_cfg=False, seed=0)
                seconds, loss = epoch(model, make_loader(ds, 8, True, 0, seed=0), optimizer)
                times[path].append(seconds)
                losses[path] = loss
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    frames_s, cache_s = statistics.median(times["frames"]), statistics.median(times["cache"])
    result = {"benchmark": "frame_feature_cache", "commit": commit.stdout.strip(), "videos": len(ds),
              "threads": args.threads, "repeats": args.repeats, "epoch_s_frames": times["frames"],
              "epoch_s_cache": times["cache"], "speedup": round(frames_s / cache_s, 2),
              "cache_build_s": round(build_s, 2), "epochs_to_repay_cache": round(build_s / (frames_s - cache_s), 2),
              "first_batch_loss_abs_diff": abs(losses["frames"] - losses["cache"])}
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
