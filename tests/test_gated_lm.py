"""LoRA + zero-gated cross-attention on XGLM, Llama and Gemma 3 (spec §8.3-8.5)."""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import (
    Gemma3ForCausalLM,
    Gemma3TextConfig,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    XGLMConfig,
    XGLMForCausalLM,
)

from sign2gpt.core.errors import ConfigError, DataError
from sign2gpt.models.gated_lm import LORA_A_STD, GatedLoRAAttention, SignConditionedLM

MEMORY_DIM = 16
R = 4


def tiny_xglm() -> XGLMForCausalLM:
    torch.manual_seed(0)
    config = XGLMConfig(vocab_size=40, d_model=32, num_layers=2, attention_heads=4, ffn_dim=64,
                        max_position_embeddings=64)
    return XGLMForCausalLM(config).eval()


def tiny_llama() -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=40, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, intermediate_size=64, max_position_embeddings=64)
    return LlamaForCausalLM(config).eval()


def tiny_gemma3(sliding_window: int = 4) -> Gemma3ForCausalLM:
    """Gemma 3's structure at toy size: a sliding-window layer on each side of a global one, a window
    shorter than the test sequences (so the band matters), one KV head, head_dim != d / heads, and
    q/k/pre/post norms with random weights (Gemma's RMSNorm scales by 1 + w: at w = 0 it would be
    the plain norm, hiding a norm applied twice or not at all)."""
    torch.manual_seed(0)
    config = Gemma3TextConfig(vocab_size=40, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                              num_attention_heads=4, num_key_value_heads=1, head_dim=16, query_pre_attn_scalar=12,
                              sliding_window=sliding_window, max_position_embeddings=64,
                              layer_types=["sliding_attention", "full_attention", "sliding_attention"],
                              bos_token_id=2, eos_token_id=1, pad_token_id=0)
    lm = Gemma3ForCausalLM(config).eval()
    with torch.no_grad():
        for name, p in lm.named_parameters():
            if "norm" in name:
                p.normal_(0, 0.5)
    return lm


LMS = {"xglm": tiny_xglm, "llama": tiny_llama, "gemma3": tiny_gemma3}


def inputs(batch: int = 3, length: int = 7, mem_len: int = 6):
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(4, 40, (batch, length), generator=gen)
    mask = torch.ones(batch, length, dtype=torch.long)
    mask[1, length - 2:] = 0  # right padding, as in training
    memory = torch.randn(batch, mem_len, MEMORY_DIM, generator=gen)
    memory_mask = torch.ones(batch, mem_len, dtype=torch.bool)
    memory_mask[0, mem_len - 2:] = False
    return ids, mask, memory, memory_mask


def open_adapters(model: SignConditionedLM, gate: float = 0.7) -> None:
    """Open every gate and give every LoRA a non-zero B, so all new paths matter."""
    torch.manual_seed(3)
    with torch.no_grad():
        for layer in model._layers:
            layer.self_attn.gate.fill_(gate)
            for name, p in layer.self_attn.named_parameters():
                if ".up." in name:
                    p.normal_(0, 0.3)


def expected_trainable(*, layers, d, heads, kv_heads, head_dim, memory_dim, r=R) -> int:
    """Spec §8.5 formula, generalised to grouped-query attention."""
    q, kv = heads * head_dim, kv_heads * head_dim
    self_lora = r * (d + q) + 2 * r * (d + kv) + r * (q + d)  # q, k, v, out
    cross_lora = r * (d + q) + 2 * r * (d + kv)                # q, k, v
    return layers * (self_lora + cross_lora + heads) + memory_dim * d + d


@pytest.mark.parametrize("kind", LMS)
def test_identity_at_init(kind):
    lm = LMS[kind]()
    ids, mask, memory, memory_mask = inputs()
    with torch.no_grad():
        reference = lm(input_ids=ids, attention_mask=mask).logits
        model = SignConditionedLM(lm, MEMORY_DIM).eval()
        logits = model(ids, mask, memory, memory_mask)
    assert logits.dtype == torch.float32 and logits.shape == reference.shape
    valid = mask.bool()
    torch.testing.assert_close(logits[valid], reference[valid], rtol=0, atol=1e-5)


@pytest.mark.parametrize("kind", LMS)
def test_open_gates_condition_on_memory_but_not_on_its_padding(kind):
    model = SignConditionedLM(LMS[kind](), MEMORY_DIM).eval()
    open_adapters(model)
    ids, mask, memory, memory_mask = inputs()
    with torch.no_grad():
        base = model(ids, mask, memory, memory_mask)
        other = model(ids, mask, memory + torch.randn_like(memory), memory_mask)
        padded = memory.clone()
        padded[~memory_mask] = 100.0  # only positions the mask hides
        same = model(ids, mask, padded, memory_mask)
    assert (base - other).abs().max() > 1e-2
    torch.testing.assert_close(same, base, rtol=0, atol=1e-5)


