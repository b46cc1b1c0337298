"""Reliability under faults: interruption and exact resume, atomic outputs, bad input, safe loading.

What other files already cover (not repeated here): the Trainer's exact resume and its SIGTERM
handling in one process (test_loop), tampered/truncated checkpoints (test_checkpoint), an
incomplete or foreign frame store and the atomic frame-store writer on an exception
(test_decode), corrupt/zero-byte/missing videos and frame folders, missing columns, duplicate ids,
`../` paths and non-UTF-8 annotation files (test_ingest, test_decode, test_manifest), wrong config
types (test_config), identical metrics from two seeded workflow runs (test_workflow).

The interruption tests run the real stage functions (`run_pretrain`, `run_translate`) on the tiny
workflow's inputs in child processes that are killed with SIGKILL or stopped with SIGTERM. The
children are forked from a helper process (this file run with `--serve`) that has imported the
stage code once, so each run starts in milliseconds instead of ~15 s of imports.
"""

from __future__ import annotations

import builtins
import csv
import dataclasses
import json
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch
from media import make_video
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from sign2gpt.core.config import load_config
from sign2gpt.core.errors import DataError
from sign2gpt.core.io import file_sha256
from sign2gpt.data.dataset import SignDataset, batch_frames, collate, make_loader
from sign2gpt.data.decode import decode_shard, skipped_path
from sign2gpt.data.feature_cache import FeatureCache, FeatureDataset, write_feature_cache
from sign2gpt.data.frame_store import FrameStore, FrameStoreWriter
from sign2gpt.data.ingest import prepare_dataset
from sign2gpt.data.manifest import Sample, read_manifest, write_manifest
from sign2gpt.data.video import count_frames, read_frames
from sign2gpt.runtime.checkpoint import load_checkpoint, load_weights, save_checkpoint
from sign2gpt.training.loop import TIMING_COLUMNS

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TEST_CONFIG = REPO / ".test" / "config.yaml"
DATASET = "synthetic-test"  # dataset.name in .test/config.yaml
EPOCHS = 3


def snakemake(*args: str, cwd: Path, configs: tuple[Path, ...] = (), check: bool = True) -> subprocess.CompletedProcess:
    cmd = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--configfile", str(TEST_CONFIG), *map(str, configs),
           *args]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900, check=False,
                          env={**os.environ, "PYTHONHASHSEED": "0"})
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-6000:]}")
    return proc


def hidden_files(folder: Path) -> list[str]:
    """Temporary files of atomic writes (`.name.xxxx.tmp`)."""
    return sorted(p.name for p in folder.rglob(".*") if p.is_file() and p.name != ".snakemake_timestamp")


# =============================================================================================
# Interruption: SIGKILL and SIGTERM mid-run, then resume to the same weights and metrics


@pytest.fixture(scope="module")
def inputs(training_inputs) -> Path:
    """The tiny workflow run up to the training inputs (corpus, manifests, frames, text, LM)."""
    return training_inputs


def _frames(data: Path) -> list[str]:
    return sorted(str(p) for split in ("train", "dev") for p in (data / "frames" / split).glob("shard*.h5"))


def pretrain_kwargs(data: Path, out: Path) -> dict[str, Any]:
    cfg = load_config(TEST_CONFIG)
    return dict(
        train_manifest=str(data / "manifest" / "train.tsv"), dev_manifest=str(data / "manifest" / "dev.tsv"),
        frames=_frames(data), pseudo_glosses=str(data / "text" / "pseudo_glosses.json"),
        prototypes=str(data / "text" / "prototypes.safetensors"), out_dir=str(out), spatial=cfg["spatial"],
        encoder=cfg["encoder"], head=cfg["pgp_head"], frames_cfg=cfg["frames"],
        train={**cfg["pretrain"], "epochs": EPOCHS}, seed=1, device="cpu",
    )


def translate_kwargs(data: Path, out: Path) -> dict[str, Any]:
    cfg = load_config(TEST_CONFIG)
    return dict(
        variant="scratch", train_manifest=str(data / "manifest" / "train.tsv"),
        dev_manifest=str(data / "manifest" / "dev.tsv"), lm=str(data / "lm"), out_dir=str(out),
        spatial=cfg["spatial"], encoder=cfg["encoder"], frames_cfg=cfg["frames"],
        train={**cfg["translate"], "epochs": EPOCHS, "select_every": 1}, evaluate=cfg["evaluate"],
        language=cfg["dataset"]["language"], seed=1, frames=_frames(data), decode=cfg["decode"], device="cpu",
    )


