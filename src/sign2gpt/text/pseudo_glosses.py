"""Pseudo-glosses (spec §3): content words of the spoken sentence, the targets of pretraining.

Each sentence is run through a spaCy pipeline; a token is kept when its UPOS is one of
KEPT_UPOS (`words: content`, the method), or when it is any word at all, punctuation, symbols and
spaces aside (`words: all`, the paper's "all words as targets" ablation). German keeps
`lemma_.lower()`, Chinese the segmented word `text`. Duplicates within a sentence are kept in order.

The vocabulary, the counts and the frequency cut come from the `vocab_from` splits: 'train'
(default; dev/test words never leak into the vocabulary or the prototypes) or 'all' (what the
official code does). As in the official code, counts are total occurrences over every sentence
*occurrence* of those splits (a repeated sentence counts each time), while the denominator of
the cut is the number of *unique* sentences: an item is a training target only while
count(item) < max_frequency × num_unique_sentences. The per-sentence dictionary covers all
splits, so dev/test targets can be computed; items outside the vocabulary are never targets.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from spacy.attrs import LEMMA, LOWER, ORTH, POS
from spacy.language import Language
from spacy.parts_of_speech import IDS as UPOS_IDS
from spacy.tokens import Doc
from tqdm import tqdm

from sign2gpt.core.errors import ConfigError, DataError
from sign2gpt.core.io import write_json
from sign2gpt.text.authors_file import from_authors_file
from sign2gpt.text.pipelines import LANGUAGES, build_pipeline, pipeline_info

logger = logging.getLogger(__name__)

KEPT_UPOS = frozenset({"NOUN", "NUM", "ADV", "PRON", "PROPN", "ADJ", "VERB"})
KEPT_POS_IDS = frozenset(UPOS_IDS[p] for p in KEPT_UPOS)
NOT_WORDS_POS_IDS = frozenset(UPOS_IDS[p] for p in ("PUNCT", "SYM", "SPACE"))
VOCAB_FROM = ("train", "all")
WORDS = ("content", "all")


def _kept(pos: int, words: str) -> bool:
    return pos in KEPT_POS_IDS if words == "content" else pos not in NOT_WORDS_POS_IDS


# ---------------------------------------------------------------------------------------------
# Input


# ---------------------------------------------------------------------------------------------
# Extraction


def items_from_doc(doc: Doc, language: str, words: str = "content") -> list[str]:
    """The pseudo-glosses of one analysed sentence, in order, duplicates kept (`words`: see the module)."""
    strings = doc.vocab.strings
    items = []
    if language in ("de", "en"):
        # lemma_.lower(); a pipeline without a lemmatiser leaves the lemma empty: use the word
        for pos, lemma, lower in doc.to_array([POS, LEMMA, LOWER]).tolist():
            if _kept(pos, words):
                items.append(strings[lemma].lower().strip() or strings[lower])
    else:
        for pos, orth in doc.to_array([POS, ORTH]).tolist():
            if _kept(pos, words):
                items.append(strings[orth].strip())
    return [item for item in items if item]


def extract_pseudo_glosses(
    nlp: Language, sentences: Iterable[str], language: str, *, words: str = "content", batch_size: int = 256,
    progress: bool = True,
) -> dict[str, list[str]]:
    """Pseudo-glosses of each unique sentence (first-seen order). Empty sentences give []."""
    unique = list(dict.fromkeys(sentences))
    result: dict[str, list[str]] = {}
    texts = [s if s.strip() else "" for s in unique]
    docs = nlp.pipe(texts, batch_size=batch_size)
    for sentence, doc in tqdm(
        zip(unique, docs), total=len(unique), desc="pseudo-glosses", unit="sent", disable=not progress
    ):
        result[sentence] = items_from_doc(doc, language, words)
    return result


# ---------------------------------------------------------------------------------------------
# Vocabulary and the frequency cut


@dataclass
class Vocabulary:
    vocab: list[str]  # sorted, so ids are deterministic
    counts: dict[str, int]  # total occurrences over the vocabulary splits' sentence occurrences
    num_unique_sentences: int
    targets: list[str]  # items with count < max_frequency × num_unique_sentences, sorted


def build_vocabulary(
    sentences: Sequence[str], glosses: Mapping[str, list[str]], max_frequency: float
) -> Vocabulary:
    """Vocabulary, counts and cut over `sentences` (with repeats) of the vocabulary splits."""
    counts: Counter[str] = Counter()
    for sentence in sentences:
        counts.update(glosses[sentence])
    num_unique = len(set(sentences))
    vocab = sorted(counts)
    limit = max_frequency * num_unique
    targets = [item for item in vocab if counts[item] < limit]
    return Vocabulary(vocab, {item: counts[item] for item in vocab}, num_unique, targets)


def _validate(sentences: Mapping[str, Sequence[str]], language: str, vocab_from: str, max_frequency: float) -> None:
    if language not in LANGUAGES:
        raise ConfigError(f"pseudo_glosses: language {language!r} is not one of {LANGUAGES}")
    if vocab_from not in VOCAB_FROM:
        raise ConfigError(f"pseudo_glosses.vocab_from: {vocab_from!r} is not one of {VOCAB_FROM}")
    if not 0.0 < float(max_frequency) <= 1.0:
        raise ConfigError(f"pseudo_glosses.max_frequency: {max_frequency!r} must be in (0, 1]")
    for split, items in sentences.items():
        if isinstance(items, str):
            raise DataError(f"split {split}", "expected a list of sentences, got a single string")
        for i, s in enumerate(items):
            if not isinstance(s, str):
                raise DataError(f"split {split}, sentence {i}", f"expected a string, got {type(s).__name__}")
    if vocab_from == "train" and not sentences.get("train"):
        raise DataError("split train", "no training sentences to build the pseudo-gloss vocabulary from")
    if not any(sentences.values()):
        raise DataError("pseudo_glosses", "no sentences in any split")


# ---------------------------------------------------------------------------------------------
# Statistics


def _split_stats(
    sentences: Sequence[str], glosses: Mapping[str, list[str]], vocab: set[str], targets: set[str]
) -> dict:
    n = len(sentences)
    occurrences = sum(len(glosses[s]) for s in sentences)
    in_vocab = sum(1 for s in sentences for g in glosses[s] if g in vocab)
    kept = sum(1 for s in sentences for g in glosses[s] if g in targets)
    target_sets = [set(glosses[s]) & targets for s in sentences]
    share = lambda k, total: round(k / total, 6) if total else 0.0  # noqa: E731
    return {
        "sentences": n,
        "unique_sentences": len(set(sentences)),
        "mean_pseudo_glosses": share(occurrences, n),
        "mean_targets": share(sum(len(t) for t in target_sets), n),
        "share_without_pseudo_glosses": share(sum(1 for s in sentences if not glosses[s]), n),
        "share_without_targets": share(sum(1 for t in target_sets if not t), n),
        "occurrences": occurrences,
        "share_in_vocab": share(in_vocab, occurrences),
        "coverage_of_cut": share(kept, occurrences),
    }


def pseudo_gloss_stats(
    sentences: Mapping[str, Sequence[str]], glosses: Mapping[str, list[str]], vocabulary: Vocabulary, vocab_from: str,
    max_frequency: float,
) -> dict[str, Any]:
    """Vocabulary size, the cut and its coverage, and per-split sentence statistics."""
    vocab, targets = set(vocabulary.vocab), set(vocabulary.targets)
    vocab_sentences = _vocab_sentences(sentences, vocab_from)
    total = sum(vocabulary.counts.values())
    removed = sorted((item for item in vocabulary.vocab if item not in targets),
                     key=lambda i: (-vocabulary.counts[i], i))
    return {
        "vocab_size": len(vocabulary.vocab),
        "num_targets": len(vocabulary.targets),
        "num_unique_sentences": vocabulary.num_unique_sentences,
        "cut_threshold": max_frequency * vocabulary.num_unique_sentences,
        "cut_items": [{"item": i, "count": vocabulary.counts[i]} for i in removed],
        "coverage_of_cut": round(sum(vocabulary.counts[i] for i in targets) / total, 6) if total else 0.0,
        "vocab_splits": _split_stats(vocab_sentences, glosses, vocab, targets),
        "splits": {split: _split_stats(list(items), glosses, vocab, targets) for split, items in sentences.items()},
    }


def _vocab_sentences(sentences: Mapping[str, Sequence[str]], vocab_from: str) -> list[str]:
    splits = ["train"] if vocab_from == "train" else list(sentences)
    return [s for split in splits for s in sentences.get(split, [])]


# ---------------------------------------------------------------------------------------------
# The stage


def run_pseudo_glosses(
    sentences: Mapping[str, Sequence[str]],
    out_json: str | os.PathLike,
    out_stats: str | os.PathLike,
    *,
    language: str,
    pipeline: str = "offline",
    vocab_from: str = "train",
    max_frequency: float = 0.4,
    words: str = "content",
    authors_file: str | os.PathLike | None = None,
    expected_version: str | None = None,
    progress: bool = True,
) -> None:
    """Rule pseudo_glosses: split → sentences in; pseudo_glosses.json and its stats out. With
    `authors_file` (pseudo_glosses.file) the authors' released file replaces the extraction.
    `expected_version` (pseudo_glosses.pipeline_version): the spaCy pipeline's version the
    configuration expects; another one is warned about (the vocabulary drifts with it) and recorded."""
    _validate(sentences, language, vocab_from, max_frequency)
    if words not in WORDS:
        raise ConfigError(f"pseudo_glosses.words must be one of {WORDS}, got {words!r}")
    if authors_file and words != "content":
        raise ConfigError("pseudo_glosses.words: the authors' file holds their selected pseudo-glosses; "
                          "words: all needs the extraction (file: null)")
    if authors_file:
        record = from_authors_file(authors_file, sentences, language=language, max_frequency=max_frequency)
        vocabulary = Vocabulary(record["vocab"], record["counts"], record["num_unique_sentences"], record["targets"])
        glosses, info, vocab_from = record["sentences"], record["pipeline"], record["vocab_from"]
        logger.info("pseudo-glosses from %s (%s): V = %d", authors_file, info["version"], len(vocabulary.vocab))
    else:
        nlp = build_pipeline(language, pipeline)
        info = pipeline_info(nlp, pipeline)
        logger.info("pseudo-glosses with pipeline %s (%s)", info["name"], info["version"])
        if expected_version and nlp.meta.get("version") != expected_version:
            logger.warning("pseudo_glosses.pipeline_version is %s but %s is installed: the vocabulary (V) drifts with "
                           "the spaCy model, so it may differ from the recipe's", expected_version, info["version"])
            info = {**info, "expected_version": expected_version}
        every = [s for items in sentences.values() for s in items]
        glosses = extract_pseudo_glosses(nlp, every, language, words=words, progress=progress)
        vocabulary = build_vocabulary(_vocab_sentences(sentences, vocab_from), glosses, max_frequency)
        if not vocabulary.vocab:
            raise DataError("pseudo_glosses",
                            f"no pseudo-glosses in the {vocab_from} sentences (every sentence is empty)")
        record = {"language": language, "pipeline": info, "vocab_from": vocab_from, "max_frequency": max_frequency,
                  "words": words, "vocab": vocabulary.vocab, "counts": vocabulary.counts,
                  "num_unique_sentences": vocabulary.num_unique_sentences, "targets": vocabulary.targets,
                  "sentences": glosses}

    stats = pseudo_gloss_stats(sentences, glosses, vocabulary, vocab_from, max_frequency)
    logger.info(
        "vocabulary %d items, %d targets after the cut (< %.1f occurrences), cut coverage %.3f",
        stats["vocab_size"], stats["num_targets"], stats["cut_threshold"], stats["coverage_of_cut"],
    )
    write_json(out_json, record)
    write_json(out_stats, {"language": language, "pipeline": info, "vocab_from": vocab_from,
                           "max_frequency": max_frequency, "words": words, **stats})


# ---------------------------------------------------------------------------------------------
# Reading it back
