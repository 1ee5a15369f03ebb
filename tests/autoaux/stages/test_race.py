"""The stage-1 race loop (autoaux.stages.race) on stand-in trainers whose episode scores are
drawn from known distributions, so the verdicts have a known answer; and the race through the
public API on a tiny planted pool."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import autoaux
from autoaux.config import Stage1Config, config_from_dict
from autoaux.runs.checkpoint import RunCheckpoint
from autoaux.runs.result import SelectionResult, TaskVerdict, decision_of
from autoaux.stages.race import run_race
from tasks import make_planted_suite, write_task_csv

MAIN, CONTROL = "main", "shuffled:neutral"
# mean main dev score after an episode with each arm (MAIN: the main task alone, the
# reference); the round adds a shared offset
MEANS = {MAIN: 0.70, "good": 0.80, "neutral": 0.70, "bad": 0.60, CONTROL: 0.68}


@dataclass
class _Report:
    best_dev: float
    mean_loss: dict[str, float]
    steps_per_task: dict[str, int]


class _Trainer:
    """Stands in for a Trainer: an episode's score is the arm's mean, plus a round effect
    shared by every arm of the round (what pairing cancels), plus a little own noise."""

    def __init__(self, seed_key: str, calls: list[tuple[str, str]]) -> None:
        self.round = int(seed_key.rsplit("-", 1)[1])
        self.calls = calls
        self.seed_key = seed_key

    def train_mixture(self, probabilities: dict[str, float], steps: int, **_: Any) -> _Report:
        (task,) = [t for t in probabilities if t != MAIN] or [MAIN]
        self.calls.append((task, self.seed_key))
        shared = np.random.default_rng(self.round).normal(0.0, 0.05)
        own = np.random.default_rng([self.round, len(task)]).normal(0.0, 0.005)
        steps_taken = {t: steps for t in probabilities}
        return _Report(MEANS[task] + shared + own, {MAIN: 0.5}, steps_taken)


def _factory(calls: list[tuple[str, str]]) -> Any:
    return lambda steps, seed_key: _Trainer(seed_key, calls)


def _race(pulls: int = 200, **settings: Any) -> tuple[SelectionResult, list[tuple[str, str]]]:
    calls: list[tuple[str, str]] = []
    result = run_race(
        _factory(calls),
        main=MAIN,
        pool=["good", "neutral", "bad", CONTROL],
        settings=Stage1Config(pulls=pulls, episode_steps=10, **settings).race(),
        seed=0,
    )
    return result, calls


def test_race_gives_each_task_its_verdict_and_selects_what_helps() -> None:
    result, calls = _race()
    verdicts = result.verdicts
    assert verdicts["good"].verdict == "helps"
    assert verdicts["bad"].verdict == "hurts"
    assert verdicts["neutral"].verdict != "helps"
    assert result.selected == ("good",)
    # the control is raced for calibration, never selected; main alone is the reference
    assert CONTROL in result.verdicts and result.controls == (CONTROL,)
    assert result.arms[0] == MAIN and MAIN not in result.verdicts
    assert verdicts[CONTROL].verdict != "helps"
    assert verdicts["good"].low > 0 and verdicts["bad"].high < 0
    assert math.isclose(verdicts["good"].effect, 0.10, abs_tol=0.01)  # against main alone
    assert math.isclose(verdicts["good"].vs_control, 0.12, abs_tol=0.01)  # against the control
    assert verdicts["good"].vs_control_rounds >= 1
    assert math.isnan(verdicts[CONTROL].vs_control)
    assert result.decision.startswith("selected good")
    # every episode says how many optimiser steps it took (main alone: its own steps only)
    assert all(r.steps == (10 if r.task == MAIN else 20) for r in result.history)
    # the race stops when every candidate is decided or the budget ends
    assert len(result.history) == len(calls) <= 200
    assert [r.pull for r in result.history] == list(range(1, len(calls) + 1))


def test_episodes_of_a_round_share_their_seed() -> None:
    result, calls = _race(pulls=40)
    by_round: dict[int, set[str]] = {}
    for record, (task, key) in zip(result.history, calls, strict=True):
        assert key == f"stage1-round-{record.round}"
        assert task not in by_round.setdefault(record.round, set())  # once per round
        by_round[record.round].add(task)
    # main alone, the reference, plays in every complete round
    assert all(MAIN in tasks for tasks in list(by_round.values())[:-1])


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON (nan equals nan there)."""
    return json.dumps(a, default=dataclasses.asdict) == json.dumps(b, default=dataclasses.asdict)


