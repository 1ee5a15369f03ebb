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
    # 20 seeds, each ratio spanning at least 0.81 of its range. (The default design's size is
    # 4 points; its design, asked for 10, is what this measures.)
    space = MixingRatioSpace([f"t{i}" for i in range(n_tasks)])
    bound = {2: 0.2, 3: 0.33, 4: 0.45}[n_tasks]
    for seed in range(5):
        points = design(MixingRatioOptimizer(space, seed=seed, n_initial_points=10), 10)
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


# -- log expected improvement ---------------------------------------------------------------


@pytest.fixture(scope="module")
def fitted():
    """A GP fitted to 14 noisy trials of a bowl, with skopt's incumbent (the lowest told y)."""
    rng = np.random.default_rng(0)
    search = MixingRatioOptimizer(MixingRatioSpace(NAMES), seed=1)
    search.run(lambda r: bowl(r) + 0.01 * rng.standard_normal(), 14)
    optimizer = search._optimizer
    return optimizer.models[-1], float(min(optimizer.yi))


def test_log_ei_is_the_log_of_skopts_expected_improvement(fitted):
    from skopt.acquisition import gaussian_ei

    from bayesopt._log_ei import _LogEI

    model, y_best = fitted
    x = np.random.default_rng(1).uniform(size=(20, 3))
    for xi in (0.0, 0.01):
        value, _ = _LogEI(model, y_best, xi)(x)
        ei = gaussian_ei(x, model, y_opt=y_best, xi=xi) / model.y_train_std_
        keep = ei > 1e-250  # where skopt's EI has not underflowed to 0
        assert keep.sum() >= 10
        np.testing.assert_allclose(value[keep], np.log(ei[keep]), rtol=1e-6, atol=1e-9)


def test_log_ei_gradient_matches_finite_differences(fitted):
    from bayesopt._log_ei import _LogEI

    model, y_best = fitted
    acq = _LogEI(model, y_best, 0.0)
    x = np.random.default_rng(2).uniform(0.05, 0.95, size=(8, 3))
    _, grad = acq(x, gradient=True)
    assert grad is not None
    step = 1e-6
    numeric = np.stack(
        [(acq(x + step * e)[0] - acq(x - step * e)[0]) / (2 * step) for e in np.eye(3)], axis=1
    )
    np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-4 * np.abs(grad).max())


def test_log_h_is_continuous_and_finite_far_below_the_incumbent():
    from scipy import special

    from bayesopt._log_ei import _log_h

    # h(z) = phi(z) + z Phi(z) underflows to 0 below z = -38; its log must not.
    z = np.array([-1e4, -200.0, -40.0 - 1e-9, -40.0, -10.0, -1.0 - 1e-9, -1.0, 0.0, 5.0])
    log_h, slope = _log_h(z)
    assert np.all(np.isfinite(log_h)) and np.all(slope > 0)
    np.testing.assert_allclose(log_h[2], log_h[3], rtol=1e-9)  # across the -40 switch
    np.testing.assert_allclose(log_h[5], log_h[6], rtol=1e-9)  # across the -1 switch
    exact = np.log(np.exp(-0.5 * z[4:] ** 2) / np.sqrt(2 * np.pi) + z[4:] * special.ndtr(z[4:]))
    np.testing.assert_allclose(log_h[4:], exact, rtol=1e-9)
    np.testing.assert_allclose(slope[4:], special.ndtr(z[4:]) / np.exp(exact), rtol=1e-9)


def test_batch_asks_use_the_same_search():
    # ask(n)'s constant liar works on skopt copies; they keep the log-EI search.
    search = MixingRatioOptimizer(MixingRatioSpace(NAMES), n_initial_points=4, seed=0)
    search.run(bowl, 5)
    copy = search._optimizer.copy(random_state=0)
    assert type(copy) is type(search._optimizer) and copy.search == search._optimizer.search
    batch = search.ask(3)
    assert len({tuple(r.values()) for r in batch}) == 3


