"""GPU jobs never share a GPU by accident on one machine: a run with `gpus` > 0 must declare the
machine's GPUs, and then every GPU stage asks for all of them, so they queue one at a time. On a
cluster each job asks for what it uses (tests/slurm/test_slurm.py submits them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
GPU_STAGES = {"pretrain", "cache_features", "translate", "evaluate", "baselines"}
CPU_STAGES = {"prepare", "decode", "pseudo_glosses", "prototypes", "report"}


def dry_run(tmp_path, *args):
    (tmp_path / "weights").mkdir(exist_ok=True)
    (tmp_path / "weights" / "cc.de.300.bin").touch()  # the preset's fastText file, only for planning
    cmd = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--configfile", str(REPO / "configs" / "phoenix14t.yaml"),
           "-n", "--cores", "8", *args]
    return subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)


def gpu_requests(stdout: str) -> dict[str, set[int]]:
    """{rule: the gpu counts its jobs ask for} from a dry run's job listing (0: none)."""
    requests: dict[str, set[int]] = {}
    rule = None
    for line in stdout.splitlines():
        if line.startswith(("rule ", "localrule ")):
            rule = line.split()[1].rstrip(":")
            requests.setdefault(rule, set())
        elif line.strip().startswith("resources:") and rule:
            gpu = [int(p.split("=")[1]) for p in line.split(":", 1)[1].replace(" ", "").split(",") if p.startswith("gpu=")]
            requests[rule].add(gpu[0] if gpu else 0)
    return requests


def test_a_local_gpu_run_must_declare_its_gpus(tmp_path):
    proc = dry_run(tmp_path)
    assert proc.returncode != 0
    assert "--resources gpu=1" in proc.stdout + proc.stderr


@pytest.mark.parametrize("declared", [1, 4])
def test_every_gpu_stage_asks_for_every_declared_gpu(tmp_path, declared):
    proc = dry_run(tmp_path, "--resources", f"gpu={declared}")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    requests = gpu_requests(proc.stdout)
    for rule in GPU_STAGES:
        assert requests.get(rule) == {declared}, (rule, requests)
    for rule in CPU_STAGES:
        assert requests.get(rule) == {0}, (rule, requests)


def test_the_local_profile_declares_one_gpu(tmp_path):
    proc = dry_run(tmp_path, "--profile", str(REPO / "profiles" / "local"))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert gpu_requests(proc.stdout)["translate"] == {1}
