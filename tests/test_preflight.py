"""`sign2gpt check-config PRESET --preflight`: every missing external input in one go, one line
each with how to get it, and a clean pass when everything is there."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[1]
SIGN2GPT = str(Path(sys.executable).with_name("sign2gpt"))
PRESET = str(REPO / "configs" / "phoenix14t.yaml")


# The command runs the checkout under test (not whatever an editable install points at), sees no GPU
# whatever the machine has (a test that expects the preset's spaCy pipeline missing skips where it is installed).
ENV = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO / "src"), "CUDA_VISIBLE_DEVICES": ""}


def check_command(cwd: Path, *configs: str, hf_home: Path) -> subprocess.CompletedProcess:
    """The `sign2gpt` command itself, in a process of its own."""
    return subprocess.run([SIGN2GPT, "check-config", *configs, "--preflight"], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env={**ENV, "HF_HOME": str(hf_home)})


def check(cwd: Path, *configs: str, hf_home: Path, flags: tuple[str, ...] = ()) -> SimpleNamespace:
    """The command's entry point in this process (fast, and mutation testing sees the calls), run from
    `cwd` with `hf_home` as the Hugging Face cache and no GPU visible whatever the machine has."""
    import huggingface_hub.constants
    import torch

    from sign2gpt.app.cli import main

    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out):
        mp.chdir(cwd)
        mp.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hf_home / "hub"))
        mp.setattr(torch.cuda, "is_available", lambda: False)
        returncode = main(["check-config", *configs, "--preflight", *flags])
    return SimpleNamespace(returncode=returncode, stdout=out.getvalue(), stderr="")


def test_the_command_runs_the_checkout_under_test(tmp_path):
    code = "import sign2gpt, torch; print(sign2gpt.__file__); print(torch.cuda.device_count())"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**ENV, "HF_HOME": str(tmp_path)})
    where, gpus = proc.stdout.split()
    assert Path(where).resolve() == (REPO / "src" / "sign2gpt" / "__init__.py").resolve() and gpus == "0"


def _installed(package: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(package) is not None


needs_no_spacy_model = pytest.mark.skipif(_installed("de_core_news_lg"),
                                          reason="de_core_news_lg is installed here: the preset's pipeline is "
                                                 "not missing, which these expectations assume")


@needs_no_spacy_model
@pytest.mark.parametrize("how", [check_command, check])
def test_a_new_user_with_nothing_gets_every_missing_input_at_once(tmp_path, how):
    proc = how(tmp_path, PRESET, hf_home=tmp_path / "hf")
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


def _missing(proc: SimpleNamespace) -> list[str]:
    """The `missing: KEY — ...` lines' keys and paths, as (key, what) strings."""
    return [line.removeprefix("missing: ") for line in proc.stdout.splitlines() if line.startswith("missing: ")]


def test_the_other_presets_name_their_own_missing_files(tmp_path):
    """CSL-Daily without its annotation pickle, a video folder without its index: each named."""
    csl = tmp_path / "data" / "CSL-Daily"
    (csl / "sentence" / "frames_512x512").mkdir(parents=True)
    (csl / "sentence_label").mkdir()
    (csl / "sentence_label" / "split_1.txt").write_text("Name|split\n")
    proc = check(tmp_path, str(REPO / "configs" / "csldaily.yaml"), hf_home=tmp_path / "hf")
    dataset = [m for m in _missing(proc) if m.startswith("dataset.root")]
    assert len(dataset) == 1 and "csl2020ct_v2.pkl" in dataset[0], proc.stdout
    assert any(m.startswith("pseudo_glosses.pipeline") and "zh_core_web_sm" in m for m in _missing(proc))

    # How2Sign with its tables but no clips of the test split: that folder, the English pipeline and vectors
    h2s = tmp_path / "data" / "How2Sign"
    for split in ("train", "val", "test"):
        (h2s / f"how2sign_realigned_{split}.csv").parent.mkdir(parents=True, exist_ok=True)
        (h2s / f"how2sign_realigned_{split}.csv").write_text("VIDEO_NAME\tSENTENCE_NAME\tSENTENCE\n")
        if split != "test":
            (h2s / f"{split}_rgb_front_clips" / "raw_videos").mkdir(parents=True)
    proc = check(tmp_path, str(REPO / "configs" / "how2sign.yaml"), hf_home=tmp_path / "hf")
    dataset = [m for m in _missing(proc) if m.startswith("dataset.root")]
    assert len(dataset) == 1 and "test_rgb_front_clips/raw_videos" in dataset[0], proc.stdout
    assert any(m.startswith("pseudo_glosses.pipeline") and "en_core_web_lg" in m for m in _missing(proc))
    assert any(m.startswith("prototypes.fasttext") and "cc.en.300.bin" in m for m in _missing(proc))

    (tmp_path / "data" / "my-videos").mkdir(parents=True)
    proc = check(tmp_path, str(REPO / "configs" / "video-folder.yaml"), hf_home=tmp_path / "hf")
    dataset = [m for m in _missing(proc) if m.startswith("dataset.root")]
    assert len(dataset) == 1 and "index.csv" in dataset[0], proc.stdout


