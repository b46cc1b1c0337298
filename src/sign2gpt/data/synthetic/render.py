"""Render a gloss sequence as a video of a simulated signer.

Two steps. `plan_motion` lays out the timeline: a rest pose, then for each gloss a transition
(co-articulation: the hands travel from where the last sign ended to where this one starts,
changing shape halfway) and the sign itself, then a transition back to rest. It records the
frame span of every gloss: the true segments. `draw_frames` paints all frames at once with
NumPy: each body part is a signed-distance field over a precomputed pixel grid, [T, S, S] for
the parts that move, turned into an anti-aliased coverage and composited back to front.

Body units (as in `signs.py`): origin between the shoulders, x to the signer's dominant side
(image right), y down, one unit = shoulder half-width = 0.185 × image size × signer scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sign2gpt.data.synthetic.signers import Signer
from sign2gpt.data.synthetic.signs import FACE_CUES, HAND_PALETTE, REST_LEFT, REST_RIGHT, sign_for

UNIT = 0.185  # body unit as a fraction of the image size (times the signer's scale)
HAND_RADIUS = 0.34
REST_SHAPE = 0  # a loose fist
REST_FRAMES = (3, 6)  # still frames before the first and after the last sign
SHOULDERS = ((0.95, 0.05), (-0.95, 0.05))  # right (dominant), left
HEAD = ((0.0, -1.1), 0.55)
MOUTH = (0.0, -0.85)


@dataclass
class Timeline:
    """Per-frame state of hands and face ([T, ...] arrays) and the gloss segments."""

    right: np.ndarray  # [T, 2] body units
    left: np.ndarray  # [T, 2]
    angle_r: np.ndarray  # [T] radians
    angle_l: np.ndarray  # [T]
    shape_r: np.ndarray  # [T] int, index into HAND_SHAPES
    shape_l: np.ndarray  # [T]
    colour_r: np.ndarray  # [T, 3] float RGB
    colour_l: np.ndarray  # [T, 3]
    face_cue: np.ndarray  # [T] int, index into FACE_CUES
    face: np.ndarray  # [T] float intensity in [0, 1]
    segments: list[tuple[int, int]]  # (start, end) frames of each gloss, end exclusive

    @property
    def num_frames(self) -> int:
        return len(self.face)


def _state(n: int, *, right, left, angle_r, angle_l, shape_r, shape_l, colour_r, colour_l,
           face_cue=0, face=None) -> dict[str, np.ndarray]:
    """A block of `n` frames; scalars and single poses are broadcast over time."""
    return {
        "right": np.broadcast_to(np.asarray(right, float), (n, 2)),
        "left": np.broadcast_to(np.asarray(left, float), (n, 2)),
        "angle_r": np.broadcast_to(np.asarray(angle_r, float), (n,)),
        "angle_l": np.broadcast_to(np.asarray(angle_l, float), (n,)),
        "shape_r": np.broadcast_to(np.asarray(shape_r, int), (n,)),
        "shape_l": np.broadcast_to(np.asarray(shape_l, int), (n,)),
        "colour_r": np.broadcast_to(np.asarray(colour_r, float), (n, 3)),
        "colour_l": np.broadcast_to(np.asarray(colour_l, float), (n, 3)),
        "face_cue": np.broadcast_to(np.asarray(face_cue, int), (n,)),
        "face": np.broadcast_to(np.asarray(0.0 if face is None else face, float), (n,)),
    }


def _first(block: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v[0] for k, v in block.items()}


def _last(block: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v[-1] for k, v in block.items()}


def _transition(a: dict[str, np.ndarray], b: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """`n` in-between frames from state `a` to `b` (co-articulation, no face cue)."""
    f = (np.arange(n) + 1.0) / (n + 1.0)
    s = f * f * (3.0 - 2.0 * f)
    lerp = {k: a[k] + (b[k] - a[k]) * (s[:, None] if np.ndim(a[k]) else s)
            for k in ("right", "left", "angle_r", "angle_l")}
    late = f >= 0.5  # hand shape and colour switch halfway
    return _state(
        n, **lerp,
        shape_r=np.where(late, b["shape_r"], a["shape_r"]),
        shape_l=np.where(late, b["shape_l"], a["shape_l"]),
        colour_r=np.where(late[:, None], b["colour_r"], a["colour_r"]),
        colour_l=np.where(late[:, None], b["colour_l"], a["colour_l"]),
    )


def plan_motion(
    glosses: list[str],
    signer: Signer,
    rng: np.random.Generator,
    *,
    frames_per_gloss: tuple[int, int] = (7, 11),
    transition_frames: tuple[int, int] = (2, 4),
) -> Timeline:
    """Lay out rest → (transition, sign)* → transition → rest for `glosses`."""
    skin = np.asarray(signer.skin, float)
    rest = _state(1, right=REST_RIGHT, left=REST_LEFT, angle_r=0.0, angle_l=0.0,
                  shape_r=REST_SHAPE, shape_l=REST_SHAPE, colour_r=skin, colour_l=skin)
    rest0 = _first(rest)
    blocks = [_state(int(rng.integers(REST_FRAMES[0], REST_FRAMES[1] + 1)), **rest0)]
    segments: list[tuple[int, int]] = []
    t = len(blocks[0]["face"])
    for gloss in glosses:
        sign = sign_for(gloss)
        drawn = int(rng.integers(frames_per_gloss[0], frames_per_gloss[1] + 1))
        n = max(2, round(drawn * signer.speed))
        pose = sign.pose(np.linspace(0.0, 1.0, n))
        colour = np.asarray(HAND_PALETTE[sign.colour], float)
        one_handed = sign.two_handed == "none"
        block = _state(
            n, right=pose["right"], left=pose["left"],
            angle_r=pose["angle_r"], angle_l=pose["angle_l"],
            shape_r=sign.shape, shape_l=REST_SHAPE if one_handed else sign.left_shape,
            colour_r=colour, colour_l=skin if one_handed else colour,
            face_cue=FACE_CUES.index(sign.face), face=pose["face"],
        )
        k = int(rng.integers(transition_frames[0], transition_frames[1] + 1))
        if k > 0:
            blocks.append(_transition(_last(blocks[-1]), _first(block), k))
            t += k
        segments.append((t, t + n))
        blocks.append(block)
        t += n
    k = int(rng.integers(transition_frames[0], transition_frames[1] + 1))
    if k > 0:
        blocks.append(_transition(_last(blocks[-1]), rest0, k))
    blocks.append(_state(int(rng.integers(REST_FRAMES[0], REST_FRAMES[1] + 1)), **rest0))
    cat = {key: np.concatenate([b[key] for b in blocks]) for key in blocks[0]}
    tremor = 0.015  # small involuntary hand movement, body units
    cat["right"] = cat["right"] + rng.normal(0.0, tremor, cat["right"].shape)
    cat["left"] = cat["left"] + rng.normal(0.0, tremor, cat["left"].shape)
    return Timeline(segments=segments, **cat)


# ---------------------------------------------------------------- drawing


class _Canvas:
    """Pixel grid of one signer at one image size, in body units, for vectorised SDFs."""

    def __init__(self, signer: Signer, size: int):
        self.size = size
        self.unit = UNIT * size * signer.scale  # pixels per body unit
        self.cx = size * (0.5 + signer.offset[0])  # pixel position of the body origin
        self.cy = size * (0.5 + signer.offset[1])
        pix = np.arange(size, dtype=np.float32) + 0.5
        self.xs = (pix - self.cx) / self.unit  # [S] body x of each pixel column
        self.ys = (pix - self.cy) / self.unit  # [S] body y of each pixel row
        self.x, self.y = self.xs[None, :], self.ys[:, None]  # [1, S], [S, 1]

    def coverage(self, sdf: np.ndarray) -> np.ndarray:
        """Anti-aliased coverage in [0, 1] from a signed distance in body units."""
        return np.clip(0.5 - sdf * np.float32(self.unit), 0.0, 1.0)

    def windows(self, centre: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
        """Per-frame square pixel windows around `centre` ([T, 2] body units) that hold a
        shape of `radius` body units: row and column indices [T, W], clipped to the image
        (a clipped index repeats a border pixel, which is drawn identically)."""
        half = int(np.ceil(radius * self.unit)) + 1
        offs = np.arange(-half, half + 1)
        px = np.rint(self.cx + centre[:, 0] * self.unit).astype(np.intp)
        py = np.rint(self.cy + centre[:, 1] * self.unit).astype(np.intp)
        cols = np.clip(px[:, None] + offs, 0, self.size - 1)
        rows = np.clip(py[:, None] + offs, 0, self.size - 1)
        return rows, cols


def _circle(x, y, cx, cy, r):
    return np.sqrt((x - cx) ** 2 + (y - cy) ** 2) - r


def _box(x, y, cx, cy, hw, hh, round_=0.0):
    qx, qy = np.abs(x - cx) - hw + round_, np.abs(y - cy) - hh + round_
    outside = np.sqrt(np.maximum(qx, 0) ** 2 + np.maximum(qy, 0) ** 2)
    return outside + np.minimum(np.maximum(qx, qy), 0) - round_


def _capsule(x, y, ax, ay, bx, by, r):
    """Distance to the segment a-b minus r (ends broadcast against the grid: [T, 1, 1])."""
    px, py, dx, dy = x - ax, y - ay, bx - ax, by - ay
    h = np.clip((px * dx + py * dy) / np.maximum(dx * dx + dy * dy, 1e-9), 0.0, 1.0)
    return np.sqrt((px - h * dx) ** 2 + (py - h * dy) ** 2) - r


def _ellipse(x, y, a, b):
    """Approximate SDF of an axis-aligned ellipse at the origin (exact on the axes)."""
    return (np.sqrt((x / a) ** 2 + (y / b) ** 2) - 1.0) * np.minimum(a, b)


def _hand_sdf(x, y, pos, angle, shape) -> np.ndarray:
    """SDF of one hand per frame ([T, W, W] on window grids x [T, 1, W], y [T, W, 1]);
    the shape may change from frame to frame."""
    r = np.float32(HAND_RADIUS)
    c, s = _f32(np.cos(angle))[:, None, None], _f32(np.sin(angle))[:, None, None]
    dx, dy = x - _f32(pos[:, 0])[:, None, None], y - _f32(pos[:, 1])[:, None, None]
    u, v = dx * c + dy * s, -dx * s + dy * c  # hand-aligned coordinates
    dist = np.sqrt(dx * dx + dy * dy)
    shapes = np.stack([
        dist - r,  # fist
        _ellipse(u, v, 1.35 * r, 0.55 * r),  # flat
        np.minimum(dist - 0.7 * r, _capsule(u, v, 0.0, 0.0, 1.75 * r, 0.0, 0.17 * r)),  # point
        np.abs(dist - 0.72 * r) - 0.3 * r,  # ring
    ])  # order of HAND_SHAPES
    return np.take_along_axis(shapes, shape[None, :, None, None].astype(np.intp), axis=0)[0]


HAND_EXTENT = 1.92 * HAND_RADIUS  # farthest point of any hand shape from its centre


def _f32(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)


def _static_layer(canvas: _Canvas, signer: Signer) -> np.ndarray:
    """Background, torso, neck, head, hair and eyes: [S, S, 3] float32."""
    x, y = canvas.x, canvas.y
    img = np.empty((canvas.size, canvas.size, 3), np.float32)
    img[:] = signer.background
    (hx, hy), hr = HEAD
    layers = [
        (_box(x, y, 0.0, 1.35, 1.05, 1.3, 0.4), signer.clothes),  # torso
        (_box(x, y, 0.0, -0.35, 0.2, 0.35), signer.skin),  # neck
        (_circle(x, y, hx, hy, hr), signer.skin),  # head
        (np.maximum(_circle(x, y, hx, hy - 0.08, hr + 0.05), y - (hy - 0.25)), signer.hair),
        (_circle(x, y, -0.2, hy - 0.02, 0.075), (25, 25, 30)),  # eyes
        (_circle(x, y, 0.2, hy - 0.02, 0.075), (25, 25, 30)),
    ]
    for sdf, colour in layers:
        a = canvas.coverage(sdf)[..., None]
        img += a * (_f32(colour) - img)
    return img


def _paint(frames, canvas, centre, radius, sdf_fn, colour) -> None:
    """Composite a moving shape in place: only inside per-frame windows around `centre`.

    `sdf_fn(x [T, 1, W], y [T, W, 1]) -> [T, W, W]` in body units; colour [3] or [T, 3]."""
    rows, cols = canvas.windows(centre, radius)
    alpha = canvas.coverage(sdf_fn(canvas.xs[cols][:, None, :], canvas.ys[rows][:, :, None]))
    colour = _f32(colour)
    colour = colour[:, None, None, :] if colour.ndim == 2 else colour
    t = np.arange(len(rows))[:, None, None]
    index = (t, rows[:, :, None], cols[:, None, :])
    region = frames[index]  # [T, W, W, 3]
    frames[index] = region + alpha[..., None] * (colour - region)


def draw_frames(
    timeline: Timeline, signer: Signer, *, image_size: int, noise: float, rng: np.random.Generator
) -> np.ndarray:
    """Paint a timeline: uint8 [T, S, S, 3]."""
    canvas = _Canvas(signer, image_size)
    T = timeline.num_frames
    frames = np.broadcast_to(_static_layer(canvas, signer), (T, image_size, image_size, 3)).copy()
    col = lambda v: _f32(v)[:, None, None]  # noqa: E731  [T] → [T, 1, 1]

    # face: eyebrows move with brows_up / brows_down, the mouth opens with mouth_open
    cue = np.asarray(FACE_CUES)[timeline.face_cue]
    up = np.where(cue == "brows_up", timeline.face, 0.0)
    down = np.where(cue == "brows_down", timeline.face, 0.0)
    brow_y = HEAD[0][1] - 0.2 - 0.14 * up + 0.06 * down  # [T]
    tilt = 0.1 * down  # inner ends drop when frowning
    head = np.broadcast_to(np.asarray(HEAD[0], float), (T, 2))
    inner_y, outer_y = col(brow_y + tilt), col(brow_y)
    for side in (-1.0, 1.0):
        _paint(frames, canvas, head, HEAD[1],
               lambda x, y, side=side: _capsule(x, y, side * 0.08, inner_y, side * 0.32, outer_y, 0.045),
               signer.hair)
    mouth_h = 0.04 + 0.14 * np.where(cue == "mouth_open", timeline.face, 0.0)
    _paint(frames, canvas, head, HEAD[1],
           lambda x, y: _ellipse(x - MOUTH[0], y - MOUTH[1], np.float32(0.16), col(mouth_h)),
           (110, 35, 45))

    # arms (sleeves) from the shoulders to the hands, then the hands, dominant hand on top
    sleeve = _f32(signer.clothes) * 0.8
    for (sx, sy), pos in zip(SHOULDERS[::-1], (timeline.left, timeline.right)):
        mid = (pos + [sx, sy]) / 2.0
        reach = float(np.max(np.hypot(pos[:, 0] - sx, pos[:, 1] - sy))) / 2.0 + 0.2
        _paint(frames, canvas, mid, reach,
               lambda x, y, sx=sx, sy=sy, pos=pos: _capsule(x, y, sx, sy, col(pos[:, 0]), col(pos[:, 1]), 0.16),
               sleeve)
    for pos, angle, shape, colour in (
        (timeline.left, timeline.angle_l, timeline.shape_l, timeline.colour_l),
        (timeline.right, timeline.angle_r, timeline.shape_r, timeline.colour_r),
    ):
        _paint(frames, canvas, pos, HAND_EXTENT,
               lambda x, y, pos=pos, angle=angle, shape=shape: _hand_sdf(x, y, pos, angle, shape), colour)

    # camera: a little exposure change per video and per-pixel sensor noise
    frames *= np.float32(1.0 + rng.normal(0.0, 0.03))
    sigma = noise * 255.0 * signer.noise
    if sigma > 0:
        frames += rng.standard_normal(frames.shape, dtype=np.float32) * np.float32(sigma)
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


def render_video(
    glosses: list[str],
    signer: Signer,
    rng: np.random.Generator,
    *,
    image_size: int = 64,
    frames_per_gloss: tuple[int, int] = (7, 11),
    transition_frames: tuple[int, int] = (2, 4),
    noise: float = 0.04,
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Frames uint8 [T, S, S, 3] of `signer` signing `glosses`, and each gloss's (start, end)."""
    timeline = plan_motion(
        glosses, signer, rng, frames_per_gloss=tuple(frames_per_gloss),
        transition_frames=tuple(transition_frames),
    )
    frames = draw_frames(timeline, signer, image_size=image_size, noise=noise, rng=rng)
    return frames, timeline.segments
