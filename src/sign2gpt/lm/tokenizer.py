"""An XGLM-style tokenizer trained on the corpus text (embedded default only).

A real run uses XGLM's own tokenizer (`facebook/xglm-1.7B`). The embedded default has no
download, so it trains a SentencePiece *unigram* model on the training sentences with XGLM's
special-token layout (`<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3) and wraps the trained pieces in
transformers' `XGLMTokenizer`. The result behaves like the real one: `tokenizer(text)` prepends
`</s>` (id 2), decoding with `skip_special_tokens=True` gives the text back, and
`save_pretrained` / `AutoTokenizer.from_pretrained` round-trip it.

Why not `XGLMTokenizer(vocab_file=...)`: in transformers 5 the tokenizer is built from a
`tokenizers` Unigram model, and passing an spm file silently yields the 11-token default
vocabulary. We hand it the pieces and scores instead.

Normalisation is the identity (SentencePiece `normalization_rule_name="identity"`), so the text
round-trips exactly (umlauts, CJK); whitespace runs collapse to one space as in XGLM.
`character_coverage=1.0` keeps every character seen in training (Chinese needs it).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence

import sentencepiece as spm
from transformers import XGLMTokenizer

from sign2gpt.core.errors import DataError

log = logging.getLogger(__name__)

# XGLM's fairseq layout: the four specials come first, in this order.
SPECIAL_PIECES = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}


def _check_texts(texts: Sequence[str]) -> None:
    if not texts:
        raise DataError("tokenizer training text", "no sentences given")
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"tokenizer training sentence {i}", f"empty or not a string: {text!r}")


def train_sentencepiece(texts: Sequence[str], vocab_size: int) -> list[tuple[str, float]]:
    """Train a unigram SentencePiece model; return its `(piece, score)` list in id order.

    Deterministic: one thread, the input in the given order (no sampling, no shuffling).
    `vocab_size` counts the four specials. A corpus too small for that many pieces yields
    fewer (logged), rather than failing: the embedded corpus is a few hundred sentences.
    """
    _check_texts(texts)
    if vocab_size < len(SPECIAL_PIECES) + 1:
        raise DataError("lm.vocab_size", f"must be at least {len(SPECIAL_PIECES) + 1}, got {vocab_size}")
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(list(texts)),
        model_writer=model,
        model_type="unigram",
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        character_coverage=1.0,
        normalization_rule_name="identity",
        bos_id=SPECIAL_PIECES["<s>"],
        pad_id=SPECIAL_PIECES["<pad>"],
        eos_id=SPECIAL_PIECES["</s>"],
        unk_id=SPECIAL_PIECES["<unk>"],
        bos_piece="<s>",
        pad_piece="<pad>",
        eos_piece="</s>",
        unk_piece="<unk>",
        num_threads=1,
        input_sentence_size=0,
        shuffle_input_sentence=False,
        minloglevel=2,
    )
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    pieces = [(sp.id_to_piece(i), float(sp.get_score(i))) for i in range(sp.get_piece_size())]
    for piece, idx in SPECIAL_PIECES.items():
        if pieces[idx][0] != piece:  # a SentencePiece change would silently shift every id
            raise RuntimeError(f"SentencePiece put {pieces[idx][0]!r} at id {idx}, expected {piece!r}")
    if len(pieces) < vocab_size:
        log.warning("SentencePiece kept %d pieces (asked for %d): the corpus is small", len(pieces), vocab_size)
    return pieces


def build_xglm_tokenizer(pieces: Sequence[tuple[str, float]], *, model_max_length: int | None = None) -> XGLMTokenizer:
    """Wrap trained unigram pieces in transformers' `XGLMTokenizer`.

    Like the real XGLM tokenizer, it appends seven `<madeupword{i}>` special tokens, so
    `len(tokenizer)` (the LM's vocabulary size) is `len(pieces) + 7`.
    """
    for piece, idx in SPECIAL_PIECES.items():
        if idx >= len(pieces) or pieces[idx][0] != piece:
            raise DataError("tokenizer pieces", f"id {idx} must be {piece!r} (XGLM layout)")
    # Specials get score 0 like XGLM's tokenizer.json; they are matched as added tokens anyway.
    vocab = [(p, 0.0 if i < len(SPECIAL_PIECES) else s) for i, (p, s) in enumerate(pieces)]
    kwargs = {} if model_max_length is None else {"model_max_length": model_max_length}
    return XGLMTokenizer(vocab=vocab, **kwargs)


def train_xglm_tokenizer(
    texts: Sequence[str], vocab_size: int, *, model_max_length: int | None = None
) -> XGLMTokenizer:
    """SentencePiece training followed by the XGLM wrapper (what `lm_pretrain` uses)."""
    tokenizer = build_xglm_tokenizer(train_sentencepiece(texts, vocab_size), model_max_length=model_max_length)
    log.info("tokenizer: %d pieces + %d added tokens", tokenizer.vocab_size, len(tokenizer) - tokenizer.vocab_size)
    return tokenizer