STAGES = {
    "pretrain": ("sign2gpt.training.pretrain:run_pretrain", pretrain_kwargs),
    "translate": ("sign2gpt.training.translate:run_translate", translate_kwargs),
}


class StageRunner:
    """A helper process that imports the stage code once and runs each request in a forked child.

    run(target, kwargs, log, stop) -> the child's exit status (negative: killed by that signal).
    stop: {"signal": "KILL" | "TERM", "file": path} sends the signal once `file` exists,
    {"signal": ..., "log": text} once the child's log contains `text`.
    """

    def __init__(self, log: Path):
        self._stderr = open(log, "w")  # noqa: SIM115 (open while the runner lives)
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     stderr=self._stderr, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
        self.log = log

    def submit(self, target: str, kwargs: dict, log: Path, stop: dict | None = None) -> None:
        self.proc.stdin.write(json.dumps({"target": target, "kwargs": kwargs, "log": str(log), "stop": stop}) + "\n")
        self.proc.stdin.flush()

    def result(self) -> int:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the stage runner died:\n{self.log.read_text()[-4000:]}")
        return json.loads(line)["exitcode"]

    def run(self, target: str, kwargs: dict, log: Path, stop: dict | None = None) -> int:
        self.submit(target, kwargs, log, stop)
        return self.result()

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self._stderr.close()


def _serve() -> None:
    """The runner's side (`python test_reliability.py --serve`): one JSON request per stdin line."""
    torch.set_num_threads(1)  # the same in every child, so runs are comparable bit for bit
    from sign2gpt.training import pretrain, translate  # noqa: F401  (imported once, before forking)

    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        status = _watch(pid, request["log"], request["stop"])
        print(json.dumps({"exitcode": status}), flush=True)


def _child(request: dict) -> None:
    fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    code = 1
    try:
        from sign2gpt.core.logs import setup_logging
        from sign2gpt.training.launch import _resolve

        setup_logging()
        _resolve(request["target"])(**request["kwargs"])
        code = 0
    except SystemExit as e:  # TrainingInterrupted after SIGTERM: 143
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:  # noqa: BLE001 (the child reports any failure in its log)
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _watch(pid: int, log: str, stop: dict | None) -> int:
    """Wait for the child, sending stop["signal"] once its condition holds; the exit status."""
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if stop is not None:
            if "file" in stop:
                ready = Path(stop["file"]).exists()
            else:
                ready = Path(log).exists() and stop["log"] in Path(log).read_text(errors="replace")
            if ready:
                os.kill(pid, getattr(signal, "SIG" + stop["signal"]))
                stop = None
        time.sleep(0.005)


@pytest.fixture(scope="module")
def runners(tmp_path_factory) -> Iterator[tuple[StageRunner, StageRunner]]:
    """Two runners: the interrupted runs on one while the uninterrupted reference runs on the other
    (requested before `inputs`, so their imports overlap with the workflow run)."""
    logs = tmp_path_factory.mktemp("runners")
    pair = (StageRunner(logs / "a.log"), StageRunner(logs / "b.log"))
    yield pair
    for runner in pair:
        runner.close()


def checkpoint_epoch(path: Path) -> int:
    with safe_open(str(path), framework="pt") as f:
        return json.loads(f.metadata()["state"])["epoch"]


