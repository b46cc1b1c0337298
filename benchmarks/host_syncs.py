"""Host-device synchronisations per optimizer step of the pretrain and translate stages, counted on
the CPU.

On a GPU, the host queues kernels and runs ahead; a call that needs a result on the host (or a copy
from pageable host memory) makes it wait until the GPU has finished everything queued, and the GPU
then idles until the host queues more. This benchmark runs the stages' real code (`run_pretrain`,
`run_translate`: the Trainer, its stage's train_step, the loader) on the tiny workflow's inputs with
a `TorchFunctionMode` that sees every torch call, and counts, per optimizer step, the calls that
would synchronise a CUDA stream:

- a tensor's value read on the host: `item`, `tolist`, `bool`/`int`/`float`/`__index__` of a
  tensor, `.cpu()`/`.numpy()`, formatting a tensor;
- ops whose output size depends on the data: `nonzero`, boolean-mask indexing, `masked_select`,
  `repeat_interleave` without `output_size`, `torch.unique`;
- a copy from pageable host memory to the device: `torch.tensor(data, device=...)`, `.to(device)`
  of a host tensor that did not come from the loader (the loader pins its batches on a GPU) and
  does not go through `runtime.device.to_device` (which pins it first on a GPU).

Which tensors would live on the GPU is followed through the step: a tensor made from Python data
or by a factory without `device=` is a host tensor, as is the loader's batch before it is moved; an
op's output is a host tensor when all its tensor inputs are; everything else (parameters,
buffers, whatever is made with `device=`) is on the device.

    .venv/bin/python benchmarks/host_syncs.py [--inputs DIR] [--work DIR] [--device cuda]

With `--device cuda` the stages run on the GPU and each step's synchronisations are also counted as
torch reports them (`torch.cuda.set_sync_debug_mode("warn")`): that figure decides where a GPU is at
hand (the GPU check runs it).

Steps: each stage with one micro-batch per optimizer step (batch = micro-batch = 2) and with two
(batch 4 in micro-batches of 2). The figures are the most common count per step (the first step,
which builds optimizer state, and the last, cut short, are reported too). Targets: at most 3 per
step with one micro-batch, at most one more per extra micro-batch. Prints a table of the call
sites and, last, the JSON (also written to benchmarks/host_syncs.json).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import traceback
import warnings
import weakref
from collections import Counter
from pathlib import Path

import torch
from torch.overrides import TorchFunctionMode

from sign2gpt.core.io import write_json

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PACKAGE = str(REPO / "src" / "sign2gpt")
TEST_CONFIG = REPO / ".test" / "config.yaml"
# runtime.device.to_device pins a host tensor and copies it asynchronously on a GPU (what runs here is
# its CPU branch): its copies are not counted
TO_DEVICE = "src/sign2gpt/runtime/device.py"

# calls that read a value on the host (of a device tensor)
READS = {"item", "tolist", "__bool__", "__int__", "__float__", "__index__", "cpu", "numpy", "__format__", "__repr__"}
# ops whose output shape depends on the values
DATA_DEPENDENT = {"nonzero", "masked_select", "unique", "_unique2", "unique_consecutive", "argwhere"}
# factories that copy Python data (host memory) into a new tensor
FROM_DATA = {"tensor", "as_tensor"}
# factories that make a tensor without reading host memory (on `device=` if given, else the host)
FACTORIES = {"zeros", "ones", "full", "empty", "arange", "rand", "randn", "randint", "randperm", "linspace", "eye"}


def _tensors(obj) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for o in obj for t in _tensors(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in _tensors(o)]
    return []


def _host_device(device) -> bool:
    """`device="cpu"` written as a string means host memory on any machine (torch's optimizers keep
    their step counts there); a torch.device, such as `x.device`, is the run's device."""
    return device is None or (isinstance(device, str) and device == "cpu")


