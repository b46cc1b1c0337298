"""FC_m's positional encodings (translate.memory_pe, the paper's Table 4 rows): each adds what it
says before the Linear, a learned table trains and makes positions differ, bad settings are refused."""

from __future__ import annotations

import pytest
import torch

from sign2gpt.core.config import load_config, validate_config
from sign2gpt.core.errors import ConfigError
from sign2gpt.models.memory_projection import LEARNED_POSITIONS, MEMORY_PE, MemoryProjection
from sign2gpt.models.positional import sinusoidal_embedding


def _projection(positional: str) -> MemoryProjection:
    torch.manual_seed(0)
    return MemoryProjection(8, 6, positional=positional)


def test_each_encoding_adds_what_it_says_before_the_linear():
    memory = torch.randn(2, 5, 8)
    sinusoidal, none = _projection("sinusoidal"), _projection("none")
    torch.testing.assert_close(sinusoidal(memory), sinusoidal.linear(memory + sinusoidal_embedding(5, 8)))
    torch.testing.assert_close(none(memory), none.linear(memory))
    zero = _projection("learned_zero")
    torch.testing.assert_close(zero(memory), zero.linear(memory))  # zero-initialised: no PE at the start
    random = _projection("learned_random")
    torch.testing.assert_close(random(memory), random.linear(memory + random.position_embedding[:5]))
    assert random.position_embedding.abs().sum() > 0


def test_positions_differ_only_with_an_encoding():
    """The same frame feature at every position: one output row repeated unless a PE tells them apart."""
    memory = torch.randn(1, 1, 8).expand(1, 4, 8)
    for positional in MEMORY_PE:
        out = _projection(positional)(memory)[0]
        assert torch.allclose(out[0], out[3]) == (positional in ("none", "learned_zero")), positional


def test_a_learned_table_trains_and_stays_in_the_trainable_set():
    projection = _projection("learned_zero")
    projection(torch.randn(2, 5, 8)).square().sum().backward()
    grad = projection.position_embedding.grad
    assert grad[:5].abs().sum() > 0 and grad[5:].abs().sum() == 0  # only the positions the memory has
    assert "position_embedding" in dict(projection.named_parameters())
    assert "position_embedding" not in dict(_projection("sinusoidal").named_parameters())


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="one of"):
        MemoryProjection(8, 6, positional="rope")
    with pytest.raises(ValueError, match="covers"):
        _projection("learned_zero")(torch.randn(1, LEARNED_POSITIONS + 1, 8))
    config = load_config()
    config["translate"]["memory_pe"] = "learned_random"
    validate_config(config)
    config["frames"]["max_frames"] = None  # an uncapped clip could outgrow the table
    with pytest.raises(ConfigError, match=str(LEARNED_POSITIONS)):
        validate_config(config)
