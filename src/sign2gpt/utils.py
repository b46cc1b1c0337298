"""Small shared helpers: seeding, logging set-up, device choice."""

from __future__ import annotations

import logging
import os
import random
import sys

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so a CPU run is reproducible."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))


def setup_logging(log_file: str | os.PathLike | None = None, level: int = logging.INFO) -> None:
    """Log to stderr and, when given, to a file (the Snakemake `log:` path)."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        os.makedirs(os.path.dirname(os.path.abspath(log_file)), exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="w", encoding="utf-8"))
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` picks CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def job_cpus(rule_threads: int | None) -> int | None:
    """The CPUs this job was given: SLURM's `SLURM_CPUS_PER_TASK` inside a SLURM job (what sbatch
    allocated, whatever the rule asked for), else the rule's threads; never more than the CPUs
    this process may run on (its affinity mask: cgroups, taskset)."""
    given = os.environ.get("SLURM_CPUS_PER_TASK", "")
    n = int(given) if given.isdigit() and int(given) > 0 else rule_threads
    if not n:
        return None
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(int(n), usable))


def set_threads(rule_threads: int | None) -> int | None:
    """torch's intra-op threads follow the CPUs the job was given (`job_cpus`); returns them."""
    n = job_cpus(rule_threads)
    if n:
        torch.set_num_threads(n)
    return n
