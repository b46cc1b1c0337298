"""Training data loader throughput at the presets' settings against bare JPEG decode + resize.

    python benchmarks/loader.py                      # 32 videos x 200 frames, workers 1 and 2
    python benchmarks/loader.py --workers 1 2 4 8    # on a bigger machine
    python benchmarks/loader.py --device cuda        # + the float work timed on the GPU

Settings (configs/phoenix14t.yaml): JPEG 256² store (quality 90), train sampling (stride 2, random
trim, up to 256 frames), augmentation on, 224² model input, batch 8.

What each figure includes (same store, same sampled frames, page cache warm, best of --repeats):
- bare_frames_per_s_per_process: the JPEG bytes of the frames one epoch samples, already in memory
  (read from the store beforehand, untimed): `PIL.Image.open(...).convert("RGB")`,
  `resize((224, 224), BILINEAR)`, `np.asarray`; nothing else. With W processes the frames are
  split over a pool of W, each timing its own share (the slowest counts).
- bare_turbo_frames_per_s_per_process: the same with libjpeg-turbo's decoder through simplejpeg
  (the decoder the frame store uses) instead of PIL's; ratio_*_vs_turbo compare with it.
- loader_frames_per_s_per_worker (the path GPU training takes): `make_loader(..., device=<an
  accelerator>)` with W persistent workers, iterated over one epoch after a warm-up epoch: store
  read, JPEG decode, frame sampling, the augmentation draw, uint8 collate, into pinned memory where
  a CUDA device is (as training's loader does; `pinned_memory` in the JSON). The float work
  (resample to 224, colour, normalise) is then done by `batch_frames` on the training device:
  `device_frames_per_s` times it on --device (the CPU here: one process, all its threads).
- float_in_workers_frames_per_s_per_worker (the path CPU training takes): the same loader with
  the float work in the workers (`device="cpu"`), float32 [ΣT, 3, 224, 224] batches.
- ratio_uint8 / ratio_float_in_workers: loader / bare, at the same number of processes.
The last line printed is JSON; it is also written to --json.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from sign2gpt.core.io import write_json  # noqa: E402
from sign2gpt.data.dataset import SignDataset, batch_frames, make_loader  # noqa: E402
from sign2gpt.data.frame_store import FrameStore, FrameStoreWriter  # noqa: E402
from sign2gpt.data.manifest import Sample  # noqa: E402
from sign2gpt.data.sampling import sample_indices  # noqa: E402

log = logging.getLogger("benchmarks.loader")
PRESET = yaml.safe_load((REPO / "configs" / "phoenix14t.yaml").read_text())


def render_store(path: Path, videos: int, frames: int, size: int, quality: int, seed: int = 0) -> list[Sample]:
    """A JPEG store of camera-like frames: a smooth background, moving blobs, sensor noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    noise = rng.normal(0, 6, (8, size, size, 3)).astype(np.float32)
    samples = []
    with FrameStoreWriter(path, stride=1, size=size, storage="jpeg", jpeg_quality=quality) as w:
        for v in range(videos):
            base = np.stack([70 + 110 * xx, 60 + 120 * yy, np.full_like(xx, 100 + 3 * v)], axis=-1)
            clip = np.empty((frames, size, size, 3), np.uint8)
            for t in range(frames):
                img = base.copy()
                for cx, cy in ((0.5 + 0.3 * np.sin(t / 9 + v), 0.6 + 0.2 * np.cos(t / 7)),
                               (0.5 + 0.3 * np.cos(t / 8), 0.6 + 0.2 * np.sin(t / 6 + v))):
                    img[(xx - cx) ** 2 + (yy - cy) ** 2 < 0.01] = (225, 185, 155)
                img[(xx - 0.5) ** 2 + (yy - 0.25) ** 2 < 0.012] = (220, 180, 150)
                clip[t] = np.clip(img + noise[t % len(noise)], 0, 255).astype(np.uint8)
            w.add(f"v{v:03d}", clip)
            samples.append(Sample(f"v{v:03d}", "", frames, "", "text"))
    return samples


def epoch_indices(store: FrameStore, samples: list[Sample], epoch: int, cfg: dict) -> list[tuple[str, np.ndarray]]:
    """The frames SignDataset samples for every video in `epoch` (the same Generator draws)."""
    out = []
    for i, s in enumerate(samples):
        rng = np.random.default_rng([cfg["seed"], epoch, i])
        out.append((s.id, sample_indices(store.num_frames(s.id), train=True, rng=rng, stride=cfg["stride"],
                                         max_frames=cfg["max_frames"])))
    return out


def encoded_frames(path: str, items: list[tuple[str, np.ndarray]]) -> list[bytes]:
    """The JPEG bytes of the sampled frames, read from the store's HDF5 datasets (untimed)."""
    store = FrameStore(path)
    out = []
    for vid, idx in items:
        shard, k = store._where[vid]
        data = store._file(shard)[f"frames/{k}"][:]
        out.extend(data[int(i)].tobytes() for i in idx)
    store.close()
    return out


def _bare_part(args: tuple[list[bytes], int, str]) -> tuple[int, float]:
    import simplejpeg
    from PIL import Image

    frames, size, decoder = args
    start = time.perf_counter()
    for b in frames:
        if decoder == "pil":
            with Image.open(io.BytesIO(b)) as im:
                np.asarray(im.convert("RGB").resize((size, size), Image.Resampling.BILINEAR))
        else:
            np.asarray(Image.fromarray(simplejpeg.decode_jpeg(b)).resize((size, size), Image.Resampling.BILINEAR))
    return len(frames), time.perf_counter() - start


