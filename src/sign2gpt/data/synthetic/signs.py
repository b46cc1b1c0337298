"""The gloss → motion lexicon: what each sign looks like.

A sign is a short movement of the dominant hand (a hand shape, a palette colour, a path from a
start to an end location, a rotation of the hand), an optional role for the other hand, and an
optional face cue. The parameters are a pure function of the gloss string, drawn from a SHA-256
counter stream (not Python's salted `hash`, not a library RNG whose stream may change between
versions), so a gloss looks the same in every run, for every signer, and in a corpus rendered
from any CSV, including glosses no grammar knows.

Hand shapes and colours come from deliberately small shared sets (4 shapes × 3 colours), so
dozens of glosses share both and a single frame's colours cannot tell them apart: the model has
to read location, path and motion over time, as with real signing.

Coordinates are in body units (see `render.py`): x to the signer's dominant side, y downward,
origin between the shoulders, shoulder half-width 1, head centre at (0, -1.1).
"""

from __future__ import annotations

import functools
import hashlib
import math
import struct
from dataclasses import dataclass

import numpy as np

HAND_SHAPES = ("fist", "flat", "point", "ring")
# Saturated RGB colours, far from skin, clothes and background tones (see signers.py).
HAND_PALETTE = ((225, 60, 60), (60, 120, 235), (245, 205, 40))
PATHS = ("line", "arc", "circle", "zigzag", "tap")
TWO_HANDED = ("none", "mirror", "parallel", "alternate", "base")
FACE_CUES = ("none", "brows_up", "brows_down", "mouth_open")

# Named places where a sign starts (dominant hand), in body units.
LOCATIONS = {
    "forehead": (0.15, -1.45),
    "cheek": (0.5, -1.05),
    "chin": (0.1, -0.6),
    "shoulder": (0.9, -0.1),
    "chest": (0.2, 0.45),
    "neutral": (0.6, 0.55),
    "high": (0.75, -0.5),
    "side": (1.3, 0.35),
    "low": (0.35, 1.0),
    "centre": (0.0, 0.15),
}
# The box hands stay inside (body units): keeps every sign in frame for any signer.
BOUNDS = ((-1.5, 1.5), (-1.7, 1.25))
REST_RIGHT = (0.8, 1.45)
REST_LEFT = (-0.8, 1.45)


class _HashStream:
    """Uniform numbers from SHA-256(key | counter): stable across Python and NumPy versions."""

    def __init__(self, key: str):
        self.key = key.encode("utf-8")
        self.counter = 0

    def uniform(self, lo: float = 0.0, hi: float = 1.0) -> float:
        digest = hashlib.sha256(self.key + b"\x00" + struct.pack("<Q", self.counter)).digest()
        self.counter += 1
        return lo + (hi - lo) * (int.from_bytes(digest[:8], "little") / 2.0**64)

    def index(self, n: int) -> int:
        return min(int(self.uniform() * n), n - 1)

    def choice(self, items: tuple | list):
        return items[self.index(len(items))]


