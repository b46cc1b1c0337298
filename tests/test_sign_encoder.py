"""Sign encoder (spec §5): shapes, pooling, padding invariance, init, positional encodings."""

import math

import pytest
import torch

from sign2gpt.models.positional import apply_rope, rope_cos_sin, sinusoidal_embedding
from sign2gpt.models.sign_encoder import SignEncoder, pool_time

SMALL = dict(dim=32, heads=4, layers=[2, 2], window=7, mlp_ratio=2, dropout=0.1, drop_path=0.1)


def _encoder(seed=0, **kw):
    torch.manual_seed(seed)
    args = {**SMALL, **kw}
    return SignEncoder(args.pop("in_dim", 32), **args)


def _padded_batch(lengths, dim, seed=0, pad_value=None):
    g = torch.Generator().manual_seed(seed)
    T = max(lengths)
    x = torch.randn(len(lengths), T, dim, generator=g)
    mask = torch.arange(T)[None] < torch.tensor(lengths)[:, None]
    if pad_value is not None:
        x[~mask] = pad_value
    return x, mask


@pytest.mark.parametrize("T", [1, 2, 7, 8, 33])
def test_shapes_and_downsampling(T):
    enc = _encoder().eval()
    x, mask = _padded_batch([T, max(1, T - 3)], 32)
    z, zmask = enc(x, mask)
    assert z.shape == (2, math.ceil(T / 2), 32)
    assert zmask.shape == (2, math.ceil(T / 2)) and zmask.dtype == torch.bool
    assert enc.output_length(T) == math.ceil(T / 2) and enc.downsample_factor == 2
    assert zmask[0].all()


def test_three_stages_and_input_projection():
    enc = _encoder(in_dim=20, layers=[1, 1, 1])
    z, zmask = enc(*_padded_batch([13], 20))
    assert z.shape == (1, 4, 32) and enc.output_length(13) == 4 and enc.downsample_factor == 4


def test_one_stage_keeps_every_step_and_layers_0_is_no_encoder():
    """Table 4's rows: [4] has no down-sampling; [0] (no sign encoder) hands the frame features on as Z."""
    x, mask = _padded_batch([9, 5], 32)
    one_stage = _encoder(layers=[4]).eval()
    z, zmask = one_stage(x, mask)
    assert z.shape == (2, 9, 32) and one_stage.output_length(9) == 9 and one_stage.downsample_factor == 1
    assert torch.equal(zmask, mask)
    none = _encoder(layers=[0])
    z, zmask = none(x, mask)
    assert torch.equal(z, x) and torch.equal(zmask, mask) and not list(none.parameters())
    projected = _encoder(in_dim=20, layers=[0])
    x20 = _padded_batch([9, 5], 20)[0]
    torch.testing.assert_close(projected(x20, mask)[0], projected.input_proj(x20))
    for bad in ([0, 0], [], [2, -1]):
        with pytest.raises(ValueError, match="block counts"):
            _encoder(layers=bad)


def test_mask_pooling_rules():
    x = torch.ones(4, 8, 3)
    mask = torch.arange(8)[None] < torch.tensor([[8], [6], [5], [0]])
    pooled, any_mask = pool_time(x, mask, mask_rule="any")
    assert any_mask.tolist() == [
        [True, True, True, True],
        [True, True, True, True],  # position 3 sees input 5, which is real
        [True, True, True, False],
        [True, False, False, False],  # nothing real: position 0 is forced valid
    ]
    _, center_mask = pool_time(x, mask, mask_rule="center")
    assert center_mask.tolist()[1] == [True, True, True, False]  # ceil(6/2) = 3, as for the clip alone
    # boundary zero padding counts in the average; padded frames are zeroed first
    assert pooled[0, 0, 0].item() == pytest.approx(2 / 3)
    assert pooled[0, 1, 0].item() == pytest.approx(1.0)
    assert pooled[2, 2, 0].item() == pytest.approx(2 / 3)  # inputs 3, 4 real, 5 zeroed
    kept, _ = pool_time(x, mask, zero_pad=False)
    assert kept[2, 2, 0].item() == pytest.approx(1.0)  # the official leak


@pytest.mark.parametrize("pool_mask,lengths", [("any", [15, 9, 5]), ("center", [16, 10, 7])])
def test_padding_does_not_change_valid_outputs(pool_mask, lengths):
    enc = _encoder(pool_mask=pool_mask).eval()
    x, mask = _padded_batch(lengths, 32, pad_value=7.0)  # garbage in the padding
    z, zmask = enc(x, mask)
    for i, n in enumerate(lengths):
        z_alone, m_alone = enc(x[i : i + 1, :n], mask[i : i + 1, :n])
        assert m_alone.all() and zmask[i].sum() == m_alone.shape[1]
        torch.testing.assert_close(z[i, : m_alone.shape[1]], z_alone[0], atol=1e-5, rtol=1e-5)


