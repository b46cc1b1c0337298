"""A pretraining run resumes only from a checkpoint of the same inputs: its fingerprint holds the
input files' contents, so a pseudo-gloss file rewritten in place (another `pseudo_glosses` setting)
starts a new run instead of loading a checkpoint whose prototypes no longer fit."""

from __future__ import annotations

import pytest

import sign2gpt.training.pretrain as pretrain_stage
from sign2gpt.core.config import load_config


class _Seen(Exception):
    pass


def _fingerprint(tmp_path, monkeypatch, pseudo_glosses: str) -> dict:
    seen = {}

    def training_run(out_dir, *, fingerprint, **kwargs):
        seen.update(fingerprint)
        raise _Seen

    monkeypatch.setattr(pretrain_stage, "training_run", training_run)
    files = {name: tmp_path / name for name in ("train.tsv", "dev.tsv", "pg.json", "protos.safetensors")}
    for name, path in files.items():
        path.write_text(pseudo_glosses if name == "pg.json" else name)
    config = load_config()
    with pytest.raises(_Seen):
        pretrain_stage.run_pretrain(
            train_manifest=str(files["train.tsv"]), dev_manifest=str(files["dev.tsv"]), frames=[],
            pseudo_glosses=str(files["pg.json"]), prototypes=str(files["protos.safetensors"]),
            out_dir=str(tmp_path / "out"), spatial=config["spatial"], encoder=config["encoder"],
            head=config["pgp_head"], frames_cfg=config["frames"], train=config["pretrain"], seed=1)
    return seen


def test_the_fingerprint_follows_the_input_files_contents(tmp_path, monkeypatch):
    content = _fingerprint(tmp_path, monkeypatch, '{"words": "content"}')
    assert _fingerprint(tmp_path, monkeypatch, '{"words": "content"}') == content
    assert _fingerprint(tmp_path, monkeypatch, '{"words": "all"}')["inputs"] != content["inputs"]
