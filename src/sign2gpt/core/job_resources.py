"""What a workflow job asks Snakemake (and SLURM) for: CPUs, GPUs, memory and wall time.

`workflow/rules/common.smk` calls these with the config and what it knows of the run; they are
plain functions so that the rules stay wiring and the policy is unit-tested.

CPUs: a training stage runs `num_workers` data-loader processes beside each training process
(one per GPU under DDP), so it asks for `ranks x (num_workers + 1)` CPUs, or `threads` when that is
more. The SLURM profile books exactly the rule's threads (`cpus_per_task: threads`).

GPUs: on a cluster a job asks for what it uses (1, or `gpus` for a DDP stage) and SLURM places it.
On one machine a job cannot know which GPU Snakemake would give it, so every GPU stage asks for
all the GPUs the run declared (`--resources gpu=N`): GPU jobs then run one at a time and never load
their models onto the same device side by side.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from sign2gpt.core.errors import ConfigError

DDP_STAGES = ("pretrain", "translate")  # the stages torchrun spreads over `gpus` GPUs
# the stages that run on a GPU when `gpus` > 0 (the others never ask for one)
GPU_STAGES = ("spatial_pretrain", "lm_pretrain", *DDP_STAGES, "cache_features", "frame_features", "evaluate",
              "baselines")


def stage_resources(config: Mapping[str, Any], rule: str) -> dict[str, int]:
    """mem_mb and runtime (minutes) of a rule's jobs: `resources.default` with the rule's entry
    over it (the config's `resources:` section; SLURM books them, a profile may still override)."""
    section = config["resources"]
    return {**section["default"], **section.get(rule, {})}


def job_threads(config: Mapping[str, Any], section: str | None = None, *, distributed: bool = True) -> int:
    """CPUs a job of a torch stage uses and so asks for (`section`: the config section whose
    `num_workers` it runs; `distributed` False for a one-process stage that reads a training
    section's workers, as cache_features and evaluate do)."""
    threads = int(config["threads"])
    if section is None:
        return threads
    workers = int(config[section]["num_workers"])
    gpus = int(config["gpus"])
    ranks = gpus if distributed and section in DDP_STAGES and gpus > 1 else 1
    return max(threads, ranks * (workers + 1))


def stage_gpus(config: Mapping[str, Any], stage: str) -> int:
    """GPUs a stage uses: `gpus` for the DDP stages, at most one for the other GPU stages, none for
    the rest."""
    gpus = int(config["gpus"])
    if stage not in GPU_STAGES:
        return 0
    return gpus if stage in DDP_STAGES else min(gpus, 1)


def gpu_request(config: Mapping[str, Any], stage: str, *, one_machine: bool, declared: int | None) -> int:
    """The `gpu` resource a job of `stage` asks for (see the module doc)."""
    used = stage_gpus(config, stage)
    if not used or not one_machine or declared is None:
        return used
    return max(declared, used)


def check_declared_gpus(config: Mapping[str, Any], declared: int | None, planned: Iterable[str]) -> None:
    """On one machine, a run with `gpus` > 0 that plans a GPU job (`planned`: the rules of the jobs
    it will run) must declare at least that many GPUs. A run of CPU stages only (the text stages on
    a login node, `--until prepare`) needs no declaration."""
    gpus = int(config["gpus"])
    if not gpus or not any(stage_gpus(config, stage) for stage in planned):
        return
    if declared is None:
        raise ConfigError(f"gpus: {gpus} on one machine: declare the machine's GPUs, e.g. `--resources gpu={gpus}` "
                          "(or `--profile profiles/local` for one GPU), so that GPU jobs queue for them instead of "
                          "sharing a GPU")
    if declared < gpus:
        raise ConfigError(f"gpus: {gpus}, but the run declared --resources gpu={declared}: a DDP stage needs "
                          f"{gpus} GPUs (declare the machine's GPUs, or lower gpus)")


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
