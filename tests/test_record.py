"""A trained translator's record (sign2gpt.core.record.TranslatorRecord) reads what sign2gpt wrote
before it existed: a run's inference.json and a model folder's config.json from commit 7b3c8b8
(tests/data/stored-7b3c8b8). Today's writer keeps the keys it reads (inference.json no longer
repeats the augmentation switches and the decode stage's storage settings) and reads back the same
record."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from sign2gpt.core.record import Decoding, Preprocessing, TranslatorRecord

STORED = Path(__file__).parent / "data" / "stored-7b3c8b8"
RECORD_KEYS = ("variant", "language", "seed", "base_models", "spatial", "encoder", "lora", "preprocessing",
               "decoding", "evaluation")


def variant_folder(root: Path) -> Path:
    """results/<dataset>/<experiment>/seed1/translate-pgp, with the LM and backbone folders its
    relative paths name, as a run lays them out."""
    folder = root / "results" / "synthetic-de" / "default" / "seed1" / "translate-pgp"
    folder.mkdir(parents=True)
    for name in ("lm", "spatial"):
        (root / "results" / "synthetic-de" / name).mkdir()
    (folder.parent / "pretrain").mkdir()
    (folder.parent / "pretrain" / "best.safetensors").write_bytes(b"")
    return folder


def test_an_older_runs_inference_json_reads_as_it_was_written(tmp_path):
    folder = variant_folder(tmp_path)
    shutil.copy(STORED / "inference.json", folder)
    record = TranslatorRecord.read_run(folder)
    data = tmp_path / "results" / "synthetic-de"
    assert record.variant == "pgp" and record.seed == 1 and record.language == "de"
    assert record.lm == str((data / "lm").resolve()) and record.backbone == str((data / "spatial").resolve())
    assert record.pretrained == str((folder.parent / "pretrain" / "best.safetensors").resolve())
    assert record.preprocessing == Preprocessing(decode_stride=1, decode_size=64, frame_stride=4, max_frames=256,
                                                 image_size=32)
    assert record.decoding == Decoding(beam=4, max_tokens=64, lowercase=False, strip_final_period=True)
    stored = json.loads((STORED / "inference.json").read_text())
    assert dict(record.encoder) == stored["encoder"] and dict(record.lora) == stored["lora"]
    assert "memory_pe" not in stored and record.memory_pe == "sinusoidal"  # the only PE before translate.memory_pe
    assert record.spatial_config() == {**stored["spatial"], "pretrained": record.backbone}

    # written back by today's writer (elsewhere: its paths relative to the new folder) and read again
    again = variant_folder(tmp_path / "copy")
    record.write_run(again)
    assert json.loads((again / "inference.json").read_text())["lm"].startswith("../")
    assert TranslatorRecord.read_run(again) == record
    learned = dataclasses.replace(record, memory_pe="learned_zero")
    learned.write_run(again)
    assert TranslatorRecord.read_run(again) == learned


def test_the_evaluated_beam_replaces_the_dev_searchs(tmp_path):
    folder = variant_folder(tmp_path)
    shutil.copy(STORED / "inference.json", folder)
    (folder.parent / "eval-pgp").mkdir()
    (folder.parent / "eval-pgp" / "metrics.json").write_text(json.dumps({"beam": 5, "max_tokens": 40}))
    decoding = TranslatorRecord.read_run(folder).decoding
    assert (decoding.beam, decoding.max_tokens) == (5, 40)


def test_an_older_model_folders_config_reads_and_writes_back_the_same(tmp_path):
    config = json.loads((STORED / "config.json").read_text())
    record = TranslatorRecord.from_model_config(config, tmp_path)
    assert record.lm == "/data/sign2gpt/results/synthetic-de/lm"  # named, not copied
    assert record.backbone == str(tmp_path / "base" / "backbone")  # copied into the folder
    assert record.base_models() == {"lm", "backbone"} and record.pretrained is None
    assert record.memory_pe == "sinusoidal"
    again = record.model_config(config["base_models"], mean=config["preprocessing"]["mean"],
                                std=config["preprocessing"]["std"])
    assert {k: again[k] for k in RECORD_KEYS} == {k: config[k] for k in RECORD_KEYS}
    learned = dataclasses.replace(record, memory_pe="learned_random")
    assert TranslatorRecord.from_model_config({**config, **learned.model_config(
        config["base_models"], mean=[0.0], std=[1.0])}, tmp_path).memory_pe == "learned_random"


def test_keys_older_records_lack_are_filled_with_what_the_library_used_then(tmp_path):
    """Records written before the strict settings (8cbca48) lack some encoder and spatial keys; every
    reader fills them with the values the library used then (pinned here, each one)."""
    from sign2gpt.core.record import complete_stored_model

    then = {"encoder": {"zero_pad_before_pool": True, "pool_mask": "any", "attention": "local",
                        "checkpointing": False},
            "spatial": {"tune": "full", "chunk_size": None, "pooling": None, "checkpointing": False}}
    assert complete_stored_model({"encoder": {}, "spatial": {}, "variant": "pgp"}) == {
        **then, "variant": "pgp", "memory_pe": "sinusoidal"}  # FC_m's PE before translate.memory_pe
    kept = complete_stored_model({"encoder": {"pool_mask": "center"}, "spatial": {}})
    assert kept["encoder"]["pool_mask"] == "center"  # a stored value is never overwritten
    assert complete_stored_model({"memory_pe": "none"})["memory_pe"] == "none"
    # a DINOv2 LoRA stored before spatial.lora.qkv had one adapter per projection
    lora = {"layers": 3, "r": 4, "alpha": 4, "dropout": 0.1}
    stored = complete_stored_model({"spatial": {"tune": "lora", "lora": lora}})
    assert stored["spatial"]["lora"] == {**lora, "qkv": "separate"}
    assert complete_stored_model({"spatial": {"tune": "lora", "lora": {**lora, "qkv": "fused"}}})["spatial"]["lora"][
        "qkv"] == "fused"
    assert complete_stored_model({"spatial": {"tune": "full", "lora": lora}})["spatial"]["lora"] == lora  # unread

    # both readers fill: a run's inference.json and a model folder's config.json
    def older(name: str) -> dict:
        """A stored file as it was before the strict settings: without the keys filled above."""
        stored = json.loads((STORED / name).read_text())
        for section, keys in then.items():
            stored[section] = {k: v for k, v in stored[section].items() if k not in keys}
        return stored

    folder = variant_folder(tmp_path)
    (folder / "inference.json").write_text(json.dumps(older("inference.json")))
    readers = (TranslatorRecord.read_run(folder), TranslatorRecord.from_model_config(older("config.json"), tmp_path))
    for record in readers:
        assert {k: record.encoder[k] for k in then["encoder"]} == then["encoder"]
        assert {k: record.spatial[k] for k in then["spatial"]} == then["spatial"]
