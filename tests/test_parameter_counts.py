"""The presets build the paper's model: Table 1's parameter counts, from the modules the presets
build, on the meta device (no weights; the hub is out of reach) with the real configurations
written here (facebook/dinov2-small's and facebook/xglm-1.7B's config.json values)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import XGLMConfig, XGLMForCausalLM

from sign2gpt.core.config import load_config
from sign2gpt.models.build import build_sign_model
from sign2gpt.models.gated_lm import SignConditionedLM

REPO = Path(__file__).resolve().parents[1]
DINOV2_SMALL = {"model_type": "dinov2", "hidden_size": 384, "num_hidden_layers": 12, "num_attention_heads": 6,
                "mlp_ratio": 4, "patch_size": 14, "image_size": 518, "layerscale_value": 1.0, "qkv_bias": True,
                "use_swiglu_ffn": False}
XGLM_1_7B = {"vocab_size": 256008, "d_model": 2048, "num_layers": 24, "attention_heads": 16, "ffn_dim": 8192,
             "max_position_embeddings": 2048, "scale_embedding": True}
# Table 1 of the paper (trainable parameters)
TABLE_1 = {"spatial": 271_872, "sign_encoder": 12_613_632, "decoder": 3_803_520}


def trainable(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@pytest.mark.parametrize("preset", ["phoenix14t", "csldaily"])
def test_the_presets_build_table_1s_parameter_counts(preset):
    cfg = load_config(REPO / "configs" / f"{preset}.yaml")
    assert cfg["spatial"]["pretrained"] == "facebook/dinov2-small" and cfg["lm"]["pretrained"] == "facebook/xglm-1.7B"
    lora = cfg["translate"]["lora"]
    with torch.device("meta"):
        sign_model = build_sign_model({**cfg["spatial"], "pretrained": None, "config": DINOV2_SMALL}, cfg["encoder"])
        lm = XGLMForCausalLM(XGLMConfig(**XGLM_1_7B)).requires_grad_(False)
        decoder = SignConditionedLM(lm, int(cfg["encoder"]["dim"]), lora_r=int(lora["r"]),
                                    lora_alpha=float(lora["alpha"]), lora_dropout=float(lora["dropout"]))
    counts = {"spatial": trainable(sign_model.spatial), "sign_encoder": trainable(sign_model.encoder),
              "decoder": trainable(decoder)}
    assert counts == TABLE_1
