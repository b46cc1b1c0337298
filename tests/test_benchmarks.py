"""Benchmarks run (tiny arguments) and report what they measured: decode.py on frame folders (train_step.py
and loader.py run in tests/test_gpu_check.py, the GPU check's CPU mode)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize("source", ["png", "jpeg"])
def test_decode_benchmark_frame_folders_smoke(tmp_path, source):
    out = tmp_path / "decode.json"
    cmd = [sys.executable, str(REPO / "benchmarks" / "decode.py"), "--source", source, "--size", "64",
           "--storage", "jpeg",
           "--threads", "2", "--num-videos", "2", "--frames", "6", "--source-size", "64", "--repeats", "1",
           "--clips", "5", "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result == json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["source"] == source and result["threads"] == 2 and result["frames"] == 12
    assert result["ratio"] > 0 and result["frames_per_s"] > 0 and result["raw_frames_per_s"] > 0


def _run_benchmark(script: str, *args: str, out: Path, timeout: int = 900) -> dict:
    """Run benchmarks/<script> with tiny arguments; its last stdout line is the JSON it wrote."""
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / script), *args, "--out", str(out)],
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    assert json.loads(out.read_text()) == last
    return last


@pytest.mark.slow
def test_pseudo_glosses_benchmark_smoke(tmp_path):
    result = _run_benchmark("pseudo_glosses.py", "--n", "40", out=tmp_path / "p.json")
    assert result["de_sentences_per_s"] > 0 and result["zh_sentences_per_s"] > 0, result


@pytest.mark.slow
def test_sign_encoder_benchmark_smoke(tmp_path):
    result = _run_benchmark("sign_encoder.py", "--lengths", "16", "32", "--dim", "32", "--heads", "2", "--layers", "1",
                            "1", "--mlp-ratio", "2", "--threads", "1", out=tmp_path / "s.json")
    growth = result["local_growth_32_over_16"]
    assert growth["length_ratio"] == 2 and growth["peak_mem"] > 0 and result["saved_ratio_32"] > 0, result


@pytest.mark.slow
def test_decoding_benchmark_smoke(tmp_path):
    result = _run_benchmark("decoding.py", "--layers", "1", "--d-model", "32", "--heads", "2", "--vocab", "64",
                            "--memory-dim", "16", "--memory-len", "8", "--videos", "1", "--beam", "2", "--tokens", "4",
                            "--threads", "1", "--device", "cpu", out=tmp_path / "d.json")
    assert result["identical"] is True and result["cached_s"] > 0 and result["speedup"] > 0, result
    kv = result["memory_kv"]  # beam 2: the memory K/V once per video, half of what one per beam costs
    assert kv["flop_ratio"] == 2.0 and kv["bytes_ratio"] == 2.0, result


def _host_syncs():
    import importlib.util

    spec = importlib.util.spec_from_file_location("host_syncs", REPO / "benchmarks" / "host_syncs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_sync_counter_sees_what_would_synchronise_a_gpu():
    """Reads of a device tensor's value, data-dependent shapes and copies from pageable memory count;
    the same on host tensors (made from Python data, or by a factory without device=) do not."""
    import torch

    counter = _host_syncs().SyncCounter()
    device = torch.device("cpu")  # the run's device, as the stages pass it
    on_device, repeats = torch.ones(4, device=device), torch.ones(4, dtype=torch.long, device=device)
    with counter:
        counter.counting = True
        host = torch.tensor([1.0, 2.0])
        host.sum().item(), bool(host.max() > 1), host[host > 1]  # host memory: free
        float(on_device.sum()), on_device[on_device > 0], on_device.nonzero()  # 3 syncs
        torch.tensor([1, 2], device=device), host.to(device)  # 2 copies from pageable memory
        on_device.repeat_interleave(repeats)  # 1: the output size depends on the values
        torch.zeros(2, device=device).repeat_interleave(2)  # a Python int repeat: free
    reasons = sorted(site.split("[")[1].rstrip("]") for site in counter.sites.elements())
    assert reasons == [".to(device) of pageable host memory", "__float__", "boolean-mask indexing", "nonzero",
                       "repeat_interleave without output_size",
                       "torch.tensor(data, device=...): copy from pageable memory"], reasons


@pytest.mark.slow
def test_training_steps_wait_for_the_gpu_once(training_inputs, tmp_path):
    """The pretrain and translate stages' optimizer steps, as a GPU run takes them (augmentation on the
    device, the presets' tuning), synchronise once: the finite-loss check (target: at most 3, and at
    most one more per extra micro-batch). Each step synchronised 10-12 times at batch 2 before."""
    result = _run_benchmark("host_syncs.py", "--inputs", str(training_inputs), "--work", str(tmp_path),
                            out=tmp_path / "h.json")
    assert result["summary"] == {"pretrain_1_micro": 1, "pretrain_2_micro": 1, "translate_1_micro": 1,
                                 "translate_2_micro": 1}, result["runs"]
    assert result["targets_met"] is True


@pytest.mark.slow
def test_offline_benchmark_smoke(tmp_path):
    result = _run_benchmark("offline.py", "--model", "facebook/dinov2-small", out=tmp_path / "o.json", timeout=300)
    assert 0 <= result["offline_s"] < 5 and result["offline_outcome"] and result["online_outcome"], result


@pytest.mark.slow
def test_z_cache_benchmark_smoke(tmp_path):
    import yaml

    from sign2gpt.core.config import load_config

    config = tmp_path / "config.yaml"  # z_cache.py takes a whole config: the test configuration, merged
    config.write_text(yaml.safe_dump(load_config(REPO / ".test" / "config.yaml")))
    result = _run_benchmark("z_cache.py", "--videos", "4", "--config", str(config), out=tmp_path / "z.json")
    assert result["pgp_epoch_s"] > 0 and result["z_epoch_s"] > 0 and result["speedup"] > 0


def test_prepare_benchmark_small_layout(tmp_path):
    """benchmarks/prepare.py at a small size: the damage it builds is what prepare finds."""
    result = _run_benchmark("prepare.py", "--clips", "30", "--damaged-every", "4", "--all-bad", "1",
                            "--work", str(tmp_path), out=tmp_path / "p.json")
    assert result["damaged_clips_kept"] == result["damaged_clips_made"] > 0
    assert result["clips_skipped"] == result["all_bad_clips_made"] == 1
    assert sum(result["kept"].values()) == result["clips"] - 1 and result["prepare_s"] > 0
