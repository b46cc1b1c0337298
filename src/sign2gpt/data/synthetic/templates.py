"""Drawing a (glosses, sentence) pair from a grammar's weighted sentence templates."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

Template = Callable[[np.random.Generator], tuple[list[str], str]]

MIN_GLOSSES = 2
MAX_GLOSSES = 7


def draw_pair(
    templates: Sequence[tuple[Template, float]],
    rng: np.random.Generator,
    accept: Callable[[list[str]], bool] = lambda glosses: True,
) -> tuple[list[str], str]:
    """Pick a template by weight and run it; resample until MIN..MAX glosses and `accept`."""
    weights = np.array([w for _, w in templates])
    weights = weights / weights.sum()
    while True:
        template = templates[int(rng.choice(len(templates), p=weights))][0]
        glosses, text = template(rng)
        if MIN_GLOSSES <= len(glosses) <= MAX_GLOSSES and accept(glosses):
            return glosses, text