def tensors(path: Path) -> dict[str, torch.Tensor]:
    with safe_open(str(path), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (a safe_open handle, not a dict)


def metric_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return [{k: v for k, v in row.items() if k not in TIMING_COLUMNS} for row in csv.DictReader(f)]


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["pretrain", "translate"])
def test_killed_and_stopped_stage_resumes_to_the_uninterrupted_result(stage, runners, inputs, tmp_path):
    chain, reference = runners
    target, make_kwargs = STAGES[stage]
    ref, out = tmp_path / "reference", tmp_path / "interrupted"
    reference.submit(target, make_kwargs(inputs, ref), tmp_path / "reference.log")
    kwargs = make_kwargs(inputs, out)
    last = out / "last.safetensors"

    # 1. SIGKILL as soon as epoch 1's checkpoint exists: whatever is visible is complete
    code = chain.run(target, kwargs, tmp_path / "run1.log", stop={"signal": "KILL", "file": str(last)})
    assert code == -signal.SIGKILL, (tmp_path / "run1.log").read_text()[-3000:]
    assert checkpoint_epoch(last) == 1
    tensors(out / "best.safetensors")  # complete, readable
    if (out / "metrics.csv").exists():
        assert len(metric_rows(out / "metrics.csv")) == 1

    # 2. resume, then SIGTERM while epoch 2 trains: exit 143, nothing new written, no partial file
    checkpoints = {name: (out / name).read_bytes() for name in ("best.safetensors", "last.safetensors")}
    leftovers = set(hidden_files(out))  # SIGKILL cannot clean up a temporary file mid-write
    log2 = tmp_path / "run2.log"
    code = chain.run(target, kwargs, log2, stop={"signal": "TERM", "log": f"epoch 2/{EPOCHS}"})
    assert code == 143, log2.read_text()[-3000:]
    assert "resumed from" in log2.read_text() and "Traceback" not in log2.read_text()
    assert all((out / name).read_bytes() == data for name, data in checkpoints.items())
    assert len(metric_rows(out / "metrics.csv")) == 1  # (re)written from the checkpoint's history
    assert set(hidden_files(out)) == leftovers

    # 3. resume to the end: the same weights, optimizer/RNG state and metrics as without faults
    code = chain.run(target, kwargs, tmp_path / "run3.log")
    assert code == 0, (tmp_path / "run3.log").read_text()[-3000:]
    assert reference.result() == 0, (tmp_path / "reference.log").read_text()[-3000:]
    for name in ("best.safetensors", "last.safetensors"):
        a, b = tensors(ref / name), tensors(out / name)
        assert a.keys() == b.keys(), name
        different = [k for k in a if not torch.equal(a[k], b[k])]
        assert not different, f"{name}: {len(different)} tensors differ, e.g. {different[:3]}"
    assert metric_rows(out / "metrics.csv") == metric_rows(ref / "metrics.csv")
    assert len(metric_rows(ref / "metrics.csv")) == EPOCHS


def test_resume_after_snakemake_removed_the_failed_jobs_outputs(tmp_path):
    """Snakemake deletes the declared outputs of a failed job (best.safetensors, metrics.csv) but
    not last.safetensors; the rerun resumes from `last` and must still deliver `best`, also when
    no later epoch beats the best one from before the interruption."""
    from sign2gpt.training.loop import Trainer, TrainingInterrupted

    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    data = [(torch.randn(4, 3), torch.randn(4, 1)) for _ in range(3)]
    scores = iter([0.9, 0.5, 0.4])  # the best epoch is the first

    def make_trainer(stop_in_epoch: int | None) -> Trainer:
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        steps = []

        def step(batch):
            steps.append(1)
            if stop_in_epoch is not None and len(steps) == (stop_in_epoch - 1) * len(data) + 1:
                os.kill(os.getpid(), signal.SIGTERM)
            x, y = batch
            return nn.functional.mse_loss(model(x), y)

        return Trainer(model, opt, None, data, step, lambda: {"score": next(scores)}, out_dir=tmp_path, epochs=3,
                       select_metric="score")

    with pytest.raises(TrainingInterrupted):
        make_trainer(stop_in_epoch=3).fit()  # epochs 1 and 2 done
    for name in ("best.safetensors", "metrics.csv"):  # what `Snakemake: Removing output files of failed job` does
        (tmp_path / name).unlink()
    summary = make_trainer(stop_in_epoch=None).fit()
    assert summary["best_epoch"] == 1
    assert (tmp_path / "best.safetensors").exists(), "the rerun finished without the declared output best.safetensors"
    assert load_checkpoint(tmp_path / "best.safetensors", nn.Linear(3, 1))["epoch"] == 1


def test_resumed_run_writes_metrics_csv_with_the_same_columns(tmp_path):
    """A resumed run's metrics.csv is the uninterrupted run's file, column order included."""
    from sign2gpt.training.loop import Trainer

    def run(out: Path, epochs: int) -> None:
        torch.manual_seed(0)
        model = nn.Linear(3, 1)
        data = [(torch.randn(4, 3), torch.randn(4, 1))]
        def step(batch):
            return nn.functional.mse_loss(model(batch[0]), batch[1])

        Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), None, data, step,
                lambda: {"zeta": 1.0, "alpha": 2.0}, out_dir=out, epochs=epochs, select_metric="zeta").fit()

    run(tmp_path / "straight", 2)
    run(tmp_path / "resumed", 1)
    run(tmp_path / "resumed", 2)
    def header(d):
        return (tmp_path / d / "metrics.csv").read_text().splitlines()[0]

    assert header("resumed") == header("straight") == "epoch,train_loss,lr,zeta,alpha,seconds"


# =============================================================================================
# Bad input at the workflow level: a corrupt video stops the run naming it, or is skipped


