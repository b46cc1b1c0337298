"""The tests exercise this checkout: a process a test starts (an interpreter, the `sign2gpt` command,
Snakemake, torchrun's ranks) imports the package from this folder's src/, even where the
environment's editable install points at another clone (a CI clone run with a shared virtual
environment). tests/conftest.py puts src/ first on PYTHONPATH for that."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def test_a_process_a_test_starts_imports_the_checkout():
    assert os.environ["PYTHONPATH"].split(os.pathsep)[0] == str(SRC)
    code = "import sign2gpt, pathlib; print(pathlib.Path(sign2gpt.__file__).resolve().parent)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert Path(out.stdout.strip()) == SRC / "sign2gpt"
