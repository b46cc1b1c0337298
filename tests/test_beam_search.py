"""Beam search: transformers-generate semantics, cache == recompute, beam 1 == greedy."""

from __future__ import annotations

import copy
import random

import pytest
import torch
from transformers import Gemma3ForCausalLM, Gemma3TextConfig, LlamaConfig, LlamaForCausalLM, XGLMConfig, XGLMForCausalLM

from sign2gpt.evaluation.beam_search import beam_search
from sign2gpt.lm.loading import load_causal_lm
from sign2gpt.lm.pretrain import pretrain_lm
from sign2gpt.models.gated_lm import SignConditionedLM

MEMORY_DIM = 8
WORDS = "regen sonne wind schnee wolken nebel morgen heute abend nacht norden süden über und im es gibt viel".split()
BOS, EOS, PAD = 2, 2, 1


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A tiny XGLM pretrained on short sentences, so eos comes at varied, plausible lengths."""
    rng = random.Random(0)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 9))) for _ in range(160)]
    out = tmp_path_factory.mktemp("lm") / "lm"
    config = dict(d_model=32, num_layers=2, attention_heads=4, ffn_dim=64, max_position_embeddings=64,
                  dropout=0.0, attention_dropout=0.0)
    pretrain_lm(texts, out, vocab_size=64, config=config, epochs=20, batch_size=16, lr=5e-3, seed=0, threads=1)
    return load_causal_lm(out)[0]


def open_adapters(model: SignConditionedLM, seed: int = 1) -> SignConditionedLM:
    torch.manual_seed(seed)
    with torch.no_grad():
        for layer in model._layers:
            layer.self_attn.gate.fill_(1.0)
            for name, p in layer.self_attn.named_parameters():
                if ".up." in name:
                    p.normal_(0, 0.5)
    return model


def memories(batch: int = 6, length: int = 5, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    memory = 3 * torch.randn(batch, length, MEMORY_DIM, generator=gen)
    mask = torch.ones(batch, length, dtype=torch.bool)
    mask[::2, length - 2:] = False
    return memory, mask


def random_llama() -> LlamaForCausalLM:
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=24, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                        num_key_value_heads=2, intermediate_size=64, initializer_range=0.2,
                                        bos_token_id=0, eos_token_id=2, pad_token_id=1)).eval()


def random_xglm() -> XGLMForCausalLM:
    torch.manual_seed(0)
    return XGLMForCausalLM(XGLMConfig(vocab_size=24, d_model=32, num_layers=2, attention_heads=4, ffn_dim=64,
                                      max_position_embeddings=64, init_std=0.2)).eval()


def random_gemma3() -> Gemma3ForCausalLM:
    """Gemma 3's layer pattern at toy size, with a window (3) shorter than the hypotheses; random norm
    weights (seed 2: its searches change token along the way instead of repeating one)."""
    torch.manual_seed(2)
    lm = Gemma3ForCausalLM(Gemma3TextConfig(
        vocab_size=24, hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=1, head_dim=8, query_pre_attn_scalar=8, sliding_window=3, initializer_range=0.2,
        layer_types=["sliding_attention", "full_attention", "sliding_attention"],
        bos_token_id=0, eos_token_id=EOS, pad_token_id=PAD)).eval()
    with torch.no_grad():
        for name, p in lm.named_parameters():
            if "norm" in name:
                p.normal_(0, 0.5)
    return lm


def strip(sequence: list[int]) -> list[int]:
    sequence = sequence[1:]
    return sequence[: sequence.index(EOS)] if EOS in sequence else sequence


@pytest.mark.parametrize("beam", [1, 2, 4])
def test_closed_gates_reproduce_transformers_generate(pretrained, beam):
    """At init the adapted LM is the plain LM, so our beam search must equal HF generate's."""
    model = SignConditionedLM(copy.deepcopy(pretrained), MEMORY_DIM).eval()
    memory, mask = memories(batch=2)
    start = torch.full((1, 1), BOS)
    expected = []
    for max_len in (4, 24):
        with torch.no_grad():
            out = pretrained.generate(input_ids=start, attention_mask=torch.ones_like(start), num_beams=beam,
                                      max_length=max_len, do_sample=False, length_penalty=1.0, early_stopping=False,
                                      eos_token_id=EOS, pad_token_id=PAD, bos_token_id=0)
        expected = strip(out[0].tolist())
        got = beam_search(model, memory, mask, bos_id=BOS, eos_id=EOS, pad_id=PAD, beam=beam, max_len=max_len)
        assert got == [expected, expected]
    assert 0 < len(expected) < 23  # the long search ended on eos, not on the length limit