def test_an_empty_fasttext_file_and_a_cuda_device_without_gpus_are_missing(tmp_path):
    """A 0-byte .bin (an interrupted download) is not a fastText model; `device: cuda` asks for a GPU
    even with `gpus: 0`."""
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "cc.de.300.bin").write_bytes(b"")
    overlay = tmp_path / "local.yaml"
    overlay.write_text("gpus: 0\ndevice: cuda\n")
    proc = check(tmp_path, PRESET, str(overlay), hf_home=tmp_path / "hf")
    assert proc.returncode == 1
    missing = _missing(proc)
    assert any(m.startswith("prototypes.fasttext") and "cc.de.300.bin" in m for m in missing), proc.stdout
    assert any(m.startswith("device") and "1 CUDA GPU(s), 0 visible" in m for m in missing), proc.stdout
    assert not any(m.startswith("gpus") for m in missing), proc.stdout


def test_what_is_found_and_what_is_not_is_said_by_where_it_was_looked_for(tmp_path, monkeypatch):
    """An installed spaCy package and a visible GPU count as found; each missing line names the path
    or name it looked for, and the GPU line says which torch build could not see one."""
    import spacy
    import torch

    from sign2gpt.app.preflight import preflight
    from sign2gpt.core.config import load_config

    config = load_config(PRESET)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "cc.de.300.bin").write_bytes(b"x")  # a 1-byte file is not empty
    monkeypatch.setattr(spacy.util, "is_package", lambda name: name == "de_core_news_lg")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    config["lm"]["pretrained"] = "no/such/folder/here"  # neither a folder nor a hub id
    missing = {m.what: m for m in preflight(config)}
    assert set(missing) == {"dataset.root", "spatial.pretrained", "lm.pretrained"}, missing
    assert missing["dataset.root"].where == config["dataset"]["root"]
    assert missing["spatial.pretrained"].where == "facebook/dinov2-small"
    assert missing["lm.pretrained"].where == "no/such/folder/here" and "no such folder" in missing["lm.pretrained"].how
    config["gpus"] = 2  # two wanted, one visible
    monkeypatch.setattr(torch.version, "cuda", None)
    gpus = {m.what: m for m in preflight(config)}["gpus"]
    assert gpus.where == "2 CUDA GPU(s), 1 visible (a CPU build of torch)"
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    assert "torch for CUDA 12.8" in {m.what: m for m in preflight(config)}["gpus"].where
    (tmp_path / "weights" / "cc.de.300.bin").unlink()
    monkeypatch.setattr(spacy.util, "is_package", lambda name: False)
    missing = {m.what: m for m in preflight(config)}
    assert missing["prototypes.fasttext"].where == config["prototypes"]["fasttext"]
    assert missing["pseudo_glosses.pipeline"].where == "de_core_news_lg"


@needs_no_spacy_model
def test_an_ablation_set_checks_every_rows_inputs(tmp_path):
    """The PHOENIX-2014T set's XGLM-564M row needs a model the preset does not: it is listed too,
    and every input the rows share only once."""
    proc = check(tmp_path, PRESET, str(REPO / "configs" / "ablations" / "phoenix14t-table4.yaml"),
                 hf_home=tmp_path / "hf")
    assert proc.returncode == 1
    assert "ablation set table4" in proc.stdout and "table4/pe-none: pgp; the pretraining of table4/full" in proc.stdout
    assert "hf download facebook/xglm-564M" in proc.stdout and "hf download facebook/xglm-1.7B" in proc.stdout
    assert proc.stdout.count("hf download facebook/dinov2-small") == 1
    assert "preflight: 7 missing input(s)" in proc.stdout
