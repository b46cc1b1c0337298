"""Spatial model (spec §4) and SignModel: DINOv2 CLS -> Linear -> BN over real frames -> padding."""

from collections import Counter
from pathlib import Path

import pytest
import torch

from sign2gpt.core.errors import ConfigError
from sign2gpt.models import SignModel, SpatialModel, build_backbone, build_sign_model

TINY = {"image_size": 16, "patch_size": 8, "hidden_size": 24, "num_hidden_layers": 2,
        "num_attention_heads": 2, "mlp_ratio": 2}
# the keys of `spatial:` and `encoder:` that config.yaml always sets, for sections written by hand
SPATIAL = {"pretrained": None, "tune": "full", "chunk_size": None, "pooling": "cls", "checkpointing": False}
ENCODER = {"pool_mask": "center", "zero_pad_before_pool": True, "attention": "local", "checkpointing": False}


def _spatial(tune="full", seed=0, **kw):
    torch.manual_seed(seed)
    cfg = {**SPATIAL, "config": TINY, "tune": tune,
           "lora": {"layers": 1, "r": 4, "alpha": 4, "dropout": 0.1, "qkv": "separate"}}
    return SpatialModel.from_config({**cfg, **kw}, out_dim=8)


def _frames(n, seed=1):
    return torch.randn(n, 3, 16, 16, generator=torch.Generator().manual_seed(seed))


def test_shapes_mask_and_zero_padding():
    model = _spatial().eval()
    x, mask = model(_frames(12), [5, 3, 4])
    assert x.shape == (3, 5, 8) and mask.tolist()[1] == [True, True, True, False, False]
    assert torch.all(x[~mask] == 0)


def test_feature_is_cls_after_final_layernorm():
    model = _spatial().eval()
    frames = _frames(4)
    bb = model.backbone
    hidden = bb.encoder(bb.embeddings(frames)).last_hidden_state  # before the final LayerNorm
    expected = bb.layernorm(hidden)[:, 0]
    torch.testing.assert_close(model.frame_features(frames), expected)
    assert not torch.allclose(hidden[:, 0], expected)


def test_mean_pooling_averages_the_normed_patch_tokens():
    model = _spatial(pooling="mean").eval()
    frames = _frames(4)
    bb = model.backbone
    normed = bb.layernorm(bb.encoder(bb.embeddings(frames)).last_hidden_state)  # [N, 1 + patches, hidden]
    torch.testing.assert_close(model.frame_features(frames), normed[:, 1:].mean(dim=1))
    with pytest.raises(ConfigError, match="spatial.pooling"):
        _spatial(pooling="max")


def test_batchnorm_statistics_come_from_real_frames_only():
    model = _spatial().train()
    frames = _frames(9)
    with torch.no_grad():
        feats = model.proj(model.frame_features(frames))  # [9, 8]
        x, mask = model(frames, [2, 7])
    mean, var = feats.mean(0), feats.var(0, unbiased=False)
    expected = (feats - mean) / torch.sqrt(var + model.bn.eps) * model.bn.weight + model.bn.bias
    torch.testing.assert_close(x[mask], expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model.bn.running_mean, 0.1 * mean, atol=1e-6, rtol=1e-5)
    # the amount of padding (set by the longest clip) changes nothing for the real frames
    with torch.no_grad():
        x_a, m_a = _spatial().train()(frames, [2, 7])
        x_b, m_b = _spatial().train()(torch.cat([frames[2:], frames[:2]]), [7, 2])
    torch.testing.assert_close(x_a[0, :2], x_b[1, :2], atol=1e-5, rtol=1e-5)


