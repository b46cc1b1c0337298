"""The authors' released pseudo-gloss file, as this project's pseudo-gloss file.

The paper's vocabulary (2,533 items on PHOENIX-2014T) drifts with the spaCy model: the official
config notes 2,306 with a later spaCy, a rerun got 2,338. The authors' release ships the file their
runs used (`processed_words.phx_pkl`, written by `scripts/pseudo_gloss_de.py` of
ryanwongsa/Sign2GPT): a pickled dict with `dict_sentence` (sentence -> its kept items, in order),
`dict_lem_counter` (item -> occurrences over all kept tokens of all splits) and `dict_lem_to_id`
(item -> id, in the order of a Python set). `pseudo_glosses.file` makes a run use it instead of
extracting: it is read with the plain-data unpickler (no class is ever loaded) and converted into
the JSON file the pseudo_glosses stage writes, with the official cut (an item is a target while its
count < max_frequency x the number of unique sentences) and V = len(dict_lem_to_id).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sign2gpt.core.errors import DataError
from sign2gpt.core.io import file_sha256, load_plain_pickle

KEYS = ("dict_sentence", "dict_lem_counter", "dict_lem_to_id")


def read_authors_file(path: str | os.PathLike) -> dict[str, Any]:
    """The three structures of the authors' file, checked; a DataError naming the file otherwise."""
    data = load_plain_pickle(Path(path))
    if not isinstance(data, dict) or any(k not in data for k in KEYS):
        raise DataError(str(path), f"not the authors' pseudo-gloss file: expected a dict with {', '.join(KEYS)}")
    sentences, counts, ids = (data[k] for k in KEYS)
    if not all(isinstance(v, dict) for v in (sentences, counts, ids)):
        raise DataError(str(path), f"{', '.join(KEYS)} must each be a dict")
    for sentence, items in sentences.items():
        if not isinstance(sentence, str) or not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise DataError(str(path), f"dict_sentence[{sentence!r}]: expected a sentence and a list of items")
    used = {item for items in sentences.values() for item in items}
    if set(ids) != set(counts) or not used <= set(ids):
        missing = sorted(used - set(ids)) or sorted(set(ids) ^ set(counts))
        raise DataError(str(path), f"dict_lem_to_id, dict_lem_counter and dict_sentence disagree, e.g. {missing[:5]}")
    return {"sentences": sentences, "counts": {k: int(v) for k, v in counts.items()}, "vocab": sorted(ids)}


def from_authors_file(
    path: str | os.PathLike, corpus: Mapping[str, Sequence[str]], *, language: str, max_frequency: float
) -> dict[str, Any]:
    """The pseudo-gloss file (the stage's JSON) for the corpus's sentences from the authors' file;
    a corpus sentence the file does not have is a DataError naming it (the file covers all splits)."""
    data = read_authors_file(path)
    sentences = data["sentences"]
    missing = [(split, s) for split, items in corpus.items() for s in items if s not in sentences]
    if missing:
        split, sentence = missing[0]
        raise DataError(str(path), f"{len(missing)} sentence(s) of the corpus are not in the authors' file, "
                                   f"e.g. {split}: {sentence!r} (is it the file of this corpus and release?)")
    limit = max_frequency * len(sentences)
    return {
        "language": language,
        "pipeline": {"name": f"authors' file {Path(path).name}", "version": f"sha256:{file_sha256(path)[:16]}"},
        "vocab_from": "file",
        "max_frequency": max_frequency,
        "vocab": data["vocab"],
        "counts": data["counts"],
        "num_unique_sentences": len(sentences),
        "targets": [item for item in data["vocab"] if data["counts"][item] < limit],
        "sentences": {s: list(sentences[s]) for items in corpus.values() for s in items},
    }
