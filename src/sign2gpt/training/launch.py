"""Run a training stage in this process, or under torchrun on several GPUs.

A stage function takes JSON-serialisable keyword arguments. With one device it is called
directly; with `nproc > 1` the same call is re-launched as
`python -m torch.distributed.run --standalone --nproc-per-node N -m sign2gpt.training.launch
module:function args.json` with this process's interpreter, and every rank calls the function (which
sets up DDP through `init_distributed`).

The ranks import this package from where this process found it: a conda job has it only through
the rule script's `sys.path` insertion, so its folder goes on the ranks' PYTHONPATH. Rank 0 logs to
the rule's log as a one-process stage does; the other ranks log their warnings and errors only.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sign2gpt
from sign2gpt.core.errors import Sign2GPTError

log = logging.getLogger(__name__)

RANK_LOG = "SIGN2GPT_RULE_LOG"  # the rule's log file, handed to the ranks


class RanksFailed(Sign2GPTError):
    """torchrun's processes stopped with an error (each rank logged its own)."""


def _resolve(target: str) -> Callable[..., Any]:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def package_root() -> str:
    """The folder this `sign2gpt` was imported from (`src/` of a checkout, or site-packages)."""
    return str(Path(sign2gpt.__file__).resolve().parents[1])


def rank_environment(log_file: str | os.PathLike | None) -> dict[str, str]:
    """The ranks' environment: this one, with the package's folder first on PYTHONPATH."""
    env = dict(os.environ)
    paths = [package_root(), *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    if log_file:
        env[RANK_LOG] = os.path.abspath(log_file)
    else:
        env.pop(RANK_LOG, None)
    return env


def launch(target: str, kwargs: dict[str, Any], *, nproc: int = 1, log_file: str | os.PathLike | None = None) -> Any:
    """Call `module:function(**kwargs)`, under torchrun when nproc > 1 (`log_file`: the rule's log,
    which rank 0 appends to)."""
    if nproc <= 1:
        return _resolve(target)(**kwargs)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(kwargs, f)
        args_file = f.name
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "sign2gpt.training.launch", target, args_file]
    log.info("launching %s", " ".join(cmd))
    try:
        rc = subprocess.run(cmd, env=rank_environment(log_file)).returncode
    finally:
        os.unlink(args_file)
    if rc != 0:
        raise RanksFailed(f"{target} on {nproc} processes stopped (torchrun exit status {rc}); "
                          "each rank's error is logged above")
    return None


def main(argv: list[str] | None = None) -> None:
    """A rank: log (rank 0 as the stage, the others warnings only), then call the target."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        raise SystemExit("usage: python -m sign2gpt.training.launch module:function args.json")
    from sign2gpt.core.logs import setup_logging

    rank = int(os.environ.get("RANK", "0"))
    setup_logging(os.environ.get(RANK_LOG), level=logging.INFO if rank == 0 else logging.WARNING,
                  append=True, tag=f"rank {rank}")
    with open(argv[1], encoding="utf-8") as f:
        kwargs = json.load(f)
    try:
        _resolve(argv[0])(**kwargs)
    except Sign2GPTError as exc:
        log.error("rank %d failed: %s", rank, exc)
        sys.exit(1)
    except BaseException as exc:
        if not isinstance(exc, SystemExit):
            log.exception("rank %d failed with an unexpected error", rank)
        raise


if __name__ == "__main__":
    main()