def test_lora_trains_only_adapters_and_starts_equal_to_base():
    full, lora = _spatial("full").eval(), _spatial("lora").eval()
    trainable = [n for n, p in lora.backbone.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert all(".layer.1." in n for n in trainable)  # top 1 layer of 2
    assert len(trainable) == 2 * 6  # A and B of q, k, v, o, fc1, fc2
    assert lora.proj.weight.requires_grad and lora.bn.weight.requires_grad
    frames = _frames(6)
    base_out, _ = full(frames, [6])
    lora_out, _ = lora(frames, [6])
    torch.testing.assert_close(lora_out, base_out)  # B = 0: the adapters start as a no-op
    with torch.no_grad():
        lora.backbone.encoder.layer[1].attention.q_proj.lora_B["default"].weight.normal_()
    assert not torch.allclose(lora(frames, [6])[0], base_out)
    # gradients reach the adapters and nothing else in the backbone
    lora.train()
    x, mask = lora(frames, [4, 2])
    x[mask].square().sum().backward()
    assert all(p.grad is None for n, p in lora.backbone.named_parameters() if "lora_" not in n)
    assert lora.backbone.encoder.layer[1].mlp.fc1.lora_A["default"].weight.grad is not None
    assert lora.num_trainable() == sum(p.numel() for p in lora.parameters() if p.requires_grad)


def test_frozen_trains_only_projection_and_bn():
    model = _spatial("frozen").train()
    assert not any(p.requires_grad for p in model.backbone.parameters())
    assert model.num_trainable() == 24 * 8 + 8 + 2 * 8
    x, mask = model(_frames(5), [5])
    x.sum().backward()
    assert model.proj.weight.grad is not None


def test_lora_layers_out_of_range():
    with pytest.raises(ConfigError, match="lora.layers"):
        _spatial("lora", lora={"layers": 3, "r": 4, "alpha": 4, "dropout": 0.1, "qkv": "separate"})
    with pytest.raises(ConfigError, match=r"missing \['r'\]"):
        _spatial("lora", lora={"layers": 1, "alpha": 4, "dropout": 0.1, "qkv": "fused"})
    with pytest.raises(ConfigError, match="lora.qkv"):
        _spatial("lora", lora={"layers": 1, "r": 4, "alpha": 4, "dropout": 0.1, "qkv": "merged"})


def test_chunked_backbone_matches_single_pass():
    frames = _frames(7)
    a, _ = _spatial().eval()(frames, [3, 4])
    b, _ = _spatial(chunk_size=2).eval()(frames, [3, 4])
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_bad_lengths_raise():
    model = _spatial()
    with pytest.raises(ValueError, match="sum to"):
        model(_frames(5), [2, 2])
    with pytest.raises(ValueError, match="at least one frame"):
        model(_frames(5), [5, 0])


def test_pretrained_dir_roundtrip_and_missing_weights(tmp_path):
    torch.manual_seed(0)
    base = build_backbone(None, TINY)
    base.save_pretrained(tmp_path / "dino")
    loaded = build_backbone(str(tmp_path / "dino"))
    for (n, a), (_, b) in zip(base.state_dict().items(), loaded.state_dict().items()):
        torch.testing.assert_close(a, b, msg=n)
    with pytest.raises(ConfigError, match="does not exist"):
        build_backbone(str(tmp_path / "nowhere"))


def test_missing_hub_weights_never_download():
    # local_files_only: an uncached hub name fails at once with instructions, no network access
    with pytest.raises(ConfigError, match="hf download sign2gpt-tests/no-such-dinov2"):
        build_backbone("sign2gpt-tests/no-such-dinov2")


def test_bad_backbone_config():
    with pytest.raises(ConfigError, match="spatial.config"):
        build_backbone(None, {"no_such_key_at_all": 1, "hidden_size": "big"})


def test_sign_model_deterministic_and_stable_names():
    cfg = {"spatial": {**SPATIAL, "config": TINY, "tune": "lora", "lora": {"layers": 1, "r": 4, "alpha": 4,
                                                                             "dropout": 0.1, "qkv": "fused"}},
           "encoder": {**ENCODER, "dim": 8, "heads": 2, "layers": [1, 1], "window": 7, "mlp_ratio": 2,
                       "dropout": 0.1, "drop_path": 0.1, "layerscale_init": 1e-5}}
    outs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = SignModel.from_config(cfg).train()
        torch.manual_seed(1)
        z, mask = model(_frames(8), [5, 3])
        outs.append(z)
    assert z.shape == (2, 3, 8) and mask.tolist() == [[True] * 3, [True, True, False]]
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)
    torch.manual_seed(0)
    again = build_sign_model(cfg["spatial"], cfg["encoder"])
    assert list(again.state_dict()) == list(model.state_dict())
    assert "spatial.bn.running_mean" in model.state_dict() and "encoder.blocks.1.ls1.gamma" in model.state_dict()


