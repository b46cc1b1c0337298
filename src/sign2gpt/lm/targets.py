"""How a sentence becomes the LM's ids: the start token the LM family expects, the leading space a
sentence needs to be tokenized as it is mid-text, and the padded `<start> sentence </s>` targets of
a batch. Tokenizer policy, kept apart from the model: training, evaluation and translation share it."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn


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
    return pad_right(rows, pad)


def decode_sentence(tokenizer: Any, ids: Sequence[int]) -> str:
    """Generated ids as one line of text: special tokens dropped and every whitespace run made one
    space. A pretrained LM may write newlines (Gemma 3 with shut gates writes code); a hypothesis
    stays one line, as in the hypotheses files and sacreBLEU's line-per-sentence input."""
    return " ".join(tokenizer.decode(ids, skip_special_tokens=True).split())


def pad_right(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token id lists → ids [B, L_max] right-padded with `pad_id`, and their attention mask [B, L_max]."""
    length = max(len(r) for r in rows)
    ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
    return ids, mask
