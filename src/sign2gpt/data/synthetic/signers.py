"""Simulated signers: what differs between people in front of the camera.

A signer changes where the body sits in the frame and how large it is, the skin, hair, clothes
and background colours, the signing speed and the camera noise. A signer never changes what a
sign is (`signs.py`): the same gloss makes the same motion, up to the signer's placement and
scale, which is what a model must learn to see through (and what a test-only signer checks).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sign2gpt.data.synthetic.signs import HAND_PALETTE

SKIN_TONES = ((241, 194, 125), (224, 172, 105), (198, 134, 66), (141, 85, 36), (255, 219, 172),
              (170, 110, 70))
HAIR_TONES = ((40, 30, 25), (90, 60, 30), (200, 170, 110), (120, 120, 120), (20, 20, 20))


@dataclass(frozen=True)
class Signer:
    """Appearance and habits of one simulated signer."""

    signer_id: str  # "Signer01", as in the PHOENIX `speaker` column
    offset: tuple[float, float]  # body centre shift, fraction of the frame
    scale: float  # body size factor
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    clothes: tuple[int, int, int]
    background: tuple[int, int, int]
    speed: float  # > 1: slower signing (longer signs)
    noise: float  # factor on the corpus noise level


def _colour_far_from(
    rng: np.random.Generator, lo: int, hi: int, tint: int, avoid: list, min_dist: float
) -> tuple:
    """A grey in [lo, hi] tinted by up to ±`tint` per channel, at least `min_dist` (RGB
    distance) from every `avoid` colour, so hands always stand out from what is behind them."""
    for _ in range(1000):
        c = np.clip(rng.integers(lo, hi + 1) + rng.integers(-tint, tint + 1, size=3), 0, 255)
        if all(np.linalg.norm(c - np.asarray(a)) >= min_dist for a in avoid):
            return tuple(int(v) for v in c)
    raise RuntimeError("could not draw a distinct colour")  # cannot happen with these ranges


def make_signer(index: int, seed: int) -> Signer:
    """Signer number `index` (0-based) of a corpus seeded with `seed`."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5169E5, index]))
    skin = np.asarray(SKIN_TONES[index % len(SKIN_TONES)]) + rng.integers(-12, 13, size=3)
    skin = tuple(int(v) for v in np.clip(skin, 0, 255))
    palette = [tuple(c) for c in HAND_PALETTE]
    background = _colour_far_from(rng, 40, 190, 30, palette + [skin], 100)
    clothes = _colour_far_from(rng, 15, 150, 60, palette + [skin, background], 80)
    return Signer(
        signer_id=f"Signer{index + 1:02d}",
        offset=(float(rng.uniform(-0.05, 0.05)), float(rng.uniform(-0.04, 0.04))),
        scale=float(rng.uniform(0.88, 1.1)),
        skin=skin,
        hair=HAIR_TONES[int(rng.integers(len(HAIR_TONES)))],
        clothes=clothes,
        background=background,
        speed=float(rng.uniform(0.8, 1.25)),
        noise=float(rng.uniform(0.6, 1.4)),
    )


def make_signers(n: int, seed: int) -> list[Signer]:
    """`n` signers (`Signer01`..), a pure function of (`n`, `seed`)."""
    return [make_signer(i, seed) for i in range(n)]
