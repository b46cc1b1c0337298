"""Sign2GPT's stage-2 model: sign features → FC_m → frozen causal LM with gated cross-attention.

`SignTranslator` owns an optional `SignModel` (None for the `z` variant, which reads cached
features) and the adapted LM (`SignConditionedLM`). The three variants of the paper's table:
`scratch` (sign model trained from scratch), `pgp` (initialised from pseudo-gloss pretraining),
`z` (trained on the cached output Z of the frozen pretrained encoder).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from sign2gpt.data.dataset import batch_frames
from sign2gpt.models.gated_lm import SignConditionedLM
from sign2gpt.models.sign_model import SignModel
from sign2gpt.runtime.device import to_device

VARIANTS = ("scratch", "pgp", "z")


class TranslatorOutput(NamedTuple):
    logits: torch.Tensor  # [B, L - 1, V] float32: the next token after each of the first L - 1
    loss: torch.Tensor | None  # mean cross-entropy over the `tokens` targets (with label_smoothing)
    tokens: torch.Tensor | None  # how many targets (sentence and final `</s>`, never a pad) the mean is over


class SignTranslator(nn.Module):
    def __init__(self, sign_model: SignModel | None, lm: SignConditionedLM):
        super().__init__()
        self.sign_model = sign_model
        self.lm = lm

    def encode(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """The sign memory [B, T', D] and its mask, from frames or from cached features."""
        device = self.lm.device
        if self.sign_model is not None:
            return self.sign_model(batch_frames(batch, device), batch["lengths"])
        return to_device(batch["memory"], device), to_device(batch["memory_mask"], device)  # z: cached features

    def forward(
        self, batch: Mapping[str, Any], ids: torch.Tensor, mask: torch.Tensor, *, label_smoothing: float | None = None
    ) -> TranslatorOutput:
        """Teacher forcing on `<start> sentence </s>` (ids, mask [B, L] from `encode_targets`): the
        logits of every next token and, when training (`label_smoothing` given), the loss. The loss
        is computed here so that DDP, which wraps `forward`, sees it; with its token count a caller
        can weight micro-batches of a global batch (sum = loss × tokens)."""
        ids, mask = to_device(ids, self.lm.device), to_device(mask, self.lm.device)
        memory, memory_mask = self.encode(batch)
        # training: encode_targets pads on the right and the loss leaves the padding positions out, so
        # their logits need no key-padding mask (teacher-forced decoding reads past them: it keeps it)
        training = label_smoothing is not None
        logits = self.lm(ids[:, :-1], mask[:, :-1], memory, memory_mask, right_padded=training).float()  # [B, L-1, V]
        if label_smoothing is None:
            return TranslatorOutput(logits, None, None)
        labels = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)  # [B, L - 1]
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100,
                               label_smoothing=label_smoothing)
        return TranslatorOutput(logits, loss, (labels != -100).sum())
