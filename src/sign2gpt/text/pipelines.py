"""The spaCy pipeline that turns sentences into tagged, lemmatised tokens.

`pipeline: offline` builds a real tagger that needs no download: `spacy.blank("de")` + HanTa for
German, `spacy.blank("en")` + HanTa's English model for English, `spacy.blank("zh")` with the
jieba segmenter + jieba.posseg for Chinese. Any other name
is a spaCy package (`de_core_news_lg`, `zh_core_web_sm`) or a pipeline directory, loaded with
`spacy.load`; a package that is not installed is a ConfigError that says how to install it.
Nothing is ever downloaded here, and there is no silent fallback to the offline pipeline.
"""

from __future__ import annotations

import logging
from pathlib import Path

import spacy
from spacy.language import Language

from sign2gpt.core.errors import ConfigError
from sign2gpt.text import hanta_component, jieba_component

logger = logging.getLogger(__name__)

LANGUAGES = ("de", "en", "zh")
OFFLINE = "offline"


def build_pipeline(language: str, pipeline: str = OFFLINE) -> Language:
    """A spaCy `Language` that sets `pos_` (UPOS) and, for German and English, `lemma_` on each token."""
    if language not in LANGUAGES:
        raise ConfigError(f"language: {language!r} is not supported (one of {', '.join(LANGUAGES)})")
    if pipeline == OFFLINE:
        return _offline(language)
    return _installed(language, pipeline)


def _offline(language: str) -> Language:
    if language == "de":
        nlp = spacy.blank("de")
        nlp.add_pipe(hanta_component.FACTORY)
    elif language == "en":
        nlp = spacy.blank("en")
        nlp.add_pipe(hanta_component.FACTORY, config={"model": hanta_component.ENGLISH_MODEL})
    else:
        import jieba

        jieba.setLogLevel(logging.WARNING)  # it logs its dictionary loading at DEBUG otherwise
        nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
        nlp.add_pipe(jieba_component.FACTORY)
    return nlp


def _installed(language: str, name: str) -> Language:
    if not (spacy.util.is_package(name) or Path(name).is_dir()):
        raise ConfigError(
            f"pseudo_glosses.pipeline: the spaCy pipeline {name!r} is not installed. Install it with "
            f"`python -m spacy download {name}` (or pip install its wheel from "
            f"https://github.com/explosion/spacy-models/releases), or set "
            f"pseudo_glosses.pipeline: {OFFLINE} to use the bundled offline tagger."
        )
    try:
        nlp = spacy.load(name)
    except (OSError, ValueError) as err:
        raise ConfigError(f"pseudo_glosses.pipeline: cannot load spaCy pipeline {name!r}: {err}") from err
    if nlp.lang != language:
        raise ConfigError(
            f"pseudo_glosses.pipeline: {name!r} is a {nlp.lang!r} pipeline, but the dataset language is {language!r}"
        )
    return nlp


def pipeline_info(nlp: Language, pipeline: str) -> dict[str, str]:
    """{"name", "version"} recorded next to the pseudo-glosses, so a vocabulary can be traced."""
    if pipeline == OFFLINE:
        tagger = f"jieba {jieba_component.jieba_version()} (posseg)" if nlp.lang == "zh" else \
            f"HanTa {hanta_component.hanta_version()} ({nlp.get_pipe(hanta_component.FACTORY).model})"
        return {"name": OFFLINE, "version": f"spacy {spacy.__version__} + {tagger}"}
    meta = nlp.meta
    return {
        "name": pipeline,
        "version": f"{meta.get('lang', nlp.lang)}_{meta.get('name', '?')} {meta.get('version', '?')} "
        f"(spacy {spacy.__version__})",
    }
