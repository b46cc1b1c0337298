"""Temporally consistent clip augmentation and ImageNet normalisation (spec §2.3).

One parameter set is drawn per clip and applied to every frame, as the official code does
through albumentations' additional targets. Train, in order: rotate ±5° (p=0.3),
RandomResizedCrop to S (scale 0.875-1, ratio 0.9-1.1), horizontal flip (p=0.5), colour jitter
(brightness=contrast=saturation=0.16, hue=0.04, p=0.3, the four in random order), greyscale
(p=0.2), normalise. Eval: plain bilinear resize to S, normalise.

Rotation, crop, resize and flip are one affine map, so each frame is resampled once
(`affine_grid` + `grid_sample`, bilinear, reflected border: albumentations uses reflect-101,
which differs only in whether the edge pixel is repeated); the one grid is shared by all T
frames. Colour ops run on the S×S output.
torchvision is not used (it is not part of the pinned stack).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from sign2gpt.core.errors import ConfigError
from sign2gpt.runtime.device import to_device

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_GREY = (0.299, 0.587, 0.114)  # ITU-R 601 luma, as PIL / OpenCV use for greyscale


@dataclass(frozen=True)
class AugmentConfig:
    """Train-time augmentation; the defaults are the official code's."""

    enabled: bool = True  # False: train uses the eval transform (plain resize)
    rotate_deg: float = 5.0
    rotate_p: float = 0.3
    crop_scale: tuple[float, float] = (0.875, 1.0)
    crop_ratio: tuple[float, float] = (0.9, 1.1)
    hflip: bool = True  # swaps the dominant hand; on in the official code
    hflip_p: float = 0.5
    jitter_p: float = 0.3
    brightness: float = 0.16
    contrast: float = 0.16
    saturation: float = 0.16
    hue: float = 0.04
    grey_p: float = 0.2

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> AugmentConfig:
        """Build from a config mapping; an unknown key is a ConfigError naming it."""
        if d is None:
            return cls()
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(f"augment: unknown key(s) {unknown}; known: {sorted(names)}")
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(**kw)


@dataclass(frozen=True)
class ClipParams:
    """One draw of the train augmentation, shared by every frame of a clip."""

    angle: float  # degrees, 0 when not rotated
    crop: tuple[float, float, float, float]  # x0, y0, w, h in input pixels (of the rotated image)
    flip: bool
    jitter: tuple[float, float, float, float] | None  # brightness, contrast, saturation, hue
    jitter_order: tuple[int, ...]
    grey: bool


def draw_params(height: int, width: int, cfg: AugmentConfig, rng: np.random.Generator) -> ClipParams:
    """Draw one clip's augmentation from `rng` (a fixed number of draws per branch)."""
    angle = float(rng.uniform(-cfg.rotate_deg, cfg.rotate_deg)) if rng.random() < cfg.rotate_p else 0.0
    crop = _random_resized_crop(height, width, cfg.crop_scale, cfg.crop_ratio, rng)
    flip = bool(cfg.hflip and rng.random() < cfg.hflip_p)
    jitter = None
    order: tuple[int, ...] = (0, 1, 2, 3)
    if rng.random() < cfg.jitter_p:
        jitter = (
            float(rng.uniform(max(0.0, 1 - cfg.brightness), 1 + cfg.brightness)),
            float(rng.uniform(max(0.0, 1 - cfg.contrast), 1 + cfg.contrast)),
            float(rng.uniform(max(0.0, 1 - cfg.saturation), 1 + cfg.saturation)),
            float(rng.uniform(-cfg.hue, cfg.hue)),
        )
        order = tuple(int(i) for i in rng.permutation(4))
    grey = bool(rng.random() < cfg.grey_p)
    return ClipParams(angle, crop, flip, jitter, order, grey)


