"""Atomic file output: a stage killed at any point leaves its complete output or none."""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import json
import os
import pickle
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sign2gpt.core.errors import DataError


def _default_mode(is_dir: bool) -> int:
    """The mode a plain open()/mkdir() would give (mkstemp/mkdtemp use 0600/0700)."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if is_dir else 0o666) & ~umask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; rename it onto `path` only if the block succeeds.

    The temporary name lives in the same directory so the final `os.replace` is atomic.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    if is_dir:
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, _default_mode(is_dir))
        if is_dir and final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def portable_path(value: str | None, folder: str | os.PathLike) -> str | None:
    """A local path as a run folder records it: relative to `folder` ("../../lm"), so the results
    folder can move; a hub id or None as it is."""
    if not value or not Path(value).exists():
        return value
    return os.path.relpath(Path(value).resolve(), Path(folder).resolve())


def resolve_portable_path(value: str | None, folder: str | os.PathLike) -> str | None:
    """The inverse of portable_path: "./x" or "../x" is relative to `folder`; anything else (an
    absolute path, as older runs wrote, or a hub id) is kept."""
    if value and (value.startswith("./") or value.startswith("../") or value == ".."):
        return str((Path(folder) / value).resolve())
    return value


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """The SHA-256 of a file, read in chunks: what ties a cache, a resume or a model folder to its inputs."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


class _PlainUnpickler(pickle.Unpickler):
    """Builds only plain containers and scalars: a pickle that names any other class (numpy,
    pandas, or code to run) is refused, so an untrusted annotation file cannot execute code."""

    ALLOWED = frozenset({"dict", "list", "tuple", "str", "int", "float", "bool", "set", "frozenset"})

    def find_class(self, module: str, name: str) -> Any:
        if module == "builtins" and name in self.ALLOWED:
            return getattr(builtins, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only plain dicts, lists, strings, numbers)")


def load_plain_pickle(path: Path) -> Any:
    """Unpickle a file made of plain Python containers only; anything else is a DataError."""
    if not path.is_file():
        raise DataError(str(path), "file not found")
    try:
        with open(path, "rb") as f:
            return _PlainUnpickler(f).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as e:
        raise DataError(str(path), f"cannot read as a plain-data pickle: {e}") from None
