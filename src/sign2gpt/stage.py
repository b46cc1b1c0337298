"""Running a stage from a Snakemake script: logging to the rule's log, threads, clean errors.

Workflow scripts are thin: `with run_stage(snakemake) as smk:` then one call into the package.
An expected failure (bad input, bad config) ends the job with a one-line message naming the item
instead of a traceback; anything else is logged with its traceback.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

import torch

from sign2gpt.errors import Sign2GPTError
from sign2gpt.utils import set_threads, setup_logging

log = logging.getLogger("sign2gpt.stage")


@contextlib.contextmanager
def run_stage(snakemake: Any) -> Iterator[Any]:
    log_file = snakemake.log[0] if len(snakemake.log) else None
    setup_logging(log_file)
    threads = set_threads(getattr(snakemake, "threads", None))
    name = getattr(snakemake, "rule", "stage")
    wildcards = dict(snakemake.wildcards.items()) if hasattr(snakemake, "wildcards") else {}
    log.info("%s %s started (%s torch threads)", name, wildcards or "", threads or torch.get_num_threads())
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