def test_unzeroed_padding_leaks_through_the_pool_edge():
    """The official behaviour (zero_pad_before_pool=False) mixes padding into the last position."""
    enc = _encoder(zero_pad_before_pool=False).eval()
    x, mask = _padded_batch([15, 9], 32, pad_value=7.0)
    z, _ = enc(x, mask)
    z_alone, _ = enc(x[1:, :9], mask[1:, :9])
    assert not torch.allclose(z[1, :5], z_alone[0], atol=1e-4)


def test_even_length_with_any_rule_gets_an_extra_valid_position():
    enc = _encoder().eval()
    x, mask = _padded_batch([12, 6], 32)
    _, zmask = enc(x, mask)
    assert zmask[1].sum() == 4 and enc.output_length(6) == 3


def test_init_and_parameter_names():
    enc = _encoder(layerscale_init=1e-5)
    names = dict(enc.named_parameters())
    assert "blocks.0.attn.q_proj.weight" in names and "blocks.3.mlp.fc2.bias" in names
    gammas = [n for n in names if n.endswith("gamma")]
    assert len(gammas) == 8 and all("weight" not in n for n in gammas)
    assert all(torch.all(names[n] == 1e-5) for n in gammas)
    for block in enc.blocks:
        assert torch.all(block.attn.out_proj.bias == 0) and torch.all(block.mlp.fc1.bias == 0)
        w = block.attn.q_proj.weight
        assert w.abs().max() <= math.sqrt(6 / (w.shape[0] + w.shape[1])) + 1e-6  # Xavier-uniform bound
    rates = [b.drop_path.p for b in enc.blocks]
    assert rates == pytest.approx([0.0, 0.1 / 3, 0.2 / 3, 0.1])


def test_paper_size_parameter_count():
    enc = SignEncoder(512, 512, 8, [2, 2], 7, 4)
    assert sum(p.numel() for p in enc.parameters()) == 12_613_632  # spec: about 12.61M


def test_deterministic_under_seed_and_checkpointing_equivalence():
    x, mask = _padded_batch([11, 8], 32)
    outs, grads = [], []
    for ckpt in (False, False, True):
        enc = _encoder(seed=3, checkpointing=ckpt).train()
        torch.manual_seed(5)  # dropout / drop-path draws
        z, _ = enc(x, mask)
        z.square().sum().backward()
        outs.append(z.detach())
        grads.append(enc.blocks[0].attn.q_proj.weight.grad.clone())
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)
    torch.testing.assert_close(outs[0], outs[2])
    torch.testing.assert_close(grads[0], grads[2])


def test_dense_attention_impl_matches_local():
    local = _encoder().eval()
    dense = _encoder(attention="dense").eval()
    dense.load_state_dict(local.state_dict())
    x, mask = _padded_batch([20, 13], 32)
    torch.testing.assert_close(local(x, mask)[0], dense(x, mask)[0], atol=1e-5, rtol=1e-5)


def test_from_config_reads_the_yaml_section():
    cfg = {"dim": 16, "heads": 2, "layers": [1, 2], "window": 5, "mlp_ratio": 4, "dropout": 0.0,
           "drop_path": 0.0, "layerscale_init": 0.5, "pool_mask": "any", "zero_pad_before_pool": True,
           "attention": "local", "checkpointing": False}
    enc = SignEncoder.from_config(16, cfg)
    assert enc.pool_mask == "any"  # every key is read from the section
    with pytest.raises(KeyError, match="attention"):
        SignEncoder.from_config(16, {k: v for k, v in cfg.items() if k != "attention"})
    assert len(enc.blocks) == 3 and enc.blocks[0].attn.window == 5
    assert torch.all(enc.blocks[2].ls2.gamma == 0.5) and isinstance(enc.input_proj, torch.nn.Identity)


def test_sinusoidal_embedding_is_interleaved():
    pe = sinusoidal_embedding(50, 8)
    t = torch.arange(50, dtype=torch.float32)
    for i in range(4):
        freq = 10000 ** (-2 * i / 8)
        torch.testing.assert_close(pe[:, 2 * i], torch.sin(t * freq))
        torch.testing.assert_close(pe[:, 2 * i + 1], torch.cos(t * freq))


def test_rope_is_relative_and_fp32():
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 16, generator=g), torch.randn(2, 16, generator=g)
    cos, sin = rope_cos_sin(400, 16)
    assert cos.dtype == torch.float32 and cos.shape == (400, 16)
    # pairing is (j, j + 8): the half tables repeat
    torch.testing.assert_close(cos[:, :8], cos[:, 8:])

    def dot(i, j):
        qi = apply_rope(q[0], cos[i], sin[i])
        kj = apply_rope(k[0], cos[j], sin[j])
        return (qi * kj).sum()

    torch.testing.assert_close(dot(3, 1), dot(303, 301), atol=1e-4, rtol=1e-4)
    assert not torch.allclose(dot(3, 1), dot(3, 2))
    # bf16 inputs keep bf16 outputs, computed from fp32 tables
    assert apply_rope(q.bfloat16(), cos[:2], sin[:2]).dtype == torch.bfloat16
