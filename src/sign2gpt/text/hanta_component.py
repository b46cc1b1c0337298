"""German POS tags and lemmas from HanTa (Hanover Tagger) as a spaCy component.

The offline German pipeline is `spacy.blank("de")` (spaCy's rule-based tokenizer) followed by
this component. HanTa tags each sentence with STTS tags (a Viterbi pass over the words) and
lemmatises every word given its tag. We map STTS to Universal POS with the table below, which
follows the UD STTS conversion (https://universaldependencies.org/tagset-conversion/de-stts-uposf.html)
and spaCy's former German tag map; both put modal verbs under VERB and only VA* under AUX.

HanTa writes some STTS tags with the sub-type in parentheses ('VV(FIN)', 'ADJ(A)', 'VA(INF)'):
they are normalised to plain STTS ('VVFIN', 'ADJA', 'VAINF') before the lookup. HanTa also has
two noun tags of its own: NNA (nominalised adjective) and NNI (a noun that HanTa analyses as
indeclinable); both are nouns.

Lemmas are lower-cased (the pseudo-gloss items are `lemma_.lower()`). HanTa lemmatises personal
pronouns to their surface form ('ihnen' → 'ihnen', 'mir' → 'mir'), which is what the paper's
pseudo-glosses show, so no pronoun special case is needed.

Speed: tagging costs a Viterbi pass per sentence, but lemmatisation depends only on (word, tag),
so lemmas are memoised; whole sentences are memoised too, since real corpora repeat sentences.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import re
from collections import OrderedDict

import numpy as np
from spacy.attrs import IS_SPACE, LEMMA, ORTH, POS, TAG
from spacy.language import Language
from spacy.parts_of_speech import IDS as UPOS_IDS
from spacy.tokens import Doc

logger = logging.getLogger(__name__)

FACTORY = "sign2gpt_hanta"
DEFAULT_MODEL = "morphmodel_ger.pgz"

# Full STTS (1999, with the TIGER additions PROAV / NNE / PIDAT) → UPOS.
STTS_TO_UPOS: dict[str, str] = {
    # punctuation
    "$(": "PUNCT", "$,": "PUNCT", "$.": "PUNCT",
    # adjectives
    "ADJA": "ADJ", "ADJD": "ADJ",
    # adverbs, including pronominal adverbs ('dazu', 'darüber') and interrogative adverbs
    "ADV": "ADV", "PAV": "ADV", "PROAV": "ADV", "PWAV": "ADV",
    # adpositions; separable verb particles are adpositional in UD German
    "APPR": "ADP", "APPRART": "ADP", "APPO": "ADP", "APZR": "ADP", "PTKVZ": "ADP",
    # determiners: articles and attributive pronouns ('viel', 'paar', 'dieser', 'mein')
    "ART": "DET", "PDAT": "DET", "PIAT": "DET", "PIDAT": "DET", "PPOSAT": "DET",
    "PRELAT": "DET", "PWAT": "DET",
    # substituting pronouns
    "PDS": "PRON", "PIS": "PRON", "PPER": "PRON", "PPOSS": "PRON", "PRELS": "PRON",
    "PRF": "PRON", "PWS": "PRON",
    # numbers
    "CARD": "NUM",
    # nouns (NNA and NNI are HanTa's own noun sub-classes)
    "NN": "NOUN", "NNA": "NOUN", "NNI": "NOUN", "NE": "PROPN", "NNE": "PROPN",
    # conjunctions
    "KON": "CCONJ", "KOKOM": "CCONJ", "KOUI": "SCONJ", "KOUS": "SCONJ",
    # particles
    "PTKA": "PART", "PTKANT": "PART", "PTKNEG": "PART", "PTKZU": "PART",
    # verbs: full and modal verbs are VERB, auxiliaries (sein, haben, werden) AUX
    "VVFIN": "VERB", "VVIMP": "VERB", "VVINF": "VERB", "VVIZU": "VERB", "VVPP": "VERB",
    "VMFIN": "VERB", "VMINF": "VERB", "VMPP": "VERB",
    "VAFIN": "AUX", "VAIMP": "AUX", "VAINF": "AUX", "VAPP": "AUX",
    # interjections, foreign material, truncations, non-words
    "ITJ": "INTJ", "FM": "X", "TRUNC": "X", "XY": "X",
    # whitespace token (spaCy) and a word HanTa could not analyse at all
    "_SP": "SPACE", "UNKNOWN": "X",
}


_SUBTYPE = re.compile(r"^([A-Z]+)\(([A-Z]+)\)$")


def normalise_stts(tag: str) -> str:
    """HanTa's 'VV(FIN)' / 'ADJ(A)' → plain STTS 'VVFIN' / 'ADJA' ('$(' stays as it is)."""
    match = _SUBTYPE.match(tag)
    return match.group(1) + match.group(2) if match else tag


@functools.cache
def stts_to_upos(tag: str) -> str:
    """UPOS of an STTS tag (HanTa spelling accepted); an unknown tag is X, logged once."""
    upos = STTS_TO_UPOS.get(normalise_stts(tag))
    if upos is None:
        _warn_unknown_tag(tag)
        return "X"
    return upos


@functools.cache
def _warn_unknown_tag(tag: str) -> None:
    logger.warning("HanTa tag %r is not in the STTS→UPOS table; mapped to X", tag)


@functools.cache
def load_hanta(model: str = DEFAULT_MODEL):
    """The HanTa tagger, loaded once per process (its model ships inside the HanTa package).

    HanTa scores the possible tags of every word outside its precomputed lexicon with a
    character-level Viterbi pass (`analyze_forward`), anew for every occurrence. The result
    depends on the word only, so we memoise it on this instance: same tags, ~2.5x faster tagging.
    """
    from HanTa import HanoverTagger as ht

    tagger = ht.HanoverTagger(model)
    if callable(getattr(tagger, "analyze_forward", None)):
        tagger.analyze_forward = functools.lru_cache(maxsize=200_000)(tagger.analyze_forward)
    return tagger


def hanta_version() -> str:
    return importlib.metadata.version("HanTa")


class HanTaTagger:
    """Sets `tag_` (STTS), `pos_` (UPOS) and `lemma_` (lower-cased) on every token of a Doc."""

    def __init__(self, model: str = DEFAULT_MODEL, cache_size: int = 100_000):
        self.model = model
        self.tagger = load_hanta(model)
        self.cache_size = cache_size
        self._sentences: OrderedDict[tuple[str, ...], list[tuple[str, str]]] = OrderedDict()
        self._lemmas: dict[tuple[str, str], str] = {}

    def analyse(self, words: tuple[str, ...]) -> list[tuple[str, str]]:
        """(STTS tag as HanTa writes it, lower-cased lemma) for each word of one sentence."""
        hit = self._sentences.get(words)
        if hit is not None:
            self._sentences.move_to_end(words)
            return hit
        # Lower-case input (PHOENIX) carries no capitalisation cue, so tag case-insensitively.
        tags = self.tagger.tag_sent(list(words), taglevel=0, casesensitive=False)
        result = [(tag, self._lemma(word, tag)) for word, tag in zip(words, tags)]
        self._sentences[words] = result
        if len(self._sentences) > self.cache_size:
            self._sentences.popitem(last=False)
        return result

    def _lemma(self, word: str, tag: str) -> str:
        key = (word.lower(), tag)
        lemma = self._lemmas.get(key)
        if lemma is None:
            # The same call HanTa's tag_sent makes for its lemma, given the chosen tag.
            lemma = self.tagger.analyze(word, pos=tag, taglevel=1)[0].lower()
            self._lemmas[key] = lemma
        return lemma

    def __call__(self, doc: Doc) -> Doc:
        # Whole columns in and out (Doc.to_array / from_array): iterating a Doc builds a Python
        # Token per word, which costs more than tagging a sentence that is already cached.
        if len(doc) == 0:
            return doc
        strings = doc.vocab.strings
        columns = doc.to_array([ORTH, IS_SPACE]).tolist()  # [n, 2]: word hash, is whitespace
        analysed = iter(self.analyse(tuple(strings[orth] for orth, space in columns if not space)))
        rows = []  # [n, 3]: TAG, POS, LEMMA
        for orth, space in columns:
            if space:
                rows.append((strings.add("_SP"), UPOS_IDS["SPACE"], orth))
            else:
                tag, lemma = next(analysed)
                rows.append((strings.add(tag), UPOS_IDS[stts_to_upos(tag)], strings.add(lemma)))
        doc.from_array([TAG, POS, LEMMA], np.array(rows, dtype=np.uint64))
        return doc


@Language.factory(FACTORY, default_config={"model": DEFAULT_MODEL, "cache_size": 100_000})
def make_hanta_tagger(nlp: Language, name: str, model: str, cache_size: int) -> HanTaTagger:
    return HanTaTagger(model=model, cache_size=cache_size)