@pytest.mark.parametrize("kind", LMS)
def test_only_adapters_gates_and_memory_projection_train(kind):
    lm = LMS[kind]()
    lm_names = {n for n, _ in lm.named_parameters()}
    model = SignConditionedLM(lm, MEMORY_DIM)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {n for n, _ in model.trainable_named_parameters()}
    assert all(("lora" in n or n.endswith(".gate") or n.startswith("memory_projection.")) for n in trainable)
    assert {"lm." + n for n in lm_names}.isdisjoint(trainable)
    # the frozen weights keep their checkpoint names inside the wrapper
    assert {"lm." + n for n in lm_names} <= {n for n, _ in model.named_parameters()}
    assert all(isinstance(layer.self_attn, GatedLoRAAttention) for layer in model._layers)
    assert {n for n, _ in copy.deepcopy(model).trainable_named_parameters()} == trainable  # structural, survives copies
    groups = model.param_groups(0.001)
    assert [g["weight_decay"] for g in groups] == [0.001, 0.0]
    assert len(groups[1]["params"]) == len(model._layers)  # the gates, no decay


def test_lora_initialisation_follows_the_spec():
    model = SignConditionedLM(tiny_xglm(), MEMORY_DIM)
    attn = model._layers[0].self_attn
    for name in ("lora_q", "lora_k", "lora_v", "lora_o", "cross_lora_q"):
        lora = getattr(attn, name)
        assert torch.count_nonzero(lora.up.weight) == 0
        assert lora.down.weight.std().item() == pytest.approx(LORA_A_STD, rel=0.3)
    for name in ("cross_lora_k", "cross_lora_v"):  # PyTorch default init: both non-zero
        assert torch.count_nonzero(getattr(attn, name).up.weight) > 0
    assert torch.count_nonzero(attn.gate) == 0
    assert isinstance(attn.lora_o.dropout, torch.nn.Identity) and attn.lora_o.scale == 1.0
    assert attn.lora_q.dropout.p == 0.1


@pytest.mark.parametrize("gate", [0.0, -0.5])
def test_closed_gate_gets_a_straight_through_gradient(gate):
    model = SignConditionedLM(tiny_xglm(), MEMORY_DIM).eval()
    with torch.no_grad():
        for layer in model._layers:
            layer.self_attn.gate.fill_(gate)
    ids, mask, memory, memory_mask = inputs()
    logits = model(ids, mask, memory, memory_mask)
    logits.logsumexp(-1).sum().backward()
    for layer in model._layers:
        assert layer.self_attn.gate.grad.abs().min() > 0
    # behind a closed gate the memory path gets no gradient yet: the gate has to open first
    assert model.memory_projection.linear.weight.grad.abs().sum() == 0
    assert all(p.grad is None for n, p in model.lm.named_parameters() if not p.requires_grad)


def test_gate_is_clamped_to_unit_interval():
    model = SignConditionedLM(tiny_xglm(), MEMORY_DIM).eval()
    ids, mask, memory, memory_mask = inputs()
    with torch.no_grad():
        closed = model(ids, mask, memory, memory_mask)
        for layer in model._layers:
            layer.self_attn.gate.fill_(-3.0)
        assert torch.equal(model(ids, mask, memory, memory_mask), closed)
        for layer in model._layers:
            layer.self_attn.gate.fill_(1.0)
        full = model(ids, mask, memory, memory_mask)
        for layer in model._layers:
            layer.self_attn.gate.fill_(5.0)
        assert torch.equal(model(ids, mask, memory, memory_mask), full)
    assert model.gate_values().max() == 1.0


@pytest.mark.parametrize("kind", LMS)
def test_trainable_parameter_count_matches_formula(kind):
    lm = LMS[kind]()
    c = lm.config
    heads = c.num_attention_heads
    kv_heads = getattr(c, "num_key_value_heads", None) or heads
    model = SignConditionedLM(lm, MEMORY_DIM)
    count = sum(p.numel() for p in model.trainable_parameters())
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // heads
    assert count == expected_trainable(layers=c.num_hidden_layers, d=c.hidden_size, heads=heads,
                                       kv_heads=kv_heads, head_dim=head_dim, memory_dim=MEMORY_DIM)


def test_formula_gives_the_papers_count_for_xglm_1_7b():
    per_layer = expected_trainable(layers=1, d=2048, heads=16, kv_heads=16, head_dim=128, memory_dim=0) - 2048
    assert per_layer == 65_536 + 49_152 + 16
    total = expected_trainable(layers=24, d=2048, heads=16, kv_heads=16, head_dim=128, memory_dim=512)
    assert total == 3_803_520


