"""`sign2gpt check-config PRESET --preflight`: every missing external input in one go, one line
each with how to get it, and a clean pass when everything is there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SIGN2GPT = str(Path(sys.executable).with_name("sign2gpt"))
PRESET = str(REPO / "configs" / "phoenix14t.yaml")


def check(cwd: Path, *configs: str, hf_home: Path, flags: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run([SIGN2GPT, "check-config", *configs, "--preflight", *flags], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "HF_HOME": str(hf_home)})


def test_a_new_user_with_nothing_gets_every_missing_input_at_once(tmp_path):
    proc = check(tmp_path, PRESET, hf_home=tmp_path / "hf")
    assert proc.returncode == 1
    lines = [line for line in proc.stdout.splitlines() if line.startswith("missing: ")]
    keys = [line.split(":")[1].strip() for line in lines]
    assert keys == ["dataset.root", "pseudo_glosses.pipeline", "prototypes.fasttext", "spatial.pretrained",
                    "lm.pretrained", "gpus"], proc.stdout
    assert "python -m spacy download de_core_news_lg" in proc.stdout
    assert "hf download facebook/dinov2-small" in proc.stdout and "hf download facebook/xglm-1.7B" in proc.stdout
    assert "cc.de.300.bin.gz" in proc.stdout
    assert "preflight: 6 missing input(s)" in proc.stdout


def test_everything_present_passes(tmp_path):
    root = tmp_path / "data" / "PHOENIX-2014-T"
    for split in ("train", "dev", "test"):
        (root / "annotations" / "manual").mkdir(parents=True, exist_ok=True)
        (root / "annotations" / "manual" / f"PHOENIX-2014-T.{split}.corpus.csv").write_text("name|video\n")
        (root / "features" / "fullFrame-210x260px" / split).mkdir(parents=True)
    (tmp_path / "weights" / "spacy-de").mkdir(parents=True)
    (tmp_path / "weights" / "spacy-de" / "config.cfg").write_text("[nlp]\n")  # what nlp.to_disk writes
    (tmp_path / "weights" / "cc.de.300.bin").write_bytes(b"\0" * 16)
    (tmp_path / "weights" / "xglm").mkdir()
    (tmp_path / "weights" / "xglm" / "config.json").write_text("{}")
    # DINOv2 by hub id, found in the local Hugging Face cache
    snapshot = tmp_path / "hf" / "hub" / "models--facebook--dinov2-small" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0" * 40)
    overlay = tmp_path / "local.yaml"
    overlay.write_text("gpus: 0\npseudo_glosses: {pipeline: weights/spacy-de}\nlm: {pretrained: weights/xglm}\n")
    proc = check(tmp_path, PRESET, str(overlay), hf_home=tmp_path / "hf")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "preflight: every external input was found" in proc.stdout


def test_a_half_installed_corpus_names_the_missing_file(tmp_path):
    root = tmp_path / "data" / "PHOENIX-2014-T"
    (root / "annotations" / "manual").mkdir(parents=True)
    (root / "annotations" / "manual" / "PHOENIX-2014-T.train.corpus.csv").write_text("name|video\n")
    proc = check(tmp_path, PRESET, hf_home=tmp_path / "hf")
    assert "PHOENIX-2014-T.dev.corpus.csv" in proc.stdout and "fullFrame-210x260px/test" in proc.stdout
    assert "PHOENIX-2014-T.train.corpus.csv" not in proc.stdout


def test_login_node_check_and_wrong_folders(tmp_path):
    """--no-gpus (a login node) leaves the GPU out; a folder that is not a pipeline / model says so."""
    (tmp_path / "empty-spacy").mkdir()
    (tmp_path / "empty-model").mkdir()
    overlay = tmp_path / "o.yaml"
    overlay.write_text("pseudo_glosses: {pipeline: empty-spacy}\nlm: {pretrained: empty-model}\n")
    proc = check(tmp_path, PRESET, str(overlay), hf_home=tmp_path / "hf", flags=("--no-gpus",))
    assert proc.returncode == 1 and "missing: gpus" not in proc.stdout
    assert "empty-spacy — not a spaCy pipeline folder" in proc.stdout
    assert "empty-model — this folder has no config.json" in proc.stdout
