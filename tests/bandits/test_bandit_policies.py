"""The interface every policy shares: determinism, state round trips, statistics, validation."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

import bandits
from bandits import POLICIES, Bandit, make_bandit

ALL = sorted(POLICIES)
RANDOMISED = ["epsilon-greedy", "exp3", "racing", "thompson"]
# Racing takes any finite reward (its rewards need not lie in [0, 1]).
UNIT_REWARDS = [name for name in ALL if name != "racing"]

# Non-default options that exercise each policy's forgetting, so round trips cover that state.
NON_STATIONARY: dict[str, dict[str, Any]] = {
    "thompson": {"decay": 0.3, "prior": (2.0, 1.0)},
    "discounted-ucb": {"gamma": 0.9},
    "sliding-window-ucb": {"window": 7},
    "exp3": {"gamma": 0.3},
    "epsilon-greedy": {"epsilon": 0.3, "decay": 0.1},
    "uniform": {},
    "racing": {"control": 2, "alpha": 0.1, "margin": 0.05},
}


def drive(bandit: Bandit, steps: int, *, seed: int = 0) -> list[int]:
    """Pull ``steps`` times on a fixed Bernoulli problem with fractional rewards mixed in."""
    env = np.random.default_rng(seed)
    means = np.linspace(0.2, 0.8, bandit.n_arms)
    arms = []
    for _ in range(steps):
        arm = bandit.select()
        arms.append(arm)
        draw = env.random()
        reward = float(draw < means[arm]) if draw < 0.8 else round(draw, 3)
        bandit.update(arm, reward)
    return arms


def test_importing_bandits_pulls_in_no_heavy_framework() -> None:
    code = (
        "import sys, bandits; "
        "loaded = {'torch', 'transformers', 'mlflow'} & set(sys.modules); "
        "print(sorted(loaded))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("name", ALL)
def test_registry_builds_each_policy_by_name(name: str) -> None:
    bandit = make_bandit(name, 3, seed=0)
    assert isinstance(bandit, POLICIES[name])
    assert bandit.name == name
    assert bandit.n_arms == 3
    assert name in repr(bandit) or type(bandit).__name__ in repr(bandit)


def test_registry_holds_the_seven_policies() -> None:
    assert set(POLICIES) == {
        "racing",
        "thompson",
        "discounted-ucb",
        "sliding-window-ucb",
        "exp3",
        "epsilon-greedy",
        "uniform",
    }
    assert set(bandits.__all__) >= {"make_bandit", "POLICIES", "Bandit", "ThompsonSampling"}
    from bandits.rewards import binary_gain
    from bandits.selection import select_top_k

    assert binary_gain is bandits.binary_gain
    assert select_top_k is bandits.select_top_k


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("options", ["default", "non-stationary"])
def test_same_seed_same_selections(name: str, options: str) -> None:
    kwargs = NON_STATIONARY[name] if options == "non-stationary" else {}
    first = drive(make_bandit(name, 5, seed=123, **kwargs), 300)
    second = drive(make_bandit(name, 5, seed=123, **kwargs), 300)
    assert first == second
    assert all(0 <= arm < 5 for arm in first)


@pytest.mark.parametrize("name", RANDOMISED)
def test_different_seeds_differ(name: str) -> None:
    first = drive(make_bandit(name, 5, seed=1), 300)
    second = drive(make_bandit(name, 5, seed=2), 300)
    assert first != second


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("options", ["default", "non-stationary"])
def test_state_dict_round_trip_through_json_continues_identically(name: str, options: str) -> None:
    kwargs = NON_STATIONARY[name] if options == "non-stationary" else {}
    original = make_bandit(name, 6, seed=7, **kwargs)
    drive(original, 150, seed=1)
    text = json.dumps(original.state_dict(), allow_nan=False)

    restored = make_bandit(name, 6, seed=999, **kwargs)  # another seed: the state must win
    restored.load_state_dict(json.loads(text))
    assert restored.state_dict() == json.loads(text)

    assert drive(restored, 200, seed=2) == drive(original, 200, seed=2)
    np.testing.assert_array_equal(restored.utilities(), original.utilities())
    np.testing.assert_array_equal(restored.mean_rewards(), original.mean_rewards())
    np.testing.assert_array_equal(restored.counts(), original.counts())
    assert restored.state_dict() == original.state_dict()


@pytest.mark.parametrize("name", ALL)
def test_state_dict_of_a_fresh_policy_round_trips(name: str) -> None:
    original = make_bandit(name, 4, seed=3)
    restored = make_bandit(name, 4, seed=4)
    restored.load_state_dict(json.loads(json.dumps(original.state_dict())))
    assert drive(restored, 50) == drive(original, 50)


@pytest.mark.parametrize("name", ALL)
def test_load_state_dict_rejects_other_policies_sizes_and_options(name: str) -> None:
    bandit = make_bandit(name, 4, seed=0)
    before = bandit.state_dict()
    other_name = "uniform" if name != "uniform" else "thompson"
    with pytest.raises(ValueError, match="policy"):
        bandit.load_state_dict(make_bandit(other_name, 4).state_dict())
    with pytest.raises(ValueError, match="n_arms"):
        bandit.load_state_dict(make_bandit(name, 5).state_dict())
    if NON_STATIONARY[name]:
        with pytest.raises(ValueError, match="options"):
            bandit.load_state_dict(make_bandit(name, 4, **NON_STATIONARY[name]).state_dict())
    broken = bandit.state_dict()
    broken["counts"] = [0, 0]
    with pytest.raises(ValueError, match="counts"):
        bandit.load_state_dict(broken)
    broken = bandit.state_dict()
    broken["rng"] = {"bit_generator": "MT19937"}
    with pytest.raises(ValueError, match="rng"):
        bandit.load_state_dict(broken)
    broken = bandit.state_dict()
    del broken["state"]
    with pytest.raises(ValueError, match="state"):
        bandit.load_state_dict(broken)
    assert bandit.state_dict() == before  # failed loads change nothing


@pytest.mark.parametrize("name", ALL)
def test_counts_and_mean_rewards_are_undecayed(name: str) -> None:
    bandit = make_bandit(name, 3, seed=0, **NON_STATIONARY[name])
    for arm, reward in [(0, 1.0), (0, 0.0), (0, 0.5), (2, 0.25)] * 5:
        bandit.update(arm, reward)
    counts = bandit.counts()
    assert counts.dtype.kind == "i"
    np.testing.assert_array_equal(counts, [15, 0, 5])
    means = bandit.mean_rewards()
    assert means.shape == (3,)
    assert means[0] == pytest.approx(0.5)
    assert math.isnan(means[1])
    assert means[2] == pytest.approx(0.25)
    utilities = bandit.utilities()
    assert utilities.shape == (3,)
    counts[0] = 100  # a copy, not the internal array
    assert bandit.counts()[0] == 15


@pytest.mark.parametrize("name", ALL)
def test_fresh_policy_pulls_every_arm_in_range(name: str) -> None:
    bandit = make_bandit(name, 4, seed=0)
    arms = drive(bandit, 400)
    assert set(arms) == {0, 1, 2, 3}
    assert bandit.counts().sum() == 400


@pytest.mark.parametrize("name", ALL)
def test_single_arm(name: str) -> None:
    bandit = make_bandit(name, 1, seed=0)
    for _ in range(5):
        arm = bandit.select()
        assert arm == 0
        bandit.update(arm, 1.0)
    assert bandit.counts().tolist() == [5]


# ------------------------------------------------------------------------------ validation


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("n_arms", [0, -3, 2.5, True, "3"])
def test_bad_n_arms(name: str, n_arms: Any) -> None:
    with pytest.raises(ValueError, match=rf"n_arms={n_arms!r}.*accepted: an integer >= 1"):
        make_bandit(name, n_arms)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("arm", [-1, 4, 1.0, None, True])
def test_bad_arm(name: str, arm: Any) -> None:
    bandit = make_bandit(name, 4, seed=0)
    with pytest.raises(ValueError, match=r"arm=.*accepted: an integer in \[0, 3\]"):
        bandit.update(arm, 0.5)
    assert bandit.counts().sum() == 0


@pytest.mark.parametrize("name", UNIT_REWARDS)
@pytest.mark.parametrize("reward", [-0.01, 1.01, math.nan, math.inf, None, "x"])
def test_bad_reward(name: str, reward: Any) -> None:
    bandit = make_bandit(name, 4, seed=0)
    with pytest.raises(ValueError, match=r"reward=.*accepted: a number in \[0, 1\]"):
        bandit.update(0, reward)
    assert bandit.counts().sum() == 0


@pytest.mark.parametrize("name", ALL)
def test_numpy_integers_are_arms_and_numpy_floats_rewards(name: str) -> None:
    bandit = make_bandit(name, 4, seed=0)
    bandit.update(np.int64(2), np.float32(0.5))  # type: ignore[arg-type]
    assert bandit.counts().tolist() == [0, 0, 1, 0]


def test_unknown_policy_lists_known_names() -> None:
    with pytest.raises(ValueError, match="name='ucb'") as info:
        make_bandit("ucb", 3)
    for name in POLICIES:
        assert repr(name) in str(info.value)


@pytest.mark.parametrize(
    ("name", "options", "argument"),
    [
        ("thompson", {"decay": -0.1}, "decay=-0.1"),
        ("thompson", {"decay": 1.0}, "decay=1.0"),
        ("thompson", {"decay": math.nan}, "decay=nan"),
        ("thompson", {"prior": (0.0, 1.0)}, "prior=(0.0, 1.0)"),
        ("thompson", {"prior": (1.0, -2.0)}, "prior=(1.0, -2.0)"),
        ("thompson", {"prior": (1.0,)}, "prior=(1.0,)"),
        ("thompson", {"prior": (1.0, math.inf)}, "prior=(1.0, inf)"),
        ("discounted-ucb", {"gamma": 0.0}, "gamma=0.0"),
        ("discounted-ucb", {"gamma": 1.5}, "gamma=1.5"),
        ("discounted-ucb", {"exploration": 0.0}, "exploration=0.0"),
        ("sliding-window-ucb", {"window": 0}, "window=0"),
        ("sliding-window-ucb", {"window": 2.5}, "window=2.5"),
        ("sliding-window-ucb", {"exploration": -1.0}, "exploration=-1.0"),
        ("exp3", {"gamma": 0.0}, "gamma=0.0"),
        ("exp3", {"gamma": 1.1}, "gamma=1.1"),
        ("epsilon-greedy", {"epsilon": -0.1}, "epsilon=-0.1"),
        ("epsilon-greedy", {"epsilon": 1.5}, "epsilon=1.5"),
        ("epsilon-greedy", {"decay": 1.0}, "decay=1.0"),
    ],
)
def test_bad_policy_options(name: str, options: dict[str, Any], argument: str) -> None:
    with pytest.raises(ValueError, match="accepted") as info:
        make_bandit(name, 3, **options)
    assert argument in str(info.value)


# ----------------------------------------------------------------------- policy specifics


def test_uniform_is_round_robin() -> None:
    bandit = make_bandit("uniform", 3, seed=0)
    arms = drive(bandit, 10)
    assert arms == [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]
    np.testing.assert_array_equal(bandit.utilities(), bandit.mean_rewards())


def test_discounted_ucb_statistics_by_hand() -> None:
    bandit = bandits.DiscountedUCB(2, gamma=0.5, exploration=1.0)
    assert [bandit.select() for _ in range(2)] == [0, 0]  # select alone changes nothing
    bandit.update(0, 1.0)
    assert bandit.select() == 1  # every arm once first
    bandit.update(1, 0.0)
    bandit.update(1, 1.0)
    # N = [0.25, 0.5 * 1 + 1] = [0.25, 1.5], S = [0.25, 0.5 * 0 + 1] = [0.25, 1.0]; n = 1.75
    np.testing.assert_allclose(bandit.utilities(), [1.0, 2 / 3])
    bonus = np.sqrt(math.log(1.75) / np.array([0.25, 1.5]))
    index = np.array([1.0, 2 / 3]) + bonus
    assert bandit.select() == int(index.argmax()) == 0


def test_sliding_window_ucb_forgets_outside_the_window() -> None:
    bandit = bandits.SlidingWindowUCB(3, window=4)
    for arm, reward in [(0, 1.0), (0, 1.0), (1, 0.5), (2, 0.0), (2, 1.0), (1, 0.0)]:
        bandit.update(arm, reward)
    # the window holds (1, 0.5), (2, 0.0), (2, 1.0), (1, 0.0): arm 0 has left it
    utilities = bandit.utilities()
    assert math.isnan(utilities[0])
    np.testing.assert_allclose(utilities[1:], [0.25, 0.5])
    assert bandit.select() == 0  # an arm with no pull in the window comes first
    assert bandit.mean_rewards()[0] == 1.0  # undecayed statistics keep it


def test_exp3_probabilities_and_update_by_hand() -> None:
    bandit = bandits.EXP3(4, gamma=0.2, seed=0)
    np.testing.assert_allclose(bandit.probabilities(), np.full(4, 0.25))
    assert np.isnan(bandit.utilities()).all()
    bandit.update(1, 0.5)  # G[1] = 0.5 / 0.25 = 2
    weights = np.exp(0.2 * np.array([0.0, 2.0, 0.0, 0.0]) / 4)
    expected = 0.8 * weights / weights.sum() + 0.05
    np.testing.assert_allclose(bandit.probabilities(), expected)
    np.testing.assert_allclose(bandit.utilities(), [0.0, 2.0, 0.0, 0.0])
    assert bandit.probabilities().sum() == pytest.approx(1.0)


def test_exp3_weights_do_not_overflow() -> None:
    bandit = bandits.EXP3(3, gamma=1.0, seed=0)
    for _ in range(5000):
        bandit.update(0, 1.0)
    probabilities = bandit.probabilities()
    assert np.all(np.isfinite(probabilities))
    assert probabilities.sum() == pytest.approx(1.0)
    json.dumps(bandit.state_dict(), allow_nan=False)


def test_epsilon_greedy_without_exploration_is_greedy() -> None:
    bandit = bandits.EpsilonGreedy(3, epsilon=0.0, seed=0)
    assert [bandit.select() for _ in range(1)] == [0]
    for arm, reward in [(0, 0.2), (1, 0.9), (2, 0.5)]:
        bandit.update(arm, reward)
    assert {bandit.select() for _ in range(20)} == {1}


def test_epsilon_greedy_breaks_ties_at_random() -> None:
    bandit = bandits.EpsilonGreedy(3, epsilon=0.0, seed=0)
    for arm in range(3):
        bandit.update(arm, 1.0)
    assert {bandit.select() for _ in range(50)} == {0, 1, 2}


def test_long_unpulled_arms_stay_finite() -> None:
    for bandit in (bandits.DiscountedUCB(2, gamma=0.5), bandits.EpsilonGreedy(2, decay=0.5)):
        bandit.update(1, 1.0)
        for _ in range(2000):  # arm 1's discounted count underflows far below any float
            bandit.update(0, 0.5)
        utilities = bandit.utilities()
        assert np.all(np.isfinite(utilities))
        assert bandit.select() in (0, 1)
