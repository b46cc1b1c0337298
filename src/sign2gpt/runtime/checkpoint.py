"""Training checkpoints: one safetensors file, written atomically, verified on load.

Format (why): a checkpoint must never unpickle on load, so everything is either a tensor in the
safetensors body or JSON in its header metadata; and it must be one file (`last.safetensors`,
`best.safetensors`) so `os.replace` makes it appear complete or not at all.

- model state_dict tensors under their own names (any safetensors reader sees the weights);
- optimizer tensors under `__optim__.{param}.{name}`, RNG tensors under `__rng__.*`;
- metadata `format`, and `state`: JSON with epoch, best_metric, extra, the optimizer's
  param_groups and non-tensor state, the scheduler state, Python/NumPy RNG states;
- metadata `sha256`: a digest of every tensor (name, dtype, shape, bytes) and of `state`,
  checked on load, so a flipped byte anywhere is refused instead of silently trained on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from sign2gpt.core.errors import DataError
from sign2gpt.core.io import atomic_path

log = logging.getLogger(__name__)

FORMAT = "sign2gpt-checkpoint-v1"
_OPT = "__optim__."
_RNG = "__rng__."
RESERVED = "__"  # tensor names starting with this are not model weights


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside DistributedDataParallel / DataParallel wrappers."""
    while isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
        model = model.module
    return model


# ---------------------------------------------------------------------------------------------
# digest and file reading


def tensor_digest(tensors: Mapping[str, torch.Tensor], state_json: str) -> str:
    """SHA-256 of every tensor (name, dtype, shape, bytes) and of the JSON state."""
    h = hashlib.sha256()
    h.update(FORMAT.encode())
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"\0{name}\0{str(t.dtype)}\0{list(t.shape)}\0".encode())
        h.update(memoryview(t.reshape(-1).view(torch.uint8).numpy()))
    h.update(b"\0state\0" + state_json.encode())
    return h.hexdigest()


