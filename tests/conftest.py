"""Shared fixtures for the test folders (tests/ and tests/slurm/)."""

from __future__ import annotations

from collections.abc import Callable

import pytest


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