@pytest.mark.parametrize("beam", [1, 3])
def test_closed_gates_reproduce_generate_on_gemma3(beam):
    """Gemma 3 (sliding-window and global layers, q/k norms, scaled embeddings) at init: our beam
    search equals transformers' generate on the plain model, past the window."""
    lm = random_gemma3()
    model = SignConditionedLM(copy.deepcopy(lm), MEMORY_DIM).eval()
    memory, mask = memories(batch=2)
    start = torch.full((1, 1), BOS)
    eos = 23  # this random model would stop at once on the shared BOS/EOS id
    with torch.no_grad():
        out = lm.generate(input_ids=start, attention_mask=torch.ones_like(start), num_beams=beam, max_length=12,
                          do_sample=False, length_penalty=1.0, early_stopping=False, eos_token_id=eos,
                          pad_token_id=PAD, bos_token_id=0)
    expected = out[0, 1:].tolist()
    assert len(set(expected)) > 2  # several tokens, over more positions than the window
    got = beam_search(model, memory, mask, bos_id=BOS, eos_id=eos, pad_id=PAD, beam=beam, max_len=12)
    assert got == [expected, expected]


@pytest.mark.parametrize("make", ["pretrained", "xglm", "llama", "gemma3"])
@pytest.mark.parametrize("beam", [2, 4])
def test_cache_gives_the_same_hypotheses_as_recomputing(pretrained, make, beam):
    lm = {"pretrained": lambda: copy.deepcopy(pretrained), "xglm": random_xglm, "llama": random_llama,
          "gemma3": random_gemma3}[make]()
    model = open_adapters(SignConditionedLM(lm, MEMORY_DIM))
    memory, mask = memories()
    kwargs = dict(bos_id=BOS, eos_id=EOS, pad_id=PAD, beam=beam, max_len=16)
    cached = beam_search(model, memory, mask, use_cache=True, **kwargs)
    recomputed = beam_search(model, memory, mask, use_cache=False, **kwargs)
    assert cached == recomputed
    assert len({tuple(h) for h in cached}) > 1  # the memory matters: videos get different hypotheses
    assert all(EOS not in h for h in cached)


@pytest.mark.parametrize("make", ["pretrained", "llama"])
def test_beam_one_is_greedy(pretrained, make):
    lm = copy.deepcopy(pretrained) if make == "pretrained" else random_llama()
    model = open_adapters(SignConditionedLM(lm, MEMORY_DIM)).eval()
    memory, mask = memories()
    max_len = 12
    ids = torch.full((memory.shape[0], 1), BOS)
    with torch.no_grad():
        for _ in range(max_len - 1):
            next_token = model(ids, None, memory, mask)[:, -1].argmax(-1, keepdim=True)
            ids = torch.cat((ids, next_token), dim=1)
    greedy = [strip(row) for row in ids.tolist()]
    assert beam_search(model, memory, mask, bos_id=BOS, eos_id=EOS, pad_id=PAD, beam=1, max_len=max_len) == greedy


def test_length_limit_and_training_mode_are_respected(pretrained):
    model = open_adapters(SignConditionedLM(copy.deepcopy(pretrained), MEMORY_DIM)).train()
    memory, mask = memories(batch=2)
    # an eos id that never occurs: every hypothesis runs to the limit (max_len counts the start token)
    hyps = beam_search(model, memory, mask, bos_id=BOS, eos_id=-1, pad_id=PAD, beam=3, max_len=9)
    assert [len(h) for h in hyps] == [8, 8]
    assert model.training
    with pytest.raises(ValueError):
        beam_search(model, memory, mask, bos_id=BOS, eos_id=EOS, pad_id=PAD, beam=0)


def test_the_memory_is_projected_once_per_video_not_per_beam(pretrained):
    """FC_m and the cross K/V run on the B videos' memory, shared by each video's K beams (they were
    computed on the memory repeated K times); the hypotheses equal the per-beam recomputation's."""
    model = open_adapters(SignConditionedLM(copy.deepcopy(pretrained), MEMORY_DIM))
    memory, mask = memories(batch=6)
    rows = []
    model.memory_projection.register_forward_hook(lambda _m, args, _out: rows.append(args[0].shape[0]))
    kwargs = dict(bos_id=BOS, eos_id=EOS, pad_id=PAD, beam=4, max_len=16)
    cached = beam_search(model, memory, mask, **kwargs)
    assert rows == [6]
    assert cached == beam_search(model, memory, mask, use_cache=False, **kwargs)


def test_early_stopping_checked_every_few_steps_gives_the_same_hypotheses(pretrained):
    """Asking the device whether every video is done only every few steps (a GPU sync each time)
    runs a few steps more and changes no hypothesis."""
    model = open_adapters(SignConditionedLM(copy.deepcopy(pretrained), MEMORY_DIM))
    memory, mask = memories(batch=6)
    steps = []
    decode_step = model.decode_step
    model.decode_step = lambda *a, **k: steps.append(1) or decode_step(*a, **k)
    results = {}
    for every in (1, 3, 5):
        steps.clear()
        results[every] = (beam_search(model, memory, mask, bos_id=BOS, eos_id=EOS, pad_id=PAD, beam=4, max_len=40,
                                      check_every=every), len(steps))
    (hyps, taken), *lagged = results.values()
    assert taken < 39  # every video was done before the length limit
    for every, (lagged_hyps, lagged_taken) in zip((3, 5), lagged):
        assert lagged_hyps == hyps and lagged_taken % every == 0 and taken <= lagged_taken < taken + every
    assert len({t for _, t in results.values()}) > 1  # the lag was real
