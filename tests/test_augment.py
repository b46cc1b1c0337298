"""Clip augmentation (spec §2.3): one draw per clip, exact geometry, colour ops, normalisation."""

import dataclasses

import numpy as np
import pytest
import torch

from sign2gpt.core.errors import ConfigError
from sign2gpt.data.augment import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    AugmentConfig,
    ClipParams,
    _adjust_hue,
    _hsv_to_rgb,
    _rgb_to_hsv,
    apply_params,
    augment_clip,
    draw_params,
    eval_transform,
)

MEAN = torch.tensor(IMAGENET_MEAN)[:, None, None]
STD = torch.tensor(IMAGENET_STD)[:, None, None]


def unnormalize(x: torch.Tensor) -> torch.Tensor:
    return x * STD + MEAN


def random_clip(t=4, h=32, w=32, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(t, h, w, 3), dtype=np.uint8)


def identity(h, w, **kw) -> ClipParams:
    base = dict(angle=0.0, crop=(0.0, 0.0, float(w), float(h)), flip=False, jitter=None, jitter_order=(0, 1, 2, 3),
                grey=False)
    base.update(kw)
    return ClipParams(**base)


# a config whose draws are always "everything on", to exercise every branch
ALL_ON = AugmentConfig(rotate_p=1.0, jitter_p=1.0, grey_p=0.0, hflip_p=0.5)


def test_output_shape_dtype_and_eval_determinism():
    clip = random_clip(5, 40, 48)
    a = eval_transform(clip, 24)
    b = augment_clip(clip, 24, train=False)
    assert a.shape == (5, 3, 24, 24) and a.dtype == torch.float32
    assert torch.equal(a, b)
    out = augment_clip(clip, 24, train=True, rng=np.random.default_rng(0), cfg=ALL_ON)
    assert out.shape == (5, 3, 24, 24) and out.dtype == torch.float32 and torch.isfinite(out).all()


def test_imagenet_normalisation():
    clip = np.full((2, 8, 8, 3), 128, dtype=np.uint8)
    out = eval_transform(clip, 8)
    expected = ((torch.full((3, 1, 1), 128 / 255) - MEAN) / STD).expand(3, 8, 8)
    torch.testing.assert_close(out[0], expected)


@pytest.mark.parametrize("seed", range(12))
def test_one_draw_per_clip_identical_frames_stay_identical(seed):
    frame = random_clip(1, 32, 32, seed=100 + seed)
    clip = np.repeat(frame, 6, axis=0)
    out = augment_clip(clip, 20, train=True, rng=np.random.default_rng(seed),
                       cfg=dataclasses.replace(ALL_ON, grey_p=0.5))
    for t in range(1, 6):
        assert torch.equal(out[t], out[0])


def test_the_clip_transform_equals_the_per_frame_transform():
    clip = random_clip(3, 32, 40, seed=1)
    params = draw_params(32, 40, ALL_ON, np.random.default_rng(5))
    whole = apply_params(clip, params, 24)
    for t in range(3):
        torch.testing.assert_close(whole[t], apply_params(clip[t : t + 1], params, 24)[0])


def test_identity_params_match_the_eval_resize():
    clip = random_clip(2, 64, 64, seed=2)
    torch.testing.assert_close(apply_params(clip, identity(64, 64), 32), eval_transform(clip, 32), atol=1e-4, rtol=0)
    torch.testing.assert_close(apply_params(clip, identity(64, 64), 64), eval_transform(clip, 64), atol=1e-4, rtol=0)


def test_flip_really_flips():
    clip = random_clip(2, 16, 16, seed=3)
    flipped = apply_params(clip, identity(16, 16, flip=True), 16)
    torch.testing.assert_close(flipped, eval_transform(clip, 16).flip(-1), atol=1e-4, rtol=0)
    cfg = AugmentConfig(rotate_p=0, crop_scale=(1, 1), crop_ratio=(1, 1), hflip_p=1.0, jitter_p=0, grey_p=0)
    out = augment_clip(clip, 16, train=True, rng=np.random.default_rng(0), cfg=cfg)
    torch.testing.assert_close(out, eval_transform(clip, 16).flip(-1), atol=1e-4, rtol=0)
    no_flip = dataclasses.replace(cfg, hflip=False)  # the config flag turns it off
    out = augment_clip(clip, 16, train=True, rng=np.random.default_rng(0), cfg=no_flip)
    torch.testing.assert_close(out, eval_transform(clip, 16), atol=1e-4, rtol=0)


