"""Which GPU sizes each preset's training steps fit, at which micro-batch and `spatial.chunk_size`,
estimated from what the model keeps for backward (benchmarks/train_step.py's saved-tensor figures,
device-independent), not from a CPU's resident set.

    .venv/bin/python benchmarks/train_step.py --lm xglm-1.7B --frames 16 --chunk 16 --precision bf16 \
        --out benchmarks/train_step_saved.json
    .venv/bin/python benchmarks/gpu_memory.py benchmarks/train_step_saved.json

A step's peak on the GPU is estimated as the sum of
- the weights: frozen ones as measured (the LM in bf16, DINOv2 in fp32), trainable ones with their
  gradients and AdamW's two moments (16 bytes per parameter);
- per frame of the micro-batch (micro-batch x max_frames): what autograd keeps with checkpointing,
  plus the frames themselves (uint8 at the stored 256², float32 at 224² on the device);
- per sentence (translate): what the LM keeps for backward at 32 target tokens (the fixed part of
  the measured fit, at batch 1);
- one chunk recomputed in backward: `chunk_size` frames at what autograd keeps per frame without
  checkpointing;
- the CUDA context, cuBLAS/cuDNN workspaces and the caching allocator's slack: 1.5 GiB, and 15 % of
  everything else.
The last two are allowances, not measurements: the GPU check (`bash benchmarks/gpu_check.sh`)
measures the real peak of the preset's step; where it disagrees, it is right. Prints a markdown table
and, last, the JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

GIB = 1024.0
PRESETS = {  # configs/*.yaml: per-process batch (one GPU), max_frames
    "phoenix14t": {"batch": 16, "max_frames": 256},
    "csldaily": {"batch": 8, "max_frames": 512},
}
GPUS = [16, 24, 32, 40, 48, 80]  # GB on the card (V100/T4, L4/A10/RTX 4090, V100-32, A100-40, L40/A40, A100/H100-80)
CHUNKS = [64, 32, 16]
FRAME_MIB = (256 * 256 * 3 + 3 * 224 * 224 * 4) / 2**20  # uint8 pixels + float32 frames, per frame
CONTEXT_MIB, SLACK = 1.5 * GIB, 0.15


def figures(train_step: dict) -> dict[str, dict[str, float]]:
    """Per stage: weights and optimizer MiB, saved MiB per frame (checkpointed, plain), per sentence."""
    s = train_step["summary"]
    out = {}
    for stage in ("pretrain", "translate"):
        ckpt, plain = s[f"{stage}_ckpt"], s[f"{stage}_plain"]
        out[stage] = {"weights_mib": ckpt["frozen_param_mib"] + 16 * ckpt["trainable_params"] / 2**20,
                      "saved_per_frame_mib": ckpt["saved_mib_per_frame"],
                      "plain_per_frame_mib": plain["saved_mib_per_frame"],
                      "per_sentence_mib": max(ckpt["saved_fixed_mib"], 0.0) / train_step["batch"]}
    return out


def peak_gib(f: dict[str, float], micro: int, max_frames: int, chunk: int) -> float:
    activations = (micro * max_frames * (f["saved_per_frame_mib"] + FRAME_MIB) + micro * f["per_sentence_mib"]
                   + chunk * f["plain_per_frame_mib"])
    return (CONTEXT_MIB + (1 + SLACK) * (f["weights_mib"] + activations)) / GIB


def fits(f: dict[str, float], preset: dict, gb: int) -> dict | None:
    """The largest micro-batch (a divisor of the batch) that fits a card of `gb` GB, with the largest
    chunk that lets it; None if not even a micro-batch of 1 fits."""
    card = gb * 1e9 / 2**30 * 0.95  # what the driver leaves of the card
    for micro in sorted((m for m in range(1, preset["batch"] + 1) if preset["batch"] % m == 0), reverse=True):
        for chunk in CHUNKS:
            peak = peak_gib(f, micro, preset["max_frames"], chunk)
            if peak <= card:
                return {"micro_batch": micro, "chunk_size": chunk, "peak_gib": round(peak, 1)}
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("train_step", type=Path, help="a train_step.py JSON with both stages, both checkpointing "
                                                   "settings and two frame counts (its default run)")
    args = ap.parse_args()
    measured = json.loads(args.train_step.read_text())
    f = figures(measured)
    table = {preset: {stage: {gb: fits(f[stage], spec, gb) for gb in GPUS} for stage in f}
             for preset, spec in PRESETS.items()}
    print(f"| preset, stage | {' | '.join(f'{gb} GB' for gb in GPUS)} |")
    print(f"|---|{'---|' * len(GPUS)}")
    for preset, stages in table.items():
        for stage, by_gpu in stages.items():
            cells = ["does not fit" if c is None else f"{c['micro_batch']} × {PRESETS[preset]['max_frames']}"
                     f" ({c['peak_gib']} GiB)" for c in by_gpu.values()]
            print(f"| {preset} {stage} | {' | '.join(cells)} |")
    print(json.dumps({"benchmark": "gpu_memory", "source": str(args.train_step), "lm": measured["lm"],
                      "precision": measured["precision"], "figures": f, "table": table}))


if __name__ == "__main__":
    main()
