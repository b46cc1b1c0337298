"""A preset can run from the authors' released pseudo-gloss file (processed_words.phx_pkl): a file of
that format, written here, becomes the stage's pseudo-gloss file with the official cut; a pickle
that names any class, or a corpus sentence the file lacks, is refused naming the file."""

from __future__ import annotations

import json
import pickle

import pytest

from sign2gpt.core.errors import ConfigError, DataError
from sign2gpt.text.pseudo_glosses import run_pseudo_glosses
from sign2gpt.text.vocab_file import PseudoGlossVocab

CORPUS = {"train": ["am tag regen", "morgen sonne im norden", "am tag regen"], "dev": ["regen im süden"],
          "test": ["sonne am abend"]}
# as scripts/pseudo_gloss_de.py writes it: kept items per unique sentence, token counts over all
# splits, ids in a set's order
SENTENCES = {"am tag regen": ["tag", "regen"], "morgen sonne im norden": ["morgen", "sonne", "norden"],
             "regen im süden": ["regen", "süden"], "sonne am abend": ["sonne", "abend"]}
COUNTS = {"tag": 1, "regen": 2, "morgen": 1, "sonne": 2, "norden": 1, "süden": 1, "abend": 1}


def authors_file(path, **changes):
    data = {"dict_sentence": SENTENCES, "dict_lem_counter": COUNTS,
            "dict_lem_to_id": {item: i for i, item in enumerate(set(COUNTS))}, **changes}
    path.write_bytes(pickle.dumps(data))
    return path


def test_the_authors_file_becomes_the_pseudo_gloss_file(tmp_path):
    out, stats = tmp_path / "pseudo_glosses.json", tmp_path / "stats.json"
    run_pseudo_glosses(CORPUS, out, stats, language="de", pipeline="unused", vocab_from="all", max_frequency=0.4,
                       authors_file=authors_file(tmp_path / "processed_words.phx_pkl"))
    vocab = PseudoGlossVocab.load(out)
    assert vocab.vocab == sorted(COUNTS) and len(vocab) == 7  # V = len(dict_lem_to_id)
    # the official cut: a target while count < 0.4 x 4 unique sentences = 1.6
    assert vocab.targets == frozenset(k for k, c in COUNTS.items() if c < 1.6)
    assert vocab.glosses_for("am tag regen") == ["tag", "regen"]
    assert vocab.targets_for("am tag regen") == [vocab.index["tag"]]  # regen (2) is cut
    s = json.loads(stats.read_text())
    assert s["vocab_size"] == 7 and s["vocab_from"] == "file"
    assert s["pipeline"]["name"] == "authors' file processed_words.phx_pkl"
    assert s["pipeline"]["version"].startswith("sha256:")
    with pytest.raises(ConfigError, match="words: all"):  # the file is the authors' selection: no all-words row
        run_pseudo_glosses(CORPUS, out, stats, language="de", words="all",
                           authors_file=authors_file(tmp_path / "processed_words.phx_pkl"))


def test_a_pickle_with_a_class_or_another_corpus_is_refused(tmp_path):
    out, stats = tmp_path / "p.json", tmp_path / "s.json"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"dict_sentence": SENTENCES, "dict_lem_counter": COUNTS,
                                   "dict_lem_to_id": {k: i for i, k in enumerate(COUNTS)},
                                   "extra": pickle.PickleBuffer}))  # names a class
    with pytest.raises(DataError, match="refusing to load"):
        run_pseudo_glosses(CORPUS, out, stats, language="de", authors_file=evil)
    short = authors_file(tmp_path / "short.pkl", dict_sentence={k: v for k, v in SENTENCES.items()
                                                                 if k != "sonne am abend"})
    with pytest.raises(DataError, match=r"1 sentence\(s\) of the corpus are not in the authors' file, e\.g\. test"):
        run_pseudo_glosses(CORPUS, out, stats, language="de", authors_file=short)
    with pytest.raises(DataError, match="dict_lem_counter"):
        run_pseudo_glosses(CORPUS, out, stats, language="de", authors_file=authors_file(tmp_path / "x.pkl",
                                                                                    dict_lem_counter={"tag": 1}))
    assert not out.exists()


def test_another_spacy_version_than_the_recipe_expects_is_warned_about_and_recorded(tmp_path, caplog):
    out, stats = tmp_path / "p.json", tmp_path / "s.json"
    with caplog.at_level("WARNING"):
        run_pseudo_glosses(CORPUS, out, stats, language="de", pipeline="offline", vocab_from="all",
                           expected_version="3.7.0", progress=False)
    assert any("pipeline_version is 3.7.0" in r.message for r in caplog.records)
    assert json.loads(stats.read_text())["pipeline"]["expected_version"] == "3.7.0"
    caplog.clear()
    run_pseudo_glosses(CORPUS, out, stats, language="de", pipeline="offline", vocab_from="all", progress=False)
    assert not caplog.records and "expected_version" not in json.loads(stats.read_text())["pipeline"]
