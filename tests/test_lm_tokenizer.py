"""The XGLM-style tokenizer trained on corpus text: layout, round trip, save/load."""

from __future__ import annotations

import io

import pytest
import sentencepiece as spm
from transformers import AutoTokenizer

from sign2gpt.core.errors import DataError
from sign2gpt.lm import tokenizer as tk

GERMAN = [
    "am tag scheint die sonne über süddeutschland",
    "morgen gibt es regen und schnee im norden",
    "in der nacht frost an den küsten größtenteils trocken",
    "heute abend überall schauer mäßiger wind aus südwest",
]
CHINESE = ["今天天气很好，我们去公园散步。", "我喜欢吃苹果和香蕉", "明天早上下雨，晚上多云。"]
TEXTS = (GERMAN + CHINESE) * 5


@pytest.fixture(scope="module")
def pieces():
    return tk.train_sentencepiece(TEXTS, vocab_size=120)


@pytest.fixture(scope="module")
def tokenizer(pieces):
    return tk.build_xglm_tokenizer(pieces, model_max_length=64)


def test_special_token_layout_matches_xglm(tokenizer, pieces):
    assert [p for p, _ in pieces[:4]] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert (tokenizer.bos_token_id, tokenizer.pad_token_id, tokenizer.eos_token_id,
            tokenizer.unk_token_id) == (0, 1, 2, 3)
    # XGLM appends seven <madeupword> tokens after the pieces
    assert tokenizer.vocab_size == len(pieces)
    assert len(tokenizer) == len(pieces) + 7
    assert tokenizer.convert_ids_to_tokens(len(pieces)) == "<madeupword0>"


@pytest.mark.parametrize("text", GERMAN + CHINESE + ["über süden", "公园下雨"])
def test_round_trip_with_eos_prepended(tokenizer, text):
    ids = tokenizer(text)["input_ids"]
    assert ids[0] == 2 and 2 not in ids[1:] and 3 not in ids  # </s> first, like XGLM; no <unk>
    assert tokenizer.decode(ids, skip_special_tokens=True) == text


def test_matches_sentencepiece_segmentation(pieces, tokenizer):
    """The transformers tokenizer segments exactly as the trained SentencePiece model."""
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(TEXTS), model_writer=model, model_type="unigram", vocab_size=120,
        hard_vocab_limit=False, character_coverage=1.0, normalization_rule_name="identity",
        bos_id=0, pad_id=1, eos_id=2, unk_id=3, bos_piece="<s>", pad_piece="<pad>", eos_piece="</s>",
        unk_piece="<unk>", num_threads=1, input_sentence_size=0, shuffle_input_sentence=False, minloglevel=2)
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    for text in GERMAN + CHINESE:
        assert tokenizer(text)["input_ids"][1:] == sp.encode(text)


def test_training_is_deterministic(pieces):
    assert tk.train_sentencepiece(TEXTS, vocab_size=120) == pieces


def test_save_and_reload_with_auto_tokenizer(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path, local_files_only=True)
    assert len(loaded) == len(tokenizer)
    assert loaded.pad_token_id == 1 and loaded.eos_token_id == 2
    for text in GERMAN + CHINESE:
        assert loaded(text)["input_ids"] == tokenizer(text)["input_ids"]


def test_unseen_character_maps_to_unk(tokenizer):
    ids = tokenizer("sonne ☃")["input_ids"]
    assert 3 in ids


@pytest.mark.parametrize("texts", [[], ["gut", "  "]])
def test_bad_training_text_names_the_item(texts):
    with pytest.raises(DataError):
        tk.train_sentencepiece(texts, vocab_size=50)