def test_same_seed_same_race() -> None:
    first, _ = _race(pulls=30)
    second, _ = _race(pulls=30)
    assert _same(first.history, second.history) and _same(first.verdicts, second.verdicts)


def test_a_short_budget_says_it_could_not_decide() -> None:
    result, calls = _race(pulls=4)
    assert len(calls) == 4
    assert result.selected == ()
    assert all(v.verdict == "undecided" for v in result.verdicts.values())
    assert "budget ended" in result.decision
    assert "raise pulls in the [stage1] section of the config file (this run: pulls = 4)" in (
        result.decision
    )


def test_a_race_without_a_control_judges_against_main_alone() -> None:
    calls: list[tuple[str, str]] = []
    result = run_race(
        _factory(calls),
        main=MAIN,
        pool=["good", "bad"],
        controls=(),
        settings=Stage1Config(pulls=200, episode_steps=10).race(),
        seed=0,
    )
    assert result.selected == ("good",) and result.controls == ()
    assert math.isnan(result.verdicts["good"].vs_control)


def test_a_task_identical_to_main_alone_is_never_selected() -> None:
    # "same" scores exactly what main alone scores in every round: never helps; with a margin
    # it is decided negligible and the race stops
    MEANS["same"] = MEANS[MAIN]
    try:
        calls: list[tuple[str, str]] = []
        result = run_race(
            lambda steps, key: _IdenticalTrainer(key, calls),
            main=MAIN,
            pool=["same", "good"],
            controls=(),
            settings=Stage1Config(pulls=400, episode_steps=10, margin=0.01).race(),
            seed=0,
        )
    finally:
        del MEANS["same"]
    assert result.verdicts["same"].verdict == "negligible"
    assert result.selected == ("good",)
    assert len(calls) < 400  # decided before the budget ended


class _IdenticalTrainer(_Trainer):
    def train_mixture(self, probabilities: dict[str, float], steps: int, **_: Any) -> _Report:
        (task,) = [t for t in probabilities if t != MAIN] or [MAIN]
        self.calls.append((task, self.seed_key))
        shared = np.random.default_rng(self.round).normal(0.0, 0.05)
        own = 0.0 if task in (MAIN, "same") else 0.005
        return _Report(MEANS[task] + shared + own, {MAIN: 0.5}, dict.fromkeys(probabilities, 1))


def test_a_control_that_beats_main_alone_is_named_in_the_decision() -> None:
    MEANS[CONTROL] = 0.75
    try:
        result, _ = _race()
    finally:
        MEANS[CONTROL] = 0.68
    assert result.verdicts[CONTROL].verdict == "helps"
    assert CONTROL not in result.selected
    assert "regularisation" in result.decision and CONTROL in result.decision


def test_decision_lines() -> None:
    helps = TaskVerdict("helps", 0.1, 0.05, 0.15, 12)
    hurts = TaskVerdict("hurts", -0.1, -0.15, -0.05, 12)
    open_ = TaskVerdict("undecided", 0.0, -0.1, 0.1, 12)
    negligible = TaskVerdict("negligible", 0.001, -0.004, 0.006, 30)
    assert decision_of({"a": hurts, "c": negligible}, controls=(), finished=True).startswith(
        "nothing selected: no auxiliary task beats the main task alone"
    )
    assert "undecided when the budget ended: b" in decision_of(
        {"a": helps, "b": open_}, controls=(), finished=False
    )
    assert "none can be shown to help" in decision_of({"b": open_}, controls=(), finished=True)