def test_crop_selects_the_region_and_rotation_turns_the_image():
    clip = random_clip(1, 16, 16, seed=4)
    quadrant = apply_params(clip, identity(16, 16, crop=(8.0, 0.0, 8.0, 8.0)), 8)  # top-right
    torch.testing.assert_close(quadrant, eval_transform(clip[:, 0:8, 8:16], 8), atol=1e-4, rtol=0)
    turned = apply_params(clip, identity(16, 16, angle=90.0), 16)
    ref = eval_transform(clip, 16)
    candidates = [ref.rot90(1, dims=(-2, -1)), ref.rot90(-1, dims=(-2, -1))]
    assert any(torch.allclose(turned, c, atol=1e-4) for c in candidates)


def test_grey_makes_the_channels_equal():
    clip = random_clip(2, 16, 16, seed=5)
    out = unnormalize(apply_params(clip, identity(16, 16, grey=True), 16))
    torch.testing.assert_close(out[:, 0], out[:, 1], atol=1e-4, rtol=0)
    torch.testing.assert_close(out[:, 1], out[:, 2], atol=1e-4, rtol=0)


def test_colour_jitter_ops():
    x = torch.rand(2, 3, 8, 8)
    torch.testing.assert_close(_hsv_to_rgb(_rgb_to_hsv(x)), x, atol=1e-4, rtol=0)
    red = torch.zeros(1, 3, 2, 2)
    red[:, 0] = 1.0
    green = _adjust_hue(red, 1 / 3)
    torch.testing.assert_close(green[0, :, 0, 0], torch.tensor([0.0, 1.0, 0.0]), atol=1e-4, rtol=0)
    clip = random_clip(1, 8, 8, seed=6)
    base = unnormalize(apply_params(clip, identity(8, 8), 8))
    darker = unnormalize(apply_params(clip, identity(8, 8, jitter=(0.5, 1.0, 1.0, 0.0)), 8))
    torch.testing.assert_close(darker, base * 0.5, atol=1e-4, rtol=0)
    flat = unnormalize(apply_params(clip, identity(8, 8, jitter=(1.0, 0.0, 1.0, 0.0)), 8))  # contrast 0
    assert flat.std(dim=(2, 3)).max() < 1e-5


def test_train_draws_are_deterministic_and_vary_with_the_seed():
    clip = random_clip(3, 32, 32, seed=7)
    a = augment_clip(clip, 24, train=True, rng=np.random.default_rng(11))
    b = augment_clip(clip, 24, train=True, rng=np.random.default_rng(11))
    c = augment_clip(clip, 24, train=True, rng=np.random.default_rng(12))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert torch.equal(augment_clip(clip, 24, train=True, cfg=AugmentConfig(enabled=False)), eval_transform(clip, 24))


def test_drawn_parameters_stay_in_range():
    cfg = AugmentConfig()
    for seed in range(200):
        p = draw_params(40, 50, cfg, np.random.default_rng(seed))
        x0, y0, w, h = p.crop
        assert abs(p.angle) <= 5.0
        assert 0 <= x0 and x0 + w <= 50 + 1e-9 and 0 <= y0 and y0 + h <= 40 + 1e-9
        area = w * h / (40 * 50)
        assert area == 1.0 or (0.875 - 1e-9 <= area <= 1.0 and 0.9 - 1e-9 <= w / h <= 1.1 + 1e-9)
        if p.jitter is not None:
            assert all(0.84 <= f <= 1.16 for f in p.jitter[:3]) and abs(p.jitter[3]) <= 0.04


def test_bad_inputs_and_config_keys_are_refused():
    with pytest.raises(ValueError):
        eval_transform(np.zeros((2, 8, 8, 3), dtype=np.float32), 8)
    with pytest.raises(ValueError):
        eval_transform(np.zeros((0, 8, 8, 3), dtype=np.uint8), 8)
    with pytest.raises(ValueError):
        augment_clip(random_clip(), 8, train=True)  # no generator
    with pytest.raises(ConfigError, match="rotat"):
        AugmentConfig.from_dict({"rotation": 3})
    assert AugmentConfig.from_dict({"crop_scale": [0.5, 1.0]}).crop_scale == (0.5, 1.0)
