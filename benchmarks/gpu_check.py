"""The GPU check: what a CPU cannot test, in one command of a few minutes on a CUDA machine, and the
same steps on tiny shapes on the CPU (`--cpu`, which `make test` runs, so the check cannot rot
before someone has a GPU). Each step runs on its own: a failing step (out of memory on a small
card, a missing tool) is reported with the end of its output, and the others still run. The last
line of stdout is a JSON summary; the exit status is 1 when a step failed.

Steps (GPU mode / --cpu):
  environment          torch, CUDA and the precision `select_precision` picks per device
  train_step           benchmarks/train_step.py at the presets' shapes, checkpointed (batch 8 x 256
                       frames, DINOv2-S at 224 with LoRA, XGLM-1.7B): peak memory, seconds per step
                       / the same on tiny shapes
  checkpointing        the same step with and without checkpointing at batch 1 x 256 frames (fits any
                       card): the memory ratio, and equal losses / tiny shapes
  fp16_step            the step in fp16 through the GradScaler on the same GPU / the CPU's fp16 autocast
  loader               benchmarks/loader.py: loader workers scaled over the CPUs, the float work on
                       the GPU, pinned memory as training uses it / 3 videos, 1 and 2 workers
  torchrun             an all-reduce and a DDP step with NCCL on every GPU / 2 gloo ranks
  rehearsal            the paper-scale rehearsal's pretrain and translate (pgp) on one GPU through the
                       workflow (stand-in weights, --resources gpu=1) / the tiny test configuration
                       to translate (pgp) with gpus: 2 on the CPU: torchrun's 2 gloo ranks through
                       Snakemake, spatial.tune: full
  rehearsal_fp16       the rehearsal with precision: fp16 where auto picks bf16, so the Trainer's
                       GradScaler path runs / skipped: precision: fp16 needs CUDA
  ddp_rehearsal        the rehearsal with gpus: 2, with the preset's tune: lora and with tune: full,
                       where two GPUs exist / skipped: the CPU rehearsal above runs gpus: 2

    bash benchmarks/gpu_check.sh [--out DIR]     # a CUDA machine, from the repository root
    bash benchmarks/gpu_check.sh --cpu           # every step on tiny shapes on the CPU

Results go to DIR (default gpu-check/): gpu_check.json (the summary), one log per step, the
benchmarks' JSON files and the rehearsals' logs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
PY = sys.executable  # absolute: steps run from other folders

# the train_step.py arguments of each mode: the presets' shapes on a GPU, the smallest on a CPU
TRAIN_STEP = {
    "cuda": ["--device", "cuda", "--frames", "256", "--chunk", "64", "--lm", "xglm-1.7B", "--threads", "8",
             "--no-scaling"],
    "cpu": ["--device", "cpu", "--frames", "2", "--chunk", "1", "--lm-layers", "1", "--vocab", "10", "--tokens", "4",
            "--threads", "1", "--no-scaling"],
}

DDP_CHECK = textwrap.dedent(
    """
    import torch, torch.distributed as dist
    from sign2gpt.training.distributed import cleanup, init_distributed, wrap_model

    info = init_distributed("cuda" if torch.cuda.is_available() else "cpu")
    if not dist.is_initialized():  # one GPU: still check that NCCL initialises
        dist.init_process_group("nccl", init_method="env://", rank=0, world_size=1)
    x = torch.ones(1, device=info.device) * (info.rank + 1)
    dist.all_reduce(x)
    world = dist.get_world_size()
    assert x.item() == world * (world + 1) / 2, x.item()
    model = wrap_model(torch.nn.Linear(8, 8), info)
    model(torch.randn(4, 8, device=info.device)).sum().backward()
    print(f"rank {info.rank}/{world} on {info.device}: all_reduce {x.item()}, backend {dist.get_backend()}", flush=True)
    cleanup()
    """
)


class StepFailed(Exception):
    """A step's command failed; the message is the end of its output."""


class StepSkipped(Exception):
    """A step this machine cannot run (the message says why)."""


