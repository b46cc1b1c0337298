"""Fixed, written text conventions for scoring, so numbers are comparable across papers.

Published SLT scores differ by several BLEU points depending on how the text is prepared, and
papers rarely say how. Here every choice is one function (`normalise`), applied identically to
hypotheses and references, and recorded next to the scores (`score(...)["conventions"]`, which
the evaluate stage writes into metrics.json). The steps, in order:

1. Unicode NFC (composed umlauts), so the same word is the same token whatever produced it.
2. Whitespace runs collapsed to one space, ends stripped.
3. Lower-casing, off by default: PHOENIX-2014T text is already lower-case and the official
   evaluation does not lower-case.
4. Final period, stripped by default: one trailing ASCII "." is removed, whether it stands
   alone or is attached to the last word. (The PHOENIX-2014T release CSVs carry no final period;
   text files derived from them by later work end in " .", and several papers append " ." to both
   sides before scoring: `final_period_form` is that form, which the evaluate stage records beside
   the configured one.) The CJK full stop "。" is never removed: the official CSL-Daily evaluation
   keeps punctuation.
5. Character level for Chinese (``language == "zh"``): all whitespace removed (word
   segmentation differs between systems), then every character, punctuation included, becomes
   one token: "今天 下雨。" -> "今 天 下 雨 。". Other languages stay word level.
6. Word tokenization for English (``language == "en"``, How2Sign): sacreBLEU's default `13a`
   tokenizer splits punctuation off the words ("It's done, then." -> "It's done , then"), as
   the How2Sign literature scores with sacreBLEU's defaults; German keeps the corpora's own
   tokenization (PHOENIX-2014T text is already tokenized), as the official evaluation does.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Sequence

import sacrebleu

import sign2gpt
from sign2gpt.core.errors import ConfigError
from sign2gpt.evaluation import metrics, significance

CHARACTER_LEVEL_LANGUAGES = frozenset({"zh"})
TOKENIZED_LANGUAGES = {"en": "13a"}  # language -> the sacreBLEU tokenizer applied by `normalise`

DEFAULTS = {"lowercase": False, "strip_final_period": True}

CONVENTIONS: dict = {
    "text": {
        "order": ["unicode NFC", "collapse whitespace", "lowercase (if on)",
                  "strip final period (if on)", "character split (zh)", "sacreBLEU 13a tokenizer (en)"],
        "lowercase": "off by default (PHOENIX-2014T is already lower-case; official code does not lower-case)",
        "strip_final_period": "on by default: one trailing ASCII '.' removed, standalone or attached; "
                              "CJK '。' kept",
        "character_level_languages": sorted(CHARACTER_LEVEL_LANGUAGES),
        "character_level": "whitespace removed, then every character (punctuation included) is a token",
        "tokenized_languages": dict(TOKENIZED_LANGUAGES),
    },
    "bleu": {
        "implementation": "sacreBLEU corpus BLEU",
        "tokenize": "none (whitespace split)",
        "smoothing": "floor with value 0 (same as none)",
        "effective_order": True,
        "cumulative": "BLEU-n = BP * exp(mean log p_1..p_n), n = 1..4",
        "references": 1,
        "scale": 100,
    },
    "rouge_l": {
        "definition": "per-sentence LCS F = (1 + beta^2) P R / (R + beta^2 P), 0 if P or R is 0",
        "beta": metrics.ROUGE_BETA,
        "tokens": "str.split() (no empty tokens); empty hypothesis or reference scores 0",
        "average": "mean over sentences",
        "scale": 100,
    },
}


def is_character_level(language: str) -> bool:
    """Whether `language` is scored per character (Chinese) rather than per word."""
    if not isinstance(language, str) or not language:
        raise ConfigError(f"language must be a non-empty string such as 'de' or 'zh', got {language!r}")
    return language in CHARACTER_LEVEL_LANGUAGES


def normalise(
    text: str,
    language: str,
    *,
    lowercase: bool = DEFAULTS["lowercase"],
    strip_final_period: bool = DEFAULTS["strip_final_period"],
) -> str:
    """Prepare one sentence for scoring by the steps in the module docstring."""
    char_level = is_character_level(language)
    text = unicodedata.normalize("NFC", text)
    text = " ".join(text.split())
    if lowercase:
        text = text.lower()
    if strip_final_period and text.endswith("."):
        text = text[:-1].rstrip()
    if char_level:
        text = " ".join("".join(text.split()))
    if language in TOKENIZED_LANGUAGES:
        text = _tokenizer(TOKENIZED_LANGUAGES[language])(text)
    return text


@functools.cache
def _tokenizer(name: str):
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    return {"13a": Tokenizer13a}[name]()


FINAL_PERIOD_FORM = "one trailing ASCII '.' removed, then ' .' appended: both sides end in one ' .'"


def final_period_form(text: str, language: str, *, lowercase: bool = DEFAULTS["lowercase"]) -> str:
    """A sentence as papers that append " ." to both sides score it: normalised with its final
    period stripped, then " ." appended (a token of its own; at character level, "." is one more
    character, after a CJK "。" when the sentence has one)."""
    return f"{normalise(text, language, lowercase=lowercase, strip_final_period=True)} .".lstrip()


def score_final_period_form(hyps: Sequence[str], refs: Sequence[str], language: str, *, lowercase: bool) -> dict:
    """BLEU-1..4, ROUGE-L and the signature with a final " ." on both sides (no intervals): `score`
    of the formed sentences, which its own normalisation leaves as they are."""
    formed = score([final_period_form(h, language, lowercase=lowercase) for h in hyps],
                   [final_period_form(r, language, lowercase=lowercase) for r in refs], language,
                   lowercase=lowercase, strip_final_period=False, intervals=False)
    return {"form": FINAL_PERIOD_FORM, **{k: formed[k] for k in (*(f"bleu{n}" for n in range(1, metrics.MAX_ORDER + 1)),
                                                                   "rouge_l", "signature")}}


def conventions_for(language: str, *, lowercase: bool, strip_final_period: bool) -> dict:
    """The conventions of one scoring run: the fixed description plus the settings used."""
    return {
        "language": language,
        "level": "character" if is_character_level(language) else "word",
        "tokenizer": TOKENIZED_LANGUAGES.get(language, "none (the text's own tokens)"),
        "lowercase": bool(lowercase),
        "strip_final_period": bool(strip_final_period),
        **CONVENTIONS,
    }


def score(
    hyps: Sequence[str],
    refs: Sequence[str],
    language: str,
    *,
    lowercase: bool = DEFAULTS["lowercase"],
    strip_final_period: bool = DEFAULTS["strip_final_period"],
    intervals: bool = True,
) -> dict:
    """Normalise both sides and score: bleu1..4, rouge_l, n, signature, conventions, versions, and
    (`intervals`) each score's 95% bootstrap interval (`sign2gpt.evaluation.significance`)."""
    metrics.check_pair(hyps, refs)
    opts = {"lowercase": lowercase, "strip_final_period": strip_final_period}
    hyp_n = [normalise(h, language, **opts) for h in hyps]
    ref_n = [normalise(r, language, **opts) for r in refs]
    b = metrics.bleu(hyp_n, ref_n)
    out = {
        **{f"bleu{n}": b[f"bleu{n}"] for n in range(1, metrics.MAX_ORDER + 1)},
        "rouge_l": metrics.rouge_l(hyp_n, ref_n),
        "n": len(hyp_n),
        "signature": b["signature"],
        "bleu_details": {k: b[k] for k in ("precisions", "bp", "hyp_len", "ref_len")},
        "conventions": conventions_for(language, **opts),
        "versions": {"sacrebleu": sacrebleu.__version__, "sign2gpt": sign2gpt.__version__},
    }
    if intervals:
        out["intervals"] = significance.bootstrap_intervals(hyp_n, ref_n)
        out["bootstrap"] = {"resamples": significance.RESAMPLES, "seed": significance.SEED,
                            "method": significance.METHOD}
    return out