RESNET = {"model_type": "resnet", "embedding_size": 8, "hidden_sizes": [8, 16], "depths": [1, 1]}


def test_resnet_backbone_pools_globally_and_round_trips(tmp_path):
    from transformers import ResNetModel

    torch.manual_seed(0)
    model = SpatialModel.from_config({**SPATIAL, "config": RESNET, "pooling": "mean"}, out_dim=8).eval()
    assert isinstance(model.backbone, ResNetModel) and model.hidden_size == 16
    frames = _frames(7)
    x, mask = model(frames, [4, 3])
    assert x.shape == (2, 4, 8) and torch.all(x[~mask] == 0)
    out = model.backbone(pixel_values=frames).last_hidden_state  # [N, 16, h, w]
    assert torch.allclose(model.frame_features(frames), out.mean(dim=(2, 3)), atol=1e-6)
    model.backbone.save_pretrained(tmp_path / "rn")
    loaded = build_backbone(str(tmp_path / "rn")).eval()
    assert isinstance(loaded, ResNetModel)
    assert torch.equal(loaded(pixel_values=frames).pooler_output, model.backbone(pixel_values=frames).pooler_output)


@pytest.mark.parametrize("change, match", [
    ({"pooling": "cls"}, "no CLS token"),
    ({"tune": "lora", "lora": {"layers": 1, "r": 4, "alpha": 4, "dropout": 0.1, "qkv": "separate"}}, "no LoRA targets"),
    ({"config": {**RESNET, "model_type": "vgg"}}, "model_type"),
    ({"config": {**RESNET, "hidden_sizes": "wide"}}, "ResNetConfig"),
])
def test_resnet_misconfigurations_are_config_errors(change, match):
    with pytest.raises(ConfigError, match=match):
        SpatialModel.from_config({**SPATIAL, "config": RESNET, "pooling": "mean", **change}, out_dim=8)


def test_a_pretrained_dir_that_is_no_backbone_is_refused(tmp_path):
    from transformers import BertConfig, BertModel

    BertModel(BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8,
                         vocab_size=10)).save_pretrained(tmp_path / "bert")
    with pytest.raises(ConfigError, match="BertModel"):
        build_backbone(str(tmp_path / "bert"))


def test_resnet_frozen_trains_only_projection():
    model = SpatialModel.from_config({**SPATIAL, "config": RESNET, "tune": "frozen", "pooling": "mean"}, out_dim=8)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"proj.weight", "proj.bias", "bn.weight", "bn.bias"}


def test_the_resnet18_ablation_row_builds_on_the_csl_daily_preset(tmp_path):
    """docs/reproducing-the-paper.md's ResNet-18 row (Table 4, CSL-Daily) is a valid overlay of the preset:
    microsoft/resnet-18's architecture (random weights: no hub here), tuned whole, 512-wide pooled features."""
    from transformers import ResNetConfig, ResNetModel

    from sign2gpt.core.config import deep_merge, load_config, validate_config

    ResNetModel(ResNetConfig(embedding_size=64, hidden_sizes=[64, 128, 256, 512], depths=[2, 2, 2, 2],
                             layer_type="basic", downsample_in_first_stage=False)).save_pretrained(tmp_path / "r18")
    row = {"spatial": {"pretrained": str(tmp_path / "r18"), "tune": "full", "pooling": "mean", "checkpointing": False}}
    config = deep_merge(load_config(Path(__file__).parents[1] / "configs" / "csldaily.yaml"), row)
    validate_config(config)
    model = SpatialModel.from_config(config["spatial"], out_dim=config["encoder"]["dim"])
    assert model.hidden_size == 512 and all(p.requires_grad for p in model.backbone.parameters())
    features, mask = model(torch.randn(3, 3, 64, 64), [2, 1])
    assert features.shape == (2, 2, 512) and mask.tolist() == [[True, True], [True, False]]