@pytest.mark.slow
def test_corrupt_video_fails_the_workflow_naming_it_or_is_skipped(inputs, tmp_path):
    raw = tmp_path / "results" / DATASET / "raw"
    raw.parent.mkdir(parents=True)
    shutil.copytree(inputs / "raw", raw)  # the rendered corpus, with its timestamps
    video = raw / "videos" / "dev" / "de_dev_00001.mp4"
    os.truncate(video, video.stat().st_size // 3)

    proc = snakemake("--cores", "2", "--until", "prepare", cwd=tmp_path, check=False)
    assert proc.returncode != 0
    log = (tmp_path / "logs" / DATASET / "prepare.log").read_text()
    assert "de_dev_00001" in log and str(video) in log and "cannot open video" in log
    assert "Traceback" not in log  # an expected error is one line, not a stack
    assert "de_dev_00001" in proc.stdout + proc.stderr

    skip = tmp_path / "skip.yaml"
    skip.write_text("dataset: {skip_bad_items: true}\n")
    shard = f"results/{DATASET}/frames/dev/shard1.h5"  # the shard the video was in
    snakemake("--cores", "2", shard, cwd=tmp_path, configs=(skip,))
    data = tmp_path / "results" / DATASET
    rows = [line.split("\t") for line in (data / "manifest" / "skipped.tsv").read_text().splitlines()[1:]]
    assert [(r[0], r[1]) for r in rows] == [("dev", "de_dev_00001")] and "cannot open video" in rows[0][3]
    dev_ids = [s.id for s in read_manifest(data / "manifest" / "dev.tsv")]
    assert "de_dev_00001" not in dev_ids and len(dev_ids) == 5
    assert FrameStore(tmp_path / shard).ids == dev_ids[1::2]  # decoding went on without it


# =============================================================================================
# Atomic outputs: a writer killed at any moment leaves the complete file or none


def _manifest_samples(tag: str, n: int = 3000) -> list[Sample]:
    return [Sample(f"{tag}{i}", f"/videos/{tag}{i}.mp4", 10 + i % 7, "s1", f"satz {tag} nummer {i}", ["A", "B"],
                   [(0, 4), (4, 9)]) for i in range(n)]


def _frames_of(tag: int) -> np.ndarray:
    return np.full((6, 16, 16, 3), tag, np.uint8)


def _write_forever(kind: str, path: Path) -> None:
    """Child: rewrite `path` alternately with content 0 and 1 until killed."""
    manifests = [_manifest_samples("a"), _manifest_samples("b")]
    for i in range(10**9):
        if kind == "manifest":
            write_manifest(path, manifests[i % 2])
        else:
            with FrameStoreWriter(path, stride=1, size=16, storage="raw") as w:
                for v in range(40):
                    w.add(f"v{v}", _frames_of(i % 2))


@pytest.mark.parametrize("kind", ["manifest", "frame store"])
def test_writer_killed_at_random_moments_leaves_complete_file_or_none(kind, tmp_path):
    rng = random.Random(0)
    expected = [_manifest_samples("a"), _manifest_samples("b")]
    seen = set()
    for attempt in range(6):
        path = tmp_path / f"out{attempt}"
        pid = os.fork()
        if pid == 0:
            try:
                _write_forever(kind, path)
            finally:
                os._exit(0)
        if attempt % 2:  # after the first complete write, so a loaded machine still tests a replace
            deadline = time.monotonic() + 60
            while not path.exists() and time.monotonic() < deadline:
                time.sleep(0.005)
        time.sleep(rng.uniform(0.05, 0.6))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        if not path.exists():
            seen.add("none")
            continue
        if kind == "manifest":
            content = read_manifest(path)
            assert content in expected
            seen.add(expected.index(content))
        else:
            with FrameStore(path) as store:
                assert store.ids == [f"v{v}" for v in range(40)]
                first = int(store.read("v0")[0, 0, 0, 0])
                assert all(np.array_equal(store.read(f"v{v}"), _frames_of(first)) for v in range(40))
            seen.add(first)
    assert seen & {0, 1}, "no kill landed after a complete write: the test checked nothing"


# =============================================================================================
# A later run never trusts a partial or foreign HDF5 file or checkpoint


def _store(path: Path) -> Path:
    with FrameStoreWriter(path, stride=1, size=16, storage="raw") as w:
        for v in range(4):
            w.add(f"v{v}", np.full((20, 16, 16, 3), v, np.uint8))
    return path


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.01])
def test_truncated_frame_store_is_refused_naming_the_file(tmp_path, keep):
    path = _store(tmp_path / "shard0.h5")
    os.truncate(path, int(path.stat().st_size * keep))
    with pytest.raises(DataError, match="not a readable HDF5 file") as err:
        FrameStore(path)
    assert str(path) in str(err.value)


