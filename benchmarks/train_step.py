"""Peak memory and time of one training step at the presets' shapes, with and without gradient
checkpointing: a pretrain step (DINOv2-S/14 at 224 with LoRA on its top 3 blocks, the 512-d
encoder, the pseudo-gloss head) and a translate step of the `pgp` variant (the same sign model,
then XGLM with LoRA and gated cross-attention), forward + backward + AdamW step.

    .venv/bin/python benchmarks/train_step.py                       # CPU, scaled down (see below)
    .venv/bin/python benchmarks/train_step.py --device cuda --batch 8 --frames 256 --lm xglm-1.7B

Beside peak memory and time, each step reports figures that do not depend on the device (`model_figures`):
FLOPs of forward + backward per frame (with checkpointing, the recomputation included) and the bytes autograd
keeps for backward per frame (saved tensors that are not parameters), from which the GPU memory table in
docs/gpus-and-clusters.md is computed.

Random weights with the real architectures (`sign2gpt.app.rehearsal`): DINOv2 with dinov2-small's
configuration, XGLM with xglm-564M's or xglm-1.7B's (all 24 layers unless --lm-layers), the
backbone run in chunks of `--chunk` frames (spatial.chunk_size; with checkpointing, the unit of
recomputation). Each
(stage, checkpointing) pair runs in a fresh child process. Memory: on CUDA the allocator's peak
(`max_memory_allocated`) during the step above what was allocated before it; on CPU the
resident-set high-water mark during the step above the resident set before it (Linux: reset
through /proc/self/clear_refs). Parameter gradients are allocated before the step, so the
figure is activations, temporaries and optimizer state.

The CPU default is scaled down from the presets' batch 8 × 256 frames to batch 1 × `--frames`:
activation memory and time grow linearly with the frames of a step (the sign model's cost is per
frame, the encoder's local attention is linear in T), so the JSON reports MiB and seconds per
frame of the sign model, measured between two frame counts (`--frames` and 2 × `--frames`), and
extrapolates them to the presets' 2,048 frames per step. The checkpointing ratios are those of the
larger measured step, and of the extrapolation. On CPU the resident set overstates what a GPU's
caching allocator would hold (freed blocks are not always returned to the system). Precision follows
`sign2gpt.runtime.precision.select_precision` (bf16 on a GPU with bf16, fp32 on CPU).
Writes benchmarks/train_step.json and prints the same JSON as the last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from sign2gpt.core.io import write_json

log = logging.getLogger("bench.train_step")
HERE = Path(__file__).resolve().parent
LMS = {"xglm-564M": {}, "xglm-1.7B": {"d_model": 2048, "ffn_dim": 8192}}
PRESET = {"batch": 8, "frames": 256}  # configs/phoenix14t.yaml: batch_size 8, max_frames 256
SPATIAL = {"pretrained": None, "tune": "lora", "lora": {"layers": 3, "r": 4, "alpha": 4, "dropout": 0.1,
                                                                 "qkv": "fused"},
           "image_size": 224, "pooling": "cls", "chunk_size": 512}
ENCODER = {"dim": 512, "heads": 8, "layers": [2, 2], "window": 7, "mlp_ratio": 4, "dropout": 0.1, "drop_path": 0.1,
           "layerscale_init": 1.0e-5, "pool_mask": "center", "zero_pad_before_pool": True, "attention": "local"}


def _status_kib(key: str) -> int | None:
    try:
        m = re.search(rf"^{key}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    except OSError:
        return None
    return int(m.group(1)) if m else None


class CpuPeak:
    """Resident-set high-water mark above the resident set at entry (VmHWM reset, else sampled)."""

    def __enter__(self):
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self.method = "VmHWM-reset"
        except OSError:
            self.method = "sampled"
        self.base = _status_kib("VmRSS") or 0
        self.peak, self._stop = self.base, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _status_kib("VmRSS") or 0)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        if self.method == "VmHWM-reset":
            self.peak = max(self.peak, _status_kib("VmHWM") or 0)
        self.mib = (self.peak - self.base) / 1024


def model_figures(model, forward, frames: int) -> dict:
    """Figures of one forward + backward that do not depend on the device: the FLOPs (torch's counter;
    a checkpointed pass's recomputation included) and the bytes autograd keeps for backward, i.e. the
    storages its saved tensors pin that are not parameters (saved_tensors_hooks; a checkpointed region
    pins its inputs instead of its activations), each per frame of the step."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    with FlopCounterMode(display=False) as counter:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = forward()
        forward_flops = counter.get_total_flops()
        loss.backward()
    model.zero_grad(set_to_none=False)
    trainable = [p for p in model.parameters() if p.requires_grad]
    return {"trainable_params": sum(p.numel() for p in trainable),
            "frozen_param_mib": round(sum(p.nbytes for p in model.parameters() if not p.requires_grad) / 2**20, 1),
            "gflop_per_frame": round(counter.get_total_flops() / frames / 1e9, 3),
            "forward_gflop_per_frame": round(forward_flops / frames / 1e9, 3),
            "saved_mib_per_frame": round(sum(saved.values()) / frames / 2**20, 3)}


def child(args: argparse.Namespace) -> dict:
    """One step of one stage in this fresh process."""
    import torch
    from transformers import Dinov2Config, Dinov2Model, XGLMConfig, XGLMForCausalLM

    from sign2gpt.app.rehearsal import DINOV2_SMALL, XGLM_564M
    from sign2gpt.models.gated_lm import SignConditionedLM
    from sign2gpt.models.pgp_head import PseudoGlossHead
    from sign2gpt.models.sign_encoder import SignEncoder
    from sign2gpt.models.sign_model import SignModel
    from sign2gpt.models.spatial import SpatialModel
    from sign2gpt.models.translator import SignTranslator
    from sign2gpt.runtime.precision import Precision, select_precision
    from sign2gpt.training.optim import build_optimizer, clip_gradients
    from sign2gpt.training.pretrain import PretrainModel

    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if device.type == "cpu" and args.precision == "fp16":  # the GradScaler path on a CPU, as the tests run it
        prec = Precision("fp16", "cpu", "CPU fp16 autocast standing in for a V100 (the check's CPU mode)")
    else:
        prec = select_precision(device, args.precision)
    scaler = prec.make_scaler()
    ckpt = args.checkpointing == "on"
    backbone = Dinov2Model(Dinov2Config(**DINOV2_SMALL))
    spatial = SpatialModel(backbone, ENCODER["dim"], tune="lora", lora=SPATIAL["lora"], chunk_size=args.chunk,
                           pooling="cls", checkpointing=ckpt)
    sign_model = SignModel(spatial, SignEncoder.from_config(ENCODER["dim"], {**ENCODER, "checkpointing": ckpt}))
    if args.stage == "pretrain":
        prototypes = torch.cat([torch.nn.functional.normalize(torch.randn(args.vocab, 300), dim=-1),
                                torch.zeros(1, 300)])  # fastText vectors + the zero (blank) prototype
        model = PretrainModel(sign_model, PseudoGlossHead(ENCODER["dim"], prototypes))
    else:
        lm_cfg = {**XGLM_564M, **LMS[args.lm]}
        if args.lm_layers:
            lm_cfg["num_layers"] = args.lm_layers
        lm = XGLMForCausalLM(XGLMConfig(**lm_cfg)).to(prec.lm_dtype).requires_grad_(False)
        model = SignTranslator(sign_model, SignConditionedLM(lm, ENCODER["dim"]))
    model.to(device).train()
    optimizer = build_optimizer(model, 3e-4, 0.001)
    trainable = [p for p in model.parameters() if p.requires_grad]
    for p in trainable:  # gradients are not activation memory: allocate them first
        p.grad = torch.zeros_like(p)
    frames = torch.randn(args.batch * args.frames, 3, 224, 224, device=device)
    lengths = [args.frames] * args.batch
    targets = (torch.rand(args.batch, args.vocab, device=device) < 0.02).float()
    ids = torch.randint(4, 256_000, (args.batch, args.tokens), device=device)
    mask = torch.ones_like(ids)

    def forward() -> torch.Tensor:
        with prec.autocast():
            if args.stage == "pretrain":
                scores, _, _ = model(frames, lengths)
                return model.head.loss(scores.float(), targets)
            return model({"frames": frames, "lengths": lengths}, ids, mask, label_smoothing=0.1).loss

    def step() -> float:  # as the Trainer takes one (clipping by value and norm; fp16: through the GradScaler)
        optimizer.zero_grad(set_to_none=False)
        loss = forward()
        if scaler is None:
            loss.backward()
            clip_gradients(trainable, 1.0, 1.0)
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            clip_gradients(trainable, 1.0, 1.0)
            scaler.step(optimizer)
            scaler.update()
        return float(loss.detach())

    if device.type == "cuda":
        step()  # warm-up: kernels, cuBLAS workspaces, optimizer state
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        t0 = time.perf_counter()
        loss = step()
        torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        peak_mib, method = (torch.cuda.max_memory_allocated() - before) / 2**20, "cuda max_memory_allocated"
    else:
        # the optimizer state is created by the first step; create it before measuring (zeros)
        for p in trainable:
            optimizer.state[p] = {"step": torch.tensor(0.0), "exp_avg": torch.zeros_like(p),
                                  "exp_avg_sq": torch.zeros_like(p)}
        with CpuPeak() as peak:
            t0 = time.perf_counter()
            loss = step()
            seconds = time.perf_counter() - t0
        peak_mib, method = peak.mib, peak.method
    figures = model_figures(model, forward, args.batch * args.frames)
    return {**figures, "stage": args.stage, "checkpointing": args.checkpointing, "batch": args.batch,
            "frames": args.frames,
            "device": str(device), "precision": prec.name, "lm": args.lm if args.stage == "translate" else None,
            "lm_layers": (args.lm_layers or 24) if args.stage == "translate" else None,
            "peak_mib": round(peak_mib, 1), "peak_method": method, "seconds": round(seconds, 3), "loss": round(loss, 4),
            "grad_scale": scaler.get_scale() if scaler is not None else None,
            "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None}


def run_child(args: argparse.Namespace, stage: str, checkpointing: str, frames: int) -> dict:
    cmd = [sys.executable, __file__, "--child", "--stage", stage, "--checkpointing", checkpointing,
           "--device", args.device, "--batch", str(args.batch), "--frames", str(frames), "--tokens", str(args.tokens),
           "--vocab", str(args.vocab), "--lm", args.lm, "--lm-layers", str(args.lm_layers),
           "--threads", str(args.threads), "--chunk", str(args.chunk), "--precision", args.precision]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:  # e.g. out of memory: reported, and the other steps still run
        error = "\n".join(out.stderr.strip().splitlines()[-15:])
        log.error("%s step, checkpointing %s, %d frames failed:\n%s", stage, checkpointing, frames, error)
        return {"stage": stage, "checkpointing": checkpointing, "frames": frames, "error": error}
    result = json.loads(out.stdout.strip().splitlines()[-1])
    log.info("%s", result)
    return result


def main(argv: list[str] | None = None) -> dict | None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--stages", nargs="+", default=["pretrain", "translate"], choices=["pretrain", "translate"])
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--frames", type=int, default=32, help="frames per clip (the preset: up to 256)")
    ap.add_argument("--tokens", type=int, default=32, help="target tokens per sentence")
    ap.add_argument("--vocab", type=int, default=1000, help="pseudo-glosses (PHOENIX-2014T: about a thousand)")
    ap.add_argument("--lm", default="xglm-564M", choices=sorted(LMS))
    ap.add_argument("--lm-layers", type=int, default=0, help="0: all 24")
    ap.add_argument("--chunk", type=int, default=16,
                    help="spatial.chunk_size: frames per backbone pass (and per recomputation with checkpointing)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-scaling", action="store_true", help="skip the second frame count (GPU: measure as given)")
    ap.add_argument("--checkpointing", choices=["both", "on", "off"], default="both",
                    help="measure with and without gradient checkpointing, or one of them")
    ap.add_argument("--precision", choices=["auto", "bf16", "fp16", "fp32"], default="auto",
                    help="as config `precision` (fp16 on a CPU: its fp16 autocast, standing in for a V100)")
    ap.add_argument("--out", type=Path, default=HERE / "train_step.json")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--stage", default="pretrain", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return None
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    runs, summary, failed = [], {}, []
    settings = ("off", "on") if args.checkpointing == "both" else (args.checkpointing,)
    for stage in args.stages:
        for ckpt in settings:
            small = run_child(args, stage, ckpt, args.frames)
            runs.append(small)
            if "error" in small:
                failed.append(small)
                continue
            entry = {"frames": small["frames"], "peak_mib": small["peak_mib"], "seconds": small["seconds"]}
            if not args.no_scaling:
                large = run_child(args, stage, ckpt, 2 * args.frames)
                runs.append(large)
                if "error" in large:
                    failed.append(large)
                    continue
                entry.update({"frames_2x": large["frames"], "peak_mib_2x": large["peak_mib"],
                              "seconds_2x": large["seconds"]})
                n = args.batch * args.frames  # frames added between the two runs
                per_frame_mib = (large["peak_mib"] - small["peak_mib"]) / n
                per_frame_s = (large["seconds"] - small["seconds"]) / n
                fixed_mib = small["peak_mib"] - per_frame_mib * n
                preset_frames = PRESET["batch"] * PRESET["frames"]
                # what autograd keeps for backward, from the model's tensors: a fixed part (the LM's
                # per-sentence activations) and a part per frame (device-independent)
                saved = [r["saved_mib_per_frame"] * r["batch"] * r["frames"] for r in (small, large)]
                saved_per_frame = (saved[1] - saved[0]) / n
                entry.update({"saved_mib_per_frame": round(saved_per_frame, 4),
                              "saved_fixed_mib": round(saved[0] - saved_per_frame * n, 1),
                              "gflop_per_frame": large["gflop_per_frame"],
                              **{k: large[k] for k in ("trainable_params", "frozen_param_mib")}})
                entry.update({"mib_per_frame": round(per_frame_mib, 2), "s_per_frame": round(per_frame_s, 4),
                              "fixed_mib": round(fixed_mib, 1),
                              "extrapolated_preset_step_gib":
                                  round((fixed_mib + per_frame_mib * preset_frames) / 1024, 1)})
            summary[f"{stage}_{'ckpt' if ckpt == 'on' else 'plain'}"] = entry
        if f"{stage}_plain" not in summary or f"{stage}_ckpt" not in summary:
            continue  # one setting measured (or one failed): no ratio
        plain, ck = summary[f"{stage}_plain"], summary[f"{stage}_ckpt"]
        at = "_2x" if not args.no_scaling else ""  # the ratios at the largest step measured
        summary[f"{stage}_memory_ratio"] = round(plain[f"peak_mib{at}"] / max(ck[f"peak_mib{at}"], 1e-9), 2)
        summary[f"{stage}_time_ratio"] = round(ck[f"seconds{at}"] / max(plain[f"seconds{at}"], 1e-9), 2)
        if not args.no_scaling:
            summary[f"{stage}_memory_ratio_extrapolated"] = round(
                plain["extrapolated_preset_step_gib"] / max(ck["extrapolated_preset_step_gib"], 1e-9), 2)
    done = [r for r in runs if "error" not in r]
    result = {"benchmark": "train_step", "device": args.device,
              "precision": done[0]["precision"] if done else args.precision, "gpu": done[0]["gpu"] if done else None,
              "failed": len(failed), "batch": args.batch, "frames": args.frames, "lm": args.lm,
              "lm_layers": args.lm_layers or 24, "threads": args.threads, "chunk_size": args.chunk, "summary": summary,
              "runs": runs}
    write_json(args.out, result)
    print(json.dumps(result))
    if failed:
        raise SystemExit(f"{len(failed)} of {len(runs)} steps failed (see above)")
    return result


if __name__ == "__main__":
    main()
