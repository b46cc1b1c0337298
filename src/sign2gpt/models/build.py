"""Assembling the stage-2 translator of a variant: the frozen causal LM with its adapters, and the
sign model (from scratch, from pseudo-gloss pretraining, or none for `z`). Shared by training,
evaluation, `sign2gpt translate` and the model folders.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from sign2gpt.lm.loading import load_causal_lm
from sign2gpt.models.gated_lm import SignConditionedLM
from sign2gpt.models.sign_model import build_sign_model
from sign2gpt.models.translator import VARIANTS, SignTranslator
from sign2gpt.runtime.checkpoint import load_weights


def build_translator(
    variant: str,
    *,
    lm: str,
    spatial: Mapping[str, Any],
    encoder: Mapping[str, Any],
    lora: Mapping[str, Any],
    device: torch.device,
    pretrained: str | None = None,
    freeze_sign: bool = False,
    lm_dtype: torch.dtype | None = None,
    memory_pe: str = "sinusoidal",
) -> tuple[SignTranslator, Any]:
    """The stage-2 model of one variant (and the LM's tokenizer), on `device`; the frozen LM in
    `lm_dtype` (default: the device's `precision: auto` dtype); `memory_pe` is `translate.memory_pe`."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
    lm_model, tokenizer = load_causal_lm(lm, device=device, dtype=lm_dtype)
    sign_model = None
    memory_dim = int(encoder["dim"])
    if variant != "z":
        sign_model = build_sign_model(spatial, encoder)
        if variant == "pgp":
            if not pretrained:
                raise ValueError("the pgp variant needs the pretrained checkpoint")
            load_weights(pretrained, sign_model, prefix_map={"sign_model.": ""})
        if freeze_sign:
            sign_model.requires_grad_(False)
        sign_model.to(device)
    adapted = SignConditionedLM(lm_model, memory_dim, lora_r=int(lora["r"]), lora_alpha=float(lora["alpha"]),
                                lora_dropout=float(lora["dropout"]), memory_pe=memory_pe)
    return SignTranslator(sign_model, adapted).to(device), tokenizer
