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
    """`auto` picks CUDA when present, else CPU; a device this machine does not have is a
    ConfigError that says why (instead of a traceback from deep inside the first `.to()`)."""
    from sign2gpt.errors import ConfigError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError) as e:
        raise ConfigError(f"device {name!r}: not a device name ({e}); use cpu, cuda, cuda:N or auto") from None
    if device.type == "cuda":
        if torch.version.cuda is None:
            raise ConfigError(f"device {name!r}: this torch ({torch.__version__}) was built without CUDA; "
                              "use --device cpu "
                              "or install a CUDA build of torch")
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r}: no CUDA GPU is visible (CUDA_VISIBLE_DEVICES="
                              f"{os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}); use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r}: only {torch.cuda.device_count()} GPU(s) visible")
    return device


def job_cpus(rule_threads: int | None) -> int | None:
    """The CPUs this job may use: the rule's threads (what Snakemake reserved; on SLURM what sbatch
    booked, as the profile books `cpus_per_task: threads`), never more than a SLURM allocation's
    `SLURM_CPUS_PER_TASK` nor the CPUs this process may run on (its affinity mask)."""
    if not rule_threads:
        return None
    n = int(rule_threads)
    given = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if given.isdigit() and int(given) > 0:
        n = min(n, int(given))
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(n, usable))


def reserve_for_workers(num_workers: int) -> int:
    """Leave the job's CPUs beyond the training process to its `num_workers` data-loader
    processes: the training process keeps `threads - num_workers` torch threads (at least 1)."""
    n = max(1, torch.get_num_threads() - int(num_workers))
    torch.set_num_threads(n)
    return n


def set_threads(rule_threads: int | None) -> int | None:
    """torch's intra-op threads follow the CPUs the job was given (`job_cpus`); returns them."""
    n = job_cpus(rule_threads)
    if n:
        torch.set_num_threads(n)
    return n
