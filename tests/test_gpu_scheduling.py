"""GPU jobs never share a GPU by accident on one machine: a run with `gpus` > 0 must declare the
machine's GPUs, and then every GPU stage asks for all of them, so they queue one at a time. On a
cluster each job asks for what it uses (tests/slurm/test_slurm.py submits them)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from sign2gpt.core import job_resources
from sign2gpt.core.errors import ConfigError
from sign2gpt.core.job_resources import check_declared_gpus, gpu_request

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
            gpu = [int(p.split("=")[1]) for p in line.split(":", 1)[1].replace(" ", "").split(",")
                   if p.startswith("gpu=")]
            requests[rule].add(gpu[0] if gpu else 0)
    return requests


def test_a_local_gpu_run_must_declare_its_gpus(tmp_path):
    """A run that plans a GPU job is refused before any job starts (a dry run only plans)."""
    (tmp_path / ".test").symlink_to(REPO / ".test")
    target = "results/phoenix14t/paper/seed1/pretrain/best.safetensors"
    cmd = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--configfile", str(REPO / "configs" / "phoenix14t.yaml"),
           str(REPO / ".test" / "phoenix14t-dry-run.yaml"), "--cores", "1", target]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "--resources gpu=1" in proc.stdout + proc.stderr, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert not (tmp_path / "logs").exists()  # no job ran, not even the CPU jobs before pretrain
    assert dry_run(tmp_path).returncode == 0  # planning alone is allowed


def test_a_preset_runs_its_cpu_stages_without_declaring_gpus(tmp_path):
    """`gpus: 1` on a CPU login node: a real run that plans no GPU job (`--until prepare` on the
    release-layout fixture) needs no `--resources gpu`."""
    (tmp_path / ".test").symlink_to(REPO / ".test")
    cmd = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--configfile", str(REPO / "configs" / "phoenix14t.yaml"),
           str(REPO / ".test" / "phoenix14t-dry-run.yaml"), "--cores", "1", "--until", "prepare"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    for split in ("train", "dev", "test"):
        assert (tmp_path / "results" / "phoenix14t" / "manifest" / f"{split}.tsv").stat().st_size > 0


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


@pytest.mark.parametrize("stage,gpus,one_machine,declared,expected", [
    ("evaluate", 1, False, None, 1),       # cluster: what the stage uses
    ("translate", 4, False, None, 4),      # cluster, DDP
    ("evaluate", 4, False, None, 1),
    ("evaluate", 1, True, 2, 2),           # one machine: every declared GPU, so GPU jobs queue
    ("translate", 2, True, 2, 2),
    ("prepare", 0, True, 2, 0),            # CPU stages never ask
    ("evaluate", 0, True, 2, 0),           # gpus: 0 runs on CPU
])
def test_gpu_request(stage, gpus, one_machine, declared, expected):
    assert gpu_request({"gpus": gpus}, stage, one_machine=one_machine, declared=declared) == expected


def test_declared_gpus_must_cover_the_config():
    gpu_job = ["prepare", "translate"]
    check_declared_gpus({"gpus": 0}, None, gpu_job)
    check_declared_gpus({"gpus": 2}, 2, gpu_job)
    with pytest.raises(ConfigError, match="--resources gpu=2"):
        check_declared_gpus({"gpus": 2}, None, gpu_job)
    with pytest.raises(ConfigError, match="declared --resources gpu=1"):
        check_declared_gpus({"gpus": 2}, 1, gpu_job)
    with pytest.raises(ConfigError, match="declared --resources gpu=0"):
        check_declared_gpus({"gpus": 1}, 0, ["evaluate"])
    check_declared_gpus({"gpus": 2}, None, ["prepare", "decode", "pseudo_glosses", "prototypes", "report"])


def test_the_gpu_stages_are_the_rules_that_ask_for_a_gpu():
    """GPU_STAGES (what the declaration check counts) names exactly the rules with a gpu resource."""
    asked = set()
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        asked |= set(re.findall(r'gpu=gpu_request\("(\w+)"\)', smk.read_text()))
    assert asked == set(job_resources.GPU_STAGES)


def test_a_cluster_run_needs_no_declaration(tmp_path):
    """The SLURM profile's dry run plans GPU jobs that ask for what they use."""
    proc = dry_run(tmp_path, "--profile", str(REPO / "profiles" / "slurm"))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    requests = gpu_requests(proc.stdout)
    assert requests["translate"] == {1} and requests["evaluate"] == {1} and requests["prepare"] == {0}
    # a DDP stage stays on one node (torchrun --standalone): sbatch gets --nodes=1
    for rule in job_resources.DDP_STAGES:
        block = proc.stdout[proc.stdout.index(f"rule {rule}:"):]
        resources = block[block.index("resources:"):].splitlines()[0]
        assert "nodes=1" in resources.replace(" ", ""), (rule, resources)
