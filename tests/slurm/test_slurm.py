"""The workflow on a real SLURM: the tiny configuration (.test/config.yaml) submitted job by job
with sbatch through `--profile profiles/slurm`, on the one-node cluster that
tests/slurm/setup_slurm.sh installs and starts (Debian packages, root, no accounting database).

The test may install packages and start daemons, so it runs only when asked:
SIGN2GPT_SLURM_TEST=1 (.ci/run sets it). Otherwise, or where setup_slurm.sh cannot provide a
SLURM (not root, no apt), it skips and says why. Daemons it started are stopped at the end.

What it checks: every job Snakemake planned (all but the target rule `all`) went through sbatch
and COMPLETED in SLURM; the GPU stages asked for a GPU (the node has fake ones) and ran in the
GPU partition, the CPU stages asked for none; the run finished with its report.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
import yte

from sign2gpt.core.config import load_config
from sign2gpt.core.job_resources import stage_resources

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
PROFILE = REPO / "profiles" / "slurm"
TEST_CONFIG = REPO / ".test" / "config.yaml"
SETUP = HERE / "setup_slurm.sh"
TEARDOWN = HERE / "teardown_slurm.sh"
EXIT_UNAVAILABLE = 77  # setup_slurm.sh: SLURM cannot be provided on this machine
RUN_TIMEOUT_S = 900  # a few minutes are expected; a hung stage fails the test instead of CI

CPU_PARTITION = "debug"
GPU_PARTITION = "gpu"
# the GPU stages the tiny run plans (frame_features, also a GPU stage, runs only for a frozen backbone)
GPU_STAGES = {"pretrain", "cache_features", "translate", "evaluate", "lm_pretrain", "spatial_pretrain",
              "baselines"}  # profile: GPU partition
NEEDS_GPU = GPU_STAGES  # rules: gpu = config gpus (at most 1 except for pretrain and translate)


def run(cmd: list[str], timeout: int = 60, check: bool = False, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=check, **kwargs)


@pytest.fixture(scope="module")
def slurm_cluster():
    """A running SLURM: started by setup_slurm.sh (or found running by it); stopped afterwards
    if this fixture's setup call started it."""
    if os.environ.get("SIGN2GPT_SLURM_TEST") != "1":
        pytest.skip("SLURM test not requested: set SIGN2GPT_SLURM_TEST=1 to let it install (apt, root) and start "
                    "a one-node SLURM with tests/slurm/setup_slurm.sh (.ci/run does)")
    proc = run(["bash", str(SETUP)], timeout=600)  # apt install included
    if proc.returncode == EXIT_UNAVAILABLE:
        pytest.skip(proc.stderr.strip().splitlines()[-1])
    assert proc.returncode == 0, f"setup_slurm.sh failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-6000:]}"
    started = proc.stdout.strip().splitlines()[-1].removeprefix("started:").split()
    yield started
    if started:
        down = run(["bash", str(TEARDOWN)])
        assert down.returncode == 0, f"teardown_slurm.sh failed:\n{down.stderr}"


def node_size() -> tuple[int, int, int]:
    """(CPUs, memory MB, GPUs) of the cluster's node."""
    out = run(["sinfo", "-h", "-N", "-o", "%c %m %G"], check=True).stdout.split("\n")[0].split()
    gpus = re.search(r"gpu(?::[^:(,]+)?:(\d+)", out[2])
    return int(out[0]), int(out[1]), int(gpus.group(1)) if gpus else 0