@pytest.mark.parametrize("tune,qkv", [("full", "fused"), ("lora", "fused"), ("lora", "separate")])
def test_gradient_checkpointing_keeps_loss_and_gradients(tune, qkv):
    """spatial.checkpointing + encoder.checkpointing recompute activations in backward: the same
    loss and the same gradient for every trainable tensor, dropout and drop-path included."""
    spatial = {**SPATIAL, "config": {**TINY, "hidden_dropout_prob": 0.1, "drop_path_rate": 0.1},
               "tune": tune, "lora": {"layers": 1, "r": 4, "alpha": 4, "dropout": 0.1, "qkv": qkv},
               "image_size": 16}
    encoder = {**ENCODER, "dim": 16, "heads": 2, "layers": [1, 1], "window": 3, "mlp_ratio": 2, "dropout": 0.1,
               "drop_path": 0.1, "layerscale_init": 1e-5}
    spatial["chunk_size"] = 3  # three chunks, each recomputed in backward
    frames, lengths = _frames(7), [4, 3]
    results = []
    for ckpt in (False, True):
        torch.manual_seed(0)
        model = build_sign_model({**spatial, "checkpointing": ckpt}, {**encoder, "checkpointing": ckpt}).train()
        assert model.spatial.checkpointing is ckpt
        torch.manual_seed(1)  # the dropout draws
        z, mask = model(frames, lengths)
        loss = (z * mask[..., None]).square().mean()
        loss.backward()
        results.append((loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    (loss_a, grads_a), (loss_b, grads_b) = results
    torch.testing.assert_close(loss_a, loss_b, rtol=0, atol=0)
    assert grads_a.keys() == grads_b.keys() and any(".lora_" in n for n in grads_a) == (tune == "lora")
    for name in grads_a:
        torch.testing.assert_close(grads_a[name], grads_b[name], rtol=1e-6, atol=1e-7, msg=name)


def test_checkpointing_recomputes_only_the_tuned_blocks():
    """Under tune: lora the frozen bottom blocks run once (no graph); only the tuned top blocks run again
    in backward. Under tune: full every block is recomputed."""
    for tune, recomputed in (("lora", {1}), ("full", {0, 1})):
        model = _spatial(tune, checkpointing=True, chunk_size=3,
                         lora={"layers": 1, "r": 4, "alpha": 4, "dropout": 0.1, "qkv": "separate"}).train()
        calls = Counter()
        for i, block in enumerate(model.backbone.encoder.layer):
            block.register_forward_hook(lambda *_, i=i, calls=calls: calls.update([i]))
        x, mask = model(_frames(7), [4, 3])  # three chunks
        assert dict(calls) == {0: 3, 1: 3}
        x[mask].square().sum().backward()
        assert dict(calls) == {i: 6 if i in recomputed else 3 for i in (0, 1)}, tune


def test_checkpointing_is_refused_for_a_resnet():
    with pytest.raises(ConfigError, match="DINOv2 backbones only"):
        SpatialModel.from_config({**SPATIAL, "config": {"model_type": "resnet", "embedding_size": 8,
                                  "hidden_sizes": [8], "depths": [1]}, "tune": "full", "pooling": "mean",
                                  "checkpointing": True}, out_dim=4)


@pytest.mark.parametrize("tune", ["full", "lora", "lora-fused", "frozen"])
@pytest.mark.parametrize("pooling,checkpointing", [("cls", False), ("mean", False), ("cls", True)])
def test_every_trainable_parameter_gets_a_gradient(tune, pooling, checkpointing):
    """DDP (find_unused_parameters off) stops at the second step on a trainable parameter that the
    forward never uses (DINOv2's mask token under tune: full was one)."""
    lora = {"layers": 1, "r": 4, "alpha": 4, "dropout": 0.1, "qkv": "fused" if tune == "lora-fused" else "separate"}
    model = _spatial(tune.split("-")[0], pooling=pooling, checkpointing=checkpointing, chunk_size=3, lora=lora).train()
    x, mask = model(_frames(7), [4, 3])
    x[mask].square().sum().backward()
    unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not unused


def test_fused_qkv_lora_is_one_adapter_on_q_k_and_v():
    """qkv: fused (the official layout): starts as the base model, trains one A and one B per block,
    and computes what a fused qkv projection with that adapter merged into its weights computes."""
    base = _spatial("full").eval()
    fused = _spatial("lora", lora={"layers": 1, "r": 4, "alpha": 8, "dropout": 0.1, "qkv": "fused"}).eval()
    frames = _frames(6)
    torch.testing.assert_close(fused(frames, [6])[0], base(frames, [6])[0])  # B = 0: a no-op at the start
    adapter = fused.backbone.encoder.layer[1].attention.qkv_lora
    trainable = {n for n, p in fused.backbone.named_parameters() if p.requires_grad}
    assert {n for n in trainable if "qkv_lora" in n} == {"encoder.layer.1.attention.qkv_lora.lora_A.weight",
                                                          "encoder.layer.1.attention.qkv_lora.lora_B.weight"}
    assert not any(f".layer.1.attention.{p}.lora_" in n for n in trainable for p in ("q_proj", "k_proj", "v_proj"))
    d = 24
    assert adapter.lora_A.weight.shape == (4, d) and adapter.lora_B.weight.shape == (3 * d, 4)
    with torch.no_grad():
        adapter.lora_B.weight.normal_()
    out = fused(frames, [6])[0]
    # merge the update into a copy of the base: W_q += (alpha / r) B_q A, and likewise k and v
    merged = _spatial("full").eval()
    attention = merged.backbone.encoder.layer[1].attention
    with torch.no_grad():
        update = 2.0 * adapter.lora_B.weight @ adapter.lora_A.weight  # [3d, d]
        for part, name in enumerate(("q_proj", "k_proj", "v_proj")):
            getattr(attention, name).weight += update[part * d:(part + 1) * d]
    torch.testing.assert_close(out, merged(frames, [6])[0], rtol=1e-4, atol=1e-5)
    assert not torch.allclose(out, base(frames, [6])[0])


def _saved_bytes(model, frames) -> int:
    """Bytes autograd keeps for backward (parameters excluded) of one forward under CPU bf16 autocast."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved = {}

    def pack(t):
        if t.untyped_storage().data_ptr() not in params:
            saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), torch.autocast("cpu", dtype=torch.bfloat16):
        model(frames, [frames.shape[0]])
    return sum(saved.values())


def test_lora_inputs_stay_in_the_autocast_dtype():
    """peft would cast every adapted layer's input to the adapter's fp32 and keep that copy for
    backward although the matmul runs in bf16 under autocast; the backbone turns the cast off."""
    from peft.tuners.lora import LoraLayer

    model = _spatial("lora", lora={"layers": 2, "r": 4, "alpha": 4, "dropout": 0.1, "qkv": "separate"}).train()
    adapted = [m for m in model.modules() if isinstance(m, LoraLayer)]
    assert adapted and not any(m.cast_input_dtype_enabled for m in adapted)
    frames = _frames(4)
    as_built = _saved_bytes(model, frames)
    for m in adapted:
        m.cast_input_dtype_enabled = True  # peft's default
    assert _saved_bytes(model, frames) > as_built
