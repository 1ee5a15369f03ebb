"""Reward helpers on known inputs."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bandits.rewards import binary_gain, cosine_reward, mixed_reward, scaled_gain

finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6)
unit = st.floats(min_value=0.0, max_value=1.0)


def test_binary_gain_is_autosems_did_not_fall() -> None:
    assert binary_gain(0.70, 0.70) == 1.0
    assert binary_gain(0.70, 0.75) == 1.0
    assert binary_gain(0.70, 0.69) == 0.0
    assert binary_gain(0.70, 0.69, tolerance=0.02) == 1.0
    assert binary_gain(0.70, math.nan) == 0.0  # a failed evaluation counts as a fall


def test_scaled_gain_maps_changes_linearly_onto_the_unit_interval() -> None:
    assert scaled_gain(0.5, 0.5) == 0.5
    assert scaled_gain(0.5, 0.525) == pytest.approx(0.75)
    assert scaled_gain(0.5, 0.475) == pytest.approx(0.25)
    assert scaled_gain(0.5, 0.6) == 1.0
    assert scaled_gain(0.5, 0.3) == 0.0
    assert scaled_gain(0.5, 0.51, scale=0.01) == pytest.approx(1.0)
    assert scaled_gain(0.5, math.nan) == 0.0


def test_cosine_reward() -> None:
    assert cosine_reward(0.0) == 0.5
    assert cosine_reward(1.0) == 1.0
    assert cosine_reward(-1.0) == 0.0
    assert cosine_reward(0.5) == 0.75
    assert cosine_reward(1.0000001) == 1.0  # rounding outside [-1, 1] is clipped


def test_mixed_reward_weights_the_gain() -> None:
    assert mixed_reward(1.0, 0.0) == 0.5
    assert mixed_reward(1.0, 0.0, weight=0.25) == 0.25
    assert mixed_reward(0.2, 0.6, weight=1.0) == 0.2
    assert mixed_reward(0.2, 0.6, weight=0.0) == 0.6


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: binary_gain(math.nan, 0.5), "previous=nan"),
        (lambda: binary_gain(0.5, 0.5, tolerance=-0.1), "tolerance=-0.1"),
        (lambda: scaled_gain(math.nan, 0.5), "previous=nan"),
        (lambda: scaled_gain(0.5, 0.5, scale=0.0), "scale=0.0"),
        (lambda: cosine_reward(math.nan), "cos=nan"),
        (lambda: mixed_reward(1.5, 0.5), "gain_reward=1.5"),
        (lambda: mixed_reward(0.5, math.nan), "cos_reward=nan"),
        (lambda: mixed_reward(0.5, 0.5, weight=2.0), "weight=2.0"),
    ],
)
def test_bad_arguments(call: Callable[[], object], argument: str) -> None:
    with pytest.raises(ValueError, match="accepted") as info:
        call()
    assert argument in str(info.value)


@given(previous=finite, current=finite, scale=st.floats(min_value=1e-6, max_value=10.0))
def test_gains_lie_in_the_unit_interval(previous: float, current: float, scale: float) -> None:
    assert binary_gain(previous, current) in (0.0, 1.0)
    value = scaled_gain(previous, current, scale=scale)
    assert 0.0 <= value <= 1.0
    if current > previous:
        assert value >= 0.5
    elif current < previous:
        assert value <= 0.5


@given(cos=st.floats(min_value=-1.5, max_value=1.5), gain=unit, cos_reward=unit, weight=unit)
def test_cosine_and_mixed_rewards_lie_in_the_unit_interval(
    cos: float, gain: float, cos_reward: float, weight: float
) -> None:
    assert 0.0 <= cosine_reward(cos) <= 1.0
    mixed = mixed_reward(gain, cos_reward, weight=weight)
    assert min(gain, cos_reward) - 1e-12 <= mixed <= max(gain, cos_reward) + 1e-12