def _target(name: str, args, kwargs):
    """The device a `.to(...)` / `.cuda()` call moves to (None: it stays where it is)."""
    if name == "cuda":
        return "cuda"
    return kwargs.get("device") or next((a for a in args[1:] if isinstance(a, (str, torch.device))), None)


def _call_site() -> str:
    """The innermost frame in the package (else the innermost outside torch) that made the call."""
    frames = [f for f in traceback.extract_stack() if f.filename != __file__]
    ours = [f for f in frames if f.filename.startswith(PACKAGE)]
    if not ours:
        ours = [f for f in frames if "/torch/" not in f.filename and f.filename != __file__] or frames
    f = ours[-1]
    where = os.path.relpath(f.filename, REPO) if f.filename.startswith(str(REPO)) else Path(f.filename).name
    return f"{where}:{f.lineno} {f.name}"


class TensorSet:
    """Tensors by identity (a WeakSet would compare tensors with ==), forgotten when freed."""

    def __init__(self):
        self._refs: dict[int, weakref.ref] = {}

    def add(self, t: torch.Tensor) -> None:
        key = id(t)
        self._refs[key] = weakref.ref(t, lambda _, key=key: self._refs.pop(key, None))

    def discard(self, t: torch.Tensor) -> None:
        self._refs.pop(id(t), None)

    def __contains__(self, t: torch.Tensor) -> bool:
        ref = self._refs.get(id(t))
        return ref is not None and ref() is t


class SyncCounter(TorchFunctionMode):
    """Counts the calls that would synchronise a CUDA stream, by call site, while `counting`."""

    def __init__(self):
        super().__init__()
        self.host = TensorSet()  # tensors made during a step that would live in host memory
        self.pinned = TensorSet()  # the loader's batches (pinned on a GPU)
        self.counting = False
        self.sites: Counter = Counter()

    def mark_batch(self, batch) -> None:
        for t in _tensors(batch):
            self.host.add(t)
            self.pinned.add(t)

    def _on_device(self, t: torch.Tensor) -> bool:
        return t not in self.host

    def _sync(self, func, args, kwargs) -> str | None:
        """Why this call synchronises, or None."""
        name = getattr(func, "__name__", "")
        inputs = _tensors(args) + _tensors(kwargs)
        on_device = any(self._on_device(t) for t in inputs)
        if name in READS and inputs and self._on_device(inputs[0]):
            return name
        if name in DATA_DEPENDENT and on_device:
            return name
        if name == "repeat_interleave" and on_device and "output_size" not in kwargs and \
                any(isinstance(a, torch.Tensor) for a in args[1:2]):
            return "repeat_interleave without output_size"
        if name == "__getitem__" and on_device and any(t.dtype == torch.bool for t in _tensors(args[1:])):
            return "boolean-mask indexing"
        if name in FROM_DATA and not _host_device(kwargs.get("device")) and not inputs:
            return "torch.tensor(data, device=...): copy from pageable memory"
        if name in ("to", "cuda") and inputs and inputs[0] in self.host and inputs[0] not in self.pinned \
                and not _host_device(_target(name, args, kwargs)) and not _call_site().startswith(TO_DEVICE):
            return ".to(device) of pageable host memory"
        return None

    def _is_host_output(self, func, args, kwargs) -> bool:
        name = getattr(func, "__name__", "")
        inputs = _tensors(args) + _tensors(kwargs)
        if name in ("to", "cuda"):
            return _host_device(_target(name, args, kwargs)) and all(t in self.host for t in inputs)
        if name in FROM_DATA | FACTORIES:
            return _host_device(kwargs.get("device")) and all(t in self.host for t in inputs)
        return bool(inputs) and all(t in self.host for t in inputs)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.counting:
            why = self._sync(func, args, kwargs)
            if why:
                self.sites[f"{_call_site()} [{why}]"] += 1
        out = func(*args, **kwargs)
        if self.counting:
            host = self._is_host_output(func, args, kwargs)
            for t in _tensors(out):
                if host:
                    self.host.add(t)
                else:  # on a CPU `.to(device)` may hand back its input: from here on it is a device tensor
                    self.host.discard(t)
                    self.pinned.discard(t)
        return out


