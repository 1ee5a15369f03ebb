"""The decayed Beta-Bernoulli update, checked against numbers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bandits import ThompsonSampling


def test_decayed_update_by_hand() -> None:
    # decay 0.5 and these rewards keep every number a short binary fraction: exact comparisons.
    bandit = ThompsonSampling(3, prior=(1.0, 1.0), decay=0.5, seed=0)

    bandit.update(0, 1.0)
    # decay: every arm is at the prior (1, 1), unchanged; then arm 0: alpha 2, beta 1
    alpha, beta = bandit.posterior()
    assert alpha.tolist() == [2.0, 1.0, 1.0]
    assert beta.tolist() == [1.0, 1.0, 1.0]

    bandit.update(1, 0.25)
    # decay: arm 0 alpha 0.5 * 2 + 0.5 * 1 = 1.5, beta 0.5 * 1 + 0.5 * 1 = 1
    # then arm 1: alpha 1 + 0.25 = 1.25, beta 1 + 0.75 = 1.75
    alpha, beta = bandit.posterior()
    assert alpha.tolist() == [1.5, 1.25, 1.0]
    assert beta.tolist() == [1.0, 1.75, 1.0]

    bandit.update(0, 0.0)
    # decay: arm 0 alpha 0.5 * 1.5 + 0.5 = 1.25, beta 0.5 * 1 + 0.5 = 1 (then + 1 = 2)
    #        arm 1 alpha 0.5 * 1.25 + 0.5 = 1.125, beta 0.5 * 1.75 + 0.5 = 1.375
    alpha, beta = bandit.posterior()
    assert alpha.tolist() == [1.25, 1.125, 1.0]
    assert beta.tolist() == [2.0, 1.375, 1.0]
    assert bandit.utilities().tolist() == [1.25 / 3.25, 1.125 / 2.5, 0.5]

    # the undecayed statistics remember everything
    assert bandit.counts().tolist() == [2, 1, 0]
    means = bandit.mean_rewards()
    assert means[:2].tolist() == [0.5, 0.25]
    assert math.isnan(means[2])
    alpha, beta = bandit.posterior(decayed=False)
    assert alpha.tolist() == [2.0, 1.25, 1.0]
    assert beta.tolist() == [2.0, 1.75, 1.0]


def test_autosem_decay_with_an_informative_prior() -> None:
    bandit = ThompsonSampling(2, prior=(2.0, 3.0), decay=0.3, seed=0)
    bandit.update(0, 1.0)  # arm 0: (3, 3)
    bandit.update(1, 0.6)  # arm 0: (0.7*3 + 0.3*2, 0.7*3 + 0.3*3) = (2.7, 3.0); arm 1: (2.6, 3.4)
    bandit.update(1, 1.0)
    alpha, beta = bandit.posterior()
    np.testing.assert_allclose(alpha, [0.7 * 2.7 + 0.6, 0.7 * 2.6 + 0.6 + 1.0])
    np.testing.assert_allclose(beta, [0.7 * 3.0 + 0.9, 0.7 * 3.4 + 0.9])


def test_without_decay_the_posterior_counts_successes_and_failures() -> None:
    bandit = ThompsonSampling(2, seed=0)
    for reward in (1.0, 1.0, 0.0, 0.5):
        bandit.update(1, reward)
    alpha, beta = bandit.posterior()
    assert alpha.tolist() == [1.0, 3.5]
    assert beta.tolist() == [1.0, 2.5]
    np.testing.assert_array_equal(alpha, bandit.posterior(decayed=False)[0])
    assert bandit.utilities().tolist() == [0.5, 3.5 / 6.0]


def test_decay_pulls_unplayed_arms_back_to_the_prior() -> None:
    bandit = ThompsonSampling(2, prior=(1.0, 1.0), decay=0.3, seed=0)
    for _ in range(20):
        bandit.update(0, 1.0)
    bandit.update(1, 1.0)
    for _ in range(60):
        bandit.update(1, 0.0)
    # arm 0 has not been pulled for 61 updates: 0.7 ** 61 of its excess is left
    assert bandit.utilities()[0] == pytest.approx(0.5, abs=1e-8)
    assert bandit.mean_rewards()[0] == 1.0


def test_posterior_returns_copies() -> None:
    bandit = ThompsonSampling(2, seed=0)
    alpha, _ = bandit.posterior()
    alpha[0] = 100.0
    assert bandit.posterior()[0][0] == 1.0
    assert bandit.prior == (1.0, 1.0)
    assert bandit.decay == 0.0