def bare(frames: list[bytes], size: int, processes: int, pool: ProcessPoolExecutor | None, decoder: str) -> float:
    """Frames/s of bare decode + resize of in-memory JPEGs, split over `processes` processes
    (each process's own decode time, so sending the bytes to the pool is not counted)."""
    parts = [(frames[p::processes], size, decoder) for p in range(processes)]
    done = list(pool.map(_bare_part, parts)) if pool is not None else [_bare_part(parts[0])]
    return sum(n for n, _ in done) / max(t for _, t in done)


def loader_rate(loader, epoch: int) -> tuple[float, int, list]:
    """Frames/s of one epoch of `loader` (the epoch set as the Trainer sets it)."""
    loader.sampler.set_epoch(epoch)
    start, n, batches = time.perf_counter(), 0, []
    for batch in loader:
        n += sum(batch["lengths"])
        batches.append(batch)
    return n / (time.perf_counter() - start), n, batches


def device_rate(batches: list, device: torch.device, repeats: int) -> float:
    """Frames/s of `batch_frames` (uint8 -> normalised float on `device`) over the batches."""
    def once() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        start, n = time.perf_counter(), 0
        for b in batches:
            n += batch_frames(b, device).shape[0]
        if device.type == "cuda":
            torch.cuda.synchronize()
        return n / (time.perf_counter() - start)
    once()
    return max(once() for _ in range(repeats))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=32)
    ap.add_argument("--frames", type=int, default=200, help="stored frames per video")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu", help="where the float work is timed (cpu, cuda)")
    ap.add_argument("--json", type=Path, default=Path(__file__).with_name("loader.json"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    decode, spatial, pretrain, sampling = PRESET["decode"], PRESET["spatial"], PRESET["pretrain"], PRESET["frames"]
    cfg = {"seed": 0, "stride": int(sampling["frame_stride"]), "max_frames": int(sampling["max_frames"]),
           "batch": int(pretrain["batch_size"]), "size": int(spatial["image_size"])}
    torch.set_num_threads(max(1, os.cpu_count() or 1))

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "frames.h5"
        samples = render_store(path, args.videos, args.frames, int(decode["size"]), int(decode["jpeg_quality"]))
        store = FrameStore(path)
        augment = {"enabled": bool(sampling["augment"]), "hflip": bool(sampling["hflip"])}
        dataset = SignDataset(samples, store, train=True, image_size=cfg["size"], stride=cfg["stride"],
                              max_frames=cfg["max_frames"], augment_cfg=augment, seed=cfg["seed"])
        rows = []
        for w in sorted(set(args.workers)):
            pool = ProcessPoolExecutor(w) if w > 1 else None
            # pinned memory as training has it: on where a CUDA device is (the GPU path), never for CPU training
            loaders = {kind: make_loader(dataset, cfg["batch"], True, w, seed=cfg["seed"], device=dev,
                                         pin_memory=None if kind == "uint8" else False)
                       for kind, dev in (("uint8", "cuda"), ("float", "cpu"))}
            for loader in loaders.values():
                loader_rate(loader, 0)  # warm-up: start the persistent workers, open the store
            best = {"bare": 0.0, "bare_turbo": 0.0, "uint8": 0.0, "float": 0.0}
            batches = None
            for r in range(args.repeats):  # alternated, so each sees the same machine load
                epoch = r + 1
                jpegs = encoded_frames(str(path), epoch_indices(store, samples, epoch, cfg))
                best["bare"] = max(best["bare"], bare(jpegs, cfg["size"], w, pool, "pil"))
                best["bare_turbo"] = max(best["bare_turbo"], bare(jpegs, cfg["size"], w, pool, "simplejpeg"))
                for kind, loader in loaders.items():
                    rate, frames, got = loader_rate(loader, epoch)
                    best[kind] = max(best[kind], rate)
                    if kind == "uint8" and batches is None:
                        batches = got
            if pool is not None:
                pool.shutdown()
            del loaders
            row = {"workers": w, "frames_per_epoch": frames,
                   "bare_frames_per_s_per_process": round(best["bare"] / w, 1),
                   "bare_turbo_frames_per_s_per_process": round(best["bare_turbo"] / w, 1),
                   "loader_frames_per_s_per_worker": round(best["uint8"] / w, 1),
                   "float_in_workers_frames_per_s_per_worker": round(best["float"] / w, 1),
                   "ratio_uint8": round(best["uint8"] / best["bare"], 3),
                   "ratio_float_in_workers": round(best["float"] / best["bare"], 3),
                   "ratio_uint8_vs_turbo": round(best["uint8"] / best["bare_turbo"], 3),
                   "ratio_float_in_workers_vs_turbo": round(best["float"] / best["bare_turbo"], 3)}
            log.info("%s", row)
            rows.append(row)
        device = torch.device(args.device)
        dev_fps = device_rate(batches, device, args.repeats)
        one = batches[0]
        uint8_bytes = sum(p.numel() for p in one["pixels"])
        float_bytes = sum(one["lengths"]) * 3 * cfg["size"] * cfg["size"] * 4
    result = {
        "settings": {"store": f"jpeg {decode['size']}² q{decode['jpeg_quality']}", "image_size": cfg["size"],
                     "frame_stride": cfg["stride"], "max_frames": cfg["max_frames"], "batch_size": cfg["batch"],
                     "augment": augment["enabled"], "videos": args.videos, "frames_per_video": args.frames},
        "rows": rows,
        "device": str(device), "device_frames_per_s": round(dev_fps, 1),
        "batch_bytes_uint8": int(uint8_bytes), "batch_bytes_float32": int(float_bytes),
        "bytes_ratio": round(float_bytes / uint8_bytes, 2),
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "pinned_memory": torch.cuda.is_available(),
    }
    write_json(args.json, result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
