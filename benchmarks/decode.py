"""Decode-stage throughput against bare decord, frame-store read rate and size.

    python benchmarks/decode.py                       # renders 20 videos of 100 frames at 256x256
    python benchmarks/decode.py --videos DIR          # your own videos (*.mp4, *.avi, *.mkv, *.mov)
    python benchmarks/decode.py --compare-storage     # + raw (none/lzf/gzip) vs jpeg at 64 and 256
    python benchmarks/decode.py --source png --size 256 --storage jpeg --threads 2
                                                      # PHOENIX-2014T-like PNG folders (210x260) -> 256² JPEG
    python benchmarks/decode.py --source jpeg --size 256 --storage jpeg --threads 2
                                                      # CSL-Daily-like JPEG folders (512x512) -> 256² JPEG

What each figure includes (same videos, same stride and output size, page cache warm):
- raw_frames_per_s: videos: `decord.VideoReader(path, width=size, height=size).get_batch(strided
  indices).asnumpy()` per video, nothing else; frame folders (`--source png|jpeg`): PIL's
  `Image.open`, `draft` (JPEG), `convert("RGB")`, `resize((size, size))` per strided file, nothing
  else. With `--threads N` the bare library runs over the videos in N threads, and the stage
  gets `threads=N` (decode.threads), so both use the same number of threads.
- frames_per_s: the decode stage itself (`decode_shard`, one shard): reading the manifest, the
  same decord call, encoding (JPEG or HDF5 filter), writing the HDF5 store, the atomic rename.
- store_read_frames_per_s: `FrameStore.read` of 16-frame clips at random (video, offset),
  decoding included (as a DataLoader worker would).
- bytes_per_frame: store file size / stored frames.
- encode_frames_per_s (storage jpeg): the stage's JPEG encoder alone on the stored frames, same
  threads; encode_bound_ratio = 1 / (1 + raw_frames_per_s / encode_frames_per_s), the ratio a
  stage that only decoded as fast as the bare library and encoded could reach.
Each of the two decode timings is the best of --repeats runs, alternated so that both see the
same machine load. The last line printed is JSON; it is also written to --json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # before tqdm is imported: no bars in timings

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from sign2gpt.core.io import write_json  # noqa: E402
from sign2gpt.data.decode import decode_shard  # noqa: E402
from sign2gpt.data.frame_store import FrameStore, FrameStoreWriter  # noqa: E402
from sign2gpt.data.manifest import Sample, write_manifest  # noqa: E402
from sign2gpt.data.video import count_frames, read_frames  # noqa: E402

log = logging.getLogger("benchmarks.decode")
VIDEO_EXTENSIONS = {".mp4", ".avi", ".mkv", ".mov", ".webm"}


def render_videos(out: Path, n: int, frames: int, size: int, seed: int = 0) -> list[Path]:
    """Videos like the synthetic corpus: a smooth background, moving shapes, pixel noise."""
    import av

    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 10, (16, size, size, 3)).astype(np.float32)  # synthetic.noise 0.04 x 255
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    paths = []
    for v in range(n):
        path = out / f"video{v:03d}.mp4"
        base = np.stack([80 + 100 * xx, 60 + 120 * yy, np.full_like(xx, 110 + 5 * v)], axis=-1)
        phase = rng.uniform(0, 2 * np.pi, 4)
        with av.open(str(path), "w") as c:
            s = c.add_stream("libx264", rate=25)
            s.width = s.height = size
            s.pix_fmt = "yuv420p"
            for t in range(frames):
                img = base.copy()
                for k, (cx, cy) in enumerate([(0.5 + 0.3 * np.sin(t / 9 + phase[0]),
                                               0.6 + 0.2 * np.cos(t / 7 + phase[1])),
                                              (0.5 + 0.3 * np.cos(t / 8 + phase[2]),
                                               0.6 + 0.2 * np.sin(t / 6 + phase[3]))]):
                    img[(xx - cx) ** 2 + (yy - cy) ** 2 < 0.01] = (230, 190, 160) if k == 0 else (220, 180, 150)
                img[(xx - 0.5) ** 2 + (yy - 0.25) ** 2 < 0.012] = (225, 185, 155)  # head
                img += noise[rng.integers(len(noise))]
                frame = av.VideoFrame.from_ndarray(np.clip(img, 0, 255).astype(np.uint8), format="rgb24")
                c.mux(s.encode(frame))
            c.mux(s.encode())
        paths.append(path)
    return paths


def render_folders(videos: list[Path], out: Path, kind: str) -> list[Path]:
    """The rendered videos as frame folders: PNG at 210x260 (PHOENIX-2014T) or JPEG at 512x512
    (CSL-Daily, quality 95), one file per frame."""
    from PIL import Image

    folders = []
    for video in videos:
        folder = out / video.stem
        folder.mkdir()
        for t, frame in enumerate(read_frames(video)):
            image = Image.fromarray(frame)
            if kind == "png":
                image.resize((210, 260), Image.Resampling.BILINEAR).save(folder / f"images{t + 1:04d}.png")
            else:
                image.resize((512, 512), Image.Resampling.BILINEAR).save(folder / f"{t:06d}.jpg", quality=95)
        folders.append(folder)
    return folders


def _bare_one(path: Path, stride: int, size: int | None) -> int:
    if path.is_dir():
        from PIL import Image

        n = 0
        for f in sorted(path.iterdir())[::stride]:
            with Image.open(f) as im:
                if size is not None and im.format == "JPEG":
                    im.draft("RGB", (size, size))
                im = im.convert("RGB")
                if size is not None:
                    im = im.resize((size, size), Image.Resampling.BICUBIC)
                np.asarray(im)
                n += 1
        return n
    import decord

    side = size if size is not None else -1
    vr = decord.VideoReader(str(path), ctx=decord.cpu(0), width=side, height=side)
    return vr.get_batch(list(range(0, len(vr), stride))).asnumpy().shape[0]


def bare_decode(paths: list[Path], stride: int, size: int | None, threads: int = 1) -> int:
    """The bare library over every video or folder, in `threads` threads; returns the frames."""
    if threads <= 1:
        return sum(_bare_one(p, stride, size) for p in paths)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(lambda p: _bare_one(p, stride, size), paths))


def random_clips(store: FrameStore, clips: int, length: int = 16, seed: int = 0) -> tuple[int, float]:
    rng = np.random.default_rng(seed)
    ids = store.ids
    store.read(ids[0], [0])  # open the file outside the timing
    frames, start = 0, time.perf_counter()
    for _ in range(clips):
        vid = ids[rng.integers(len(ids))]
        n = store.num_frames(vid)
        first = int(rng.integers(0, max(1, n - length + 1)))
        frames += store.read(vid, np.arange(first, min(n, first + length))).shape[0]
    return frames, time.perf_counter() - start


def encode_rate(store: FrameStore, quality: int, threads: int) -> float:
    """Frames/s of JPEG encoding alone (`encode_jpeg`, the stage's encoder) of the stored frames,
    in `threads` threads: the part of the stage's work the bare library does not do."""
    from concurrent.futures import ThreadPoolExecutor

    from sign2gpt.data.frame_store import encode_jpeg

    frames = [f for vid in store.ids for f in store.read(vid)]
    start = time.perf_counter()
    with ThreadPoolExecutor(max(1, threads)) as pool:
        list(pool.map(lambda f: encode_jpeg(f, quality), frames, chunksize=16))
    return round(len(frames) / (time.perf_counter() - start), 1)


def compare_storage(paths: list[Path], tmp: Path, clips: int) -> list[dict]:
    """Write the same decoded frames with every storage option; size, write and read rates."""
    variants = [("raw", "none", 90), ("raw", "lzf", 90), ("raw", "gzip1", 90), ("raw", "gzip4", 90),
                ("jpeg", None, 90), ("jpeg", None, 75)]
    rows = []
    for size in (64, 256):
        videos = {p.stem: read_frames(p, size=size) for p in paths}
        total = sum(len(v) for v in videos.values())
        for storage, compression, quality in variants:
            path = tmp / f"cmp-{size}-{storage}-{compression}-{quality}.h5"
            start = time.perf_counter()
            with FrameStoreWriter(path, stride=1, size=size, storage=storage, jpeg_quality=quality,
                                  compression=compression) as w:
                for vid, frames in videos.items():
                    w.add(vid, frames)
            write_s = time.perf_counter() - start
            with FrameStore(path) as store:
                n, read_s = random_clips(store, clips)
            name = f"jpeg q{quality}" if storage == "jpeg" else f"raw {compression}"
            rows.append({"size": size, "storage": name, "bytes_per_frame": round(path.stat().st_size / total),
                         "write_frames_per_s": round(total / write_s), "read_frames_per_s": round(n / read_s)})
            log.info("%s", rows[-1])
            path.unlink()
    return rows


def main() -> None:
    defaults = yaml.safe_load((REPO / "config.yaml").read_text())["decode"]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=Path, help="folder of videos (default: render synthetic ones)")
    ap.add_argument("--num-videos", type=int, default=20)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--source-size", type=int, default=256)
    ap.add_argument("--stride", type=int, default=defaults["stride"])
    ap.add_argument("--size", type=int, default=defaults["size"])
    ap.add_argument("--storage", default=defaults["storage"])
    ap.add_argument("--jpeg-quality", type=int, default=defaults.get("jpeg_quality", 90))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--clips", type=int, default=500)
    ap.add_argument("--source", choices=["video", "png", "jpeg"], default="video",
                    help="what the stage decodes: mp4 videos, PNG frame folders (210x260) or JPEG folders (512x512)")
    ap.add_argument("--threads", type=int, default=1,
                    help="threads of the bare library and of the stage (decode.threads)")
    ap.add_argument("--compare-storage", action="store_true")
    ap.add_argument("--json", type=Path, default=None,
                    help="where the JSON goes (default: decode.json, decode_png.json or decode_jpeg.json "
                         "beside this file)")
    args = ap.parse_args()
    if args.json is None:
        args.json = Path(__file__).with_name("decode.json" if args.source == "video" else f"decode_{args.source}.json")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("sign2gpt").setLevel(logging.WARNING)

    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        if args.videos:
            paths = sorted(p for p in args.videos.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS)
        else:
            start = time.perf_counter()
            paths = render_videos(tmp, args.num_videos, args.frames, args.source_size)
            log.info("rendered %d videos in %.1f s", len(paths), time.perf_counter() - start)
        if not paths:
            raise SystemExit(f"no videos in {args.videos}")
        if args.source != "video":
            (tmp / "folders").mkdir()
            paths = render_folders(paths, tmp / "folders", args.source)
        samples = [Sample(p.stem, str(p.resolve()), count_frames(p), "", "text") for p in paths]
        write_manifest(tmp / "manifest.tsv", samples)
        for p in paths:  # warm the page cache for both contenders
            for f in (sorted(p.iterdir()) if p.is_dir() else [p]):
                f.read_bytes()

        bare_decode(paths[:2], args.stride, args.size)  # warm-up (library load, first-call costs)
        raw_s, stage_s, frames = [], [], 0
        out = tmp / "shard0.h5"
        for _ in range(args.repeats):
            start = time.perf_counter()
            frames = bare_decode(paths, args.stride, args.size, args.threads)
            raw_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            decode_shard(tmp / "manifest.tsv", out, shard=0, num_shards=1, stride=args.stride, size=args.size,
                         storage=args.storage, jpeg_quality=args.jpeg_quality, threads=args.threads)
            stage_s.append(time.perf_counter() - start)
        with FrameStore(out) as store:
            stored = sum(store.num_frames(i) for i in store.ids)
            assert stored == frames, (stored, frames)
            read_frames_n, read_s = random_clips(store, args.clips)
            encode_fps = encode_rate(store, args.jpeg_quality, args.threads) if args.storage == "jpeg" else None
        result = {
            "source": args.source,
            "threads": args.threads,
            "videos": len(paths),
            "frames": frames,
            "stride": args.stride,
            "size": args.size,
            "storage": args.storage,
            "jpeg_quality": args.jpeg_quality if args.storage == "jpeg" else None,
            "frames_per_s": round(frames / min(stage_s), 1),
            "raw_frames_per_s": round(frames / min(raw_s), 1),
            "ratio": round(min(raw_s) / min(stage_s), 3),
            "frames_per_s_per_thread": round(frames / min(stage_s) / args.threads, 1),
            "store_read_frames_per_s": round(read_frames_n / read_s, 1),
            "bytes_per_frame": round(out.stat().st_size / frames, 1),
            "encode_frames_per_s": encode_fps,
            # the ratio the stage could reach if it cost only bare decoding + encoding
            "encode_bound_ratio": round(1 / (1 + frames / min(raw_s) / encode_fps), 3) if encode_fps else None,
            "cpu_count": os.cpu_count(),
        }
        if args.compare_storage:
            result["storage_comparison"] = compare_storage(paths[: min(len(paths), 10)], tmp, args.clips)
    write_json(args.json, result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
