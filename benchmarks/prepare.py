"""`prepare` on a release-sized PHOENIX-2014T layout with damaged frames: minutes, not hours?

    python benchmarks/prepare.py                    # 8,257 clips (7,096 / 519 / 642), 100-300 frames each
    python benchmarks/prepare.py --clips 40         # a small layout (what `make test` runs)

The layout is the release's (`annotations/manual/PHOENIX-2014-T.{split}.corpus.csv`, PNG frame
folders under `features/fullFrame-210x260px/{split}/<name>/`); every frame is a hard link to one
small valid 210×260 PNG (a new copy every 60,000 links: ext4 allows 65,000 per file), except the
damage: in one clip of every `--damaged-every`, a few zero-byte and truncated frames (within
`dataset.max_bad_frame_share`, so the clip is kept and repaired), and `--all-bad` clips whose frames
are all zero bytes (left out under skip_bad_items). The figure is the wall time of `prepare_dataset`
(`--workers` threads, page cache warm from building the layout), which looks at every frame file's
size, first and last bytes. The last line printed is JSON; it is also written to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # before tqdm is imported: no bars in timings

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from sign2gpt.core.io import write_json  # noqa: E402
from sign2gpt.data.ingest import prepare_dataset  # noqa: E402
from sign2gpt.data.release_paths import PHOENIX_FRAMES, phoenix_corpus_csv  # noqa: E402

RELEASE = {"train": 7096, "dev": 519, "test": 642}
LINKS_PER_FILE = 60_000
HEADER = "name|video|start|end|speaker|orth|translation"


def build_layout(root: Path, clips: int, damaged_every: int, all_bad: int, seed: int) -> dict[str, int]:
    """The release layout with `clips` clips split as the release is; returns what was damaged."""
    rng = np.random.default_rng(seed)
    frame = root / "frame.png"
    root.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (260, 210, 3), dtype=np.uint8)).save(frame)
    whole = frame.read_bytes()
    total = sum(RELEASE.values())
    counts = {split: max(1, round(clips * n / total)) for split, n in RELEASE.items()}
    made = {"clips": 0, "frames": 0, "damaged_clips": 0, "damaged_frames": 0, "all_bad_clips": 0}
    k = links = 0
    for split, n in counts.items():
        lines = [HEADER]
        for i in range(n):
            name = f"{split}_{i:05d}"
            folder = root / PHOENIX_FRAMES / split / name / "1"
            folder.mkdir(parents=True)
            num = int(rng.integers(100, 301))
            bad = all_bad > made["all_bad_clips"] and split == "train" and i % 97 == 5
            for t in range(num):
                path = folder / f"images{t + 1:04d}.png"
                if bad:
                    path.write_bytes(b"")
                elif k % damaged_every == 0 and t in (7, 50):
                    path.write_bytes(b"" if t == 7 else whole[: len(whole) // 2])  # zero-byte, truncated
                else:
                    if links % LINKS_PER_FILE == 0:  # a fresh source file
                        frame = root / f"frame{links // LINKS_PER_FILE}.png"
                        frame.write_bytes(whole)
                    os.link(frame, path)
                    links += 1
            made["all_bad_clips"] += bad
            made["damaged_clips"] += not bad and k % damaged_every == 0
            made["damaged_frames"] += 2 * (not bad and k % damaged_every == 0)
            made["clips"] += 1
            made["frames"] += num
            k += 1
            lines.append(f"{name}|{name}/1/*.png|-1|-1|Signer0{1 + i % 9}|REGEN WIND|es regnet und ist windig")
        csv = phoenix_corpus_csv(root, split)
        csv.parent.mkdir(parents=True, exist_ok=True)
        csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return made


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=sum(RELEASE.values()))
    ap.add_argument("--damaged-every", type=int, default=50, help="one clip in this many has damaged frames")
    ap.add_argument("--all-bad", type=int, default=3, help="training clips whose frames are all zero bytes")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--work", type=Path, default=None, help="folder for the layout (default: a temporary one)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "prepare.json")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        root = Path(tmp) / "PHOENIX-2014-T"
        start = time.perf_counter()
        made = build_layout(root, args.clips, args.damaged_every, args.all_bad, args.seed)
        build_s = time.perf_counter() - start
        start = time.perf_counter()
        samples = prepare_dataset("phoenix14t", root, Path(tmp) / "manifest", skip_bad_items=True,
                                  max_bad_frame_share=0.1, workers=args.workers)
        seconds = time.perf_counter() - start
        skipped = len((Path(tmp) / "manifest" / "skipped.tsv").read_text().splitlines()) - 1
    kept_damaged = sum(bool(s.bad_frames) for split in samples.values() for s in split)
    result = {
        "clips": made["clips"], "frames": made["frames"], "workers": args.workers,
        "prepare_s": round(seconds, 2), "frames_per_s": round(made["frames"] / seconds),
        "clips_per_s": round(made["clips"] / seconds, 1), "layout_build_s": round(build_s, 1),
        "damaged_clips_made": made["damaged_clips"], "damaged_clips_kept": kept_damaged,
        "all_bad_clips_made": made["all_bad_clips"], "clips_skipped": skipped,
        "kept": {split: len(s) for split, s in samples.items()},
    }
    if kept_damaged != made["damaged_clips"] or skipped != made["all_bad_clips"]:
        raise SystemExit(f"prepare did not find the damage it was given: {result}")
    write_json(args.out, result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
