"""Policies on small Bernoulli problems whose best arm is known.

Each check averages over a fixed group of 8 seeds. The thresholds leave a wide margin below
the lowest (or above the highest) average seen over 50 other groups of 8 seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np
import pytest

from bandits import POLICIES, make_bandit

SEEDS = range(8)


def pull_history(
    name: str, phases: Sequence[tuple[Sequence[float], int]], seed: int, **options: Any
) -> np.ndarray:
    """Arms pulled on a Bernoulli problem given as ``(success rates, number of pulls)`` phases."""
    bandit = make_bandit(name, len(phases[0][0]), seed=seed, **options)
    draws = np.random.default_rng(10_000 + seed).random(sum(steps for _, steps in phases))
    means = [rates for rates, steps in phases for _ in range(steps)]
    arms = np.empty(draws.size, dtype=np.int64)
    for t, draw in enumerate(draws):
        arm = bandit.select()
        arms[t] = arm
        bandit.update(arm, 1.0 if draw < means[t][arm] else 0.0)
    return arms


# Stationary: arm 0 is best. Uniform pulls it 1/5 of the time.
STATIONARY = [((0.8, 0.5, 0.5, 0.4, 0.3), 1000)]


def best_arm_share(name: str, **options: Any) -> float:
    """Share of all pulls that go to arm 0, averaged over ``SEEDS``."""
    return float(
        np.mean([np.mean(pull_history(name, STATIONARY, s, **options) == 0) for s in SEEDS])
    )


# Racing spends pulls on deciding each arm against a control, not on the best arm.
@pytest.mark.parametrize("name", sorted(set(POLICIES) - {"uniform", "racing"}))
def test_learning_policies_pull_the_best_arm_far_more_than_uniform(name: str) -> None:
    uniform = best_arm_share("uniform")
    assert uniform == pytest.approx(0.2)
    # lowest averages over 50 other seed groups: D-UCB 0.50, SW-UCB 0.60, EXP3 0.63,
    # epsilon-greedy 0.79, Thompson 0.90
    assert best_arm_share(name) > 2 * uniform


# Piecewise stationary: arm 0 is best for 500 pulls, then arm 2 is; we watch the 250 pulls
# after the change. Uniform gives arm 2 a third of them.
PIECEWISE = [((0.8, 0.5, 0.2), 500), ((0.5, 0.4, 0.9), 250)]


@cache
def new_best_share(name: str, decay: float | None = None) -> float:
    """Share of the pulls after the change that go to the new best arm, averaged over ``SEEDS``."""
    options = {} if decay is None else {"decay": decay}
    shares = [np.mean(pull_history(name, PIECEWISE, s, **options)[500:] == 2) for s in SEEDS]
    return float(np.mean(shares))


def test_stationary_thompson_sampling_is_slow_to_follow_a_change() -> None:
    # highest average over 50 other seed groups: 0.14
    assert new_best_share("thompson") < 0.25


# (policy, decay, floor); lowest averages over 50 other seed groups: 0.52, 0.67, 0.75, 0.78
ADAPTIVE = [
    ("thompson", 0.3, 0.42),
    ("thompson", 0.1, 0.55),
    ("discounted-ucb", None, 0.6),
    ("sliding-window-ucb", None, 0.6),
]


@pytest.mark.parametrize(("name", "decay", "floor"), ADAPTIVE)
def test_non_stationary_policies_move_to_the_new_best_arm(
    name: str, decay: float | None, floor: float
) -> None:
    adaptive = new_best_share(name, decay)
    assert adaptive > floor
    assert adaptive > 1 / 3 + 0.05  # more than uniform
    assert adaptive > new_best_share("thompson") + 0.25  # much faster than stationary Thompson
