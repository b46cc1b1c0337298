"""Peak memory and time of one forward+backward of the sign encoder: local vs dense attention.

    .venv/bin/python benchmarks/sign_encoder.py                # paper size: dim 512, 8 heads, [2, 2]
    .venv/bin/python benchmarks/sign_encoder.py --lengths 256 1024 --dim 128 --heads 4

Each (T, attention) pair runs in a fresh child process (batch 1, train mode, dropout on) so the
measurements do not share an allocator. Memory is the resident-set high-water mark of the child
during the step minus its resident set just before (Linux: the mark is reset through
/proc/self/clear_refs; elsewhere the ru_maxrss of the fresh process is used), with the parameter
gradients allocated beforehand so only activations and temporaries count. A second figure, the
bytes of tensors autograd saves for backward (unique storages), is exact and allocator-free.
Time is the fastest of `--repeats` steps after the first (the minimum is the figure least
disturbed by other processes on a shared machine); the CPU time of that step (all threads) is
reported too, as it barely depends on contention.

`dense` is the same encoder with T x T band-masked attention (`impl="dense"`), identical results;
`global` (`--impls global`) is Table 4's full-attention row, with its own results and a T x T cost.
Writes benchmarks/sign_encoder.json and prints the same JSON as the last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

from sign2gpt.core.io import write_json

log = logging.getLogger("bench.sign_encoder")
HERE = Path(__file__).resolve().parent


def _proc_status_kib(key: str) -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    m = re.search(rf"^{key}:\s+(\d+) kB", text, re.M)
    return int(m.group(1)) if m else None


def _reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return _proc_status_kib("VmHWM") is not None


def child(args: argparse.Namespace) -> dict:
    """One measurement in this (fresh) process."""
    import torch

    from sign2gpt.models.sign_encoder import SignEncoder

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    enc = SignEncoder(
        args.dim, args.dim, args.heads, args.layers, args.window, args.mlp_ratio,
        dropout=0.1, drop_path=0.1, attention=args.impl,
    ).train()
    x = torch.randn(1, args.T, args.dim, requires_grad=True)
    mask = torch.ones(1, args.T, dtype=torch.bool)
    for p in enc.parameters():  # allocate gradients up front: they are not activation memory
        p.grad = torch.zeros_like(p)
    x.grad = torch.zeros_like(x)

    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        st = t.untyped_storage()
        saved[st.data_ptr()] = st.nbytes()
        return t

    def step() -> None:
        z, _ = enc(x, mask)
        z.square().mean().backward()

    exact_peak = _reset_peak_rss()
    rss0 = _proc_status_kib("VmRSS") if exact_peak else None
    t0 = time.perf_counter()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        step()
    first = time.perf_counter() - t0
    if exact_peak:
        peak_kib = _proc_status_kib("VmHWM") - rss0
    else:  # fresh process: the lifetime peak is dominated by the step for the sizes we run
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times, cpu_times = [], []
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)
    params = {n: p for n, p in enc.named_parameters()}
    saved_bytes = sum(saved.values()) - sum(
        p.untyped_storage().nbytes() for p in params.values() if p.untyped_storage().data_ptr() in saved
    )
    return {
        "T": args.T,
        "impl": args.impl,
        "peak_mib": round(peak_kib / 1024, 1),
        "peak_method": "VmHWM-reset" if exact_peak else "ru_maxrss",
        "saved_activations_mib": round(saved_bytes / 2**20, 1),
        "time_s": round(min(times) if times else first, 4),
        "cpu_time_s": round(min(cpu_times), 4) if cpu_times else None,
        "first_step_s": round(first, 4),
    }


def run_child(args: argparse.Namespace, T: int, impl: str) -> dict:
    cmd = [
        sys.executable, __file__, "--child", "--T", str(T), "--impl", impl,
        "--dim", str(args.dim), "--heads", str(args.heads), "--window", str(args.window),
        "--mlp-ratio", str(args.mlp_ratio), "--threads", str(args.threads), "--repeats", str(args.repeats),
        "--layers", *map(str, args.layers),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict | None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lengths", type=int, nargs="+", default=[256, 1024, 4096])
    ap.add_argument("--impls", nargs="+", default=["local", "dense"], choices=["local", "dense", "global"])
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--layers", type=int, nargs="+", default=[2, 2])
    ap.add_argument("--window", type=int, default=7)
    ap.add_argument("--mlp-ratio", type=float, default=4.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1, help="timed steps after the first (fastest kept)")
    ap.add_argument("--out", type=Path, default=HERE / "sign_encoder.json")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--T", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--impl", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        print(json.dumps(child(args)))
        return None

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    results: dict[str, dict[str, dict]] = {impl: {} for impl in args.impls}
    for T in args.lengths:
        for impl in args.impls:
            r = run_child(args, T, impl)
            results[impl][str(T)] = r
            log.info("T=%5d %-5s peak %8.1f MiB  saved %8.1f MiB  time %.3f s  cpu %s s",
                     T, impl, r["peak_mib"], r["saved_activations_mib"], r["time_s"], r["cpu_time_s"])

    summary: dict = {
        "benchmark": "sign_encoder forward+backward, batch 1, train mode",
        "model": {"dim": args.dim, "heads": args.heads, "layers": args.layers, "window": args.window,
                  "mlp_ratio": args.mlp_ratio},
        "threads": args.threads,
        "results": results,
    }
    lo, hi = min(args.lengths), max(args.lengths)
    if "local" in results and "dense" in results:
        for T in args.lengths:
            d, loc = results["dense"][str(T)], results["local"][str(T)]
            summary[f"mem_ratio_{T}"] = round(d["peak_mib"] / max(loc["peak_mib"], 1e-9), 2)
            summary[f"saved_ratio_{T}"] = round(d["saved_activations_mib"] / max(loc["saved_activations_mib"], 1e-9), 2)
            summary[f"time_ratio_{T}"] = round(d["time_s"] / max(loc["time_s"], 1e-9), 2)
            if loc["cpu_time_s"]:
                summary[f"cpu_time_ratio_{T}"] = round(d["cpu_time_s"] / max(loc["cpu_time_s"], 1e-9), 2)
    ordered = sorted(args.lengths)
    if len(ordered) >= 2:
        a, b = ordered[-2], ordered[-1]
        for impl in results:
            ra, rb = results[impl][str(a)], results[impl][str(b)]
            summary[f"{impl}_growth_{b}_over_{a}"] = {
                "length_ratio": b / a,
                "peak_mem": round(rb["peak_mib"] / max(ra["peak_mib"], 1e-9), 2),
                "saved_activations": round(rb["saved_activations_mib"] / max(ra["saved_activations_mib"], 1e-9), 2),
                "time": round(rb["time_s"] / max(ra["time_s"], 1e-9), 2),
                "cpu_time": round(rb["cpu_time_s"] / max(ra["cpu_time_s"], 1e-9), 2) if ra["cpu_time_s"] else None,
            }
    write_json(args.out, summary)
    log.info("wrote %s (lengths %d..%d)", args.out, lo, hi)
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
