"""Threads follow what a job was given: the rule asks for its data-loader workers + 1, and inside
a SLURM job torch uses the CPUs sbatch allocated (SLURM_CPUS_PER_TASK)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import torch

from sign2gpt.stage import run_stage
from sign2gpt.utils import job_cpus

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
USABLE = len(os.sched_getaffinity(0))


def test_rule_threads_outside_slurm(monkeypatch):
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    assert job_cpus(1) == 1
    assert job_cpus(None) is None
    assert job_cpus(10_000) == USABLE  # never more than the process may run on


def test_slurm_allocation_wins_over_the_rule(monkeypatch):
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "1")
    assert job_cpus(8) == 1
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", str(USABLE))
    assert job_cpus(1) == USABLE
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "")  # unset-like values fall back to the rule
    assert job_cpus(1) == 1


def test_run_stage_sets_torch_threads(monkeypatch, tmp_path):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("SLURM_CPUS_PER_TASK", str(USABLE))
        smk = SimpleNamespace(log=[str(tmp_path / "x.log")], threads=1, rule="x", output=[])
        with run_stage(smk):
            assert torch.get_num_threads() == USABLE
        assert f"({USABLE} torch threads)" in (tmp_path / "x.log").read_text()
    finally:
        torch.set_num_threads(before)


def test_preset_training_jobs_ask_for_their_loader_workers(tmp_path):
    """configs/phoenix14t.yaml: num_workers 8 -> pretrain and translate jobs take 9 CPUs (sbatch -c via
    the SLURM profile's cpus_per_task: threads), the other torch stages `threads`."""
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "cc.de.300.bin").touch()  # the preset's fastText file, only for planning
    cmd = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--configfile", str(REPO / "configs" / "phoenix14t.yaml"),
           "-n", "--cores", "64", "--resources", "gpu=1"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    threads: dict[str, set[int]] = {}
    rule = None
    for line in proc.stdout.splitlines():
        if line.startswith(("rule ", "localrule ")):
            rule = line.split()[1].rstrip(":")
        elif line.strip().startswith("threads:") and rule:
            threads.setdefault(rule, set()).add(int(line.split()[1]))
    assert threads.get("pretrain") == {9} and threads.get("translate") == {9}, threads
    assert "evaluate" not in threads  # 1 thread (config threads): Snakemake prints none