def test_race_checkpoint_resumes_to_the_same_result(tmp_path: Path) -> None:
    config = config_from_dict(
        {"main": {"task": "nyt-polarity"}, "model": {"encoder": "tiny"},
         "output_dir": str(tmp_path)}
    )
    settings = Stage1Config(pulls=30, episode_steps=10).race()
    pool = ["good", "neutral", "bad", CONTROL]
    whole = run_race(_factory([]), main=MAIN, pool=pool, settings=settings, seed=0)

    checkpoint = RunCheckpoint.create(config)
    interrupted: list[tuple[str, str]] = []

    class _Stop(Exception):
        pass

    def stopping(steps: int, seed_key: str) -> _Trainer:
        if len(interrupted) == 13:
            raise _Stop
        return _Trainer(seed_key, interrupted)

    with pytest.raises(_Stop):
        run_race(stopping, main=MAIN, pool=pool, settings=settings, seed=0, checkpoint=checkpoint)
    state = json.loads((tmp_path / "checkpoint" / "state.json").read_text())
    assert state["stage1"]["kind"] == "race" and len(state["stage1"]["history"]) == 13
    assert not list((tmp_path / "checkpoint").glob("*.pt"))  # a race saves JSON only

    resumed = RunCheckpoint.load(tmp_path)
    rest: list[tuple[str, str]] = []
    result = run_race(_factory(rest), main=MAIN, pool=pool, settings=settings, seed=0,
                      checkpoint=resumed)  # fmt: skip
    assert len(rest) == len(whole.history) - 13
    assert _same(result.history, whole.history) and _same(result.verdicts, whole.verdicts)


# ----------------------------------------------------------------------- through the API
@pytest.fixture(scope="module")
def planted_race(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    import torch

    folder = tmp_path_factory.mktemp("race")
    suite = make_planted_suite(
        n_helpful=1, n_neutral=0, n_harmful=0, main_train=60, aux_train=400, dev=100,
        test=100, seed=0,
    )  # fmt: skip
    entries = []
    for task in suite.tasks:
        path = write_task_csv(task, folder / f"{task.name}.csv", split="all")
        entries.append({"name": task.name, "path": str(path), "split_column": "split"})
    config = config_from_dict(
        {
            "seed": 0,
            "model": {"encoder": "tiny", "max_length": 24, "hidden_size": 32},
            "main": {"task": "main"},
            "auxiliary": {"tasks": ["helpful-0"]},
            "task": entries,
            "stage1": {"pulls": 6, "episode_steps": 8},
            "stage2": {"trials": 2, "initial_points": 1, "steps": 10, "eval_every": 5},
            "baselines": {"run": []},
            "tracking": {"enabled": False},
            "output_dir": str(folder / "out"),
        },
        source="test",
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("AUTOAUX_CACHE", str(folder / "cache"))
            result = autoaux.run(config, progress=False)
    finally:
        torch.set_num_threads(threads)
    return result, folder / "out"


def test_default_race_adds_a_control_and_writes_verdicts(planted_race: tuple[Any, Path]) -> None:
    result, out = planted_race
    selection = result.selection
    assert selection.controls == ("shuffled:helpful-0",)  # made automatically
    assert set(selection.verdicts) == {"helpful-0", "shuffled:helpful-0"}
    assert selection.arms[0] == "main"  # main alone, the reference
    assert len(selection.history) == 6 and selection.rule == "race"
    data = json.loads((out / "result.json").read_text())
    verdict = data["verdicts"]["helpful-0"]
    assert verdict["verdict"] in ("helps", "negligible", "hurts", "undecided")
    assert "vs_control" in verdict
    assert verdict["episodes"] == selection.verdicts["helpful-0"].episodes
    assert data["decision"] == selection.decision != ""
    assert (out / "stage1_utilities.png").stat().st_size > 0
