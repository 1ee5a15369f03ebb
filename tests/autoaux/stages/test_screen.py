"""The affinity screen (autoaux.stages.screen): its statistics on known numbers, its decisions,
the JSON round trip of its result, and the screen through the API and the CLI on tiny planted
pools."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

import autoaux
from autoaux.cli import main as cli_main
from autoaux.config import ScreenConfig, config_from_dict
from autoaux.errors import ConfigError
from autoaux.runs.affinity import AffinityResult
from autoaux.stages.screen import affinity_statistics, run_screen
from tasks import make_planted_suite, write_task_csv


# ----------------------------------------------------------------------- statistics
def test_affinity_is_the_relative_loss_drop_against_the_control() -> None:
    # rows: good, bad, control; 3 rounds; the round shifts every loss alike
    losses = np.array([[0.45, 0.55, 0.50], [0.60, 0.70, 0.66], [0.50, 0.60, 0.55]])
    mean, low, high = affinity_statistics(losses, control=2, alpha=0.05)
    expected = ((losses[2] - losses) / losses[2]).mean(axis=1)
    assert np.allclose(mean, expected)
    assert mean[0] > 0 > mean[1] and mean[2] == low[2] == high[2] == 0.0
    assert np.all(low[:2] < mean[:2]) and np.all(mean[:2] < high[:2])
    assert np.allclose(high[:2] - mean[:2], mean[:2] - low[:2])  # symmetric, pooled width
    assert np.isclose(high[0] - low[0], high[1] - low[1])


def test_a_wider_level_gives_a_wider_interval_and_nan_columns_are_left_out() -> None:
    losses = np.array([[0.40, 0.52], [math.nan, math.nan], [0.50, 0.55]])
    _, low_95, high_95 = affinity_statistics(losses, control=2, alpha=0.05)
    mean, low_80, high_80 = affinity_statistics(losses, control=2, alpha=0.20)
    assert high_95[0] - low_95[0] > high_80[0] - low_80[0] > 0
    assert math.isnan(mean[1])


class _Trainer:
    """Stands in for a probe trainer: the target's dev loss after a probe with ``arm`` is the
    arm's level plus a round offset shared by every arm (what pairing cancels)."""

    LEVELS: ClassVar[dict[str, float]] = {
        "good": 0.40, "neutral": 0.50, "bad": 0.62, "control": 0.50, "main": 0.5
    }

    def __init__(self, target: str, arm: str, seed_key: str, calls: list[tuple[str, str, str]]):
        self.target, self.arm = target, arm
        self.round = int(seed_key.rsplit("-", 1)[1])
        calls.append((target, arm, seed_key))

    def train_mixture(self, probabilities: dict[str, float], steps: int, **_: Any) -> None:
        assert set(probabilities) == {self.target, self.arm}

    def evaluate_loss(self, task: str, split: str) -> float:
        shared = np.random.default_rng(self.round).normal(0.0, 0.05)
        own = np.random.default_rng([self.round, len(self.arm), len(task)]).normal(0.0, 0.002)
        return self.LEVELS[self.arm] + shared + own


def _screen(**settings: Any) -> tuple[AffinityResult, list[tuple[str, str, str]]]:
    calls: list[tuple[str, str, str]] = []
    result = run_screen(
        lambda target, arm, steps, key: _Trainer(target, arm, key, calls),
        main="main",
        candidates=["good", "neutral", "bad"],
        control="control",
        settings=ScreenConfig(**{"probe_steps": 5, "rounds": 3, **settings}),
    )
    return result, calls


def test_screen_drops_what_is_worse_than_the_control_and_shortlists_the_best() -> None:
    result, calls = _screen(shortlist=1)
    assert result.decisions == {"good": "shortlisted", "neutral": "cut", "bad": "dropped"}
    assert result.shortlist == ("good",)
    row = result.row()
    assert row["good"] > 0.15 and row["bad"] < -0.15 and row["control"] == 0.0
    assert result.interval("good")[0] > 0 and result.interval("bad")[1] < 0
    # every arm once a round, each round with its own seed
    assert len(calls) == 3 * 4 and result.steps == 12 * 5
    assert {key for _, _, key in calls} == {f"screen-round-{r}" for r in range(3)}


