"""Gemma-3-270M with its real (pretrained, multilingual) weights: `make gemma-weights` writes them to
weights/gemma-3-270m (skipped without it). At gates 0 the adapted LM is the plain LM (teacher-forced
and through the KV cache), beam search equals transformers' `generate`, German and Chinese targets
are tokenized as they are mid-text, a few training steps on Chinese targets lower the loss, and the
tiny configuration runs end to end in German with it.
"""

from __future__ import annotations

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
WEIGHTS = REPO / "weights" / "gemma-3-270m"
GERMAN = "am tag regnet es im norden und im süden scheint die sonne"
CHINESE = "明天北京有雨，南方多云"

pytestmark = pytest.mark.skipif(not (WEIGHTS / "config.json").is_file(),
                                reason="real Gemma 3 weights need `make gemma-weights` (weights/gemma-3-270m)")


@pytest.fixture(scope="module")
def gemma():
    from sign2gpt.lm.loading import load_causal_lm

    return load_causal_lm(WEIGHTS)


def _adapted(lm, memory_dim: int = 16):
    import copy

    from sign2gpt.models.gated_lm import SignConditionedLM

    return SignConditionedLM(copy.deepcopy(lm), memory_dim).eval()


def _memory(batch: int = 1, length: int = 5, dim: int = 16):
    gen = torch.Generator().manual_seed(0)
    return torch.randn(batch, length, dim, generator=gen), torch.ones(batch, length, dtype=torch.bool)


def test_the_folder_is_the_checked_multilingual_gemma(gemma):
    lm, tokenizer = gemma
    c = lm.config
    assert (c.model_type, c.num_hidden_layers, c.hidden_size, c.vocab_size) == ("gemma3_text", 18, 640, 262_144)
    assert c.layer_types.count("full_attention") == 3 and c.sliding_window == 512
    assert c.rope_parameters["sliding_attention"]["rope_theta"] != c.rope_parameters["full_attention"]["rope_theta"]
    assert (WEIGHTS / "GEMMA_TERMS.html").is_file()  # the licence travels with the weights, with its notice
    assert (WEIGHTS / "NOTICE").read_text().startswith("Gemma is provided under and subject to the Gemma Terms of Use")
    assert lm.get_output_embeddings().weight is lm.get_input_embeddings().weight  # tied


@pytest.mark.parametrize("text", [GERMAN, CHINESE])
def test_gates_at_zero_leave_the_real_lm_unchanged(gemma, text):
    lm, tokenizer = gemma
    ids = tokenizer(text, return_tensors="pt")
    model = _adapted(lm)
    memory, memory_mask = _memory()
    with torch.no_grad():
        plain = lm(**ids).logits.float()
        gated = model(ids.input_ids, ids.attention_mask, memory, memory_mask)
        cache = model.start_decoding(memory, memory_mask)
        stepped = torch.cat([model.decode_step(ids.input_ids[:, :2], cache)]
                            + [model.decode_step(ids.input_ids[:, t: t + 1], cache)
                               for t in range(2, ids.input_ids.shape[1])], dim=1)
    torch.testing.assert_close(gated, plain, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(stepped, plain, atol=1e-3, rtol=1e-3)


def test_first_word_is_tokenized_as_mid_sentence(gemma):
    """Gemma's tokenizer adds no dummy prefix: a German sentence on its own would start with a
    word-continuation piece (`morgen`, not `▁morgen`); targets get the leading space, Chinese none."""
    from sign2gpt.lm.targets import encode_targets, needs_leading_space, start_token_id, tokenize_sentence

    lm, tokenizer = gemma
    assert needs_leading_space(tokenizer)
    for context, text in (("das wetter: ", GERMAN), ("天气预报：", CHINESE)):
        body = tokenize_sentence(tokenizer, text)
        mid = tokenizer(context + text, add_special_tokens=False)["input_ids"]
        assert mid[-len(body):] == body, (context, tokenizer.convert_ids_to_tokens(body[:3]))
    assert tokenizer.convert_ids_to_tokens(tokenize_sentence(tokenizer, GERMAN))[0] == "▁am"
    assert tokenizer.convert_ids_to_tokens(tokenize_sentence(tokenizer, CHINESE))[0] == "明天"
    start = start_token_id(lm, tokenizer)
    assert start == tokenizer.bos_token_id == 2
    ids, _ = encode_targets(tokenizer, [GERMAN, CHINESE], start_id=start, max_tokens=64)
    assert [tokenizer.decode(row, skip_special_tokens=True).strip() for row in ids] == [GERMAN, CHINESE]


@pytest.mark.parametrize("beam", [1, 3])
def test_beam_search_equals_generate_on_the_real_lm(gemma, beam):
    from sign2gpt.evaluation.beam_search import beam_search

    lm, tokenizer = gemma
    start, eos, pad = tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id
    prompt = torch.tensor([[start]])
    with torch.no_grad():
        out = lm.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), num_beams=beam, max_length=9,
                          do_sample=False, length_penalty=1.0, early_stopping=False, eos_token_id=eos,
                          pad_token_id=pad, bos_token_id=start)
    expected = [t for t in out[0, 1:].tolist() if t not in (eos, pad)]
    memory, memory_mask = _memory(batch=2)
    got = beam_search(_adapted(lm), memory, memory_mask, bos_id=start, eos_id=eos, pad_id=pad, beam=beam, max_len=9)
    assert got == [expected, expected] and len(expected) == 8


