"""Pseudo-gloss head (spec §6): score range, padding invariance, temperatures, loss, prototypes file."""


import pytest
import torch
import torch.nn.functional as F

from sign2gpt.models.pgp_head import PseudoGlossHead

V, P, D = 12, 10, 16


def _prototypes(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.cat([torch.randn(V, P, generator=g), torch.zeros(1, P)])


def _head(**kw):
    torch.manual_seed(0)
    return PseudoGlossHead(D, _prototypes(), **kw)


def test_scores_in_unit_interval_and_E_zero_at_padding():
    head = _head().eval()
    z = torch.randn(3, 9, D) * 5
    mask = torch.arange(9)[None] < torch.tensor([[9], [4], [1]])
    scores, e = head(z, mask)
    assert scores.shape == (3, V) and e.shape == (3, 9, V)
    assert scores.min() >= 0 and scores.max() <= 1
    assert torch.all(e[~mask] == 0)
    torch.testing.assert_close(e.sum(1), scores)


def test_blank_prototype_similarity_is_zero():
    head = _head()
    s = head.similarity(torch.randn(2, 5, D))
    assert s.shape == (2, 5, V + 1) and torch.all(s[..., V] == 0)
    assert s[..., :V].abs().max() <= 1 + 1e-6


def test_padding_does_not_change_scores():
    head = _head().eval()
    z = torch.randn(1, 6, D)
    alone, _ = head(z, torch.ones(1, 6, dtype=torch.bool))
    padded = torch.cat([z, torch.full((1, 5, D), 3.0)], dim=1)
    mask = torch.arange(11)[None] < 6
    batched, _ = head(padded, mask)
    torch.testing.assert_close(batched, alone)
    unmasked, _ = head(padded, torch.ones(1, 11, dtype=torch.bool))
    assert not torch.allclose(unmasked, alone)  # the mask is what keeps padding out


def test_temperatures_learnable_or_fixed_and_clamped():
    learn = _head(learnable_tau=True)
    names = {n for n, _ in learn.named_parameters()}
    assert {"tau_class", "tau_time"} <= names and not any(n.endswith("weight") and "tau" in n for n in names)
    fixed = _head(learnable_tau=False)
    assert "tau_class" not in {n for n, _ in fixed.named_parameters()}
    assert "tau_class" in dict(fixed.named_buffers()) and fixed.tau_class.item() == pytest.approx(0.1)
    # at use the temperature is clamped to [0.01, 1]: 5.0 behaves like 1.0
    z, mask = torch.randn(2, 7, D), torch.ones(2, 7, dtype=torch.bool)
    a, b = _head().eval(), _head().eval()
    with torch.no_grad():
        a.tau_class.fill_(5.0)
        b.tau_class.fill_(1.0)
    torch.testing.assert_close(a(z, mask)[0], b(z, mask)[0])
    # gradients reach the learnable temperatures
    scores, _ = learn.train()(z, mask)
    learn.loss(scores, (torch.rand(2, V) > 0.5).float()).backward()
    assert learn.tau_class.grad is not None and learn.tau_time.grad is not None


def test_loss_is_weighted_mean_bce_with_clamp():
    head = _head(loss_weight=10.0)
    scores = torch.tensor([[0.2, 0.9, 0.0], [1.0, 0.5, 0.3]])
    targets = torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    expected = 10.0 * F.binary_cross_entropy(scores.clamp(1e-8, 1 - 1e-8), targets)
    loss = head.loss(scores, targets)
    assert torch.isfinite(loss)
    torch.testing.assert_close(loss, expected)
    s = scores.clone().requires_grad_(True)
    head.loss(s, targets).backward()
    assert torch.isfinite(s.grad).all()
    with pytest.raises(ValueError, match="shape"):
        head.loss(scores, targets[:, :2])


def test_multi_hot():
    t = PseudoGlossHead.multi_hot([[0, 2, 2], [], [4]], 5)
    assert t.tolist() == [[1, 0, 1, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 1]]
    with pytest.raises(ValueError, match="outside"):
        PseudoGlossHead.multi_hot([[5]], 5)


def test_prototypes_must_end_with_zero_row():
    with pytest.raises(ValueError, match="zero"):
        PseudoGlossHead(D, torch.randn(V + 1, P))


def test_prototypes_are_a_frozen_buffer_saved_with_the_head():
    head = _head()
    assert "prototypes" in head.state_dict() and "prototypes" not in dict(head.named_parameters())
    n_params = sum(p.numel() for p in head.parameters())
    assert n_params == D * P + P + 2  # Linear + two temperatures (spec: 153,900 + 2 at 512 -> 300)


