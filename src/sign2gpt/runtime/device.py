"""Where and how a job computes: the device, torch's threads, the seeds."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from sign2gpt.core.errors import ConfigError
from sign2gpt.core.job_resources import job_cpus


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so a CPU run is reproducible."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` picks CUDA when present, else CPU; a device this machine does not have is a
    ConfigError that says why (instead of a traceback from deep inside the first `.to()`)."""
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


def to_device(t: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """`t` on `device` without the host waiting for the GPU. A copy from pageable host memory first
    waits for the stream's queued work; a host tensor bound for a GPU is pinned (torch's caching host
    allocator reuses the pinned blocks) and copied asynchronously."""
    device = torch.device(device)
    if device.type != "cuda" or t.device.type != "cpu":
        return t.to(device)
    return (t if t.is_pinned() else t.pin_memory()).to(device, non_blocking=True)


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