@pytest.mark.parametrize("kind", LMS)
def test_kv_cache_matches_full_forward(kind):
    model = SignConditionedLM(LMS[kind](), MEMORY_DIM).eval()
    open_adapters(model)
    ids, _, memory, memory_mask = inputs(length=8)
    with torch.no_grad():
        full = model(ids, None, memory, memory_mask)
        cache = model.start_decoding(memory, memory_mask)
        steps = [model.decode_step(ids[:, :3], cache)]  # a prompt of 3, then one token at a time
        steps += [model.decode_step(ids[:, t: t + 1], cache) for t in range(3, 8)]
    assert cache.length == 8
    torch.testing.assert_close(torch.cat(steps, dim=1), full, rtol=0, atol=1e-5)


@pytest.mark.parametrize("kind", LMS)
def test_trainable_state_round_trip(tmp_path, kind):
    """Adapters, gates and FC_m travel in a training checkpoint (only what trains, as the stages save
    it: no frozen weight, Gemma's tied output matrix included) and give a fresh copy of the LM the
    same outputs; a checkpoint of another model is refused."""
    from safetensors import safe_open

    from sign2gpt.runtime.checkpoint import load_checkpoint, save_checkpoint

    model = SignConditionedLM(LMS[kind](), MEMORY_DIM).eval()
    open_adapters(model)
    ids, mask, memory, memory_mask = inputs()
    path = save_checkpoint(tmp_path / "adapters.safetensors", model, epoch=1, only_trainable=True)
    with safe_open(str(path), "pt") as f:
        weights = {k for k in f.keys() if not k.startswith("__")}  # besides the RNG state (__rng__.*)
    assert weights == {n for n, _ in model.trainable_named_parameters()}
    fresh = SignConditionedLM(LMS[kind](), MEMORY_DIM).eval()
    load_checkpoint(path, fresh, restore_rng=False)
    with torch.no_grad():
        torch.testing.assert_close(fresh(ids, mask, memory, memory_mask), model(ids, mask, memory, memory_mask))
    with pytest.raises(DataError):
        load_checkpoint(path, SignConditionedLM(LMS[kind](), MEMORY_DIM + 2), restore_rng=False)


def test_bf16_lm_runs_under_autocast_with_fp32_adapters():
    lm = tiny_llama()
    ids, mask, memory, memory_mask = inputs()
    model32 = SignConditionedLM(copy.deepcopy(lm), MEMORY_DIM).eval()
    model16 = SignConditionedLM(lm.to(torch.bfloat16), MEMORY_DIM).eval()
    assert all(p.dtype == torch.float32 for p in model16.trainable_parameters())
    with torch.no_grad():
        out16, out32 = model16(ids, mask, memory, memory_mask), model32(ids, mask, memory, memory_mask)
    assert out16.dtype == torch.float32
    assert (out16 - out32).abs().max() < 0.1


def test_train_mode_uses_dropout():
    model = SignConditionedLM(tiny_xglm(), MEMORY_DIM).train()
    open_adapters(model)
    ids, mask, memory, memory_mask = inputs()
    assert not torch.equal(model(ids, mask, memory, memory_mask), model(ids, mask, memory, memory_mask))


def test_errors():
    with pytest.raises(ConfigError, match="unsupported"):
        SignConditionedLM(GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=20)), MEMORY_DIM)
    lm = tiny_xglm()
    model = SignConditionedLM(lm, MEMORY_DIM)
    with pytest.raises(ValueError, match="already adapted"):
        SignConditionedLM(lm, MEMORY_DIM)
    with pytest.raises(RuntimeError, match="adapted in place"):
        lm(input_ids=torch.tensor([[2, 5]]))
    ids, mask, memory, memory_mask = inputs()
    memory_mask[2] = False
    with pytest.raises(RuntimeError, match="at least one valid"):  # checked on the device (on a GPU, async)
        model(ids, mask, memory, memory_mask)


def test_right_padded_training_rows_use_the_causal_kernel_with_the_same_logits():
    """Training targets are right-padded: the causal kernel without a key-padding mask gives every
    real position the logits the masked attention gives (padding positions are not used), and the
    mask's values are never read (no host wait on a GPU)."""
    from sign2gpt.models.gated_lm import _self_attention_mask

    model = SignConditionedLM(tiny_xglm(), MEMORY_DIM).eval()
    open_adapters(model)
    ids, mask, memory, memory_mask = inputs()
    masked = model(ids, mask, memory, memory_mask)
    causal = model(ids, mask, memory, memory_mask, right_padded=True)
    real = mask.bool()
    torch.testing.assert_close(causal[real], masked[real], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(causal[~real], masked[~real])  # the padding positions do differ: unused
    meta = torch.ones(3, 7, device="meta")  # a meta tensor has no values to read
    assert _self_attention_mask(meta, 0, 7, torch.device("cpu"), right_padded=True) == (None, True)