def test_pairwise_adds_a_row_per_candidate_with_its_own_cell_empty() -> None:
    result, _ = _screen(rounds=2)
    assert result.targets == ("main",) and not result.pairwise
    calls: list[tuple[str, str, str]] = []
    result_pw = run_screen(
        lambda target, arm, steps, key: _Trainer(target, arm, key, calls),
        main="main", candidates=["good", "neutral", "bad"], control="control",
        settings=ScreenConfig(probe_steps=5, rounds=2), pairwise=True,
    )  # fmt: skip
    assert result_pw.arms == ("good", "neutral", "bad", "control")
    assert len(calls) == 2 * 4 * 4 - 2 * 3  # no probe of a task with itself
    assert result_pw.row() == result.row()  # the main row does not depend on the others
    assert result_pw.targets == ("main", "good", "neutral", "bad")
    for i, target in enumerate(result_pw.targets[1:], start=1):
        assert math.isnan(result_pw.affinity[i][result_pw.arms.index(target)])
    assert result_pw.row("neutral")["good"] > 0


def test_affinity_result_round_trips_through_json(tmp_path: Path) -> None:
    result = run_screen(
        lambda target, arm, steps, key: _Trainer(target, arm, key, []),
        main="main", candidates=["good", "bad"], control="control",
        settings=ScreenConfig(probe_steps=5, rounds=2), pairwise=True,
    )  # fmt: skip
    path = result.to_json(tmp_path / "affinity.json")
    data = json.loads(path.read_text())
    assert data["affinity"][1][0] is None  # nan (good on itself) is null in JSON
    back = AffinityResult.from_json(path)
    assert json.dumps(back.to_dict()) == json.dumps(json.loads(path.read_text()))
    assert back.row("good").keys() == result.row("good").keys()
    assert back.shortlist == result.shortlist and back.decisions == result.decisions


def test_a_broken_affinity_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "affinity.json"
    path.write_text(json.dumps({"targets": ["main"], "arms": ["a"]}))
    with pytest.raises(ValueError, match=r"affinity\.json"):
        AffinityResult.from_json(path)


def test_screen_settings_are_validated() -> None:
    with pytest.raises(ConfigError, match=r"screen\.rounds"):
        config_from_dict({"main": {"task": "nyt-polarity"}, "screen": {"rounds": 1}})
    with pytest.raises(ConfigError, match=r"screen\.when"):
        config_from_dict({"main": {"task": "nyt-polarity"}, "screen": {"when": "sometimes"}})
    assert ScreenConfig(min_candidates=8).applies(9) and not ScreenConfig().applies(8)
    assert ScreenConfig(when="always").applies(1) and not ScreenConfig(when="never").applies(99)


# ----------------------------------------------------------------------- a planted pool
def _planted_config(folder: Path, seed: int, **sections: Any) -> Any:
    suite = make_planted_suite(
        n_helpful=1, n_neutral=1, n_harmful=0, main_train=60, aux_train=400, dev=100,
        test=100, seed=seed,
    )  # fmt: skip
    entries = []
    for task in suite.tasks:
        path = write_task_csv(task, folder / f"{task.name}.csv", split="all")
        entries.append({"name": task.name, "path": str(path), "split_column": "split"})
    data = {
        "seed": seed,
        "model": {"encoder": "tiny", "max_length": 24, "hidden_size": 32},
        "main": {"task": "main"},
        "auxiliary": {"tasks": [t.name for t in suite.auxiliary]},
        "task": entries,
        "screen": {"probe_steps": 150, "rounds": 2},
        "tracking": {"enabled": False},
        "output_dir": str(folder / "out"),
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value}
    return config_from_dict(data, source="test")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_screen_ranks_the_planted_helper_above_the_control(
    seed: int, tmp_path: Path, one_thread: Any
) -> None:
    result = autoaux.affinity(_planted_config(tmp_path, seed), progress=False)
    row = result.row()
    assert result.control == "shuffled:helpful-0"
    assert row["helpful-0"] > row["shuffled:helpful-0"] == 0.0
    assert row["helpful-0"] > row["neutral-0"]
    assert (tmp_path / "out" / "affinity.json").is_file()


def test_same_seed_same_affinity(tmp_path: Path, one_thread: Any) -> None:
    config = _planted_config(tmp_path, 0, screen={"probe_steps": 12})
    first = autoaux.affinity(config, progress=False)
    second = autoaux.affinity(config, progress=False)
    assert first.losses == second.losses and first.decisions == second.decisions


