"""Pick the grammar of a language and draw (glosses, sentence) pairs from it."""

from __future__ import annotations

from types import ModuleType

import numpy as np

from sign2gpt.core.errors import ConfigError
from sign2gpt.data.synthetic import grammar_de, grammar_zh

GRAMMARS: dict[str, ModuleType] = {"de": grammar_de, "zh": grammar_zh}


def _grammar(language: str) -> ModuleType:
    try:
        return GRAMMARS[language]
    except KeyError:
        raise ConfigError(
            f"synthetic.language: no grammar for {language!r} (choose from {sorted(GRAMMARS)})"
        ) from None


def generate_pairs(language: str, n: int, rng: np.random.Generator) -> list[tuple[list[str], str]]:
    """`n` pairs (sign-order gloss list, spoken sentence); a pure function of `rng`'s state."""
    grammar = _grammar(language)
    return [grammar.sample_pair(rng) for _ in range(n)]


def gloss_vocabulary(language: str) -> list[str]:
    """All glosses the grammar of `language` can produce, sorted."""
    return _grammar(language).vocabulary()