def _random_resized_crop(
    h: int, w: int, scale: tuple[float, float], ratio: tuple[float, float], rng: np.random.Generator
) -> tuple[float, float, float, float]:
    """torchvision's RandomResizedCrop box search (10 tries, then the whole image), sub-pixel."""
    area = h * w
    log_r = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(*log_r))
        cw, ch = math.sqrt(target * aspect), math.sqrt(target / aspect)
        if 0 < cw <= w and 0 < ch <= h:
            return float(rng.uniform(0, w - cw)), float(rng.uniform(0, h - ch)), cw, ch
    return 0.0, 0.0, float(w), float(h)


def _affine_theta(p: ClipParams, h: int, w: int) -> torch.Tensor:
    """[1, 2, 3] map from output coords in [-1, 1] to input coords (align_corners=False)."""
    x0, y0, cw, ch = p.crop
    sign = -1.0 if p.flip else 1.0
    # output (u, v) -> rotated-image pixel offset from the image centre
    a = np.array([[sign * cw / 2, 0.0], [0.0, ch / 2]])
    b = np.array([x0 + cw / 2 - w / 2, y0 + ch / 2 - h / 2])
    # rotated image -> source image, about the centre (pixel space, so non-square images work)
    t = math.radians(p.angle)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    to_norm = np.diag([2.0 / w, 2.0 / h])
    theta = np.concatenate([to_norm @ rot @ a, (to_norm @ rot @ b)[:, None]], axis=1)
    return torch.as_tensor(theta, dtype=torch.float32)[None]


