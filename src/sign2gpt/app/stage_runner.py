"""Running a stage from a Snakemake script: logging to the rule's log, threads, clean errors.

Every rule's script (`workflow/scripts/stage.py`) is `with run_stage(snakemake) as smk:` around the
function `sign2gpt.app.rules.RULES` names for the rule.
An expected failure (bad input, bad config) ends the job with a one-line message naming the item
instead of a traceback; anything else is logged with its traceback.

The runner needs no torch, so the data, text and report stages run without it and their conda
environments do not carry it; where torch is installed, its threads follow the job.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

from sign2gpt.core.errors import Sign2GPTError
from sign2gpt.core.job_resources import job_cpus
from sign2gpt.core.logs import setup_logging

log = logging.getLogger("sign2gpt.app.stage_runner")


def follow_job_threads(rule_threads: int | None) -> str:
    """torch's intra-op threads follow the CPUs the job was given (`job_cpus`), where torch is
    installed: a stage's environment without it (data, text, report) runs without loading it.
    Returns what the log says."""
    n = job_cpus(rule_threads)
    try:
        import torch
    except ImportError:
        return f"{n} threads, no torch" if n else "no torch"
    if n:
        torch.set_num_threads(n)
    return f"{torch.get_num_threads()} torch threads"


@contextlib.contextmanager
def run_stage(snakemake: Any) -> Iterator[Any]:
    log_file = snakemake.log[0] if len(snakemake.log) else None
    setup_logging(log_file)
    threads = follow_job_threads(getattr(snakemake, "threads", None))
    name = getattr(snakemake, "rule", "stage")
    wildcards = dict(snakemake.wildcards.items()) if hasattr(snakemake, "wildcards") else {}
    log.info("%s %s started (%s)", name, wildcards or "", threads)
    start = time.perf_counter()
    try:
        yield snakemake
    except Sign2GPTError as exc:
        log.error("%s failed: %s", name, exc)
        sys.exit(1)
    except Exception:
        log.exception("%s failed with an unexpected error", name)
        raise
    log.info("%s done in %.1f s -> %s", name, time.perf_counter() - start, ", ".join(map(str, snakemake.output)))
