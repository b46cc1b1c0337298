"""Beam-4 decoding with the KV cache vs recomputing the prefix every step (the official code).

Same model, same inputs, one run each. The model is a randomly initialised XGLM with the depth
of XGLM-1.7B (24 layers) but a small width, adapted by `SignConditionedLM` with every gate
opened and random LoRA weights, so the sign memory changes the output. Generation is forced to
exactly `--tokens` new tokens by giving beam search an eos id that never occurs, so both runs do
the full-length work. The recompute path calls `SignConditionedLM.forward` on the whole prefix
each step (FC_m and every layer's memory K/V included), like HF `generate(use_cache=False)`.

    .venv/bin/python benchmarks/decoding.py [--threads 2] [--layers 24 --d-model 256 ...]

Prints one JSON line (also written to benchmarks/decoding.json): timings, `speedup`
(recompute / cached), `identical` (every hypothesis equal), and `memory_kv`: the FLOPs and bytes of
FC_m + every layer's cross K/V as the cached search computes them (once per video, shared by its
beams) and as they were computed before (on the memory repeated once per beam).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import XGLMConfig, XGLMForCausalLM

from sign2gpt.core.io import write_json
from sign2gpt.evaluation.beam_search import beam_search
from sign2gpt.models.gated_lm import SignConditionedLM
from sign2gpt.runtime.device import resolve_device, seed_everything, set_threads


def build_model(args: argparse.Namespace, device: torch.device) -> SignConditionedLM:
    config = XGLMConfig(vocab_size=args.vocab, d_model=args.d_model, num_layers=args.layers,
                        attention_heads=args.heads, ffn_dim=4 * args.d_model,
                        max_position_embeddings=max(128, args.tokens + 2))
    lm = XGLMForCausalLM(config).eval().requires_grad_(False)
    if device.type == "cuda":
        lm = lm.to(torch.bfloat16)
    model = SignConditionedLM(lm.to(device), args.memory_dim).eval()
    with torch.no_grad():  # open the gates and give every LoRA a non-zero B
        for layer in model._layers:
            layer.self_attn.gate.fill_(0.5)
            for name, p in layer.self_attn.named_parameters():
                if ".up." in name:
                    p.normal_(0, 0.05)
    return model


def memory_kv(model: SignConditionedLM, memory: torch.Tensor, memory_mask: torch.Tensor) -> dict:
    """FLOPs and MiB of the decoding cache's memory K/V (FC_m and every layer's cross K/V)."""
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        cache = model.start_decoding(memory, memory_mask)
    mib = sum(k.nbytes + v.nbytes for k, v in cache.cross) / 2**20
    return {"flop": counter.get_total_flops(), "mib": round(mib, 3)}


def timed(fn) -> tuple[float, list[list[int]]]:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=24)
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=4096)
    parser.add_argument("--memory-dim", type=int, default=128)
    parser.add_argument("--memory-len", type=int, default=64)
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--beam", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=64, help="new tokens generated per hypothesis")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).with_suffix(".json")))
    args = parser.parse_args()

    set_threads(args.threads)
    seed_everything(args.seed)
    device = resolve_device(args.device)
    model = build_model(args, device)
    memory = torch.randn(args.videos, args.memory_len, args.memory_dim, device=device)
    memory_mask = torch.ones(args.videos, args.memory_len, dtype=torch.bool, device=device)
    memory_mask[1::2, args.memory_len * 3 // 4:] = False  # some padded videos

    def run(use_cache: bool, max_len: int = args.tokens + 1) -> list[list[int]]:
        return beam_search(model, memory, memory_mask, bos_id=2, eos_id=-1, pad_id=1, beam=args.beam,
                           max_len=max_len, use_cache=use_cache)

    run(True, max_len=3), run(False, max_len=3)  # warm-up: allocator, kernels, thread pools
    cached_s, cached = timed(lambda: run(True))
    recompute_s, recomputed = timed(lambda: run(False))
    assert all(len(h) == args.tokens for h in cached), "generation was not forced to full length"
    shared = memory_kv(model, memory, memory_mask)
    per_beam = memory_kv(model, memory.repeat_interleave(args.beam, 0), memory_mask.repeat_interleave(args.beam, 0))

    result = {
        "benchmark": "beam search decoding: KV cache vs recomputing the prefix",
        "model": {"type": "xglm (random init)", "layers": args.layers, "d_model": args.d_model,
                  "heads": args.heads, "ffn_dim": 4 * args.d_model, "vocab": args.vocab},
        "memory": {"videos": args.videos, "length": args.memory_len, "dim": args.memory_dim},
        "beam": args.beam,
        "new_tokens": args.tokens,
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "cached_s": round(cached_s, 3),
        "recompute_s": round(recompute_s, 3),
        "cached_tokens_per_s": round(args.videos * args.beam * args.tokens / cached_s, 1),
        "speedup": round(recompute_s / cached_s, 2),
        "identical": cached == recomputed,
        "memory_kv": {"per_video": shared, "per_beam": per_beam,
                      "flop_ratio": round(per_beam["flop"] / shared["flop"], 2),
                      "bytes_ratio": round(per_beam["mib"] / shared["mib"], 2)},
    }
    write_json(args.out, result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