def _features(n: int = 3) -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [(f"v{i}", rng.standard_normal((5 + i, 8)).astype(np.float32)) for i in range(n)]


def test_feature_cache_round_trip_and_provenance(tmp_path):
    path = tmp_path / "train.h5"
    assert write_feature_cache(path, _features(), checkpoint_sha256="c" * 64, manifest_sha256="m" * 64) == 3
    with FeatureCache(path, checkpoint_sha256="c" * 64, manifest_sha256="m" * 64) as cache:
        assert cache.ids == ["v0", "v1", "v2"] and cache.dim == 8
        np.testing.assert_array_equal(cache.read("v2"), _features()[2][1])
        with pytest.raises(DataError, match="v9: not in feature cache"):
            cache.read("v9")
    with pytest.raises(DataError,
                       match=r"stale cache: made from checkpoint cccccccccccc.*expected dddddddddddd") as err:
        FeatureCache(path, checkpoint_sha256="d" * 64, manifest_sha256="m" * 64)
    assert str(path) in str(err.value)
    with pytest.raises(DataError, match="stale cache: made from manifest mmmmmmmmmmmm"):
        FeatureCache(path, checkpoint_sha256="c" * 64, manifest_sha256="n" * 64)
    samples = [Sample(f"v{i}", "/v", 9, "", "t") for i in (0, 1, 5)]
    with pytest.raises(DataError, match=r"v5: missing from feature cache .*train\.h5 \(1 videos missing\)"):
        FeatureDataset(samples, FeatureCache(path))


def test_translation_refuses_a_cache_made_from_another_checkpoint_or_manifest(tmp_path):
    """The `z` variant's loader checks the cache against the checkpoint and manifest it is given."""
    from sign2gpt.data.loaders import make_split_loader

    ckpt_a, ckpt_b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    save_file({"w": torch.zeros(2)}, str(ckpt_a))
    save_file({"w": torch.ones(2)}, str(ckpt_b))
    manifest = tmp_path / "train.tsv"
    write_manifest(manifest, [Sample(vid, "/v", 9, "", "ein satz") for vid, _ in _features()])
    cache = tmp_path / "features.h5"
    write_feature_cache(cache, _features(), checkpoint_sha256=file_sha256(ckpt_a),
                        manifest_sha256=file_sha256(manifest))
    kw = dict(train=False, batch_size=2, seed=0, features=str(cache))
    batch = next(iter(make_split_loader("z", str(manifest), pretrained=str(ckpt_a), **kw)))
    assert batch["memory"].shape == (2, 6, 8)
    with pytest.raises(DataError, match="stale cache: made from checkpoint"):
        make_split_loader("z", str(manifest), pretrained=str(ckpt_b), **kw)
    write_manifest(manifest, [Sample(vid, "/v", 9, "", "ein anderer satz") for vid, _ in _features()])
    with pytest.raises(DataError, match="stale cache: made from manifest"):
        make_split_loader("z", str(manifest), pretrained=str(ckpt_a), **kw)


def test_partial_foreign_or_failed_feature_caches_are_refused_or_never_appear(tmp_path):
    path = tmp_path / "dev.h5"
    write_feature_cache(path, _features(), checkpoint_sha256="c" * 64, manifest_sha256="m" * 64)
    raw = path.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="not a readable feature cache") as err:
        FeatureCache(cut)
    assert str(cut) in str(err.value)
    with h5py.File(path, "a") as f:
        del f.attrs["complete"]  # as if the writer had died before its last step
    with pytest.raises(DataError, match="not a complete sign2gpt feature cache"):
        FeatureCache(path)
    with pytest.raises(DataError, match="not a complete sign2gpt feature cache"):
        FeatureCache(_store(tmp_path / "frames.h5"))  # a frame store is not a feature cache
    with pytest.raises(DataError, match="not a readable feature cache"):
        FeatureCache(tmp_path / "missing.h5")

    def failing() -> Iterator[tuple[str, np.ndarray]]:
        yield from _features(2)
        raise RuntimeError("encoder crashed")

    with pytest.raises(RuntimeError, match="encoder crashed"):
        write_feature_cache(tmp_path / "new.h5", failing(), checkpoint_sha256="c", manifest_sha256="m")
    with pytest.raises(DataError, match=r"v1: feature array must be \[T', D\]"):
        write_feature_cache(tmp_path / "new.h5", [("v0", np.zeros((2, 4))), ("v1", np.zeros((0, 4)))],
                            checkpoint_sha256="c", manifest_sha256="m")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.h5", "dev.h5", "frames.h5"]  # no new.h5, no temporary


