"""Stage lm_pretrain and LM loading: a save_pretrained directory that loads like a hub model."""

from __future__ import annotations

import math
import random
import time

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from sign2gpt.core.errors import ConfigError, DataError
from sign2gpt.core.io import read_json
from sign2gpt.lm.loading import load_causal_lm
from sign2gpt.lm.pretrain import STATS_FILE, pretrain_lm
from sign2gpt.runtime.tensorboard_log import read_scalars

WORDS = "regen sonne wind schnee wolken nebel morgen heute abend nacht norden süden über und im es gibt".split()
CONFIG = dict(d_model=32, num_layers=2, attention_heads=4, ffn_dim=64, max_position_embeddings=32,
              dropout=0.1, attention_dropout=0.1)


def corpus(n: int = 96) -> list[str]:
    rng = random.Random(0)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 8))) for _ in range(n)]


def train(out, **overrides):
    kwargs = dict(vocab_size=48, config=CONFIG, epochs=4, batch_size=16, lr=5e-3, seed=0, threads=1)
    kwargs.update(overrides)
    pretrain_lm(corpus(), out, **kwargs)


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("lm") / "lm"
    train(out)
    return out


def test_output_directory_loads_like_a_hub_model(lm_dir):
    names = {p.name for p in lm_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", STATS_FILE} <= names
    assert not any(n.endswith(".bin") for n in names)  # safetensors only
    lm = AutoModelForCausalLM.from_pretrained(lm_dir, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(lm_dir, local_files_only=True)
    assert lm.config.model_type == "xglm" and lm.config.d_model == 32 and lm.config.num_layers == 2
    assert lm.config.vocab_size == len(tokenizer)
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id) == (1, 2)


def test_loss_is_recorded_and_learned(lm_dir):
    stats = read_json(lm_dir / STATS_FILE)
    vocab = stats["vocab_size"]
    # better than a uniform guess over the vocabulary: the model learned something
    assert stats["train_loss_no_dropout"] < math.log(vocab) - 0.5
    assert math.isfinite(stats["final_train_loss"])
    assert stats["final_train_perplexity"] == pytest.approx(math.exp(stats["final_train_loss"]))
    events = read_scalars(lm_dir / "tensorboard")  # the per-epoch curve, for TensorBoard
    assert [step for step, _ in events["train/loss"]] == list(range(1, stats["epochs"] + 1))
    assert events["train/loss"][-1][1] == pytest.approx(stats["final_train_loss"])
    assert {"train/learning_rate", "train/perplexity", "time/seconds_per_epoch"} <= set(events)


def test_pretraining_is_deterministic(lm_dir, tmp_path):
    train(tmp_path / "again")
    first, second = (load_file(str(lm_dir / "model.safetensors")),
                     load_file(str(tmp_path / "again" / "model.safetensors")))
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_bad_config_leaves_no_output(tmp_path):
    with pytest.raises(ConfigError, match="unknown keys"):
        train(tmp_path / "lm", config={**CONFIG, "hidden": 3})
    assert not (tmp_path / "lm").exists()
    assert list(tmp_path.iterdir()) == []  # no temporary directory left behind either


def test_load_causal_lm_frozen_eval_fp32_on_cpu(lm_dir):
    lm, tokenizer = load_causal_lm(lm_dir, device="cpu")
    assert not lm.training
    assert all(not p.requires_grad for p in lm.parameters())
    assert lm.dtype == torch.float32
    ids = tokenizer("regen und sonne", return_tensors="pt")["input_ids"]
    assert lm(input_ids=ids).logits.shape == (1, ids.shape[1], len(tokenizer))


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="lm_pretrain"):
        load_causal_lm(tmp_path / "results" / "lm")
    with pytest.raises(DataError, match="config.json"):
        load_causal_lm(tmp_path)


def test_uncached_hub_name_fails_fast_without_download():
    start = time.monotonic()
    with pytest.raises(DataError, match="hf download sign2gpt-test/not-a-model"):
        load_causal_lm("sign2gpt-test/not-a-model")
    assert time.monotonic() - start < 10  # no network retries
