"""Threads follow what a job was given: a training rule asks for its data-loader workers + its
training processes, SLURM books exactly the rule's threads, torch never takes more than a SLURM
allocation, and the training process leaves its loader workers their CPUs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from sign2gpt.app.stage_runner import run_stage
from sign2gpt.core.config import load_config
from sign2gpt.core.job_resources import job_cpus, job_threads, stage_resources
from sign2gpt.runtime.device import reserve_for_workers

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
USABLE = len(os.sched_getaffinity(0))


def test_rule_threads_outside_slurm(monkeypatch):
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    assert job_cpus(1) == 1
    assert job_cpus(None) is None
    assert job_cpus(10_000) == USABLE  # never more than the process may run on


def test_a_slurm_allocation_caps_the_rule_threads(monkeypatch):
    """The SLURM profile books cpus_per_task = threads; inside a smaller allocation (say a local run
    in `sbatch -c 1 --wrap ...`) no job takes more than the allocation."""
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "1")
    assert job_cpus(8) == 1
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", str(USABLE + 8))
    assert job_cpus(1) == 1  # a big allocation shared by parallel local jobs: each keeps its threads
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "")  # unset-like values are ignored
    assert job_cpus(1) == 1


def test_training_keeps_one_thread_per_cpu_its_loader_workers_leave(monkeypatch):
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(max(USABLE, 1))
        assert reserve_for_workers(0) == max(USABLE, 1)
        torch.set_num_threads(9)
        assert reserve_for_workers(8) == 1 and torch.get_num_threads() == 1
        torch.set_num_threads(2)
        assert reserve_for_workers(8) == 1
    finally:
        torch.set_num_threads(before)


def test_run_stage_sets_torch_threads(monkeypatch, tmp_path):
    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
        torch.set_num_threads(USABLE + 3)  # not what the job was given, so a runner that sets nothing fails
        smk = SimpleNamespace(log=[str(tmp_path / "x.log")], threads=1, rule="x", output=[])
        with run_stage(smk):
            assert torch.get_num_threads() == 1
        assert "(1 torch threads)" in (tmp_path / "x.log").read_text()
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("config,section,expected", [
    ({"threads": 1, "gpus": 0}, None, 1),
    ({"threads": 1, "gpus": 0, "pretrain": {"num_workers": 8}}, "pretrain", 9),
    ({"threads": 12, "gpus": 0, "pretrain": {"num_workers": 8}}, "pretrain", 12),
    ({"threads": 1, "gpus": 4, "translate": {"num_workers": 8}}, "translate", 36),  # 4 DDP ranks x (8 + 1)
    ({"threads": 1, "gpus": 4, "translate": {"num_workers": 0}}, "translate", 4),  # 4 DDP ranks, no workers
])
def test_job_threads(config, section, expected):
    assert job_threads(config, section) == expected


def test_one_process_stages_reading_a_training_section_ask_for_one_rank():
    config = {"threads": 1, "gpus": 4, "translate": {"num_workers": 8}}
    assert job_threads(config, "translate", distributed=False) == 9  # evaluate: one process + 8 workers


def test_stage_resources_take_the_rule_entry_over_the_default():
    config = {"resources": {"default": {"mem_mb": 2000, "runtime": 30}, "translate": {"runtime": 4320}}}
    assert stage_resources(config, "translate") == {"mem_mb": 2000, "runtime": 4320}
    assert stage_resources(config, "decode") == {"mem_mb": 2000, "runtime": 30}


def test_preset_training_jobs_ask_for_their_loader_workers(tmp_path):
    """configs/phoenix14t.yaml: num_workers 8 -> pretrain and translate jobs take 9 CPUs (sbatch -c via
    the SLURM profile's cpus_per_task: threads), the other torch stages `threads`; every job's memory
    and wall time are the preset's `resources:` for its rule."""
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "cc.de.300.bin").touch()  # the preset's fastText file, only for planning
    cmd = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--configfile", str(REPO / "configs" / "phoenix14t.yaml"),
           "-n", "--cores", "64", "--resources", "gpu=1"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    threads: dict[str, set[int]] = {}
    resources: dict[str, set[tuple[int, int]]] = {}
    rule = None
    for line in proc.stdout.splitlines():
        if line.startswith(("rule ", "localrule ")):
            rule = line.split()[1].rstrip(":")
        elif line.strip().startswith("threads:") and rule:
            threads.setdefault(rule, set()).add(int(line.split()[1]))
        elif line.strip().startswith("resources:") and rule != "all":
            fields = dict(kv.split("=", 1) for kv in line.split(":", 1)[1].strip().split(", "))
            resources.setdefault(rule, set()).add((int(fields["mem_mb"]), int(fields["runtime"])))
    preset = load_config(REPO / "configs" / "phoenix14t.yaml")
    assert resources and all(got == {tuple(stage_resources(preset, r).values())}
                             for r, got in resources.items()), resources
    assert resources["translate"] == {(64000, 4320)}, resources  # the preset's own entry, not the default
    assert threads.get("pretrain") == {9} and threads.get("translate") == {9}, threads
    assert threads.get("cache_features") == {9} and threads.get("evaluate") == {9}, threads  # loader workers too
    assert "baselines" not in threads  # 1 thread (config threads): Snakemake prints none