def test_chinese_targets_train_through_the_gated_cross_attention(gemma):
    """Five AdamW steps on two Chinese sentences, each paired with its own memory: the loss falls
    and the gates open, so the 262k-token output layer passes a gradient back to the adapters."""
    from sign2gpt.lm.targets import encode_targets, start_token_id
    from sign2gpt.models.translator import SignTranslator

    lm, tokenizer = gemma
    torch.manual_seed(0)
    model = SignTranslator(None, _adapted(lm).train())
    texts = [CHINESE, "今天上海晴天，气温二十度"]
    ids, mask = encode_targets(tokenizer, texts, start_id=start_token_id(lm, tokenizer), max_tokens=32)
    memory, memory_mask = _memory(batch=2)
    batch = {"memory": memory, "memory_mask": memory_mask}
    optimizer = torch.optim.AdamW(model.lm.param_groups(0.0), lr=1e-2)
    losses = []
    for _ in range(5):
        loss = model(batch, ids, mask, label_smoothing=0.1).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses
    assert model.lm.gate_values().max() > 0


@pytest.mark.slow
def test_tiny_configuration_end_to_end_in_german_with_gemma(tmp_path):
    overlay = tmp_path / "gemma.yaml"
    overlay.write_text(yaml.safe_dump({"seeds": [1], "lm": {"pretrained": str(WEIGHTS)},
                                       "translate": {"variants": ["pgp"]}}))
    cmd = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--configfile", str(REPO / ".test" / "config.yaml"),
           str(overlay), "--cores", "2"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=1500, env={**os.environ})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    exp = tmp_path / "results" / "synthetic-test" / "test"
    table = json.loads((exp / "metrics.json").read_text())
    assert [r["variant"] for r in table["variants"]][0] == "pgp"
    log = (tmp_path / "logs" / "synthetic-test" / "test" / "seed1" / "translate-pgp.log").read_text()
    assert "adapted gemma3_text: 18 layers" in log
    # one line per video: the pretrained LM's newlines (with shut gates it writes code) are spaces
    lines = (exp / "seed1" / "eval-pgp" / "test.hyp.tsv").read_text(encoding="utf-8").splitlines()[1:]
    assert len(lines) == 6 and all(len(line.split("\t")) == 3 for line in lines)
    baselines = json.loads((exp / "baselines" / "metrics.json").read_text())
    assert "\n" not in baselines["gates_shut_sentence"]