@dataclass
class Check:
    cpu: bool
    out: Path
    work: Path
    timeout: int

    @property
    def mode(self) -> str:
        return "cpu" if self.cpu else "cuda"

    def run(self, name: str, cmd: list[str], *, cwd: Path | None = None) -> str:
        """Run `cmd`, its output into `<out>/<name>.log`; returns stdout, or raises StepFailed."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": os.pathsep.join(
            [str(REPO / "src"), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]])}
        try:
            proc = subprocess.run(cmd, cwd=cwd or REPO, capture_output=True, text=True, timeout=self.timeout, env=env)
        except subprocess.TimeoutExpired as exc:
            raise StepFailed(f"timed out after {self.timeout} s: {' '.join(cmd)}") from exc
        (self.out / f"{name}.log").write_text(f"$ {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
            raise StepFailed(f"exit status {proc.returncode}: {' '.join(cmd[:4])} ...\n{tail}")
        return proc.stdout

    def last_json(self, stdout: str) -> dict[str, Any]:
        return json.loads(stdout.strip().splitlines()[-1])

    # -- the steps --------------------------------------------------------------------------------

    def environment(self) -> dict[str, Any]:
        probe = textwrap.dedent(
            """
            import json, os, torch
            from sign2gpt.runtime.precision import select_precision
            devices = [torch.device("cuda", i) for i in range(torch.cuda.device_count())] or [torch.device("cpu")]
            print(json.dumps({"torch": torch.__version__, "cuda": torch.version.cuda, "cpus": os.cpu_count(),
                              "devices": [{"device": str(d), "name": torch.cuda.get_device_name(d) if d.type == "cuda"
                                           else "cpu", "precision": select_precision(d).name} for d in devices]}))
            """
        )
        found = self.last_json(self.run("environment", [PY, "-c", probe]))
        if not self.cpu and found["devices"][0]["device"] == "cpu":
            raise StepFailed(f"no CUDA device visible to torch {found['torch']} (a CPU build?); "
                             "`--cpu` runs the check on the CPU")
        return found

    def _train_step(self, name: str, *extra: str) -> dict[str, Any]:
        out = self.out / f"{name}.json"
        return self.last_json(self.run(name, [PY, str(REPO / "benchmarks" / "train_step.py"),
                                              *TRAIN_STEP[self.mode], *extra, "--out", str(out)]))

    def train_step(self) -> dict[str, Any]:
        batch = "1" if self.cpu else "8"
        return self._train_step("train_step", "--batch", batch, "--checkpointing", "on")["summary"]

    def checkpointing(self) -> dict[str, Any]:
        result = self._train_step("checkpointing", "--batch", "1", "--checkpointing", "both")
        runs = {(r["stage"], r["checkpointing"]): r for r in result["runs"]}
        for stage in ("pretrain", "translate"):  # checkpointing changes memory, never the loss
            if runs[(stage, "off")]["loss"] != runs[(stage, "on")]["loss"]:
                raise StepFailed(f"{stage}: the loss changes with checkpointing: {runs[(stage, 'off')]['loss']} "
                                 f"vs {runs[(stage, 'on')]['loss']}")
        return result["summary"]

    def fp16_step(self) -> dict[str, Any]:
        stages = ["--stages", "translate"] if self.cpu else []  # on a CPU the translate step covers the path
        result = self._train_step("fp16_step", "--batch", "1", "--checkpointing", "on", "--precision", "fp16", *stages)
        if any(r["precision"] != "fp16" or not r["grad_scale"] for r in result["runs"]):
            raise StepFailed(f"not an fp16 step with a GradScaler: {result['runs']}")
        return {f"{r['stage']}_grad_scale": r["grad_scale"] for r in result["runs"]} | result["summary"]

    def loader(self) -> dict[str, Any]:
        cpus = os.cpu_count() or 2
        shape = (["--videos", "3", "--frames", "12", "--workers", "1", "2", "--repeats", "1"] if self.cpu else
                 ["--workers", *map(str, sorted({1, 2, max(1, cpus // 2), max(1, cpus - 1)})), "--repeats", "2"])
        out = self.out / "loader.json"
        return self.last_json(self.run("loader", [PY, str(REPO / "benchmarks" / "loader.py"), "--device", self.mode,
                                                  *shape, "--json", str(out)]))

    def host_syncs(self) -> dict[str, Any]:
        if self.cpu:
            raise StepSkipped("the CPU count runs in make test (tests/test_benchmarks.py); here torch's own "
                              "sync warnings need CUDA")
        out, work = self.out / "host_syncs.json", self.work / "host_syncs"
        result = self.last_json(self.run("host_syncs", [PY, str(REPO / "benchmarks" / "host_syncs.py"), "--device",
                                                        "cuda", "--work", str(work), "--out", str(out)]))
        return {"targets_met": result["targets_met"], **result["summary"]}

    def torchrun(self) -> dict[str, Any]:
        script = self.work / "ddp_check.py"
        script.write_text(DDP_CHECK)
        nproc = 2 if self.cpu else self._gpus()
        stdout = self.run("torchrun", [PY, "-m", "torch.distributed.run", "--standalone",
                                       f"--nproc-per-node={nproc}", str(script)])
        # the ranks print concurrently: their lines may run together
        ranks = re.findall(r"rank \d+/\d+ on \S+?: all_reduce [\d.]+, backend (?:gloo|nccl|mpi)", stdout)
        return {"processes": nproc, "ranks": ranks}

    def _gpus(self) -> int:
        return int(self.run("gpus", [PY, "-c", "import torch; print(torch.cuda.device_count())"]).strip())

    def _bf16(self) -> bool:
        probe = "import torch; print(torch.cuda.is_available() and torch.cuda.get_device_capability(0) >= (8, 0))"
        return self.run("bf16", [PY, "-c", probe]).strip() == "True"

    def _paper_rehearsal(self, name: str, overrides: str, gpus: int) -> dict[str, Any]:
        """The paper-scale rehearsal (stand-in weights at the presets' sizes) on CUDA, to translate-pgp."""
        work = self.work / name
        make = textwrap.dedent(
            f"""
            from sign2gpt.app.rehearsal import make_rehearsal_inputs
            make_rehearsal_inputs({str(work)!r}, "phoenix14t", lm_layers=24,
                                  corpus=dict(splits={{"train": 8, "dev": 2, "test": 2}}, signers=3,
                                              test_only_signers=1, image_size=64, frames_per_gloss=[18, 24],
                                              transition_frames=[3, 5], seed=0))
            """
        )
        self.run(f"{name}_inputs", [PY, "-c", make])
        (work / "cuda.yaml").write_text(f"gpus: {gpus}\ndevice: cuda\n{overrides}")
        target = "results/phoenix14t/paper/seed1/translate-pgp/best.safetensors"
        configs = [str(REPO / "configs" / "phoenix14t.yaml"), str(REPO / ".test" / "paper-scale.yaml"),
                   str(work / "cuda.yaml")]
        return self._workflow(name, work, configs, gpus, target, "phoenix14t")

    def _workflow(self, name: str, work: Path, configs: list[str], gpus: int, target: str, dataset: str) -> dict:
        start = time.perf_counter()
        self.run(name, [SNAKEMAKE, target, "--snakefile", str(REPO / "Snakefile"), "--cores", str(os.cpu_count() or 2),
                        "--resources", f"gpu={gpus}", "--configfile", *configs], cwd=work)
        logs = {}
        for stage in ("pretrain", "translate-pgp"):
            log = next((work / "logs" / dataset).glob(f"*/seed1/{stage}.log"))  # logs/<ds>/<experiment>/seed1/
            shutil.copy(log, self.out / f"{name}-{stage}.log")
            logs[stage] = [line.split(": ", 1)[-1] for line in log.read_text().splitlines()
                           if any(k in line for k in ("precision:", "epoch 1/", "joined process group", "done:"))]
        return {"seconds": round(time.perf_counter() - start, 1), "logs": logs}

    def rehearsal(self) -> dict[str, Any]:
        if not self.cpu:
            return self._paper_rehearsal("rehearsal", "", gpus=1)
        work = self.work / "rehearsal"
        work.mkdir()
        (work / "ddp.yaml").write_text("gpus: 2\ndevice: cpu\n")
        return self._workflow("rehearsal", work, [str(REPO / ".test" / "config.yaml"), str(work / "ddp.yaml")], 2,
                              "results/synthetic-test/test/seed1/translate-pgp/best.safetensors", "synthetic-test")

    def rehearsal_fp16(self) -> dict[str, Any]:
        if self.cpu:
            raise StepSkipped("precision: fp16 needs CUDA (fp16_step runs the GradScaler step on the CPU, "
                              "tests/test_precision.py the Trainer's fp16 path)")
        if not self._bf16():
            raise StepSkipped("this GPU has no bf16: `auto` already picks fp16, which the rehearsal ran")
        return self._paper_rehearsal("rehearsal_fp16", "precision: fp16\n", gpus=1)

    def ddp_rehearsal(self) -> dict[str, Any]:
        if self.cpu:
            raise StepSkipped("the CPU rehearsal runs gpus: 2 (2 gloo ranks, tune: full)")
        gpus = self._gpus()
        if gpus < 2:
            raise StepSkipped(f"{gpus} GPU: the 2-GPU rehearsal needs two")
        return {"lora": self._paper_rehearsal("ddp_rehearsal", "", gpus=2),
                "full": self._paper_rehearsal("ddp_rehearsal_full", "spatial: {tune: full}\n", gpus=2)}

    STEPS = ("environment", "train_step", "checkpointing", "fp16_step", "host_syncs", "loader", "torchrun", "rehearsal",
             "rehearsal_fp16", "ddp_rehearsal")


def run_step(name: str, step: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    print(f"== {name}", flush=True)
    start = time.perf_counter()
    try:
        result = {"status": "passed", **step()}
    except StepSkipped as exc:
        result = {"status": "skipped", "reason": str(exc)}
    except StepFailed as exc:
        result = {"status": "failed", "error": str(exc)}
    except Exception as exc:  # a step's own bug: reported like a failure, the others still run
        result = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    result["seconds"] = round(time.perf_counter() - start, 1)
    print(f"   {result['status']} in {result['seconds']} s" + (f": {result.get('reason') or result.get('error')}"
                                                              if result["status"] != "passed" else ""), flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cpu", action="store_true", help="every step on tiny shapes on the CPU")
    ap.add_argument("--out", type=Path, default=REPO / "gpu-check")
    ap.add_argument("--steps", nargs="+", choices=Check.STEPS, default=list(Check.STEPS))
    ap.add_argument("--timeout", type=int, default=None, help="seconds per step (default 900 on a GPU, 300 on CPU)")
    args = ap.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        check = Check(cpu=args.cpu, out=out, work=Path(tmp), timeout=args.timeout or (300 if args.cpu else 900))
        steps = {name: run_step(name, getattr(check, name)) for name in args.steps}
    counts = {s: sum(r["status"] == s for r in steps.values()) for s in ("passed", "failed", "skipped")}
    summary = {"benchmark": "gpu_check", "mode": check.mode, **counts,
               "seconds": round(time.perf_counter() - start, 1), "steps": steps}
    (out / "gpu_check.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary))
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
