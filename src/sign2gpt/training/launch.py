"""Run a training stage in this process, or under torchrun on several GPUs.

A stage function takes JSON-serialisable keyword arguments. With one device it is called
directly; with `nproc > 1` the same call is re-launched as
`torchrun --standalone --nproc-per-node N -m sign2gpt.training.launch module:function args.json`,
and every rank calls the function (which sets up DDP through `init_distributed`).
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
from typing import Any

log = logging.getLogger(__name__)


def _resolve(target: str) -> Callable[..., Any]:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def launch(target: str, kwargs: dict[str, Any], *, nproc: int = 1) -> Any:
    """Call `module:function(**kwargs)`, under torchrun when nproc > 1."""
    if nproc <= 1:
        return _resolve(target)(**kwargs)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(kwargs, f)
        args_file = f.name
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    cmd = [torchrun if os.path.exists(torchrun) else "torchrun", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "sign2gpt.training.launch", target, args_file]
    log.info("launching %s", " ".join(cmd))
    try:
        subprocess.run(cmd, check=True)
    finally:
        os.unlink(args_file)
    return None


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        raise SystemExit("usage: python -m sign2gpt.training.launch module:function args.json")
    from sign2gpt.core.logs import setup_logging

    setup_logging()
    with open(argv[1], encoding="utf-8") as f:
        kwargs = json.load(f)
    _resolve(argv[0])(**kwargs)


if __name__ == "__main__":
    main()
