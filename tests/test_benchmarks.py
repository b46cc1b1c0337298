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