def make_inputs(work: Path) -> Path:
    """The tiny workflow (.test/config.yaml) up to the training stages' inputs, as the tests make it."""
    data = "results/synthetic-test"
    frames = [f"{data}/frames/{split}/shard{i}.h5" for split in ("train", "dev") for i in (0, 1)]
    cmd = [str(Path(sys.executable).with_name("snakemake")), "--snakefile", str(REPO / "Snakefile"),
           "--configfile", str(TEST_CONFIG), "--cores", "2", f"{data}/text/prototypes.safetensors", f"{data}/lm",
           *frames]
    subprocess.run(cmd, cwd=work, check=True, capture_output=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    return work / data


def stage_kwargs(stage: str, data: Path, out: Path, batch: int, micro: int, device: str = "cpu") -> dict:
    """The arguments the workflow's rule gives the stage: the tiny configuration (1 epoch), with the
    presets' augmentation, tuning, checkpointing and pooling."""
    from sign2gpt.core.config import load_config

    cfg = load_config(TEST_CONFIG)
    # the presets' choices that change what a step runs (their sizes stay the tiny ones): LoRA on the
    # top DINOv2 block, fused qkv, checkpointing in chunks, the official pooling
    spatial = {**cfg["spatial"], "config": {**cfg["spatial"]["config"], "num_hidden_layers": 2}, "tune": "lora",
               "lora": {"layers": 1, "r": 4, "alpha": 4, "dropout": 0.1, "qkv": "fused"}, "pooling": "cls",
               "chunk_size": 4, "checkpointing": True}
    encoder = {**cfg["encoder"], "dropout": 0.1, "drop_path": 0.1, "checkpointing": True, "pool_mask": "any",
               "zero_pad_before_pool": False}
    frames = sorted(str(p) for split in ("train", "dev") for p in (data / "frames" / split).glob("shard*.h5"))
    common = dict(train_manifest=str(data / "manifest" / "train.tsv"), dev_manifest=str(data / "manifest" / "dev.tsv"),
                  frames=frames, out_dir=str(out), spatial=spatial, encoder=encoder,
                  frames_cfg={**cfg["frames"], "augment": True, "hflip": True}, seed=1, device=device)  # as the presets
    if stage == "pretrain":
        return dict(common, pseudo_glosses=str(data / "text" / "pseudo_glosses.json"),
                    prototypes=str(data / "text" / "prototypes.safetensors"), head=cfg["pgp_head"],
                    train={**cfg["pretrain"], "epochs": 1, "batch_size": batch, "micro_batch_size": micro,
                           "num_workers": 0})
    return dict(common, variant="scratch", lm=str(data / "lm"), evaluate=cfg["evaluate"], decode=cfg["decode"],
                language=cfg["dataset"]["language"],
                train={**cfg["translate"], "epochs": 1, "batch_size": batch, "micro_batch_size": micro,
                       "num_workers": 0, "select_on": "tf_bleu4"})


def count_stage(stage: str, data: Path, out: Path, batch: int, micro: int, device: str = "cpu") -> dict:
    """Run the stage for one epoch and count each optimizer step's syncs (from the step's first
    forward to its end, the loader's next batch excluded). On CUDA also the synchronisations torch
    itself reports per step (`torch.cuda.set_sync_debug_mode("warn")`)."""
    from sign2gpt.data import dataset, loaders
    from sign2gpt.training import loop, pretrain
    from sign2gpt.training.pretrain import run_pretrain
    from sign2gpt.training.translate import run_translate

    counter = SyncCounter()
    steps: list[Counter] = []
    reported: list[int] = []  # CUDA: torch's own sync warnings per step
    warned: list = []

    # as on a GPU, the loader hands over uint8 pixels and `batch_frames` makes the float frames on the
    # device (on a CPU the loader's workers do that work)
    def gpu_loader(*args, collate_fn=None, **kwargs):
        return dataset.make_loader(*args, collate_fn=collate_fn or functools.partial(dataset.collate, to_float=False),
                                   **kwargs)
    backward, check_stop = loop.Trainer._backward, loop.Trainer._check_stop

    def counted_backward(self, group, totals):
        for b in group:
            counter.mark_batch(b)
        counter.sites, counter.counting = Counter(), True
        counter.warned_from = len(warned)
        return backward(self, group, totals)

    def step_end(self):
        if counter.counting:
            steps.append(counter.sites)
            reported.append(len(warned) - counter.warned_from)
            counter.counting = False
        return check_stop(self)

    patched = [(loop.Trainer, "_backward", counted_backward), (loop.Trainer, "_check_stop", step_end),
               (pretrain, "make_loader", gpu_loader), (loaders, "make_loader", gpu_loader)]
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in patched]
    for owner, name, value in patched:
        setattr(owner, name, value)
    try:
        with counter, warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always")
            if device == "cuda":
                torch.cuda.set_sync_debug_mode("warn")
            kwargs = stage_kwargs(stage, data, out, batch, micro, device)
            (run_pretrain if stage == "pretrain" else run_translate)(**kwargs)
    finally:
        for owner, name, value in originals:
            setattr(owner, name, value)
        if device == "cuda":
            torch.cuda.set_sync_debug_mode("default")
    totals = [sum(s.values()) for s in steps]
    middle = totals[1:-1] or totals
    typical = statistics.mode(middle)
    example = steps[1 + middle.index(typical)] if len(totals) > 2 else steps[totals.index(typical)]
    cuda = {"cuda_reported_per_step": statistics.mode(reported[1:-1] or reported)} if device == "cuda" else {}
    return {**cuda, "stage": stage, "batch": batch, "micro_batch": micro, "steps": len(steps), "per_step": typical,
            "first_step": totals[0], "last_step": totals[-1], "sites": dict(example.most_common())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inputs", type=Path, help="results/synthetic-test of a tiny run (made when absent)")
    ap.add_argument("--work", type=Path, help="scratch folder (a temporary one by default)")
    ap.add_argument("--out", type=Path, default=HERE / "host_syncs.json")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                    help="cuda: the stages run on the GPU, and torch's own sync warnings are counted too")
    args = ap.parse_args()
    torch.set_num_threads(2)
    os.environ.setdefault("TQDM_DISABLE", "1")
    work = args.work or Path(tempfile.mkdtemp(prefix="host-syncs-"))
    work.mkdir(parents=True, exist_ok=True)
    data = args.inputs or make_inputs(work)
    runs = [count_stage(stage, data, Path(tempfile.mkdtemp(dir=work, prefix=f"{stage}-")), batch, micro, args.device)
            for stage in ("pretrain", "translate") for batch, micro in ((2, 2), (4, 2))]
    for r in runs:
        print(f"\n{r['stage']}: batch {r['batch']} in micro-batches of {r['micro_batch']}: "
              f"{r['per_step']} syncs per step ({r['steps']} steps; first {r['first_step']}, last {r['last_step']})")
        for site, n in r["sites"].items():
            print(f"  {n:3d}  {site}")
    summary = {f"{r['stage']}_{r['batch'] // r['micro_batch']}_micro": r["per_step"] for r in runs}
    if args.device == "cuda":  # what torch itself reported on the GPU decides
        summary.update({f"{r['stage']}_{r['batch'] // r['micro_batch']}_micro_cuda_reported":
                        r["cuda_reported_per_step"] for r in runs})
    met = all(summary[f"{s}_1_micro"] <= 3 and summary[f"{s}_2_micro"] <= summary[f"{s}_1_micro"] + 1
              for s in ("pretrain", "translate"))
    result = {"benchmark": "host_syncs", "device": args.device, "summary": summary, "targets_met": met,
              "torch": torch.__version__,
              "runs": runs}
    write_json(args.out, result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
