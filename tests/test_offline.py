"""No network at run time: importing sign2gpt puts the hub client offline, so a missing model
fails at once and a cached one loads without a single connection attempt.

Each case runs in a fresh interpreter (the hub client reads HF_HUB_OFFLINE once, at import) with
every socket connection and DNS lookup recorded and refused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import Dinov2Config, Dinov2Model

GUARDED = r'''
import json, socket, sys, time
attempts = []
def refuse(*args, **kwargs):
    attempts.append(str(args[:2]))
    raise OSError("network disabled by the test")
socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
from sign2gpt.core.errors import Sign2GPTError
from sign2gpt.models.spatial import build_backbone
from sign2gpt.lm.loading import resolve_model_dir
result = {}
for what, load in (("backbone", build_backbone), ("lm", resolve_model_dir)):
    t0 = time.perf_counter()
    try:
        load(sys.argv[1])
        result[what] = "loaded"
    except Sign2GPTError as e:
        result[what] = "error: " + str(e)[:80]
    result[what + "_seconds"] = time.perf_counter() - t0
result["attempts"] = len(attempts)
print(json.dumps(result))
'''


def run_guarded(model_id: str, hf_home: Path, **env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "SIGN2GPT_ALLOW_DOWNLOAD")}
    proc = subprocess.run([sys.executable, "-c", GUARDED, model_id], capture_output=True, text=True, timeout=300,
                          env={**clean, "HF_HOME": str(hf_home), **env})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cache_model(hf_home: Path, model_id: str) -> None:
    """A tiny DINOv2 in the Hugging Face cache layout, as `hf download` leaves it."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = hf_home / "hub" / f"models--{model_id.replace('/', '--')}"
    torch.manual_seed(0)
    Dinov2Model(Dinov2Config(image_size=16, patch_size=8, hidden_size=16, num_hidden_layers=1,
                             num_attention_heads=2)).save_pretrained(repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)


def test_a_missing_model_fails_at_once(tmp_path):
    out = run_guarded("sign2gpt-test/not-downloaded", tmp_path)
    assert out["backbone"].startswith("error") and out["lm"].startswith("error"), out
    assert out["backbone_seconds"] < 5 and out["lm_seconds"] < 5, out
    assert out["attempts"] == 0


def test_a_cached_model_loads_without_a_network_attempt(tmp_path):
    cache_model(tmp_path, "sign2gpt-test/tiny-dinov2")
    out = run_guarded("sign2gpt-test/tiny-dinov2", tmp_path)
    assert out["backbone"] == "loaded" and out["lm"] == "loaded", out
    assert out["attempts"] == 0


@pytest.mark.slow
def test_the_opt_out_lets_the_hub_client_try_the_network(tmp_path):
    """SIGN2GPT_ALLOW_DOWNLOAD=1 leaves the client online: it then tries the network even for a
    cached model (what the offline mode saves every job), which the guard sees."""
    cache_model(tmp_path, "sign2gpt-test/tiny-dinov2")
    out = run_guarded("sign2gpt-test/tiny-dinov2", tmp_path, SIGN2GPT_ALLOW_DOWNLOAD="1")
    assert out["attempts"] > 0, out


@pytest.mark.parametrize("given,expected", [({}, "1"), ({"HF_HUB_OFFLINE": "0"}, "0"), ({"HF_HUB_OFFLINE": "1"}, "1"),
                                            ({"SIGN2GPT_ALLOW_DOWNLOAD": "1"}, None)])
def test_importing_the_package_sets_offline_mode_but_keeps_a_users_choice(given, expected):
    """The package switches the hub client offline only where the user has not chosen: an
    `HF_HUB_OFFLINE` the user set (even 0) stays as it is."""
    clean = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "SIGN2GPT_ALLOW_DOWNLOAD")}
    code = "import os, sign2gpt; print(repr(os.environ.get('HF_HUB_OFFLINE')))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**clean, **given})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == repr(expected)
