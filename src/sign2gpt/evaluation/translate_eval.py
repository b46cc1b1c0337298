"""Turning a trained translator's outputs into sentences: beam search and teacher-forced argmax."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from tqdm import tqdm

from sign2gpt.evaluation.beam_search import beam_search
from sign2gpt.lm.targets import decode_sentence, encode_targets
from sign2gpt.models.translator import SignTranslator


def cut_at_eos(ids: list[int], eos_id: int) -> list[int]:
    return ids[: ids.index(eos_id)] if eos_id in ids else ids


@torch.no_grad()
def beam_translate(
    model: SignTranslator, loader: Iterable[dict[str, Any]], tokenizer: Any, *, start_id: int, beam: int,
    max_tokens: int,
    desc: str = "beam search",
) -> dict[str, str]:
    """Beam-search every video of the loader: {video id: hypothesis}."""
    model.eval()
    out: dict[str, str] = {}
    for batch in tqdm(loader, desc=desc, leave=False):
        memory, memory_mask = model.encode(batch)
        seqs = beam_search(model.lm, memory, memory_mask, bos_id=start_id, eos_id=int(tokenizer.eos_token_id),
                           pad_id=int(tokenizer.pad_token_id), beam=beam, max_len=max_tokens)
        for vid, seq in zip(batch["ids"], seqs):
            out[vid] = decode_sentence(tokenizer, seq)
    return out


@torch.no_grad()
def teacher_forced_translate(
    model: SignTranslator, loader: Iterable[dict[str, Any]], tokenizer: Any, *, start_id: int, max_tokens: int,
) -> dict[str, str]:
    """The official code's per-epoch dev decode: argmax under teacher forcing, cut at the first `</s>`."""
    model.eval()
    out: dict[str, str] = {}
    eos = int(tokenizer.eos_token_id)
    for batch in loader:
        ids, mask = encode_targets(tokenizer, batch["texts"], start_id=start_id, max_tokens=max_tokens)
        pred = model(batch, ids, mask).logits.argmax(-1).cpu().tolist()
        for vid, seq in zip(batch["ids"], pred):
            out[vid] = decode_sentence(tokenizer, cut_at_eos(seq, eos))
    return out
