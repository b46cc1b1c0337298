"""German and English POS tags and lemmas from HanTa (Hanover Tagger) as a spaCy component.

The offline German pipeline is `spacy.blank("de")` (spaCy's rule-based tokenizer) followed by
this component; the English one `spacy.blank("en")` followed by it with HanTa's English model
(`morphmodel_en.pgz`, CLAWS5 tags, mapped to UPOS by `CLAWS5_TO_UPOS` below). HanTa tags each
sentence with STTS tags (a Viterbi pass over the words) and lemmatises every word given its tag.
We map STTS to Universal POS with the table below, which
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


# CLAWS5 (the BNC tag set HanTa's English model writes) → UPOS, following the UD English
# conventions (modals and be / have / do forms are AUX, as VA* is in German; possessive
# determiners are PRON; ordinals ADJ; verb particles ADP).
CLAWS5_TO_UPOS: dict[str, str] = {
    "AJ0": "ADJ", "AJC": "ADJ", "AJS": "ADJ", "ORD": "ADJ",
    "AT0": "DET", "DT0": "DET", "DTQ": "DET",
    "AV0": "ADV", "AVQ": "ADV", "AVP": "ADP",
    "CJC": "CCONJ", "CJS": "SCONJ", "CJT": "SCONJ",
    "CRD": "NUM",
    "DPS": "PRON", "EX0": "PRON", "PNI": "PRON", "PNP": "PRON", "PNQ": "PRON", "PNX": "PRON",
    "ITJ": "INTJ",
    "NN0": "NOUN", "NN1": "NOUN", "NN2": "NOUN", "NP0": "PROPN",
    "POS": "PART", "TO0": "PART", "XX0": "PART",
    "PRF": "ADP", "PRP": "ADP",
    "PUL": "PUNCT", "PUN": "PUNCT", "PUQ": "PUNCT", "PUR": "PUNCT",
    "VBB": "AUX", "VBD": "AUX", "VBG": "AUX", "VBI": "AUX", "VBN": "AUX", "VBZ": "AUX",
    "VDB": "AUX", "VDD": "AUX", "VDG": "AUX", "VDI": "AUX", "VDN": "AUX", "VDZ": "AUX",
    "VHB": "AUX", "VHD": "AUX", "VHG": "AUX", "VHI": "AUX", "VHN": "AUX", "VHZ": "AUX", "VM0": "AUX",
    "VVB": "VERB", "VVD": "VERB", "VVG": "VERB", "VVI": "VERB", "VVN": "VERB", "VVZ": "VERB",
    "UNC": "X", "ZZ0": "X",
    # three tags of HanTa's English model outside CLAWS5 (Penn's NN and IN, and a marker)
    "NN": "NOUN", "IN": "ADP", "!!!": "X",
    "_SP": "SPACE", "UNKNOWN": "X",
}

# Per HanTa model: its tag table, and whether to tag case-sensitively (PHOENIX's German text is
# all lower case, so capitalisation carries no cue there; English text keeps its case).
MODELS: dict[str, tuple[dict[str, str], bool]] = {
    "morphmodel_ger.pgz": (STTS_TO_UPOS, False),
    "morphmodel_en.pgz": (CLAWS5_TO_UPOS, True),
}
ENGLISH_MODEL = "morphmodel_en.pgz"

_SUBTYPE = re.compile(r"^([A-Z]+)\(([A-Z]+)\)$")


def normalise_stts(tag: str) -> str:
    """HanTa's 'VV(FIN)' / 'ADJ(A)' → plain STTS 'VVFIN' / 'ADJA' ('$(' stays as it is)."""
    match = _SUBTYPE.match(tag)
    return match.group(1) + match.group(2) if match else tag


@functools.cache
def stts_to_upos(tag: str) -> str:
    """UPOS of an STTS tag (HanTa spelling accepted); an unknown tag is X, logged once."""
    return to_upos(tag, DEFAULT_MODEL)


@functools.cache
def to_upos(tag: str, model: str) -> str:
    """UPOS of a tag of HanTa's `model` (STTS for German, CLAWS5 for English; a CLAWS5
    portmanteau such as 'AJ0-NN1' counts as its first tag); an unknown tag is X, logged once."""
    table = MODELS[model][0]
    upos = table.get(normalise_stts(tag) if table is STTS_TO_UPOS else tag.split("-")[0])
    if upos is None:
        _warn_unknown_tag(tag, model)
        return "X"
    return upos


@functools.cache
def _warn_unknown_tag(tag: str, model: str) -> None:
    logger.warning("HanTa tag %r is not in the UPOS table of %s; mapped to X", tag, model)


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
    """Sets `tag_` (STTS or CLAWS5), `pos_` (UPOS) and `lemma_` (lower-cased) on every token of a Doc."""

    def __init__(self, model: str = DEFAULT_MODEL, cache_size: int = 100_000):
        if model not in MODELS:
            raise ValueError(f"HanTa model {model!r} has no tag table here (one of {', '.join(MODELS)})")
        self.model = model
        self.casesensitive = MODELS[model][1]
        self.tagger = load_hanta(model)
        self.cache_size = cache_size
        self._sentences: OrderedDict[tuple[str, ...], list[tuple[str, str]]] = OrderedDict()
        self._lemmas: dict[tuple[str, str], str] = {}

    def analyse(self, words: tuple[str, ...]) -> list[tuple[str, str]]:
        """(tag as HanTa writes it, lower-cased lemma) for each word of one sentence."""
        hit = self._sentences.get(words)
        if hit is not None:
            self._sentences.move_to_end(words)
            return hit
        tags = self.tagger.tag_sent(list(words), taglevel=0, casesensitive=self.casesensitive)
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
                rows.append((strings.add(tag), UPOS_IDS[to_upos(tag, self.model)], strings.add(lemma)))
        doc.from_array([TAG, POS, LEMMA], np.array(rows, dtype=np.uint64))
        return doc


@Language.factory(FACTORY, default_config={"model": DEFAULT_MODEL, "cache_size": 100_000})
def make_hanta_tagger(nlp: Language, name: str, model: str, cache_size: int) -> HanTaTagger:
    return HanTaTagger(model=model, cache_size=cache_size)
