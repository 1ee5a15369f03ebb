"""The GP optimiser's model and design: fitted noise, a space-filling start, warm starts."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from bayesopt import INITIAL_DESIGNS, MixingRatioOptimizer, MixingRatioSpace

NAMES = ("a", "b", "c")
OPTIMUM = np.array([1.5, 0.8, 3.2])


def bowl(ratios):
    """0.9 at OPTIMUM, falling by 0.01 per squared ratio unit (0.5 to 0.9 over [0, 5]^3)."""
    r = np.array([ratios[name] for name in NAMES])
    return float(0.9 - 0.01 * np.sum((r - OPTIMUM) ** 2))


def design(optimizer, n):
    """The first n points asked one at a time, each told (an arbitrary score) before the next."""
    points = []
    for _ in range(n):
        ratios = optimizer.ask()
        points.append([ratios[name] for name in optimizer.space.names])
        optimizer.tell(ratios, 0.5 + 0.01 * len(points))
    return np.array(points)


def min_distance(points, space):
    """Smallest distance between two points, in units of the box side."""
    scaled = (points - space.low) / (space.high - space.low)
    return min(math.dist(p, q) for p, q in itertools.combinations(scaled, 2))


@pytest.mark.parametrize("design_name", INITIAL_DESIGNS)
def test_every_initial_design_runs_and_is_seeded(design_name):
    runs = []
    for _ in range(2):
        search = MixingRatioOptimizer(
            MixingRatioSpace(NAMES), n_initial_points=4, initial_design=design_name, seed=3
        )
        search.run(bowl, 6)
        runs.append([t.ratios for t in search.trials])
    assert runs[0] == runs[1]
    assert search.initial_design == design_name


@pytest.mark.parametrize("n_tasks", [2, 3, 4])
def test_default_initial_design_covers_the_box(n_tasks):
    # Ten uniform random points in the unit box often fall within a few hundredths of each
    # other (the closest pair over 30 seeds: 0.011 apart in 2-D, 0.027 in 3-D, 0.093 in 4-D);
    # the default maximin Latin hypercube kept them at least 0.24, 0.38 and 0.50 apart over
    # 20 seeds, each ratio spanning at least 0.81 of its range.
    space = MixingRatioSpace([f"t{i}" for i in range(n_tasks)])
    bound = {2: 0.2, 3: 0.33, 4: 0.45}[n_tasks]
    for seed in range(5):
        points = design(MixingRatioOptimizer(space, seed=seed), 10)
        assert min_distance(points, space) >= bound, seed
        # every ratio's range is used, not only the middle of the box
        spread = (points.max(axis=0) - points.min(axis=0)) / (space.high - space.low)
        assert spread.min() >= 0.75, seed


def test_design_points_are_distinct_across_seeds():
    space = MixingRatioSpace(NAMES)
    first = [tuple(design(MixingRatioOptimizer(space, seed=s), 3)[0]) for s in range(4)]
    assert len(set(first)) == 4


def test_fitted_noise_level_tracks_the_observation_noise():
    space = MixingRatioSpace(NAMES)
    rng = np.random.default_rng(0)
    noisy = MixingRatioOptimizer(space, seed=0)
    assert noisy.noise_std is None  # no GP before the design is told
    noisy.run(lambda r: bowl(r) + 0.02 * rng.standard_normal(), 30)
    exact = MixingRatioOptimizer(space, seed=0)
    exact.run(bowl, 30)
    assert noisy.noise_std is not None and exact.noise_std is not None
    assert 0.01 <= noisy.noise_std <= 0.04
    assert exact.noise_std <= 0.002
