"""How much sign information a spatial backbone's frame features carry: a linear probe.

Freezes a backbone, embeds every `--stride`-th frame of train and dev, fits a logistic-regression
probe from a frame's feature to the gloss it shows (the synthetic corpus's true segments; frames
between signs are the class `<none>`), and reports the dev accuracy on frames inside a sign.
Compares the backbone `spatial_pretrain` made (self-supervised) with the same architecture at
random initialisation, so the gain is the pretraining's. Needs a finished embedded-default run
(frames, manifests, `results/<ds>/spatial/`).

    python benchmarks/backbone_probe.py --results results/synthetic-de

Final line: JSON with `random_init_accuracy`, `pretrained_accuracy` and their `ratio`.

`--architectures N` adds why the default's backbone is a ResNet: each candidate is trained from
random weights, fully supervised per frame (backbone + linear head, cross-entropy on the true
gloss, N epochs), and scored the same way: `supervised_<name>_accuracy`. The DINOv2 candidate is
the previous default (32², patch 4, hidden 64, 2 layers).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sign2gpt.data.augment import eval_transform  # noqa: E402
from sign2gpt.data.frame_store import FrameStore  # noqa: E402
from sign2gpt.data.manifest import read_manifest  # noqa: E402
from sign2gpt.models.spatial import SpatialModel, build_backbone  # noqa: E402


def frame_labels(results: Path, split: str, stride: int):
    """Frames (every stride-th) and their gloss labels from the manifest's true segments."""
    samples = read_manifest(results / "manifest" / f"{split}.tsv")
    store = FrameStore(sorted((results / "frames" / split).glob("shard*.h5")))
    frames, labels = [], []
    for s in samples:
        n = store.num_frames(s.id)
        lab = np.full(n, "<none>", dtype=object)
        for gloss, (a, b) in zip(s.glosses, s.segments):
            lab[a:b] = gloss
        frames.append(store.read(s.id)[::stride])
        labels.extend(lab[::stride])
    return np.concatenate(frames), labels


@torch.no_grad()
def embed(model: SpatialModel, frames: np.ndarray, size: int) -> torch.Tensor:
    model.eval()
    return torch.cat([model.frame_features(eval_transform(frames[i:i + 256], size))
                      for i in range(0, len(frames), 256)])


def sign_frame_accuracy(pred: torch.Tensor, y_dev: torch.Tensor, none_id: int) -> float:
    """Accuracy on dev frames inside a sign (not `<none>`, and a gloss train has seen)."""
    sign = (y_dev != none_id) & (y_dev >= 0)
    return float((pred[sign] == y_dev[sign]).float().mean())


def probe_accuracy(x_train, y_train, x_dev, y_dev, none_id: int, steps: int = 300) -> float:
    """Full-batch logistic regression on standardised features; accuracy on dev sign frames."""
    mu, sd = x_train.mean(0), x_train.std(0) + 1e-5
    x_train, x_dev = (x_train - mu) / sd, (x_dev - mu) / sd
    torch.manual_seed(0)
    linear = torch.nn.Linear(x_train.shape[1], int(y_train.max()) + 1)
    opt = torch.optim.Adam(linear.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = F.cross_entropy(linear(x_train), y_train)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return sign_frame_accuracy(linear(x_dev).argmax(1), y_dev, none_id)


# candidates for --architectures: built from random weights at the default's 32² input
ARCHITECTURES = {
    "dinov2": {"model_type": "dinov2", "image_size": 32, "patch_size": 4, "hidden_size": 64, "num_hidden_layers": 2,
               "num_attention_heads": 2, "mlp_ratio": 2, "layerscale_value": 1.0},
    "resnet": {"model_type": "resnet"},
}


def supervised_accuracy(config, pooling, frames, y_train, dv_frames, y_dev, none_id, size, epochs) -> float:
    """Train backbone + linear head per frame from random weights; accuracy on dev sign frames."""
    torch.manual_seed(0)
    model = SpatialModel(build_backbone(None, config), int(y_train.max()) + 1, pooling=pooling)
    x_train, x_dev = eval_transform(frames, size), eval_transform(dv_frames, size)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    g = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        model.train()
        for batch in torch.randperm(len(x_train), generator=g).split(64):
            loss = F.cross_entropy(model.proj(model.frame_features(x_train[batch])), y_train[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model.proj(model.frame_features(x_dev[i:i + 256])).argmax(1)
                          for i in range(0, len(x_dev), 256)])
    return sign_frame_accuracy(pred, y_dev, none_id)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", default="results/synthetic-de")
    ap.add_argument("--config", default="config.yaml")
    ap.add_argument("--stride", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(Path(__file__).with_suffix(".json")), help="where the JSON goes")
    ap.add_argument("--architectures", type=int, default=0, metavar="EPOCHS",
                    help="also train each candidate backbone supervised for EPOCHS epochs (0: skip)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    results = Path(args.results)
    spatial = yaml.safe_load(Path(args.config).read_text())["spatial"]
    size = int(spatial["image_size"])
    tr_frames, tr_labels = frame_labels(results, "train", args.stride)
    dv_frames, dv_labels = frame_labels(results, "dev", args.stride)
    vocab = {g: i for i, g in enumerate(sorted(set(tr_labels)))}
    y_train = torch.tensor([vocab[g] for g in tr_labels])
    y_dev = torch.tensor([vocab.get(g, -1) for g in dv_labels])

    out = {"train_frames": len(tr_frames), "dev_frames": len(dv_frames), "classes": len(vocab)}
    torch.manual_seed(0)
    backbones = {"random_init": build_backbone(None, spatial["config"]),
                 "pretrained": build_backbone(str(results / "spatial"))}
    for name, backbone in backbones.items():
        start = time.perf_counter()
        model = SpatialModel(backbone, 1, pooling=spatial.get("pooling"))
        acc = probe_accuracy(embed(model, tr_frames, size), y_train, embed(model, dv_frames, size), y_dev,
                             vocab["<none>"])
        out[f"{name}_accuracy"] = round(acc, 4)
        out[f"{name}_seconds"] = round(time.perf_counter() - start, 1)
        print(f"{name}: dev sign-frame probe accuracy {acc:.3f}", file=sys.stderr)
    out["ratio"] = round(out["pretrained_accuracy"] / max(out["random_init_accuracy"], 1e-9), 3)
    for name, config in ARCHITECTURES.items() if args.architectures else ():
        start = time.perf_counter()
        acc = supervised_accuracy(config, "mean", tr_frames, y_train, dv_frames, y_dev, vocab["<none>"], size,
                                  args.architectures)
        out[f"supervised_{name}_accuracy"] = round(acc, 4)
        out[f"supervised_{name}_seconds"] = round(time.perf_counter() - start, 1)
        print(f"{name} trained supervised for {args.architectures} epochs: {acc:.3f}", file=sys.stderr)
    line = json.dumps(out)
    Path(args.out).write_text(line + "\n")
    print(line)


if __name__ == "__main__":
    main()
