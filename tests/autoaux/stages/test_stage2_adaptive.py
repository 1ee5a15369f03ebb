"""Stage 2 stops when its largest expected improvement is below the seed noise
(``[stage2] adaptive``), and runs every trial when there is still something to gain."""

from __future__ import annotations

import math
from typing import Any

import pytest

from autoaux.config import ProtocolConfig, Stage2Config
from autoaux.errors import ConfigError
from autoaux.runs.result import MixResult
from autoaux.stages.stage2 import run_stage2, seed_noise
from bayesopt import MixingRatioOptimizer, MixingRatioSpace
from tests.autoaux.stages.test_stage2_main_alone import _Trainer

MAIN = "main"


def _search(score: Any, noise: float | None, **settings: Any) -> MixResult:
    calls: list[dict[str, Any]] = []
    return run_stage2(
        lambda total_steps: _Trainer(score, calls),
        main=MAIN,
        tasks=["a", "b"],
        settings=Stage2Config(**{"trials": 10, "initial_points": 3, "steps": 40, **settings}),
        seed=0,
        protocol=ProtocolConfig(eval_every=10, patience=2),
        noise=noise,
    )


def _flat(ratios: dict[str, float]) -> float:
    """Nothing to gain: differences of a tenth of a point, far below a point of seed noise."""
    return 0.80 + 0.001 * math.sin(3 * ratios["a"] + ratios["b"])


def _slope(ratios: dict[str, float]) -> float:
    """Four points per unit of ratio ``a``: a search has much to gain."""
    return 0.60 + 0.04 * ratios["a"] - 0.01 * ratios["b"]


def test_a_search_with_nothing_to_gain_stops_after_its_initial_design() -> None:
    result = _search(_flat, noise=0.01)
    assert 3 <= len(result.trials) < 10
    assert result.stopped.startswith(f"stopped after {len(result.trials)} of 10 trials")
    assert "seed noise of main alone's dev score (stage 1), 0.0100" in result.stopped
    assert result.to_dict()["stopped"] == result.stopped
    # the same search without the rule runs its whole budget
    full = _search(_flat, noise=0.01, adaptive=False)
    assert len(full.trials) == 10 and full.stopped == ""
    # and the trials it ran are the first trials of the full search (same seed)
    first = full.trials[: len(result.trials)]
    assert [t.ratios for t in result.trials] == [t.ratios for t in first]


def test_a_search_with_much_to_gain_goes_on_until_it_has_found_the_top() -> None:
    result = _search(_slope, noise=0.001)
    assert len(result.trials) > 3  # past the initial design: EI was above the noise
    assert result.best_dev_score == pytest.approx(0.80)  # a = 5, b = 0
    assert result.stopped == "" or len(result.trials) < 10


def test_min_gain_overrides_the_measured_noise_and_the_rule_is_reproducible() -> None:
    strict = _search(_slope, noise=0.0001, min_gain=10.0)
    assert len(strict.trials) == 3 and "stage2.min_gain, 10.0000" in strict.stopped
    again = _search(_slope, noise=0.0001, min_gain=10.0)
    assert [t.ratios for t in strict.trials] == [t.ratios for t in again.trials]
    # without a measured noise (autoaux mix) and no min_gain, every trial runs
    alone = _search(_flat, noise=None)
    assert len(alone.trials) == 10 and alone.stopped == ""


def test_random_search_never_stops_early() -> None:
    result = _search(_flat, noise=0.5, search="random")
    assert len(result.trials) == 10 and result.stopped == ""


def test_seed_noise_is_the_spread_of_main_alone_over_rounds() -> None:
    assert seed_noise([0.7, 0.72]) is None  # too few rounds
    assert seed_noise([0.70, 0.72, 0.74]) == pytest.approx(0.02)
    assert seed_noise([0.70, math.nan, 0.72, 0.74]) == pytest.approx(0.02)


def test_expected_improvement_is_in_score_units() -> None:
    space = MixingRatioSpace(["a"], low=0.0, high=5.0)
    search = MixingRatioOptimizer(space, n_initial_points=3, seed=0)
    for _ in range(3):
        assert search.expected_improvement is None  # the initial design
        ratios = search.ask()
        search.tell(ratios, 0.5 + 0.1 * ratios["a"])
    small = search.expected_improvement
    assert small is not None and small > 0
    # the same surface at ten times the scale: ten times the expected improvement
    scaled = MixingRatioOptimizer(space, n_initial_points=3, seed=0)
    for _ in range(3):
        ratios = scaled.ask()
        scaled.tell(ratios, 5.0 + 1.0 * ratios["a"])
    assert scaled.expected_improvement == pytest.approx(10 * small, rel=0.05)


def test_adaptive_settings_are_checked() -> None:
    assert Stage2Config().adaptive is True and Stage2Config().min_gain == 0.0
    with pytest.raises(ConfigError, match="min_gain"):
        Stage2Config(min_gain=-0.1)
    with pytest.raises(ConfigError, match="adaptive"):
        Stage2Config(adaptive="yes")  # type: ignore[arg-type]
