"""fastText training on the corpus and the prototype file (spec §3.7, §6)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from sign2gpt.core.errors import DataError
from sign2gpt.text.fasttext_model import corpus_lines, load_fasttext, mean_cosine, train_fasttext
from sign2gpt.text.prototypes import load_prototypes, run_prototypes

SENTENCES = [
    "heute regnet es im norden .",
    "morgen scheint die sonne im süden .",
    "am abend gibt es gewitter im osten .",
    "dazu weht ein schwacher wind aus nordwest .",
    "in den übrigen gebieten viel sonne und nur ein paar lockere wolken .",
] * 8
SMALL = dict(dim=16, epoch=3, min_count=1, minn=2, maxn=4, lr=0.05, ws=3, bucket=2000)


@pytest.fixture(scope="module")
def ft_bin(tmp_path_factory):
    path = tmp_path_factory.mktemp("ft") / "fasttext.bin"
    train_fasttext(SENTENCES, path, language="de", **SMALL)
    return path


@pytest.fixture
def glosses_json(tmp_path):
    path = tmp_path / "pg.json"
    vocab = sorted(["regnen", "sonne", "wolke", "gewitter", "nordwest", "zwölf"])  # 'wolke', 'zwölf': unseen words
    path.write_text(json.dumps({"language": "de", "vocab": vocab}), encoding="utf-8")
    return path, vocab


def test_train_fasttext_is_deterministic(ft_bin, tmp_path):
    again = tmp_path / "again.bin"
    train_fasttext(SENTENCES, again, language="de", **SMALL)
    a, b = load_fasttext(ft_bin), load_fasttext(again)
    assert a.get_dimension() == 16
    assert "sonne" in a.words and "regnet" in a.words
    for word in ("sonne", "wolke", "niederbayern"):
        assert np.array_equal(a.get_word_vector(word), b.get_word_vector(word))
    assert not list(tmp_path.glob(".*.tmp")) and not list(ft_bin.parent.glob(".*corpus*"))


def test_corpus_lines():
    assert corpus_lines(["Heute  Regnet es .", "", "  "], "de") == ["heute regnet es ."]
    assert corpus_lines(["我明天去医院看病。"], "zh") == ["我 明天 去 医院 看病 。"]


def test_train_fasttext_chinese(tmp_path):
    path = tmp_path / "zh.bin"
    train_fasttext(["我明天去医院看病。", "他今天在家休息。"] * 10, path, language="zh", **SMALL)
    model = load_fasttext(path)
    assert "医院" in model.words and "看病" in model.words


def test_train_fasttext_empty_corpus(tmp_path):
    with pytest.raises(DataError, match="no non-empty"):
        train_fasttext(["", "  "], tmp_path / "x.bin", language="de", **SMALL)
    assert not (tmp_path / "x.bin").exists()


def test_prototypes_file(ft_bin, glosses_json, tmp_path):
    path, vocab = glosses_json
    out = tmp_path / "prototypes.safetensors"
    run_prototypes(path, out, fasttext_bin=ft_bin, progress=False)
    protos, loaded_vocab = load_prototypes(out, expected_vocab=vocab)
    assert loaded_vocab == vocab
    assert protos.dtype == torch.float32 and tuple(protos.shape) == (len(vocab) + 1, 16)
    assert torch.count_nonzero(protos[-1]) == 0  # the blank prototype
    model = load_fasttext(ft_bin)
    for i, item in enumerate(vocab):
        assert torch.allclose(protos[i], torch.from_numpy(model.get_word_vector(item)))
        assert protos[i].norm() > 0  # subwords give unseen words ('wolke', 'zwölf') a vector


def test_prototypes_refuse_mismatched_vocab(ft_bin, glosses_json, tmp_path):
    path, vocab = glosses_json
    out = tmp_path / "prototypes.safetensors"
    run_prototypes(path, out, fasttext_bin=ft_bin, progress=False)
    with pytest.raises(DataError, match="different pseudo-gloss vocabulary"):
        load_prototypes(out, expected_vocab=vocab[:-1])
    with pytest.raises(DataError, match="different pseudo-gloss vocabulary"):
        load_prototypes(out, expected_vocab=list(reversed(vocab)))


def test_prototypes_refuse_inconsistent_file(tmp_path):
    vocab = ["a", "b"]
    bad_shape = tmp_path / "shape.safetensors"
    save_file({"prototypes": torch.ones(2, 4)}, str(bad_shape), metadata={"vocab": json.dumps(vocab)})
    with pytest.raises(DataError, match=r"V \+ 1 = 3"):
        load_prototypes(bad_shape)
    no_blank = tmp_path / "blank.safetensors"
    save_file({"prototypes": torch.ones(3, 4)}, str(no_blank), metadata={"vocab": json.dumps(vocab)})
    with pytest.raises(DataError, match="blank"):
        load_prototypes(no_blank)
    no_vocab = tmp_path / "novocab.safetensors"
    save_file({"prototypes": torch.zeros(3, 4)}, str(no_vocab))
    with pytest.raises(DataError, match="vocab"):
        load_prototypes(no_vocab)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file")
    with pytest.raises(DataError, match="cannot read"):
        load_prototypes(garbage)


def test_missing_fasttext_model_says_where_to_get_it(glosses_json, tmp_path):
    path, _ = glosses_json
    with pytest.raises(DataError, match=r"cc\.de\.300\.bin.*fasttext\.cc/docs/en/crawl-vectors"):
        run_prototypes(path, tmp_path / "p.safetensors", fasttext_bin=tmp_path / "cc.de.300.bin", progress=False)
    assert not (tmp_path / "p.safetensors").exists()


def test_corrupt_fasttext_model(glosses_json, tmp_path):
    path, _ = glosses_json
    corrupt = tmp_path / "corrupt.bin"
    corrupt.write_bytes(b"\x00" * 64)
    with pytest.raises(DataError, match="corrupt.bin"):
        run_prototypes(path, tmp_path / "p.safetensors", fasttext_bin=corrupt, progress=False)


def test_empty_vocab_is_an_error(ft_bin, tmp_path):
    path = tmp_path / "pg.json"
    path.write_text(json.dumps({"language": "de", "vocab": []}), encoding="utf-8")
    with pytest.raises(DataError, match="empty"):
        run_prototypes(path, tmp_path / "p.safetensors", fasttext_bin=ft_bin, progress=False)


def test_default_sampling_threshold_keeps_vectors_apart(tmp_path, caplog):
    # With a sub-sampling threshold unsuited to a tiny corpus the vectors collapse onto one
    # direction (and a warning says so); the default keeps them apart.
    words = ["sonne", "regnet", "norden", "gewitter", "wind", "wolken"]
    longer = {**SMALL, "epoch": 30}
    good, collapsed = tmp_path / "good.bin", tmp_path / "collapsed.bin"
    train_fasttext(SENTENCES, good, language="de", **longer)
    assert mean_cosine(load_fasttext(good), words) < 0.9
    with caplog.at_level("WARNING", logger="sign2gpt.text.fasttext_model"):
        train_fasttext(SENTENCES, collapsed, language="de", **{**longer, "t": 1e-3})
    assert mean_cosine(load_fasttext(collapsed), words) > 0.95
    assert "nearly parallel" in caplog.text
