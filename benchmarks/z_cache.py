"""Time per training epoch of the `z` variant (cached features) vs `pgp` (frames through the sign
model), same data, same LM, same settings, in one run.

Builds a small synthetic corpus in a temporary folder with the workflow's own stage functions
(render → prepare → decode → tiny LM → a sign-model checkpoint → feature cache), then trains one
epoch of each variant with `run_translate` and reads the epoch's wall time from its metrics.
Prints a final JSON line with `pgp_epoch_s`, `z_epoch_s` and `speedup`.

    python benchmarks/z_cache.py [--videos 64] [--config config.yaml]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=64, help="training videos")
    parser.add_argument("--config", default=str(REPO / "config.yaml"), help="model and frame settings to use")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(Path(__file__).with_suffix(".json")), help="where the JSON goes")
    args = parser.parse_args()

    import torch
    from safetensors.torch import save_file

    from sign2gpt.core.config import load_config
    from sign2gpt.core.io import read_json
    from sign2gpt.data.decode import decode_shard
    from sign2gpt.data.ingest import prepare_dataset
    from sign2gpt.data.manifest import read_manifest
    from sign2gpt.data.synthetic import generate_corpus
    from sign2gpt.lm.pretrain import pretrain_lm
    from sign2gpt.models.sign_model import build_sign_model
    from sign2gpt.training.cache_features import run_cache_features
    from sign2gpt.training.translate import run_translate

    torch.set_num_threads(args.threads)
    cfg = load_config(base=args.config)
    syn, dec = cfg["synthetic"], cfg["decode"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        generate_corpus(tmp / "raw", language=syn["language"], splits={"train": args.videos, "dev": 2, "test": 2},
                        signers=syn["signers"], test_only_signers=syn["test_only_signers"],
                        image_size=syn["image_size"],
                        fps=syn["fps"], frames_per_gloss=tuple(syn["frames_per_gloss"]),
                        transition_frames=tuple(syn["transition_frames"]), noise=syn["noise"], seed=0)
        prepare_dataset("synthetic", tmp / "raw", tmp / "manifest")
        frames = []
        for split in ("train", "dev"):
            out = tmp / f"{split}.h5"
            decode_shard(tmp / "manifest" / f"{split}.tsv", out, shard=0, num_shards=1, stride=dec["stride"],
                         size=dec["size"], storage=dec["storage"])
            frames.append(str(out))
        texts = [s.text for s in read_manifest(tmp / "manifest" / "train.tsv")]
        pretrain_lm(texts, tmp / "lm", vocab_size=cfg["lm"]["vocab_size"], config=cfg["lm"]["config"], epochs=1,
                    batch_size=16, lr=1e-3, seed=0, threads=args.threads)
        sign_model = build_sign_model(cfg["spatial"], cfg["encoder"])  # timing only: untrained weights do
        ckpt = tmp / "pretrain.safetensors"
        save_file({f"sign_model.{k}": v.contiguous() for k, v in sign_model.state_dict().items()}, str(ckpt))
        features = {}
        for split, path in zip(("train", "dev"), frames):
            features[split] = str(tmp / f"z-{split}.h5")
            run_cache_features(checkpoint=str(ckpt), manifest=str(tmp / "manifest" / f"{split}.tsv"), frames=[path],
                               out_path=features[split], spatial=cfg["spatial"], encoder=cfg["encoder"],
                               frames_cfg=cfg["frames"], device="cpu")
        train = {**cfg["translate"], "epochs": 1, "z_epochs": 1, "select_on": "tf_bleu4"}
        epoch_s = {}
        for variant in ("pgp", "z"):
            t0 = time.perf_counter()
            run_translate(variant=variant, train_manifest=str(tmp / "manifest" / "train.tsv"),
                          dev_manifest=str(tmp / "manifest" / "dev.tsv"), lm=str(tmp / "lm"),
                          out_dir=str(tmp / variant),
                          spatial=cfg["spatial"], encoder=cfg["encoder"], frames_cfg=cfg["frames"], train=train,
                          evaluate=cfg["evaluate"], language=cfg["dataset"]["language"], seed=1,
                          frames=frames if variant != "z" else None, features=features if variant == "z" else None,
                          pretrained=str(ckpt), decode=cfg["decode"], device="cpu")
            history = read_json(tmp / variant / "metrics.json")
            epoch_s[variant] = float(history[-1]["seconds"])  # the epoch (train + a 2-video dev pass)
            print(f"{variant}: {epoch_s[variant]:.2f} s per epoch ({time.perf_counter() - t0:.1f} s with set-up)",
                  file=sys.stderr)
    result = {"benchmark": "translation epoch time, z (cached features) vs pgp (frames)", "train_videos": args.videos,
              "threads": args.threads, "pgp_epoch_s": round(epoch_s["pgp"], 3), "z_epoch_s": round(epoch_s["z"], 3),
              "speedup": round(epoch_s["pgp"] / epoch_s["z"], 2)}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
