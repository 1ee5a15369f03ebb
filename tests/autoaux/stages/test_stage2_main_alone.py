"""Stage 2 always tries the main task alone and recommends it when no mixture beats it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pytest

from autoaux.config import ProtocolConfig, Stage2Config
from autoaux.runs.result import MixResult
from autoaux.stages.stage2 import run_stage2

MAIN = "main"


@dataclass
class _Report:
    best_dev: float
    steps_per_task: dict[str, int]
    dev_curve: tuple[tuple[int, float], ...] = ()
    best_step: int = 1
    steps: int = 1
    mean_loss: dict[str, float] = field(default_factory=dict)


class _Model:
    def snapshot(self) -> dict[str, Any]:
        return {}


class _Trainer:
    """A trial's main dev score is a known function of its mixture."""

    def __init__(self, score: Any, calls: list[dict[str, Any]]) -> None:
        self.score, self.calls, self.model = score, calls, _Model()
        self.last = math.nan

    def train_mixture(self, weights: dict[str, float], steps: int, **options: Any) -> _Report:
        self.calls.append({"weights": dict(weights), "steps": steps, **options})
        ratios = {t: weights.get(t, 0.0) / weights[MAIN] for t in ("a", "b")}
        self.last = float(self.score(ratios))
        return _Report(self.last, dict.fromkeys(weights, steps), ((steps, self.last),))

    def evaluate(self, task: str, split: str = "dev", **_: Any) -> float:
        return self.last - 0.01


def _search(score: Any, **settings: Any) -> tuple[MixResult, list[dict[str, Any]]]:
    calls: list[dict[str, Any]] = []
    result = run_stage2(
        lambda total_steps: _Trainer(score, calls),
        main=MAIN,
        tasks=["a", "b"],
        settings=Stage2Config(trials=5, initial_points=2, steps=40, **settings),
        seed=0,
        protocol=ProtocolConfig(eval_every=10, patience=2),
    )
    return result, calls


def test_main_alone_is_the_first_trial_and_wins_when_every_mixture_hurts() -> None:
    result, calls = _search(lambda ratios: 0.80 - 0.05 * (ratios["a"] + ratios["b"]))
    assert result.trials[0].ratios == {"a": 0.0, "b": 0.0}
    assert calls[0]["weights"] == {MAIN: 1.0}  # ratio 0: the task is never drawn
    # every trial follows the protocol: main-task steps, early stopping
    assert all(c["count"] == "main" and c["patience"] == 2 for c in calls)
    assert result.main_only_dev == pytest.approx(0.80)
    assert result.main_alone and result.best_trial == 0
    assert result.recommendation == "train the main task alone: no mixture beat it on dev"
    data = result.to_dict()
    assert data["main_alone"] is True and data["recommendation"].startswith("train the main")
    assert data["main_only_dev"] == pytest.approx(0.80)


def test_a_mixture_that_beats_main_alone_is_recommended() -> None:
    result, _ = _search(lambda ratios: 0.80 + 0.01 * ratios["a"] - 0.02 * ratios["b"])
    assert not result.main_alone
    assert result.best_dev_score > result.main_only_dev == pytest.approx(0.80)
    assert result.recommendation.startswith("train the main task with a ")


def test_the_fixed_total_protocol_is_kept_for_comparison() -> None:
    calls: list[dict[str, Any]] = []
    run_stage2(
        lambda total_steps: _Trainer(lambda ratios: 0.5, calls),
        main=MAIN,
        tasks=["a"],
        settings=Stage2Config(trials=2, initial_points=1, steps=40, eval_every=20),
        seed=0,
        protocol=ProtocolConfig(budget="total"),
    )
    assert all("count" not in c and c["eval_every"] == 20 for c in calls)


def test_the_stage2_plot_draws_main_alone_as_a_reference_line(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    from autoaux.runs import plots

    result, _ = _search(lambda ratios: 0.80 - 0.05 * (ratios["a"] + ratios["b"]))
    drawn: list[Any] = []
    original = plots._save

    def keep(figure: Any, path: Any) -> None:
        drawn.append(figure)
        original(figure, path)

    monkeypatch.setattr(plots, "_save", keep)
    out = plots.plot_trials(result, tmp_path / "stage2.png")
    assert out.stat().st_size > 0
    (ax,) = drawn[0].axes
    dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert len(dashed) == 1 and list(dashed[0].get_ydata()) == [pytest.approx(0.80)] * 2
    assert "main task alone" in ax.get_title()
    pyplot.close("all")