def test_unreadable_or_foreign_last_checkpoint_is_not_resumed(tmp_path, caplog):
    from sign2gpt.runtime.checkpoint import config_fingerprint, discard_stale_checkpoint

    model = nn.Linear(3, 2)
    fp = config_fingerprint({"lr": 1e-3})
    last = tmp_path / "last.safetensors"
    save_checkpoint(last, model, epoch=2, extra={"fingerprint": fp})
    discard_stale_checkpoint(last, fp)
    assert last.exists()  # same settings: resumed
    discard_stale_checkpoint(last, config_fingerprint({"lr": 2e-3}))
    assert not last.exists() and "other settings" in caplog.text  # other settings: starts over
    save_checkpoint(last, model, epoch=2, extra={"fingerprint": fp})
    os.truncate(last, last.stat().st_size - 100)
    discard_stale_checkpoint(last, fp)
    assert not last.exists()  # truncated: never trusted


# =============================================================================================
# Safe loading: no loader unpickles


class _Payload:
    """Unpickling this runs code (it creates `marker`): what a malicious .pt / .pkl file does."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return builtins.exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",)


def test_pickle_files_disguised_as_checkpoints_or_caches_are_refused_without_running_code(tmp_path):
    from sign2gpt.text.prototypes import load_prototypes

    marker = tmp_path / "pwned"
    (tmp_path / "plain.pkl").write_bytes(pickle.dumps({"weight": _Payload(marker)}))
    torch.save({"weight": _Payload(marker)}, tmp_path / "zip.pt")  # torch's zip format, pickle inside
    pickle.loads((tmp_path / "plain.pkl").read_bytes())
    assert marker.exists()  # the payload works when unpickled
    marker.unlink()
    loaders = {
        "best.safetensors": lambda p: load_checkpoint(p, nn.Linear(3, 1)),
        "pretrained.safetensors": lambda p: load_weights(p, nn.Linear(3, 1)),
        "prototypes.safetensors": lambda p: load_prototypes(p),
        "features.h5": lambda p: FeatureCache(p),
        "shard0.h5": lambda p: FrameStore(p),
    }
    for source in ("plain.pkl", "zip.pt"):
        for name, load in loaders.items():
            path = tmp_path / f"{Path(source).stem}-{name}"
            path.write_bytes((tmp_path / source).read_bytes())
            with pytest.raises(DataError) as err:
                load(path)
            assert str(path) in str(err.value), err.value
            assert not marker.exists(), f"{name} ran the pickle's code"


def test_valid_checkpoints_and_caches_load_with_pickle_disabled(tmp_path, monkeypatch):
    from sign2gpt.text.prototypes import load_prototypes

    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    opt = torch.optim.AdamW(model.parameters())
    model(torch.randn(5, 3)).sum().backward()
    opt.step()
    save_checkpoint(tmp_path / "last.safetensors", model, opt, epoch=1, extra={"note": "x"})
    write_feature_cache(tmp_path / "f.h5", _features(), checkpoint_sha256="c", manifest_sha256="m")
    _store(tmp_path / "s.h5")
    save_file({"prototypes": torch.cat([torch.randn(2, 4), torch.zeros(1, 4)])}, str(tmp_path / "p.safetensors"),
              metadata={"vocab": json.dumps(["regen", "sonne"])})

    def refuse(*args, **kwargs):
        raise AssertionError("a loader tried to unpickle")

    for module, name in ((pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (torch, "load")):
        monkeypatch.setattr(module, name, refuse)
    fresh = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    assert load_checkpoint(tmp_path / "last.safetensors", fresh, torch.optim.AdamW(fresh.parameters()))["epoch"] == 1
    assert torch.equal(fresh[1].running_mean, model[1].running_mean)
    assert FeatureCache(tmp_path / "f.h5").read("v1").shape == (6, 8)
    assert FrameStore(tmp_path / "s.h5").read("v3", [0, 19]).max() == 3
    assert load_prototypes(tmp_path / "p.safetensors")[1] == ["regen", "sonne"]


# =============================================================================================
# Bad input items not covered elsewhere


def test_video_with_no_frames_is_an_error_naming_it_or_skipped(tmp_path):
    root = tmp_path / "corpus"
    empty = make_video(root / "clips" / "nothing.mp4", 0)
    assert empty.stat().st_size > 0  # a valid container, just no frames
    for fn in (count_frames, read_frames):
        with pytest.raises(DataError) as err:
            fn(empty)
        assert str(empty) in str(err.value)
    make_video(root / "clips" / "one.mp4", 1)
    (root / "index.csv").write_text("id,file,split,text\nnothing,clips/nothing.mp4,train,leer\n"
                                    "one,clips/one.mp4,train,eins\n")
    with pytest.raises(DataError, match=r"nothing \(.*index\.csv:2\)"):
        prepare_dataset("folder", root, tmp_path / "m")
    result = prepare_dataset("folder", root, tmp_path / "m", skip_bad_items=True)
    assert [(s.id, s.num_frames) for s in result["train"]] == [("one", 1)]
    assert "nothing\t" in (tmp_path / "m" / "skipped.tsv").read_text()


def test_folder_of_unreadable_images_fails_decode_naming_the_video_or_is_skipped(tmp_path):
    root = tmp_path / "corpus"
    junk = root / "clips" / "junk"
    junk.mkdir(parents=True)
    for t in range(3):  # a PNG's first and last bytes, so ingestion (which does not decode) accepts them
        (junk / f"images{t + 1}.png").write_bytes(b"\x89PNG\r\n\x1a\n but not really" * (t + 1) + b"IEND\xaeB`\x82")
    good = root / "clips" / "good"
    good.mkdir()
    for t in range(2):
        Image.new("RGB", (20, 20), (t, 0, 0)).save(good / f"images{t + 1}.png")
    (root / "index.csv").write_text("id,file,split,text\njunk,clips/junk,train,kaputt\ngood,clips/good,train,gut\n")
    prepare_dataset("folder", root, tmp_path / "m")
    manifest, shard = tmp_path / "m" / "train.tsv", tmp_path / "frames" / "shard0.h5"
    kw = dict(shard=0, num_shards=1, stride=1, size=16, storage="raw")
    with pytest.raises(DataError, match=r"video 'junk' \(.*junk\).*cannot decode frame images1\.png"):
        decode_shard(manifest, shard, **kw)
    assert not shard.exists()
    decode_shard(manifest, shard, skip_bad_items=True, **kw)
    store = FrameStore(shard)
    assert store.ids == ["good"] and list(store.left_out) == ["junk"]
    assert "no frame could be read" in store.left_out["junk"]
    assert skipped_path(shard).read_text().splitlines()[1].startswith("junk\t")
    samples = read_manifest(manifest)
    assert [s.id for s in store.held(samples)] == ["good"]  # the later stages use what decode stored
    with pytest.raises(DataError, match="ghost: not in the frame store.*decoded from another manifest"):
        store.held([*samples, dataclasses.replace(samples[0], id="ghost")])


@pytest.mark.parametrize(
    "index, where",
    [
        # an unterminated quote would swallow every later row into one text field
        ('id,file,split,text\na,clips/f,train,"unterminated\nb,clips/f,dev,zwei\nc,clips/f,test,drei\n', "index.csv:2"),
        ("id,file,split,text\na,clips/f,train," + "x" * 200_000 + "\n", "index.csv"),  # > the csv field limit
    ],
    ids=["unterminated-quote", "oversized-field"],
)
def test_malformed_index_csv_is_an_error_naming_the_file(tmp_path, index, where):
    root = tmp_path / "corpus"
    (root / "clips" / "f").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(root / "clips" / "f" / "1.png")
    (root / "index.csv").write_text(index)
    with pytest.raises(DataError, match=where.replace(".", r"\.")):
        prepare_dataset("folder", root, tmp_path / "m", skip_bad_items=True)


def test_csldaily_name_that_leaves_the_root_is_refused(tmp_path):
    root = tmp_path / "CSL-Daily"
    (root / "sentence_label").mkdir(parents=True)
    (root / "sentence_label" / "split_1.txt").write_text("name|split\n../../../../../../etc|train\n")
    info = [{"name": "../../../../../../etc", "label_gloss": ["X"], "label_char": ["x"], "signer": 0}]
    (root / "sentence_label" / "csl2020ct_v2.pkl").write_bytes(pickle.dumps({"info": info}))
    with pytest.raises(DataError, match=r"split_1\.txt:2: path .* points outside the dataset root"):
        prepare_dataset("csldaily", root, tmp_path / "m", skip_bad_items=True)  # never skipped


def test_target_longer_than_the_limit_keeps_its_end_token_and_empty_text_works():
    from sign2gpt.lm import tokenizer as tk
    from sign2gpt.lm.targets import encode_targets

    texts = ["morgen regen im norden und süden", "heute sonne", "am abend wind aus west"] * 4
    tok = tk.build_xglm_tokenizer(tk.train_sentencepiece(texts, vocab_size=60), model_max_length=64)
    start, eos, pad = tok.eos_token_id, tok.eos_token_id, tok.pad_token_id
    short = tok("heute sonne", add_special_tokens=False)["input_ids"]
    n, limit = len(short) + 2, len(short) + 6
    long = " ".join(["morgen regen im norden und süden"] * 30)
    full = tok(long, add_special_tokens=False)["input_ids"]
    assert len(full) > limit
    ids, mask = encode_targets(tok, [long, "heute sonne", ""], start_id=start, max_tokens=limit)
    assert ids.shape == (3, limit) and mask.dtype == torch.long
    assert ids[0].tolist() == [start, *full[: limit - 2], eos] and mask[0].all()  # truncated, </s> kept
    assert ids[1, :n].tolist() == [start, *short, eos] and mask[1].tolist() == [1] * n + [0] * (limit - n)
    assert (ids[1, n:] == pad).all()
    assert ids[2, :2].tolist() == [start, eos] and mask[2].sum() == 2  # an empty sentence: start, end


def test_video_longer_than_max_frames_is_capped_and_one_frame_video_runs(tmp_path):
    """Through the real frame store, dataset, collate and sign model (tiny configuration)."""
    from sign2gpt.models.sign_model import build_sign_model

    with FrameStoreWriter(tmp_path / "s.h5", stride=1, size=32, storage="raw") as w:
        w.add("long", np.random.default_rng(0).integers(0, 256, (400, 32, 32, 3), dtype=np.uint8))
        w.add("one", np.full((1, 32, 32, 3), 128, np.uint8))
    store = FrameStore(tmp_path / "s.h5")
    samples = [Sample("long", "/v", 400, "", "lang"), Sample("one", "/v", 1, "", "kurz")]
    cfg = load_config(TEST_CONFIG)
    torch.manual_seed(0)
    model = build_sign_model(cfg["spatial"], cfg["encoder"]).eval()
    for train in (True, False):
        ds = SignDataset(samples, store, train=train, image_size=cfg["spatial"]["image_size"], stride=2, max_frames=16,
                         seed=1)
        assert ds[0]["pixels"].shape[0] == 16 and ds[1]["pixels"].shape[0] == 1
        batch = next(iter(make_loader(ds, 2, False, collate_fn=collate)))
        with torch.no_grad():
            z, mask = model(batch_frames(batch, "cpu"), batch["lengths"])
        assert z.shape[:2] == (2, 8) and mask.sum(1).tolist() == [8, 1]
        assert torch.isfinite(z[mask]).all()


def test_cache_features_with_loader_workers_writes_the_same_cache(inputs, tmp_path, monkeypatch):
    """cache_features reads frames with the configured workers (float work in the workers on a
    CPU), and the cache is the one the main process alone writes."""
    import sign2gpt.training.cache_features as cache_features
    from sign2gpt.models.sign_model import build_sign_model

    cfg = load_config(TEST_CONFIG)
    torch.manual_seed(0)
    model = build_sign_model(cfg["spatial"], cfg["encoder"])
    checkpoint = tmp_path / "sign.safetensors"
    save_file({f"sign_model.{k}": v.contiguous() for k, v in model.state_dict().items()}, checkpoint)
    used = []

    def recording_loader(*args, **kwargs):
        loader = make_loader(*args, **kwargs)
        used.append(loader.num_workers)
        return loader

    monkeypatch.setattr(cache_features, "make_loader", recording_loader)
    dev = sorted(str(p) for p in (inputs / "frames" / "dev").glob("shard*.h5"))
    features = {}
    for workers in (0, 2):
        out = tmp_path / f"features-{workers}.h5"
        cache_features.run_cache_features(
            checkpoint=str(checkpoint), manifest=str(inputs / "manifest" / "dev.tsv"), frames=dev, out_path=str(out),
            spatial=cfg["spatial"], encoder=cfg["encoder"], frames_cfg=cfg["frames"], batch_size=3,
            num_workers=workers, device="cpu")
        with FeatureCache(out) as cache:
            features[workers] = dict(cache)
    assert used == [0, 2]
    assert features[0].keys() == features[2].keys() and len(features[0]) == len(
        read_manifest(inputs / "manifest" / "dev.tsv"))
    for vid, z in features[0].items():
        np.testing.assert_allclose(features[2][vid], z, rtol=0, atol=1e-5, err_msg=vid)


if __name__ == "__main__" and sys.argv[1:] == ["--serve"]:
    _serve()