def _read(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """All tensors (CPU) and the metadata of a safetensors file; DataError when unreadable."""
    p = Path(path)
    if not p.is_file():
        raise DataError(str(p), "checkpoint not found")
    try:
        with safe_open(str(p), framework="pt", device="cpu") as f:
            meta = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # SafetensorError, OSError, header JSON errors
        raise DataError(str(p), f"not a readable safetensors file (truncated or corrupt): {e}") from e
    return tensors, meta


def _verify(path: str | os.PathLike, tensors: Mapping[str, torch.Tensor], meta: Mapping[str, str]) -> dict[str, Any]:
    """Check format and digest of a sign2gpt checkpoint; returns the decoded state."""
    if meta.get("format") != FORMAT:
        raise DataError(str(path), f"not a sign2gpt checkpoint (format {meta.get('format')!r}, expected {FORMAT!r})")
    state_json = meta.get("state", "")
    if tensor_digest(tensors, state_json) != meta.get("sha256"):
        raise DataError(str(path), "content does not match its stored SHA-256 (tampered or corrupt); refusing to load")
    try:
        return json.loads(state_json)
    except json.JSONDecodeError as e:  # unreachable unless the digest was forged too
        raise DataError(str(path), f"state metadata is not JSON: {e}") from e


# ---------------------------------------------------------------------------------------------
# model weights


def frozen_parameter_names(model: nn.Module) -> set[str]:
    """Every state_dict name of a parameter that does not train, aliases included: a tied weight
    (an LM's output matrix shared with its input embedding) is listed once by
    `named_parameters()` but appears under both names in the state_dict."""
    return {n for n, p in model.named_parameters(remove_duplicate=False) if not p.requires_grad}


def _model_tensors(model: nn.Module, only_trainable: bool) -> dict[str, torch.Tensor]:
    model = unwrap(model)
    return model_tensors(model, exclude=frozen_parameter_names(model) if only_trainable else ())


def model_tensors(model: nn.Module, exclude: Collection[str] = ()) -> dict[str, torch.Tensor]:
    """The state_dict less `exclude`, as CPU, contiguous, non-aliasing copies-or-views, ready for
    safetensors (which refuses tensors that share memory, e.g. tied embeddings: the second name
    gets its own copy)."""
    state = {k: v for k, v in unwrap(model).state_dict().items() if k not in exclude}
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name, t in state.items():
        if name.startswith(RESERVED):
            raise ValueError(f"model state key {name!r} uses the reserved prefix {RESERVED!r}")
        t = t.detach().cpu()
        ptr = t.untyped_storage().data_ptr()
        if ptr in seen or not t.is_contiguous():
            t = t.contiguous().clone()
        elif t.numel():
            seen.add(ptr)
        out[name] = t
    return out


class LoadResult(NamedTuple):
    loaded: list[str]
    missing: list[str]
    unexpected: list[str]


def _load_into(
    path: str | os.PathLike, model: nn.Module, weights: dict[str, torch.Tensor], *, strict: bool,
    scope: list[str] | None
) -> LoadResult:
    """Copy `weights` into the model; shape mismatches always fail, missing/unexpected when strict.

    scope: destination prefixes the weights are meant to cover (None: the whole model).
    """
    model = unwrap(model)
    target = model.state_dict()
    unexpected = sorted(k for k in weights if k not in target)
    in_scope = (lambda k: True) if scope is None else (lambda k: any(k.startswith(s) for s in scope))
    missing = sorted(k for k in target if k not in weights and in_scope(k))
    wrong = [
        f"{k}: file {tuple(v.shape)} vs model {tuple(target[k].shape)}"
        for k, v in weights.items()
        if k in target and v.shape != target[k].shape
    ]
    if wrong:
        raise DataError(str(path), f"{len(wrong)} tensor(s) do not fit the model, e.g. {wrong[:3]}")
    if strict and (missing or unexpected):
        raise DataError(
            str(path),
            f"does not match the model: missing {missing[:5]} ({len(missing)}), "
            f"unexpected {unexpected[:5]} ({len(unexpected)})",
        )
    model.load_state_dict({k: v for k, v in weights.items() if k in target}, strict=False)
    return LoadResult(sorted(k for k in weights if k in target), missing, unexpected)


def load_weights(
    path: str | os.PathLike,
    model: nn.Module,
    *,
    strict: bool = True,
    prefix_map: Mapping[str, str] | None = None,
) -> LoadResult:
    """Load model weights by name from a checkpoint (verified) or a plain safetensors file.

    prefix_map: {source prefix: destination prefix}; only source keys with one of these prefixes
    are loaded, renamed, e.g. {"sign_model.": "sign_model."} loads a stage-1 sign model into
    stage 2 and skips the pseudo-gloss head. With strict, every model key under a destination
    prefix (or every key, without prefix_map) must be provided and every loaded key must exist.
    """
    tensors, meta = _read(path)
    if meta.get("format") is not None:
        _verify(path, tensors, meta)
    weights = {k: v for k, v in tensors.items() if not k.startswith(RESERVED)}
    scope: list[str] | None = None
    if prefix_map:
        mapped: dict[str, torch.Tensor] = {}
        for key, value in weights.items():
            for src, dst in prefix_map.items():
                if key.startswith(src):
                    mapped[dst + key[len(src):]] = value
                    break
        if not mapped:
            raise DataError(str(path), f"no weights start with any of {sorted(prefix_map)}")
        weights, scope = mapped, list(prefix_map.values())
    result = _load_into(path, model, weights, strict=strict, scope=scope)
    log.info("loaded %d tensors from %s", len(result.loaded), path)
    return result


# ---------------------------------------------------------------------------------------------
# optimizer, RNG


def _optimizer_to_parts(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, dict[str, Any]] = {}
    for pid, st in sd["state"].items():
        for name, value in st.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{_OPT}{pid}.{name}"] = value.detach().cpu().contiguous().clone()
            else:
                plain.setdefault(str(pid), {})[name] = value
    return tensors, {"param_groups": sd["param_groups"], "plain_state": plain}


def _optimizer_from_parts(tensors: Mapping[str, torch.Tensor], parts: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith(_OPT):
            pid, name = key[len(_OPT):].split(".", 1)
            state.setdefault(int(pid), {})[name] = value
    for pid, values in parts["plain_state"].items():
        state.setdefault(int(pid), {}).update(values)
    groups = [{k: tuple(v) if k == "betas" else v for k, v in g.items()} for g in parts["param_groups"]]
    return {"state": state, "param_groups": groups}


RngState = tuple[dict[str, torch.Tensor], dict[str, Any]]  # (torch/CUDA states, Python/NumPy states)


def process_rng_state() -> RngState:
    """This process's RNG states: torch's and CUDA's as tensors, Python's and NumPy's as JSON."""
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda.{i}"] = s
    version, internal, gauss = random.getstate()
    np_state = np.random.get_state(legacy=False)
    np_state["state"]["key"] = np_state["state"]["key"].tolist()
    return tensors, {"python": [version, list(internal), gauss], "numpy": np_state}


def _rng_prefix(rank: int) -> str:
    """Rank 0's states under `__rng__.` (as a one-process run stores them), rank r's under `__rng__.rank{r}.`."""
    return _RNG if rank == 0 else f"{_RNG}rank{rank}."


def _restore_rng(tensors: Mapping[str, torch.Tensor], parts: dict[str, Any], prefix: str) -> None:
    version, internal, gauss = parts["python"]
    random.setstate((version, tuple(internal), gauss))
    np_state = dict(parts["numpy"])
    np_state["state"] = {**np_state["state"], "key": np.asarray(np_state["state"]["key"], dtype=np.uint32)}
    np.random.set_state(np_state)
    torch.set_rng_state(tensors[f"{prefix}torch"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith(f"{prefix}cuda.")]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


# ---------------------------------------------------------------------------------------------
# save / load


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    *,
    epoch: int,
    best_metric: float | None = None,
    extra: Mapping[str, Any] | None = None,
    rng_state: bool = True,
    rank_rng: Sequence[RngState] | None = None,
    only_trainable: bool = False,
) -> Path:
    """Write a checkpoint atomically (temp file in the same folder, fsync, rename).

    epoch: the number of completed epochs. scheduler: anything with a JSON-safe `state_dict()`
    (WarmupCosine). extra: JSON-safe. only_trainable: leave frozen parameters out (a frozen
    1.7B LM need not be copied into every checkpoint; load with the same model). rng_state: store
    the RNG states, this process's or, under DDP, every rank's (`rank_rng`, in rank order).
    """
    tensors = _model_tensors(model, only_trainable)
    state: dict[str, Any] = {
        "epoch": int(epoch),
        "best_metric": best_metric,
        "extra": dict(extra or {}),
        "only_trainable": bool(only_trainable),
    }
    if optimizer is not None:
        opt_tensors, state["optimizer"] = _optimizer_to_parts(optimizer)
        tensors.update(opt_tensors)
    if scheduler is not None:
        state["scheduler"] = scheduler.state_dict()
    if rng_state:
        ranks = list(rank_rng) if rank_rng else [process_rng_state()]
        for rank, (rng_tensors, _) in enumerate(ranks):
            tensors.update({_rng_prefix(rank) + k: v for k, v in rng_tensors.items()})
        state["rng"] = ranks[0][1]
        if len(ranks) > 1:
            state["rng_ranks"] = [parts for _, parts in ranks[1:]]
    try:
        state_json = json.dumps(state, allow_nan=True)
    except TypeError as e:
        raise TypeError(f"checkpoint state for {path} is not JSON-serialisable: {e}") from e
    meta = {"format": FORMAT, "state": state_json, "sha256": tensor_digest(tensors, state_json)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
    log.debug("saved checkpoint %s (epoch %d)", path, epoch)
    return Path(path)


def load_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    *,
    restore_rng: bool = True,
    rank: int = 0,
    world_size: int = 1,
) -> dict[str, Any]:
    """Verify and load a checkpoint; returns dict(epoch, best_metric, extra, rng).

    The optimizer and scheduler are restored when given (an error when the file lacks them);
    RNG states (Python, NumPy, torch, CUDA when the device count matches) when `restore_rng`
    and the file has them, so a CPU run resumes exactly: process `rank`'s own states when the
    file holds one per process of a run of `world_size` processes. `rng` says what happened:
    "restored", "absent" (not asked for, or not in the file), or "other world size" (saved by
    another number of processes: nothing restored, the caller decides).
    """
    tensors, meta = _read(path)
    state = _verify(path, tensors, meta)
    weights = {k: v for k, v in tensors.items() if not k.startswith(RESERVED)}
    result = _load_into(path, model, weights, strict=not state.get("only_trainable", False), scope=None)
    if state.get("only_trainable"):  # only frozen parameters may be absent
        frozen = frozen_parameter_names(unwrap(model))
        absent = sorted(set(result.missing) - frozen)
        if absent or result.unexpected:
            raise DataError(
                str(path),
                f"does not match the model: missing trainable/buffers {absent[:5]}, unexpected {result.unexpected[:5]}",
            )
    if optimizer is not None:
        if "optimizer" not in state:
            raise DataError(str(path), "has no optimizer state (a weights-only checkpoint cannot resume training)")
        try:
            optimizer.load_state_dict(_optimizer_from_parts(tensors, state["optimizer"]))
        except (ValueError, KeyError) as e:
            raise DataError(str(path), f"optimizer state does not fit this optimizer: {e}") from e
    if scheduler is not None:
        if "scheduler" not in state:
            raise DataError(str(path), "has no scheduler state")
        try:
            scheduler.load_state_dict(state["scheduler"])
        except (ValueError, KeyError) as e:
            raise DataError(str(path), f"scheduler state does not fit this scheduler: {e}") from e
    rng = "absent"
    if restore_rng and "rng" in state:
        per_rank = [state["rng"], *state.get("rng_ranks", [])]
        if len(per_rank) == world_size:
            _restore_rng(tensors, per_rank[rank], _rng_prefix(rank))
            rng = "restored"
        else:
            rng = "other world size"
    return {"epoch": state["epoch"], "best_metric": state["best_metric"], "extra": state["extra"], "rng": rng}


# ---------------------------------------------------------------------------------------------
# stale checkpoints


def config_fingerprint(cfg: Mapping[str, Any]) -> str:
    """A stable hash of everything that shapes a run, so a stale `last` checkpoint is not resumed."""
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()


def discard_stale_checkpoint(path: Path, fingerprint: str) -> None:
    """Delete `path` when it was written by a run with other settings (Snakemake reran the job)."""
    if not path.exists():
        return
    try:
        with safe_open(str(path), framework="pt") as f:
            state = json.loads((f.metadata() or {}).get("state", "{}"))
        stored = state.get("extra", {}).get("fingerprint")
    except Exception:  # unreadable: the loader would refuse it anyway; start over
        stored = None
    if stored != fingerprint:
        log.warning("ignoring %s: written with other settings; starting from scratch", path)
        path.unlink()
