"""The random mixing-ratio surfaces of benchmarks/surfaces.py: seeded, bounded, with a known
optimum at least as good as a large independent random sample."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.surfaces import random_surface, surface_family

SEEDS = range(12)


@pytest.fixture(scope="module")
def surfaces():
    return surface_family(SEEDS)


def test_same_seed_same_surface() -> None:
    a, b = random_surface(7), random_surface(7)
    points = np.random.default_rng(0).uniform(0.0, 5.0, size=(200, a.n_ratios))
    assert a.n_ratios == b.n_ratios
    assert a.noise == b.noise
    np.testing.assert_array_equal(a.value(points), b.value(points))
    np.testing.assert_array_equal(a.optimum, b.optimum)
    assert a.f_star == b.f_star


def test_different_seeds_give_different_surfaces(surfaces) -> None:
    stars = {round(s.f_star, 9) for s in surfaces}
    assert len(stars) == len(surfaces)


def test_family_spans_one_to_six_ratios_and_noise_levels() -> None:
    family = [random_surface(seed, locate=False) for seed in range(60)]
    assert {s.n_ratios for s in family} == set(range(1, 7))
    noises = [s.noise for s in family]
    assert any(n == 0.0 for n in noises)
    assert max(noises) <= 0.02
    assert max(noises) >= 0.01


def test_fixed_number_of_ratios() -> None:
    surface = random_surface(3, n_ratios=2, max_ratio=9.0)
    assert surface.n_ratios == 2
    assert surface.names == ("task1", "task2")
    assert np.all(surface.optimum >= 0.0) and np.all(surface.optimum <= 9.0)


def test_scores_are_bounded_like_accuracies(surfaces) -> None:
    rng = np.random.default_rng(1)
    for surface in surfaces:
        points = rng.uniform(0.0, surface.max_ratio, size=(5000, surface.n_ratios))
        values = surface.value(points)
        assert values.shape == (5000,)
        assert np.all(np.isfinite(values))
        assert values.min() > 0.3 and values.max() < 1.0
        assert surface.f_star < 1.0
        # not flat: the optimum is clearly better than a typical point
        assert surface.f_star - surface.f_median > 0.005


def test_stated_optimum_beats_a_large_random_sample(surfaces) -> None:
    rng = np.random.default_rng(12345)
    for surface in surfaces:
        assert np.all(surface.optimum >= 0.0) and np.all(surface.optimum <= surface.max_ratio)
        assert float(surface.value(surface.optimum)) == pytest.approx(surface.f_star, abs=1e-12)
        points = rng.uniform(0.0, surface.max_ratio, size=(50_000, surface.n_ratios))
        assert surface.value(points).max() <= surface.f_star + 1e-9
        assert surface.regret(surface.optimum) == pytest.approx(0.0, abs=1e-12)


def test_noisy_observations_are_seeded_and_centred(surfaces) -> None:
    surface = max(surfaces, key=lambda s: s.noise)
    x = surface.optimum
    first = [surface.observe(x, np.random.default_rng(5)) for _ in range(3)]
    assert first[0] == first[1] == first[2]
    rng = np.random.default_rng(6)
    draws = np.array([surface.observe(x, rng) for _ in range(4000)])
    assert abs(draws.mean() - surface.f_star) < 4 * surface.noise / np.sqrt(4000)
    assert draws.std() == pytest.approx(surface.noise, rel=0.1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seed": -1}, "seed"),
        ({"seed": 0, "n_ratios": 7}, "n_ratios"),
        ({"seed": 0, "n_ratios": 0}, "n_ratios"),
        ({"seed": 0, "max_ratio": 0.0}, "max_ratio"),
    ],
)
def test_bad_arguments_raise_one_line_errors(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        random_surface(**kwargs)


def test_wrong_number_of_ratios_raises() -> None:
    surface = random_surface(0, n_ratios=3)
    with pytest.raises(ValueError, match="expected 3 ratios"):
        surface.value(np.zeros(2))
