"""Targets and hypotheses are tokenized as the LM sees a sentence mid-text, for both tokenizer
families: SentencePiece (XGLM: `▁word`) and byte-level BPE (Llama 3 / SmolLM / GPT-2: `Ġword`)."""

from __future__ import annotations

import pytest
from tokenizers import ByteLevelBPETokenizer
from transformers import PreTrainedTokenizerFast

from sign2gpt.lm.targets import decode_sentence, encode_targets, needs_leading_space, tokenize_sentence
from sign2gpt.lm.tokenizer import train_xglm_tokenizer

TEXTS = [
    "am tag scheint die sonne über süddeutschland",
    "morgen gibt es regen und schnee im norden",
    "in der nacht frost an den küsten größtenteils trocken",
    "heute abend überall schauer mäßiger wind aus südwest",
    "sonne und regen wechseln sich ab",
] * 8
SENTENCE = "sonne und regen im norden"


def xglm_tokenizer():
    return train_xglm_tokenizer(TEXTS, vocab_size=90)


def byte_level_bpe_tokenizer():
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(TEXTS, vocab_size=400, min_frequency=1, special_tokens=["<|endoftext|>", "<|im_start|>"])
    return PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token="<|im_start|>",
                                   eos_token="<|endoftext|>", pad_token="<|endoftext|>")


FAMILIES = {"sentencepiece": (xglm_tokenizer, False), "byte-level-bpe": (byte_level_bpe_tokenizer, True)}


@pytest.mark.parametrize("family", FAMILIES)
def test_a_sentence_is_tokenized_as_it_is_mid_text(family):
    make, expected_space = FAMILIES[family]
    tok = make()
    assert needs_leading_space(tok) is expected_space
    ids = tokenize_sentence(tok, SENTENCE)
    after_a_word = tok("am " + SENTENCE, add_special_tokens=False)["input_ids"]
    assert after_a_word[-len(ids):] == ids  # the first word gets its word-initial token
    assert tok.decode(ids, skip_special_tokens=True).strip() == SENTENCE


def test_byte_level_bpe_without_the_space_starts_with_another_token():
    """What the fix prevents: BPE encodes a sentence-initial word as a continuation token."""
    tok = byte_level_bpe_tokenizer()
    plain = tok(SENTENCE, add_special_tokens=False)["input_ids"]
    assert plain[0] != tokenize_sentence(tok, SENTENCE)[0]


@pytest.mark.parametrize("family", FAMILIES)
def test_encode_targets_uses_the_mid_text_ids(family):
    tok = FAMILIES[family][0]()
    start = tok.bos_token_id if family == "byte-level-bpe" else tok.eos_token_id
    ids, mask = encode_targets(tok, [SENTENCE, "regen"], start_id=start, max_tokens=64)
    body = tokenize_sentence(tok, SENTENCE)
    assert ids[0, : len(body) + 2].tolist() == [start, *body, tok.eos_token_id]
    assert int(mask[0].sum()) == len(body) + 2
    assert tok.decode(ids[1, 1: int(mask[1].sum()) - 1].tolist()).strip() == "regen"


def test_chinese_gets_no_leading_space_with_byte_level_bpe():
    """Chinese has no space between sentences or words: a leading space would be a token the LM
    never sees before a Chinese sentence mid-text."""
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(["我在医院工作。", "你是谁？", "今天天气很好"] * 5 + TEXTS, vocab_size=400, min_frequency=1,
                            special_tokens=["<|endoftext|>"])
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    assert needs_leading_space(tok)
    assert tokenize_sentence(tok, "我在医院工作。") == tok("我在医院工作。", add_special_tokens=False)["input_ids"]
    assert tokenize_sentence(tok, SENTENCE) == tok(" " + SENTENCE, add_special_tokens=False)["input_ids"]


def test_a_hypothesis_is_decoded_as_one_line():
    """A generated newline (a pretrained LM writing code or a list) becomes a space, so hypothesis
    files keep one line per video; special tokens are dropped."""
    tokenizer = byte_level_bpe_tokenizer()
    ids = tokenizer("sonne\n\nund  regen\t", add_special_tokens=False)["input_ids"]
    assert "\n" in tokenizer.decode(ids)
    assert decode_sentence(tokenizer, [tokenizer.bos_token_id, *ids, tokenizer.eos_token_id]) == "sonne und regen"
