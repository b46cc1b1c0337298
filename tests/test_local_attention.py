"""Local (banded) attention: agrees with the dense band-masked reference, forward and backward."""

import pytest
import torch

from sign2gpt.models.local_attention import (
    LocalSelfAttention,
    band_mask,
    dense_band_attention,
    global_attention,
    local_attention,
)


def _random_inputs(B, H, T, Dh, seed, *, all_padded_row=True):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(B, H, T, Dh, generator=g, dtype=torch.float64) for _ in range(3))
    mask = torch.rand(B, T, generator=g) > 0.3  # random holes, not just a padded tail
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    mask &= torch.arange(T)[None] < lengths[:, None]
    if all_padded_row:
        mask[0] = False  # only the diagonal is left: exercises the diagonal rule
    return q, k, v, mask


@pytest.mark.parametrize("window,T", [(7, 23), (7, 2), (3, 16), (1, 9), (8, 19)])
def test_local_matches_dense_forward_and_backward(window, T):
    q, k, v, mask = _random_inputs(3, 2, T, 5, seed=window * 100 + T)
    for t in (q, k, v):
        t.requires_grad_(True)
    out_local = local_attention(q, k, v, mask, window)
    grads_local = torch.autograd.grad((out_local * torch.cos(out_local)).sum(), (q, k, v))
    out_dense = dense_band_attention(q, k, v, mask, window)
    grads_dense = torch.autograd.grad((out_dense * torch.cos(out_dense)).sum(), (q, k, v))
    torch.testing.assert_close(out_local, out_dense)
    for gl, gd in zip(grads_local, grads_dense):
        torch.testing.assert_close(gl, gd)


def test_band_mask_rule():
    mask = torch.tensor([[True, True, False, True, True, True]])
    allowed = band_mask(mask, 3)[0]  # ±1
    assert allowed[0].tolist() == [True, True, False, False, False, False]
    assert allowed[2].tolist() == [False, True, True, True, False, False]  # padded query keeps its diagonal
    assert allowed[3].tolist() == [False, False, False, True, True, False]  # key 2 is padding


def test_all_keys_padded_attends_only_itself():
    q, k, v, _ = _random_inputs(1, 2, 10, 4, seed=1)
    mask = torch.zeros(1, 10, dtype=torch.bool)
    torch.testing.assert_close(local_attention(q, k, v, mask, 7), v)


def test_keys_outside_window_and_padded_keys_have_no_effect():
    q, k, v, _ = _random_inputs(1, 1, 12, 4, seed=2)
    mask = torch.ones(1, 12, dtype=torch.bool)
    mask[0, 5] = False
    out = local_attention(q, k, v, mask, 5)  # ±2
    k2, v2 = k.clone(), v.clone()
    k2[:, :, 5] += 100.0  # a padded key
    v2[:, :, 5] -= 100.0
    k2[:, :, 11] += 50.0  # outside the window of queries 0..8
    v2[:, :, 11] += 50.0
    out2 = local_attention(q, k2, v2, mask, 5)
    keep = [0, 1, 2, 3, 4, 6, 7, 8]  # real queries whose window misses key 11; query 5 sees its own key
    torch.testing.assert_close(out[:, :, keep], out2[:, :, keep])
    assert not torch.allclose(out[:, :, 5], out2[:, :, 5])
    assert not torch.allclose(out[:, :, 9:], out2[:, :, 9:])


def test_attention_dropout_only_in_training():
    q, k, v, mask = _random_inputs(2, 2, 15, 4, seed=3, all_padded_row=False)
    eval_out = local_attention(q, k, v, mask, 7, dropout_p=0.5, training=False)
    torch.testing.assert_close(eval_out, local_attention(q, k, v, mask, 7))
    torch.manual_seed(0)
    train_out = local_attention(q, k, v, mask, 7, dropout_p=0.5, training=True)
    assert not torch.allclose(train_out, eval_out)
    torch.manual_seed(0)
    torch.testing.assert_close(train_out, local_attention(q, k, v, mask, 7, dropout_p=0.5, training=True))


def test_module_local_equals_dense_impl():
    torch.manual_seed(0)
    local = LocalSelfAttention(16, 4, 7, attn_dropout=0.1, proj_dropout=0.1).eval()
    dense = LocalSelfAttention(16, 4, 7, attn_dropout=0.1, proj_dropout=0.1, impl="dense").eval()
    dense.load_state_dict(local.state_dict())
    x = torch.randn(2, 21, 16)
    mask = torch.arange(21)[None] < torch.tensor([[21], [13]])
    torch.testing.assert_close(local(x, mask), dense(x, mask), atol=1e-5, rtol=1e-5)


def test_global_attention_is_a_masked_softmax_over_every_real_frame():
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 12, 4) for _ in range(3))
    mask = torch.arange(12)[None] < torch.tensor([[12], [7]])
    # the reference: scaled dot products, padded keys masked except a query's own position
    allowed = mask[:, None, None, :] | torch.eye(12, dtype=torch.bool)
    scores = (q @ k.transpose(-2, -1) / 2.0).masked_fill(~allowed, float("-inf"))
    torch.testing.assert_close(global_attention(q, k, v, mask), scores.softmax(-1) @ v)


def test_module_global_impl_sees_beyond_the_window():
    """Frame 0 changes the last frame's output under global attention, never under a window of 7."""
    torch.manual_seed(0)
    local = LocalSelfAttention(16, 4, 7).eval()
    full = LocalSelfAttention(16, 4, 7, impl="global").eval()
    full.load_state_dict(local.state_dict())
    x = torch.randn(1, 21, 16)
    moved = x.clone()
    moved[0, 0] += 1.0
    mask = torch.ones(1, 21, dtype=torch.bool)
    torch.testing.assert_close(local(x, mask)[0, -1], local(moved, mask)[0, -1], rtol=0, atol=0)
    assert not torch.allclose(full(x, mask)[0, -1], full(moved, mask)[0, -1])
    with pytest.raises(ValueError, match="global"):
        LocalSelfAttention(16, 4, 7, impl="full")


def test_bad_shapes_raise():
    q = torch.randn(1, 2, 5, 4)
    with pytest.raises(ValueError, match="shape"):
        local_attention(q, q[:, :1], q, None, 7)
    with pytest.raises(ValueError, match="window"):
        local_attention(q, q, q, None, 0)