def test_run_screens_a_large_pool_and_races_the_shortlist(tmp_path: Path, one_thread: Any) -> None:
    config = _planted_config(
        tmp_path, 0,
        screen={"probe_steps": 10, "min_candidates": 1, "shortlist": 1},
        stage1={"pulls": 4, "episode_steps": 5},
        stage2={"trials": 1, "initial_points": 1, "steps": 6, "eval_every": 3},
        baselines={"run": []},
    )  # fmt: skip
    result = autoaux.run(config, progress=False)
    assert result.screen is not None and len(result.screen.shortlist) == 1
    (chosen,) = result.screen.shortlist
    # the race saw the shortlist only (and the control, raced for calibration)
    assert set(result.selection.verdicts) == {chosen, "shuffled:helpful-0"}
    assert result.selection.controls == ("shuffled:helpful-0",)
    data = json.loads((tmp_path / "out" / "result.json").read_text())
    assert data["screen"]["shortlist"] == [chosen]
    assert set(data["screen"]["decisions"]) == {"helpful-0", "neutral-0"}
    assert (tmp_path / "out" / "affinity.png").stat().st_size > 0


def test_a_pool_below_the_threshold_skips_the_screen(tmp_path: Path, one_thread: Any) -> None:
    config = _planted_config(
        tmp_path, 0,
        screen={"min_candidates": 2},
        stage1={"pulls": 4, "episode_steps": 5},
    )  # fmt: skip
    selection = autoaux.select(config, progress=False)
    assert set(selection.verdicts) == {"helpful-0", "neutral-0", "shuffled:helpful-0"}
    assert not (tmp_path / "out" / "affinity.json").exists()


def _planted_toml(folder: Path, when: str = "auto", extra: str = "") -> Path:
    """A run config file over the planted pool of :func:`_planted_config`."""
    _planted_config(folder, 0)  # writes the task files
    toml = folder / "run.toml"
    toml.write_text(
        'seed = 0\n[model]\nencoder = "tiny"\nmax_length = 24\nhidden_size = 32\n'
        '[main]\ntask = "main"\n[auxiliary]\ntasks = ["helpful-0", "neutral-0"]\n'
        f'[screen]\nwhen = "{when}"\nprobe_steps = 6\nrounds = 2\n'
        '[tracking]\nenabled = false\n'
        + extra
        + "".join(
            f'[[task]]\nname = "{n}"\npath = "{n}.csv"\nsplit_column = "split"\n'
            for n in ("main", "helpful-0", "neutral-0")
        )
    )
    return toml


def test_cli_affinity_writes_the_json_and_the_map(tmp_path: Path, one_thread: Any,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    toml = _planted_toml(tmp_path)
    out = tmp_path / "cli-out"
    code = cli_main(["affinity", "--config", str(toml), "--output", str(out), "--pairwise",
                     "--quiet"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "shortlist:" in printed and "shuffled:helpful-0" in printed
    data = json.loads((out / "affinity.json").read_text())
    assert data["targets"] == ["main", "helpful-0", "neutral-0"]
    assert (out / "affinity.png").stat().st_size > 0


@pytest.mark.parametrize("when", ["always", "never"])
def test_cli_select_says_what_the_screen_decided(when: str, tmp_path: Path, one_thread: Any,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    toml = _planted_toml(tmp_path, when, extra="[stage1]\npulls = 4\nepisode_steps = 5\n")
    out = tmp_path / "cli-out"
    code = cli_main(["select", "--config", str(toml), "--output", str(out), "--quiet"])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    screen = [line for line in lines if line.startswith("screen:")]
    if when == "never":
        assert screen == [] and not (out / "affinity.json").exists()
        return
    shortlist = json.loads((out / "affinity.json").read_text())["shortlist"]
    assert screen == [f"screen: 2 candidates, {2 - len(shortlist)} dropped, 0 cut; "
                      f"shortlist: {', '.join(shortlist) or '(none)'}"]  # fmt: skip


def test_cli_affinity_bad_screen_setting_exits_2(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    toml = tmp_path / "run.toml"
    toml.write_text('[main]\ntask = "nyt-polarity"\n[screen]\nrounds = 0\n')
    assert cli_main(["affinity", "--config", str(toml)]) == 2
    err = capsys.readouterr().err
    assert "screen.rounds" in err and len(err.strip().splitlines()) == 1


def test_a_resumed_run_keeps_the_screen_it_had(tmp_path: Path) -> None:
    from autoaux.runs.checkpoint import RunCheckpoint

    config = config_from_dict(
        {"main": {"task": "nyt-polarity"}, "model": {"encoder": "tiny"},
         "output_dir": str(tmp_path)}
    )  # fmt: skip
    result, _ = _screen(shortlist=1)
    RunCheckpoint.create(config).finish_screen(result)
    assert RunCheckpoint.create(config, overwrite=True).screen_result() is None  # a new run
    RunCheckpoint.create(config, overwrite=True).finish_screen(result)
    resumed = RunCheckpoint.load(tmp_path).screen_result()
    assert resumed is not None
    assert resumed.to_dict() == result.to_dict()