def as_clip_tensor(clip: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Check a uint8 clip [T, H, W, 3] and return it as a torch tensor (no copy for numpy)."""
    t = torch.from_numpy(np.ascontiguousarray(clip)) if isinstance(clip, np.ndarray) else clip
    if t.dtype != torch.uint8 or t.ndim != 4 or t.shape[-1] != 3 or t.shape[0] == 0:
        raise ValueError(f"expected a non-empty uint8 clip [T, H, W, 3], got {t.dtype} {tuple(t.shape)}")
    return t


def _to_channels(clip: torch.Tensor) -> torch.Tensor:
    """uint8 [T, H, W, 3] -> float [T, 3, H, W] in [0, 255], channels-last in memory (no
    transpose copy; interpolate and grid_sample are fastest on this layout)."""
    return clip.permute(0, 3, 1, 2).float()


def _grey(x: torch.Tensor) -> torch.Tensor:
    """[T, 3, H, W] -> [T, 1, H, W] luma."""
    return _GREY[0] * x[:, 0:1] + _GREY[1] * x[:, 1:2] + _GREY[2] * x[:, 2:3]


def _blend(x: torch.Tensor, other: torch.Tensor, factor: float) -> torch.Tensor:
    """factor * x + (1 - factor) * other, clamped to [0, 1]."""
    return torch.lerp(other.expand_as(x), x, factor).clamp_(0, 1)


def _rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """[T, 3, H, W] RGB in [0, 1] -> HSV with every channel in [0, 1]."""
    maxc, arg = x.max(1, keepdim=True)  # arg: which channel is the maximum (0 r, 1 g, 2 b)
    delta = maxc - x.amin(1, keepdim=True)
    diffs = x.roll(-1, 1) - x.roll(-2, 1)  # (g - b, b - r, r - g): the numerator for each arg
    h = diffs.gather(1, arg).div_(delta.clamp_min(1e-12)).add_(2.0 * arg)  # sector in [-1, 5]
    h = torch.where(delta > 0, h.remainder_(6.0).div_(6.0), 0.0)
    s = delta.div_(maxc.clamp_min(1e-12))
    return torch.cat([h, s, maxc], 1)


def _hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    h, s, v = x.unbind(1)
    k = torch.stack([(5 + h * 6) % 6, (3 + h * 6) % 6, (1 + h * 6) % 6], 1)  # [T, 3, H, W]
    f = (torch.minimum(k, 4 - k)).clamp(0, 1)
    return v[:, None] - v[:, None] * s[:, None] * f


def _adjust_hue(x: torch.Tensor, shift: float) -> torch.Tensor:
    hsv = _rgb_to_hsv(x)
    hsv[:, 0] = (hsv[:, 0] + shift) % 1.0
    return _hsv_to_rgb(hsv).clamp_(0, 1)


def _colour(x: torch.Tensor, p: ClipParams) -> torch.Tensor:
    """Colour jitter and greyscale on float [T, 3, S, S] in [0, 1]."""
    if p.jitter is not None:
        bri, con, sat, hue = p.jitter
        for op in p.jitter_order:
            if op == 0:
                x = (x * bri).clamp_(0, 1)
            elif op == 1:  # towards the frame's mean grey level
                x = _blend(x, _grey(x).mean(dim=(1, 2, 3), keepdim=True), con)
            elif op == 2:  # towards the frame's greyscale image
                x = _blend(x, _grey(x), sat)
            elif op == 3 and hue != 0.0:
                x = _adjust_hue(x, hue)
    if p.grey:
        x = _grey(x).expand_as(x).contiguous()
    return x


@functools.cache
def _imagenet_stats(device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """The ImageNet mean and std [3, 1, 1] on `device`, copied there once per process (a copy per
    clip would make the host wait for the GPU each time); plain tensors even when first asked for
    under inference mode."""
    with torch.inference_mode(False):
        mean = torch.tensor(IMAGENET_MEAN, dtype=dtype)[:, None, None]
        std = torch.tensor(IMAGENET_STD, dtype=dtype)[:, None, None]
        return mean.to(device), std.to(device)


def normalize(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """float [T, 3, H, W] with values in [0, scale] -> ImageNet-normalised, in one fused op."""
    mean, std = _imagenet_stats(x.device, x.dtype)
    return torch.addcmul(-mean / std, x, 1.0 / (scale * std))


def eval_transform(clip: np.ndarray | torch.Tensor, size: int) -> torch.Tensor:
    """uint8 [T, H, W, 3] -> float [T, 3, size, size]: bilinear resize (no crop), normalise."""
    x = _to_channels(as_clip_tensor(clip))
    if x.shape[-2:] != (size, size):  # bilinear interpolation stays within [0, 255]: no clamp
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return normalize(x, 255.0).contiguous()


def apply_params(clip: np.ndarray | torch.Tensor, params: ClipParams, size: int) -> torch.Tensor:
    """Apply one drawn parameter set to every frame: uint8 [T, H, W, 3] -> float [T, 3, S, S]."""
    c = as_clip_tensor(clip)
    t, h, w, _ = c.shape
    x = _to_channels(c)
    grid = F.affine_grid(to_device(_affine_theta(params, h, w), x.device), [1, 3, size, size], align_corners=False)
    x = F.grid_sample(x, grid.expand(t, -1, -1, -1), mode="bilinear", padding_mode="reflection", align_corners=False)
    if params.jitter is None and not params.grey:
        return normalize(x, 255.0).contiguous()
    return normalize(_colour(x.div_(255.0), params)).contiguous()


def clip_frames(clip: np.ndarray | torch.Tensor, params: ClipParams | None, size: int) -> torch.Tensor:
    """One clip's model input, on the clip's device: uint8 [T, H, W, 3] -> normalised float
    [T, 3, S, S], with a drawn augmentation or (params None) the plain resize."""
    return eval_transform(clip, size) if params is None else apply_params(clip, params, size)


def augment_clip(
    clip: np.ndarray | torch.Tensor,
    size: int,
    *,
    train: bool,
    rng: np.random.Generator | None = None,
    cfg: AugmentConfig | None = None,
) -> torch.Tensor:
    """The spec §2.3 transform of one clip: uint8 [T, H, W, 3] -> normalised float [T, 3, S, S]."""
    cfg = cfg or AugmentConfig()
    if not train or not cfg.enabled:
        return clip_frames(clip, None, size)
    if rng is None:
        raise ValueError("train augmentation needs a numpy Generator")
    c = as_clip_tensor(clip)
    return clip_frames(c, draw_params(c.shape[1], c.shape[2], cfg, rng), size)
