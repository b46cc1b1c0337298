"""Shared fixtures for the test folders (tests/ and tests/slurm/)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Every process a test starts (snakemake, torchrun ranks, `python -c`, the `sign2gpt` command) imports the
# package from this checkout, not from wherever the environment's editable install points.
_given = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), *_given])

# `make mutation`: mutmut first runs the tests to learn which test calls which function ("stats"); a
# process a test starts cannot report its calls (and would look for mutmut's settings in its own folder),
# so it runs the unchanged code then. With a mutant active, such processes inherit it and run it.
if os.environ.get("MUTANT_UNDER_TEST") == "stats":
    del os.environ["MUTANT_UNDER_TEST"]  # this process still knows (mutmut keeps a copy of its own)


def _parse_job_stats(dry_run_output: str) -> dict[str, int]:
    """The 'Job stats' table of a Snakemake dry run as {rule: count}."""
    lines = dry_run_output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Job stats"))
    jobs = {}
    for line in lines[start + 3:]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        jobs[parts[0]] = int(parts[1])
    return jobs


@pytest.fixture
def planned_jobs() -> Callable[[str], dict[str, int]]:
    """Parse a dry run's planned jobs: `planned_jobs(stdout + stderr) -> {rule: count}`."""
    return _parse_job_stats


@pytest.fixture(scope="session")
def training_inputs(tmp_path_factory) -> Path:
    """The tiny workflow (.test/config.yaml) run up to the training stages' inputs (corpus,
    manifests, train and dev frames, pseudo-glosses, prototypes, LM): its results/<dataset> folder,
    made once per session for every test that runs a training stage's functions directly."""
    work = tmp_path_factory.mktemp("training-inputs")
    data = "results/synthetic-test"  # dataset.name in .test/config.yaml
    frames = [f"{data}/frames/{split}/shard{i}.h5" for split in ("train", "dev") for i in (0, 1)]
    cmd = [str(Path(sys.executable).with_name("snakemake")), "--snakefile", str(REPO / "Snakefile"),
           "--configfile", str(REPO / ".test" / "config.yaml"), "--cores", "2",
           f"{data}/text/prototypes.safetensors", f"{data}/lm", *frames]
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHONHASHSEED": "0"})
    assert proc.returncode == 0, proc.stderr[-6000:]
    return work / data