def node_sized_overlay(cpus: int) -> dict:
    """The profile's CPU requests shrunk to fit this node (at least two jobs side by side), with
    squeue status checks (no accounting database) and short polling for a quick test. Memory and
    wall time are the rules' own (the tiny config's `resources:`), so they stay as they are."""
    with open(PROFILE / "config.yaml", encoding="utf-8") as f:
        profile = yte.process_yaml(f, require_use_yte=True)  # as Snakemake reads it (env included)
    cpu_cap = max(1, cpus // 2)

    def fit(resources: dict) -> dict:
        fitted = dict(resources)
        if isinstance(fitted.get("cpus_per_task"), int):
            fitted["cpus_per_task"] = min(fitted["cpus_per_task"], cpu_cap)
        return fitted

    return {
        "default-resources": fit(profile["default-resources"]),
        "set-resources": {rule: fit(res) for rule, res in profile.get("set-resources", {}).items()},
        "set-threads": {rule: min(int(n), cpu_cap) for rule, n in profile.get("set-threads", {}).items()},
        "slurm-status-command": "squeue",
        "slurm-init-seconds-before-status-checks": 2,
        "seconds-between-status-checks": 2,
        "latency-wait": 5,
        "slurm-keep-successful-logs": True,
    }


def slurm_mb(value: str) -> int:
    """scontrol's memory field (2000M, 4G, ...) in MB."""
    number, unit = re.fullmatch(r"([\d.]+)([KMGT]?)", value).groups()
    return round(float(number) * {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024 ** 2}[unit])


def slurm_minutes(value: str) -> int:
    """scontrol's time limit ([D-]HH:MM:SS, or MM:SS) in minutes."""
    days, _, clock = value.rpartition("-")
    parts = [int(x) for x in clock.split(":")]
    h, m, sec = ([0] * (3 - len(parts)) + parts)
    return (int(days or 0) * 24 + h) * 60 + m + round(sec / 60)


def slurm_jobs(run_id: str) -> dict[str, dict[str, str]]:
    """Every job SLURM knows of with this Snakemake run's job name: {job id: fields}."""
    out = run(["scontrol", "show", "job", "-o"], check=True).stdout
    jobs = {}
    for line in out.splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        if fields.get("JobName") == run_id:
            jobs[fields["JobId"]] = fields
    return jobs


def failure_report(log: str, workdir: Path) -> str:
    """The 'Error in rule' blocks of a Snakemake log, each with the tail of the logs it names."""
    parts = []
    for block in re.findall(r"^Error in rule \w+:\n(?:    .*\n?)+", log, re.MULTILINE):
        parts.append(block)
        logs = re.search(r"^    log: (.*?)(?: \(check log file|$)", block, re.MULTILINE)
        for name in logs.group(1).split(", ") if logs else []:
            path = workdir / name
            if path.is_file():
                parts.append(f"--- {name} (tail) ---\n"
                             + "\n".join(path.read_text(errors="replace").splitlines()[-25:]))
    return "\n".join(parts) or log[-8000:]


def run_snakemake(args: list[str], cwd: Path, env: dict[str, str], log: Path) -> tuple[int, str]:
    """Run Snakemake; on a timeout interrupt it (it scancels its jobs) and fail."""
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen([SNAKEMAKE, *args], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
        try:
            rc = proc.wait(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
            pytest.fail(f"the SLURM run took more than {RUN_TIMEOUT_S} s:\n{log.read_text()[-6000:]}")
    return rc, log.read_text()


def test_tiny_workflow_runs_job_by_job_on_slurm(slurm_cluster, tmp_path, monkeypatch, planned_jobs):
    cpus, mem_mb, gpus = node_size()
    assert gpus >= 1, ("the test cluster's node advertises no (fake) GPU; "
                       "setup_slurm.sh gives it SIGN2GPT_SLURM_FAKE_GPUS")

    # the partitions reach the profile the way users set them: environment variables
    monkeypatch.setenv("SIGN2GPT_SLURM_PARTITION", CPU_PARTITION)
    monkeypatch.setenv("SIGN2GPT_SLURM_GPU_PARTITION", GPU_PARTITION)
    monkeypatch.delenv("SIGN2GPT_SLURM_ACCOUNT", raising=False)  # no accounts without an accounting database
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    overlay = node_sized_overlay(cpus)
    config = load_config(TEST_CONFIG)
    assert stage_resources(config, "pretrain")["mem_mb"] * 2 <= mem_mb, "the node cannot hold two tiny jobs"
    (tmp_path / "node").mkdir()
    (tmp_path / "node" / "config.yaml").write_text(yaml.safe_dump(overlay))
    (tmp_path / "gpu.yaml").write_text("gpus: 1\n")  # the GPU stages request one GPU each

    args = ["--snakefile", str(REPO / "Snakefile"), "--profile", str(PROFILE), "--profile", str(tmp_path / "node"),
            "--configfile", str(TEST_CONFIG), str(tmp_path / "gpu.yaml")]
    dry = run([SNAKEMAKE, *args, "-n"], cwd=tmp_path, env=env, timeout=300)
    assert dry.returncode == 0, dry.stdout[-4000:] + dry.stderr[-4000:]
    planned = planned_jobs(dry.stdout + dry.stderr)
    planned.pop("all")  # the target rule has nothing to run: Snakemake finishes it locally
    assert GPU_STAGES <= set(planned), planned

    start = time.monotonic()
    rc, log = run_snakemake(args, tmp_path, env, tmp_path / "snakemake.log")
    wall_s = time.monotonic() - start
    assert rc == 0, f"snakemake --profile profiles/slurm failed ({rc}):\n{failure_report(log, tmp_path)}"

    # every planned job went through sbatch, nothing else ran on the submitting machine
    run_id = re.search(r"SLURM run ID: (\S+)", log).group(1)
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", log)
    assert len(submitted) == len(set(submitted)) == sum(planned.values()), (planned, submitted)
    assert re.findall(r"^localrule (\w+):", log, re.MULTILINE) == ["all"]
    slurm_logs = list((tmp_path / ".snakemake" / "slurm_logs").rglob("*.log"))
    assert len(slurm_logs) == len(submitted), [str(p) for p in slurm_logs]

    # SLURM ran each of them to COMPLETED, with the profile's partition and GPU request per rule
    jobs = slurm_jobs(run_id)
    assert set(jobs) == set(submitted), (sorted(jobs), sorted(submitted))
    ran: dict[str, int] = {}
    for job_id, job in jobs.items():
        rule = re.match(r"rule_(\w+?)(?:_wildcards_|$)", job["Comment"]).group(1)
        ran[rule] = ran.get(rule, 0) + 1
        assert job["JobState"] == "COMPLETED", (rule, job_id, job["JobState"])
        expected_partition = GPU_PARTITION if rule in GPU_STAGES else CPU_PARTITION
        assert job["Partition"] == expected_partition, (rule, job_id, job["Partition"])
        # memory and wall time are what the config's resources: section gives the rule
        wanted = stage_resources(config, rule)
        assert slurm_mb(job["MinMemoryNode"]) == wanted["mem_mb"], (rule, job_id, job["MinMemoryNode"])
        assert slurm_minutes(job["TimeLimit"]) == wanted["runtime"], (rule, job_id, job["TimeLimit"])
        asks_gpu = "gpu" in job.get("TresPerJob", "") + job.get("TresPerNode", "")
        if rule in NEEDS_GPU:
            assert asks_gpu, (rule, job_id, job)
        elif rule not in GPU_STAGES:
            assert not asks_gpu, (rule, job_id, job)
    assert ran == planned

    report = tmp_path / "results" / "synthetic-test" / "test" / "metrics.md"
    assert report.is_file() and "pgp" in report.read_text()
    print(f"SLURM run: {len(submitted)} jobs submitted with sbatch, all COMPLETED, {wall_s:.0f} s wall time")
