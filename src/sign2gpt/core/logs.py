"""Logging of a job: to stderr and to the rule's log file (the Snakemake `log:` path)."""

from __future__ import annotations

import logging
import os
import sys


def setup_logging(
    log_file: str | os.PathLike | None = None, level: int = logging.INFO, *, append: bool = False,
    tag: str | None = None
) -> None:
    """Log to stderr and, when given, to a file (the Snakemake `log:` path).

    The file is emptied unless `append`, and always written in append mode, so the processes a
    stage launches (torchrun's ranks) can add to it without overwriting each other. `tag` marks
    every line (the rank of a DDP process)."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        os.makedirs(os.path.dirname(os.path.abspath(log_file)), exist_ok=True)
        if not append:
            open(log_file, "w").close()
        handlers.append(logging.FileHandler(log_file, mode="a", encoding="utf-8"))
    where = f" [{tag}]" if tag else ""
    logging.basicConfig(
        level=level,
        format=f"%(asctime)s %(levelname)s{where} %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
