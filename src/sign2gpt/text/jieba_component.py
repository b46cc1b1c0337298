"""Chinese POS tags from jieba.posseg as a spaCy component, on jieba's own segmentation.

The offline Chinese pipeline is `spacy.blank("zh")` with spaCy's jieba segmenter (the tokenizer
config `{"segmenter": "jieba"}`, i.e. `jieba.cut(text, cut_all=False)`), followed by this
component. `jieba.posseg.cut` segments with the same dictionary and route, but handles runs of
single characters with its own joint HMM, so its words can differ from the Doc's tokens
('很忙' is one posseg word, two jieba.cut words), and its tags depend on context ('很' alone has
the dictionary tag 'zg'; inside a run the HMM makes it 'd'). We therefore let posseg tag the
text and align by character offsets: a token that is exactly a posseg word takes its tag; a
token inside a longer posseg word takes that word's tag; a token spanning several posseg words
takes the last one's tag (Chinese compounds are mostly head-final). For speed posseg runs only on
the stretches between multi-character dictionary words (see `JiebaPOSTagger.tags_for`).

jieba uses the ICTCLAS / PKU tag set; JIEBA_TO_UPOS maps every tag jieba's dictionary and HMM
can emit to Universal POS, following UD Chinese where it has a convention (localisers and
prepositions are ADP, classifiers NOUN, demonstratives DET). Tag 'x' (non-word) is resolved from
the text: punctuation, whitespace, a number (posseg tags single digits 'x'), or X.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import unicodedata
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
from spacy.attrs import IDX, IS_SPACE, LENGTH, POS, TAG
from spacy.language import Language
from spacy.parts_of_speech import IDS as UPOS_IDS
from spacy.tokens import Doc

logger = logging.getLogger(__name__)

FACTORY = "sign2gpt_jieba_pos"

JIEBA_TO_UPOS: dict[str, str] = {
    # adjectives: a 形容词, ag 形容词性语素, b 区别词 (non-predicate adjective), bg 区别语素,
    # z 状态词 (descriptive adjective)
    "a": "ADJ", "ag": "ADJ", "b": "ADJ", "bg": "ADJ", "z": "ADJ",
    # ad 副形词 (adjective used as adverb), an 名形词 (adjective used as noun)
    "ad": "ADV", "an": "NOUN",
    # adverbs
    "d": "ADV", "df": "ADV", "dg": "ADV",
    # conjunctions (jieba does not separate coordinating from subordinating)
    "c": "CCONJ",
    # interjections and onomatopoeia
    "e": "INTJ", "o": "INTJ",
    # foreign (Latin-script) words
    "eng": "X",
    # f 方位词 (localiser: 上, 里, 以后) is ADP in UD Chinese; p 介词 preposition
    "f": "ADP", "p": "ADP",
    # morphemes and rare characters without a word class of their own
    "g": "X", "zg": "X",
    # h 前缀 prefix, k 后缀 suffix
    "h": "PART", "k": "PART",
    # i 成语 idioms and l 习用语 fixed expressions are mostly predicates; in / ln nominal ones
    "i": "VERB", "l": "VERB", "in": "NOUN", "ln": "NOUN",
    # j 简称 abbreviations are mostly names (北大, 中共); jn nominal abbreviations
    "j": "PROPN", "jn": "NOUN",
    # numerals; mq numeral + classifier (五度)
    "m": "NUM", "mg": "NUM", "mq": "NUM",
    # nouns; s 处所词 place words, t 时间词 time words (明天)
    "n": "NOUN", "ng": "NOUN", "s": "NOUN", "t": "NOUN", "tg": "NOUN",
    # proper nouns: nr person, nrfg / nrt person names, ns place, nt organisation, nz other
    "nr": "PROPN", "nrfg": "PROPN", "nrt": "PROPN", "ns": "PROPN", "nt": "PROPN", "nz": "PROPN",
    # classifiers (个, 公斤) are NOUN in UD Chinese
    "q": "NOUN", "qe": "NOUN", "qg": "NOUN",
    # pronouns; rz demonstratives (这位) are DET
    "r": "PRON", "rg": "PRON", "rr": "PRON", "rz": "DET",
    # structural / aspect particles (的 了 着 过 得 地) and modal particles (吗 吧 呢)
    "u": "PART", "ud": "PART", "ug": "PART", "uj": "PART", "ul": "PART", "uv": "PART",
    "uz": "PART", "y": "PART", "yg": "PART",
    # verbs: vd 副动词, vi 不及物, vn 名动词 (verb also used as noun), vq, vg 动词性语素
    "v": "VERB", "vd": "VERB", "vg": "VERB", "vi": "VERB", "vn": "VERB", "vq": "VERB",
    # 'x' (non-word) is resolved from the text by jieba_tag_to_upos; listed for completeness
    "x": "X",
}


def jieba_tag_to_upos(word: str, tag: str) -> str:
    """UPOS of one jieba-tagged word; an unknown tag is X (logged once)."""
    if tag == "x":
        if word.isspace():
            return "SPACE"
        if all(unicodedata.category(ch)[0] in "PS" for ch in word):
            return "PUNCT"
        if _is_number(word):
            return "NUM"
        return "X"
    upos = JIEBA_TO_UPOS.get(tag)
    if upos is None:
        _warn_unknown_tag(tag)
        return "X"
    return upos


def _is_number(word: str) -> bool:
    stripped = word.replace(".", "").replace(",", "").replace("%", "")
    return bool(stripped) and all(unicodedata.category(ch) == "Nd" for ch in stripped)


@functools.cache
def _warn_unknown_tag(tag: str) -> None:
    logger.warning("jieba tag %r is not in the jieba→UPOS table; mapped to X", tag)


def jieba_version() -> str:
    return importlib.metadata.version("jieba")


class JiebaPOSTagger:
    """Sets `tag_` (jieba tag) and `pos_` (UPOS) on every Doc token (Chinese has no lemmas)."""

    def __init__(self, cache_size: int = 100_000) -> None:
        import jieba
        import jieba.posseg

        jieba.setLogLevel(logging.WARNING)
        self.posseg = jieba.posseg.dt
        self.posseg.initialize()
        self.word_tags: dict[str, str] = self.posseg.word_tag_tab
        self.cache_size = cache_size
        self._runs: OrderedDict[tuple[str, tuple[tuple[int, int], ...]], tuple[str, ...]] = OrderedDict()

    def tags_for(self, text: str, spans: Sequence[tuple[int, int]]) -> list[str]:
        """jieba tag of each token, given as (start, end) character spans of `text`.

        A token of two or more characters that is a dictionary word gets its dictionary tag,
        as posseg gives it. The stretches between such words are handed to posseg on their own,
        which reproduces posseg's segmentation of them (the shared dictionary route is optimal on
        every stretch between its own breakpoints) while letting repeated stretches be memoised.
        """
        tags = [""] * len(spans)
        run: list[int] = []  # indices of the tokens of the current stretch

        def flush() -> None:
            if run:
                a, b = spans[run[0]][0], spans[run[-1]][1]
                local = tuple((spans[i][0] - a, spans[i][1] - a) for i in run)
                for i, tag in zip(run, self.tag_stretch(text[a:b], local)):
                    tags[i] = tag
                run.clear()

        for i, (start, end) in enumerate(spans):
            tag = self.word_tags.get(text[start:end]) if end - start > 1 else None
            if tag is None:
                run.append(i)
            else:
                flush()
                tags[i] = tag
        flush()
        return tags

    def tag_stretch(self, text: str, spans: tuple[tuple[int, int], ...]) -> tuple[str, ...]:
        """posseg on `text`, aligned to the token spans by character offsets (memoised)."""
        key = (text, spans)
        hit = self._runs.get(key)
        if hit is not None:
            self._runs.move_to_end(key)
            return hit
        # posseg words as [start, end) offsets; owner[c] = index of the posseg word holding char c
        pieces: list[str] = []
        owner = [-1] * len(text)
        pos = 0
        for piece in self.posseg.cut(text, HMM=True):
            end = pos + len(piece.word)
            owner[pos:end] = [len(pieces)] * (end - pos)
            pieces.append(piece.flag)
            pos = end
        tags = []
        for start, end in spans:
            held = [owner[c] for c in range(start, end) if owner[c] >= 0]
            tags.append(pieces[held[-1]] if held else "x")  # the last posseg word the token touches
        result = tuple(tags)
        self._runs[key] = result
        if len(self._runs) > self.cache_size:
            self._runs.popitem(last=False)
        return result

    def __call__(self, doc: Doc) -> Doc:
        # Whole columns in and out (Doc.to_array / from_array): iterating a Doc builds a Python
        # Token per word, which costs about as much as the tagging itself.
        if len(doc) == 0:
            return doc
        strings, text = doc.vocab.strings, doc.text
        columns = doc.to_array([IDX, LENGTH, IS_SPACE]).tolist()  # [n, 3]
        spans = [(idx, idx + length) for idx, length, space in columns if not space]
        tags = iter(self.tags_for(text, spans))
        rows = []  # [n, 2]: TAG, POS
        for idx, length, space in columns:
            if space:
                rows.append((strings.add("_SP"), UPOS_IDS["SPACE"]))
            else:
                tag = next(tags)
                rows.append((strings.add(tag), UPOS_IDS[jieba_tag_to_upos(text[idx:idx + length], tag)]))
        doc.from_array([TAG, POS], np.array(rows, dtype=np.uint64))
        return doc


@Language.factory(FACTORY, default_config={"cache_size": 100_000})
def make_jieba_pos_tagger(nlp: Language, name: str, cache_size: int) -> JiebaPOSTagger:
    return JiebaPOSTagger(cache_size=cache_size)
