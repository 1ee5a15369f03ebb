"""Selection rules on known inputs."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from bandits.selection import select_above, select_against_control, select_default, select_top_k

NAN = math.nan


def test_top_k() -> None:
    utilities = [0.2, 0.9, 0.5, 0.7, NAN]
    assert select_top_k(utilities, 2) == [1, 3]
    assert select_top_k(np.array(utilities), 3) == [1, 2, 3]
    assert select_top_k(utilities, 2, exclude=[1]) == [2, 3]
    assert select_top_k(utilities, 10) == [0, 1, 2, 3]  # never the nan arm
    assert select_top_k(utilities, 0) == []
    assert select_top_k([0.5, 0.5, 0.5], 2) == [0, 1]  # ties go to the lower index


def test_above() -> None:
    utilities = [0.2, 0.9, 0.5, 0.7, NAN]
    assert select_above(utilities, 0.5) == [1, 3]  # strictly above
    assert select_above(utilities, 0.49) == [1, 2, 3]
    assert select_above(utilities, 0.49, exclude=(2,)) == [1, 3]
    assert select_above(utilities, 1.0) == []


def test_default_beats_the_main_arm_or_the_prior_mean() -> None:
    utilities = [0.6, 0.55, 0.7, 0.4]
    assert select_default(utilities, main_arm=0) == [2]
    assert select_default(utilities) == [0, 1, 2]  # prior mean 0.5
    assert select_default(utilities, prior_mean=0.65) == [2]
    assert select_default(utilities, main_arm=3) == [0, 1, 2]  # the main arm is never selected
    assert select_default([NAN, 0.55, 0.45], main_arm=0) == [1]  # no main estimate: prior mean
    assert select_default(utilities, main_arm=0, exclude=[2]) == []


def test_against_control_by_hand() -> None:
    helpful = [1.0] * 9 + [0.0]  # mean 0.9, variance (9 * 0.01 + 0.81) / 9 = 0.1
    control = [0.0, 1.0] * 5  # mean 0.5, variance 2.5 / 9
    histories = [helpful, control, [1.0], [0.5] * 5]
    # z = 0.4 / sqrt(0.1 / 10 + (2.5 / 9) / 10) = 2.058..., Phi(z) = 0.980...
    z = 0.4 / math.sqrt(0.01 + 2.5 / 90)
    phi = 0.5 * (1 + math.erf(z / math.sqrt(2)))
    assert phi == pytest.approx(0.9802, abs=1e-4)
    # arm 2 has a single reward; arm 3's mean equals the control's (z = 0)
    assert select_against_control(histories, [1]) == [0]
    assert select_against_control(histories, [1], confidence=0.975) == [0]
    assert select_against_control(histories, [1], confidence=0.99) == []
    assert select_against_control(histories, [1], exclude=[0]) == []


def test_against_the_best_of_several_controls() -> None:
    histories = [[1.0] * 9 + [0.0], [0.0, 1.0] * 5, [1.0] * 10, [0.0] * 3]
    assert select_against_control(histories, [1]) == [0, 2]
    # arm 2 as a control: the bar is its mean 1.0 and no candidate beats it
    assert select_against_control(histories, [1, 2]) == []


def test_against_control_with_zero_variances() -> None:
    assert select_against_control([[1.0, 1.0], [0.0, 0.0]], [1]) == [0]
    assert select_against_control([[0.5, 0.5], [0.5, 0.5]], [1]) == []


def test_against_control_never_selects_controls_or_arms_with_one_reward() -> None:
    histories = [[1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]
    assert select_against_control(histories, [1, 2]) == []


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: select_top_k([0.1, 0.2], -1), "k=-1"),
        (lambda: select_top_k([0.1, 0.2], 1, exclude=[2]), "exclude contains 2"),
        (lambda: select_top_k(np.ones((1, 2)), 1), "utilities has shape (1, 2)"),
        (lambda: select_above([0.1], NAN), "threshold=nan"),
        (lambda: select_default([0.1, 0.2], main_arm=5), "main_arm contains 5"),
        (lambda: select_default([0.1, 0.2], prior_mean=NAN), "prior_mean=nan"),
        (lambda: select_against_control([[1.0, 0.0]] * 2, []), "control_arms=[] is empty"),
        (lambda: select_against_control([[1.0, 0.0]] * 2, [2]), "control_arms contains 2"),
        (lambda: select_against_control([[1.0, 0.0]] * 2, [1], confidence=1.0), "confidence=1.0"),
        (lambda: select_against_control([[1.0, 0.0], [0.0]], [1]), "fewer than 2 rewards"),
        (lambda: select_against_control([[1.0, NAN], [0.0, 1.0]], [1]), "histories[0]"),
        (lambda: select_against_control([], [0]), "histories is empty"),
    ],
)
def test_bad_arguments(call: Callable[[], object], argument: str) -> None:
    with pytest.raises(ValueError, match="accepted") as info:
        call()
    assert argument in str(info.value)