@dataclass(frozen=True)
class Sign:
    """Motion parameters of one gloss (all positions in body units)."""

    gloss: str
    shape: int  # index into HAND_SHAPES
    colour: int  # index into HAND_PALETTE
    path: str
    start: tuple[float, float]
    end: tuple[float, float]
    amplitude: float  # arc bulge, circle radius, zigzag half-height
    loops: int  # circles, zigzag teeth or taps
    angle: float  # hand orientation at the start (radians)
    turn: float  # hand rotation over the sign (radians)
    motion_fraction: float  # part of the sign spent moving; the rest is a hold at the end
    two_handed: str
    left_shape: int
    face: str

    def pose(self, u: np.ndarray) -> dict[str, np.ndarray]:
        """Hand poses at progress `u` in [0, 1] ([n]).

        Returns right/left positions [n, 2], right/left angles [n], face-cue intensity [n].
        """
        u = np.clip(np.asarray(u, dtype=np.float64) / self.motion_fraction, 0.0, 1.0)
        right = self._path(_ease(u))
        angle_r = self.angle + self.turn * u
        if self.two_handed == "mirror":
            left, angle_l = right * [-1.0, 1.0], math.pi - angle_r
        elif self.two_handed == "alternate":
            left, angle_l = self._path(_ease(1.0 - u)) * [-1.0, 1.0], math.pi - angle_r
        elif self.two_handed == "parallel":
            left, angle_l = right - [0.8, 0.0], angle_r
        elif self.two_handed == "base":
            base = np.array([self.start[0] - 0.55, self.start[1] + 0.3])
            left, angle_l = np.broadcast_to(base, right.shape).copy(), np.zeros_like(angle_r)
        else:
            left, angle_l = np.broadcast_to(REST_LEFT, right.shape).copy(), np.zeros_like(angle_r)
        (x0, x1), (y0, y1) = BOUNDS
        right = np.clip(right, [x0, y0], [x1, y1])
        left = np.clip(left, [x0, y0], [x1, y1])
        face = np.sin(np.pi * np.clip(u, 0, 1)) ** 0.5 if self.face != "none" else np.zeros_like(u)
        return {"right": right, "left": left, "angle_r": angle_r, "angle_l": angle_l, "face": face}

    def _path(self, s: np.ndarray) -> np.ndarray:
        """Dominant-hand position at eased progress `s` ([n] → [n, 2])."""
        p0, p1 = np.array(self.start), np.array(self.end)
        d = p1 - p0
        length = float(np.hypot(*d)) or 1.0
        normal = np.array([-d[1], d[0]]) / length
        line = p0 + s[:, None] * d
        if self.path == "line":
            return line
        if self.path == "arc":
            return line + (self.amplitude * np.sin(np.pi * s))[:, None] * normal
        if self.path == "zigzag":
            tri = 2.0 * np.abs(((s * self.loops * 2.0 + 0.5) % 2.0) - 1.0) - 1.0  # triangle wave
            ramp = np.minimum(1.0, 4.0 * np.minimum(s, 1.0 - s))  # starts and ends on the line
            return line + (self.amplitude * tri * ramp)[:, None] * normal
        if self.path == "tap":
            return p0 + np.abs(np.sin(np.pi * self.loops * s))[:, None] * d
        # circle: `loops` turns around a centre beside the start, from the start back to it
        centre = p0 + np.array([self.amplitude, 0.0])
        theta = math.pi + 2.0 * math.pi * self.loops * s * (1 if self.turn >= 0 else -1)
        return centre + self.amplitude * np.stack([np.cos(theta), np.sin(theta)], axis=1)


def _ease(u: np.ndarray) -> np.ndarray:
    """Smoothstep: signs accelerate out of the start and slow into the end."""
    return u * u * (3.0 - 2.0 * u)


@functools.lru_cache(maxsize=4096)
def sign_for(gloss: str) -> Sign:
    """The motion of `gloss`: a deterministic function of the string (works for any gloss)."""
    h = _HashStream(gloss)
    shape, colour = h.index(len(HAND_SHAPES)), h.index(len(HAND_PALETTE))
    path = h.choice(PATHS)
    sx, sy = LOCATIONS[h.choice(tuple(LOCATIONS))]
    start = (sx + h.uniform(-0.12, 0.12), sy + h.uniform(-0.12, 0.12))
    direction = h.uniform(0.0, 2.0 * math.pi)
    if path == "tap":
        distance, loops = h.uniform(0.2, 0.35), 2 + h.index(2)
    elif path == "circle":
        distance, loops = 0.0, 1 + h.index(2)
    else:
        distance, loops = h.uniform(0.45, 1.1), 1 + h.index(3)
    end = (start[0] + distance * math.cos(direction), start[1] + distance * math.sin(direction))
    amplitude = h.uniform(0.2, 0.4) if path != "circle" else h.uniform(0.22, 0.4)
    two_handed = TWO_HANDED[0] if h.uniform() < 0.45 else h.choice(TWO_HANDED[1:])
    face = FACE_CUES[0] if h.uniform() < 0.6 else h.choice(FACE_CUES[1:])
    return Sign(
        gloss=gloss,
        shape=shape,
        colour=colour,
        path=path,
        start=start,
        end=end,
        amplitude=amplitude,
        loops=loops,
        angle=h.uniform(0.0, math.pi),
        turn=h.uniform(-1.2, 1.2),
        motion_fraction=h.uniform(0.7, 1.0),
        two_handed=two_handed,
        left_shape=h.index(len(HAND_SHAPES)) if two_handed == "base" else shape,
        face=face,
    )


def lexicon(glosses: list[str] | tuple[str, ...]) -> dict[str, Sign]:
    """`{gloss: Sign}` for a vocabulary (e.g. to inspect or plot how similar signs are)."""
    return {g: sign_for(g) for g in glosses}
