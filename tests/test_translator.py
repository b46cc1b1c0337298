"""SignTranslator.forward: teacher forcing on `<start> sentence </s>`, the loss computed inside
forward (so DDP, which wraps forward, sees it), with the count of targets the mean is over."""

from __future__ import annotations

import torch
from torch.nn import functional as F
from transformers import XGLMConfig, XGLMForCausalLM

from sign2gpt.models.gated_lm import SignConditionedLM
from sign2gpt.models.translator import SignTranslator

MEMORY_DIM = 8


def translator() -> SignTranslator:
    torch.manual_seed(0)
    lm = XGLMForCausalLM(XGLMConfig(vocab_size=24, d_model=32, num_layers=2, attention_heads=4, ffn_dim=64,
                                    max_position_embeddings=64, init_std=0.2)).requires_grad_(False)
    model = SignTranslator(None, SignConditionedLM(lm, MEMORY_DIM))
    return model


def batch():
    g = torch.Generator().manual_seed(1)
    memory = torch.randn(2, 5, MEMORY_DIM, generator=g)
    ids = torch.tensor([[2, 5, 6, 7, 2], [2, 9, 2, 1, 1]])  # <start> sentence </s>, right-padded with 1
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    return {"memory": memory, "memory_mask": torch.ones(2, 5, dtype=torch.bool)}, ids, mask


def test_forward_gives_next_token_logits_and_with_smoothing_the_loss_over_real_targets():
    model = translator().eval()
    features, ids, mask = batch()
    plain = model(features, ids, mask)
    assert plain.logits.shape == (2, 4, 24) and plain.logits.dtype == torch.float32 and plain.loss is None
    out = model(features, ids, mask, label_smoothing=0.1)
    assert torch.equal(out.logits, plain.logits)
    assert int(out.tokens) == 4 + 2  # every next token of the sentences, never a pad
    labels = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)
    expected = F.cross_entropy(plain.logits.reshape(-1, 24), labels.reshape(-1), ignore_index=-100,
                               label_smoothing=0.1)
    assert torch.equal(out.loss, expected)
    pads = ids.clone()
    pads[1, 3:] = 17  # what stands in the padding changes nothing
    assert torch.equal(model(features, pads, mask, label_smoothing=0.1).loss, out.loss)


def test_the_loss_comes_out_of_ddp_and_its_gradients_are_the_plain_models(tmp_path):
    """DDP (one gloo rank, in this process) wraps forward, so the loss needs no copy beside it."""
    import torch.distributed as dist

    model, reference = translator().train(), translator().train()
    features, ids, mask = batch()
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        ddp = torch.nn.parallel.DistributedDataParallel(model)
        torch.manual_seed(3)
        ddp(features, ids, mask, label_smoothing=0.1).loss.backward()
        torch.manual_seed(3)
        reference(features, ids, mask, label_smoothing=0.1).loss.backward()
    finally:
        dist.destroy_process_group()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    assert grads and all(torch.allclose(grads[n], p.grad, atol=1e-7) for n, p in reference.named_parameters()
                         if p.requires_grad)
    assert any(g.abs().sum() > 0 for g in grads.values())
