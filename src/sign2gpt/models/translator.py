"""Sign2GPT's stage-2 model: sign features → FC_m → frozen causal LM with gated cross-attention.

`SignTranslator` owns an optional `SignModel` (None for the `z` variant, which reads cached
features) and the adapted LM (`SignConditionedLM`). The three variants of the paper's table:
`scratch` (sign model trained from scratch), `pgp` (initialised from pseudo-gloss pretraining),
`z` (trained on the cached output Z of the frozen pretrained encoder).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from sign2gpt.data.dataset import batch_frames
from sign2gpt.models.gated_lm import SignConditionedLM
from sign2gpt.models.sign_model import SignModel

VARIANTS = ("scratch", "pgp", "z")


def start_token_id(lm: nn.Module, tokenizer: Any) -> int:
    """XGLM starts every sequence with `</s>` (as in its pretraining); Llama-style LMs with BOS."""
    if lm.config.model_type == "xglm" or tokenizer.bos_token_id is None:
        return int(tokenizer.eos_token_id)
    return int(tokenizer.bos_token_id)


def needs_leading_space(tokenizer: Any) -> bool:
    """Whether a sentence must be given a leading space to be tokenized as it is mid-text.

    SentencePiece tokenizers (XGLM, Llama 2) mark the first word as word-initial (`▁word`) by
    themselves. Byte-level BPE tokenizers (GPT-2, Llama 3, SmolLM) encode a word with its leading
    space (`Ġword`), and a sentence without one starts with a word-continuation token the LM
    rarely saw in that place; targets tokenized that way teach the LM an odd first token.
    Probed, not guessed from the class: "sign" alone vs. "sign" after a word.
    """
    alone = tokenizer("sign", add_special_tokens=False)["input_ids"]
    after_a_word = tokenizer("a sign", add_special_tokens=False)["input_ids"]
    return after_a_word[-len(alone):] != alone


def _written_with_spaces(text: str) -> bool:
    """Whether the script of the sentence's first character separates words by spaces: Chinese and
    Japanese (wide characters) do not, so a sentence there has no space before it mid-text either."""
    return bool(text) and unicodedata.east_asian_width(text[0]) not in ("W", "F")


def tokenize_sentence(tokenizer: Any, text: str, *, leading_space: bool | None = None) -> list[int]:
    """A sentence's ids as the LM sees a sentence mid-text (see `needs_leading_space`)."""
    if leading_space is None:
        leading_space = needs_leading_space(tokenizer)
    spaced = leading_space and _written_with_spaces(text)
    return tokenizer((" " + text) if spaced else text, add_special_tokens=False)["input_ids"]


def encode_targets(
    tokenizer: Any, texts: Sequence[str], *, start_id: int, max_tokens: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """`<start> sentence </s>` per text, truncated to max_tokens and right-padded.

    Returns ids [B, L] and attention mask [B, L] (L ≤ max_tokens). A truncated sentence keeps its
    final `</s>` so the model still learns to stop.
    """
    eos, pad = int(tokenizer.eos_token_id), int(tokenizer.pad_token_id)
    leading_space = needs_leading_space(tokenizer)
    rows = []
    for text in texts:
        body = tokenize_sentence(tokenizer, text, leading_space=leading_space)[: max_tokens - 2]
        rows.append([start_id, *body, eos])
    length = max(len(r) for r in rows)
    ids = torch.full((len(rows), length), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
    return ids, mask


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
        return batch["memory"].to(device), batch["memory_mask"].to(device)

    def forward(
        self, batch: Mapping[str, Any], ids: torch.Tensor, mask: torch.Tensor, *, label_smoothing: float | None = None
    ) -> TranslatorOutput:
        """Teacher forcing on `<start> sentence </s>` (ids, mask [B, L] from `encode_targets`): the
        logits of every next token and, when training (`label_smoothing` given), the loss. The loss
        is computed here so that DDP, which wraps `forward`, sees it; with its token count a caller
        can weight micro-batches of a global batch (sum = loss × tokens)."""
        ids, mask = ids.to(self.lm.device), mask.to(self.lm.device)
        memory, memory_mask = self.encode(batch)
        logits = self.lm(ids[:, :-1], mask[:, :-1], memory, memory_mask).float()  # [B, L - 1, V]
        if label_smoothing is None:
            return TranslatorOutput(logits, None, None)
        labels = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)  # [B, L - 1]
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100,
                               label_smoothing=label_smoothing)
        return TranslatorOutput(logits, loss, (labels != -100).sum())