@pytest.mark.parametrize("seed", range(3))
def test_a_repeated_ask_stays_where_log_ei_wants_it(seed):
    # Noisy score, best with the task switched off (a face of the box): log EI keeps asking
    # for r = 0 again. skopt would answer a repeated point with a uniformly random one; the
    # optimiser re-evaluates next to it instead.
    noise = np.random.default_rng(seed)

    def score(ratios):
        return 0.76 - 0.015 * ratios["a"] + 0.007 * float(noise.standard_normal())

    search = MixingRatioOptimizer(MixingRatioSpace(["a"]), n_initial_points=6, seed=seed)
    search.run(score, 25)
    late = [t.ratios["a"] for t in search.trials[12:]]
    assert sum(r > 1.0 for r in late) <= 2
    assert min(late) < 0.01


def test_away_from_told_moves_a_repeated_point_towards_the_centre():
    away = type(MixingRatioOptimizer(MixingRatioSpace(NAMES), seed=0)._optimizer)._away_from_told
    told = np.array([[0.0, 1.0, 0.3], [0.0005, 0.9995, 0.3005]])
    fresh = np.array([0.2, 0.4, 0.6])
    np.testing.assert_array_equal(away(fresh, told, 5e-4), fresh)
    np.testing.assert_allclose(away(told[0], told, 5e-4), [0.001, 0.999, 0.301])
    np.testing.assert_array_equal(away(told[0], told, 0.0), told[0])  # nudge 0: skopt's way


# -- the kernel's likelihood, computed without scikit-learn's kernel objects ----------------


@pytest.mark.parametrize("n_tasks", [1, 2, 3, 6])
def test_likelihood_matches_scikit_learns(n_tasks):
    from sklearn.gaussian_process import GaussianProcessRegressor

    from bayesopt._likelihood import _log_likelihood

    rng = np.random.default_rng(n_tasks)
    space = MixingRatioSpace([f"t{i}" for i in range(n_tasks)])
    model = MixingRatioOptimizer(space, seed=0)._surrogate()
    n = 6 + 4 * n_tasks
    model.fit(rng.uniform(size=(n, n_tasks)), rng.normal(size=n))
    bounds = model.kernel_.bounds
    for theta in rng.uniform(bounds[:, 0], bounds[:, 1], size=(40, len(bounds))):
        fast = _log_likelihood(model.X_train_, model.y_train_, model.alpha, theta, True)
        slow = GaussianProcessRegressor.log_marginal_likelihood(model, theta, True)
        np.testing.assert_allclose(fast[0], slow[0], rtol=1e-12)
        np.testing.assert_allclose(fast[1], slow[1], rtol=1e-9, atol=1e-9 * np.abs(slow[1]).max())
        value = _log_likelihood(model.X_train_, model.y_train_, model.alpha, theta, False)
        np.testing.assert_allclose(value, slow[0], rtol=1e-12)


def test_the_fit_is_scikit_learns(monkeypatch):
    from bayesopt._gp import _MapGaussianProcess

    rng = np.random.default_rng(5)
    x, y = rng.uniform(size=(15, 3)), rng.normal(size=15)
    space = MixingRatioSpace(NAMES)
    fast = MixingRatioOptimizer(space, seed=2)._surrogate().fit(x, y)
    monkeypatch.setattr(_MapGaussianProcess, "_is_map_kernel", lambda self, theta: False)
    slow = MixingRatioOptimizer(space, seed=2)._surrogate().fit(x, y)
    # skopt zeroes the fitted kernel's white noise after the fit (it keeps it in ``noise_``), so
    # the signal part and the noise are compared separately
    np.testing.assert_allclose(fast.kernel_.k1.theta, slow.kernel_.k1.theta, rtol=1e-9, atol=1e-9)
    assert fast.noise_ > 0.0
    np.testing.assert_allclose(fast.noise_, slow.noise_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fast.predict(x), slow.predict(x), rtol=1e-9, atol=1e-12)
