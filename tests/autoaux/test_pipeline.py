"""The pipeline end to end on a tiny model and planted synthetic tasks written to CSV files.

The pool holds the planted helpful task (the main task's own labelling rule, 10x its data) and
an automatic ``shuffled:`` copy of it as the null control. Stage 1 is pinned to mixed rewards,
mean-reward utilities, no gating and selection against the control, 60 pulls of 5 steps. Over
suite/run seeds 0..4 this gave the helpful task a utility 0.11 to 0.18 above the control's
(mean gradient cosine 0.24 to 0.28 for the helpful task, -0.04 to 0.10 for the control) and
selected the helpful task, never the control, every time; after 40 pulls the margins were
0.07 to 0.17 and 4 seeds of 5 selected it. The test asserts a margin of 0.05 on seed 0.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

import autoaux
from autoaux.config import RunConfig, Stage1Config, Stage2Config, config_from_dict
from autoaux.runs.result import RunResult
from autoaux.stages.baselines import BASELINES, proportional, temperature, uniform
from autoaux.stages.stage1 import pull_reward, select_arms
from autoaux.stages.stage2 import run_stage2, warm_start_ratios
from autoaux.tracking import MlflowTracker, NullTracker
from autoaux.training.trainer import MixtureReport, NonFiniteLossError
from tasks import Task, make_planted_suite, write_task_csv

PULLS, STEPS_PER_PULL, TRIALS = 60, 5, 3
HELPFUL, CONTROL = "helpful-0", "shuffled:helpful-0"


@pytest.fixture(scope="module", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Trained tokenizers go to a temporary cache, not the user's; torch runs on one thread.

    One intra-op thread is as fast as two for a model this small, and it keeps the tests fast
    on a loaded machine, where two spinning threads per process slowed a run tenfold.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTOAUX_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield
    torch.set_num_threads(threads)


@dataclass(frozen=True)
class Planted:
    folder: Path
    entries: list[dict[str, str]]
    store: str


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Planted:
    folder = tmp_path_factory.mktemp("planted")
    suite = make_planted_suite(
        n_helpful=1, n_neutral=0, n_harmful=0, main_train=100, aux_train=1000, dev=200,
        test=200, seed=0,
    )  # fmt: skip
    entries = []
    for task in suite.tasks:
        path = write_task_csv(task, folder / f"{task.name}.csv", split="all")
        entries.append({"name": task.name, "path": str(path), "split_column": "split"})
    return Planted(folder, entries, f"sqlite:///{folder / 'mlflow.db'}")


def make_config(planted: Planted, **changes: Any) -> RunConfig:
    data: dict[str, Any] = {
        "seed": 0,
        "model": {"encoder": "tiny", "max_length": 32},
        "main": {"task": "main"},
        "auxiliary": {"tasks": [HELPFUL], "add_control": True},
        "task": planted.entries,
        "stage1": {
            "preset": "bandit",  # the in-run bandit (the race has tests of its own)
            "pulls": PULLS,
            "steps_per_pull": STEPS_PER_PULL,
            # pinned, so that re-tuned defaults do not move the measured margins above
            "policy": "thompson",
            "decay": 0.3,
            "reward": "mixed",
            "utility": "mean",
            "gating": "off",
            "selection": "control",
        },
        "stage2": {"trials": TRIALS, "initial_points": 2, "steps": 100, "eval_every": 25},
        "baselines": {"run": ["main-only", "uniform", "temperature"]},
        "tracking": {"uri": planted.store, "experiment": "pipeline", "run_name": "planted-run"},
        "output_dir": str(planted.folder / "out"),
    }
    for dotted, value in changes.items():
        section, _, key = dotted.rpartition("__")
        (data.setdefault(section, {}) if section else data)[key] = value
    return config_from_dict(data, source="test")


@pytest.fixture(scope="module")
def result(planted: Planted) -> RunResult:
    return autoaux.run(make_config(planted), progress=False)


@pytest.fixture(scope="module")
def client(planted: Planted, result: RunResult) -> MlflowClient:
    return MlflowClient(tracking_uri=planted.store)


# ------------------------------------------------------------------------------- stage 1
def test_stage1_ranks_the_helpful_task_above_the_shuffled_control(result: RunResult) -> None:
    utilities = result.utilities
    assert set(utilities) == {"main", HELPFUL, CONTROL}
    assert utilities[HELPFUL] > utilities[CONTROL] + 0.05
    assert result.selection.mean_cosines[HELPFUL] > result.selection.mean_cosines[CONTROL]
    assert HELPFUL in result.selected
    assert CONTROL not in result.selected and "main" not in result.selected
    assert result.selection.controls == (CONTROL,)
    assert sum(result.pulls.values()) == PULLS
    assert [r.pull for r in result.selection.history] == list(range(1, PULLS + 1))
    assert all(0.0 <= r.reward <= 1.0 for r in result.selection.history)


# ------------------------------------------------------------------------------- stage 2
def test_stage2_runs_the_trials_warm_started_from_utilities(result: RunResult) -> None:
    mix = result.mixture
    assert mix.tasks == result.selected
    assert len(result.trials) == TRIALS
    assert [t.number for t in result.trials] == list(range(TRIALS))
    assert all(t.state == "COMPLETE" and t.score is not None for t in result.trials)
    best = max(t.score for t in result.trials if t.score is not None)
    assert result.best_dev_score == best
    assert result.test_score is not None and 0.5 < result.test_score <= 1.0
    assert result.ratios["main"] == 1.0 and set(result.ratios) == {"main", *result.selected}
    warm = warm_start_ratios(result.selected, result.utilities, main="main", max_ratio=5.0)
    # the first trial is the main task alone, the second the warm start
    assert result.trials[0].ratios == dict.fromkeys(result.selected, 0.0)
    assert mix.main_only_dev == result.trials[0].score
    assert result.trials[1].ratios == pytest.approx(warm)
    assert math.isclose(sum(mix.probabilities.values()), 1.0)
    assert mix.main_alone == all(r == 0.0 for t, r in result.ratios.items() if t != "main")
    assert mix.best_state is not None and any(k.startswith("encoder.") for k in mix.best_state)


def test_baselines_use_the_stage2_budget(result: RunResult) -> None:
    assert list(result.baselines) == ["main-only", "uniform", "temperature"]
    for name, score in result.baselines.items():
        # 100 main-task steps (the cap; 4 evaluations never exhaust a patience of 4), the
        # auxiliary tasks' steps on top
        assert (score.steps == 100) if name == "main-only" else (score.steps > 100)
        assert score.error == ""
        assert 0.5 < score.dev <= 1.0 and score.test is not None
    assert result.baselines["main-only"].probabilities == {"main": 1.0}
    assert set(result.baselines["uniform"].probabilities) == {"main", HELPFUL}  # no control


# ------------------------------------------------------------------------------- outputs
def test_result_json_and_plots(result: RunResult, planted: Planted) -> None:
    out = planted.folder / "out"
    data = json.loads((out / "result.json").read_text())
    for key in (
        "main_task", "selected", "utilities", "pulls", "ratios", "best_dev_score",
        "test_score", "trials", "mlflow", "baselines",
    ):  # fmt: skip
        assert key in data, key
    assert data["main_task"] == "main"
    assert data["selected"] == list(result.selected)
    assert data["pulls"] == result.pulls
    assert data["ratios"] == pytest.approx(result.ratios)
    assert [set(t) >= {"number", "ratios", "score", "state"} for t in data["trials"]] == [True] * 3
    assert data["mlflow"] == {
        "tracking_uri": planted.store,
        "experiment_id": result.mlflow["experiment_id"],
        "run_id": result.run_id,
    }
    assert data["baselines"]["main-only"]["dev"] == result.baselines["main-only"].dev
    for name in ("stage1_utilities.png", "stage2_trials.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_mlflow_store_holds_the_run_tree(result: RunResult, client: MlflowClient) -> None:
    experiment = result.mlflow["experiment_id"]
    assert experiment is not None
    runs = client.search_runs([experiment])
    by_name = {r.info.run_name: r for r in runs}
    parent = by_name["planted-run"]
    assert parent.info.run_id == result.run_id
    assert all(r.info.status == "FINISHED" for r in runs)
    assert parent.data.tags["autoaux.main_task"] == "main"
    assert parent.data.tags["autoaux.device"] == "cpu"
    assert parent.data.params["stage1.pulls"] == str(PULLS)
    assert parent.data.metrics["best_dev_score"] == result.best_dev_score
    assert parent.data.metrics["test_score"] == result.test_score
    assert "baseline/main-only/test_score" in parent.data.metrics
    artifacts = {f.path for f in client.list_artifacts(parent.info.run_id)}
    assert {"result.json", "stage1_utilities.png", "stage2_trials.png"} <= artifacts

    def children(run_id: str) -> dict[str, Any]:
        return {r.info.run_name: r for r in runs if r.data.tags.get("mlflow.parentRunId") == run_id}

    top = children(parent.info.run_id)
    assert set(top) == {"stage1", "stage2", "baseline-main-only", "baseline-uniform",
                        "baseline-temperature"}  # fmt: skip
    stage1 = top["stage1"].info.run_id
    rewards = client.get_metric_history(stage1, "reward")
    assert [m.step for m in rewards] == list(range(1, PULLS + 1))
    assert [m.value for m in rewards] == pytest.approx([r.reward for r in result.selection.history])
    assert len(client.get_metric_history(stage1, "dev_score")) == PULLS + 1  # step 0 too
    control = result.selection.arms.index(CONTROL)
    logged = [(m.step, m.value) for m in client.get_metric_history(stage1, f"utility/{CONTROL}")]
    expected = [
        (r.pull, r.utilities[control])
        for r in result.selection.history
        if not math.isnan(r.utilities[control])  # nan (never pulled yet) is not logged
    ]
    assert [step for step, _ in logged] == [step for step, _ in expected]
    assert [v for _, v in logged] == pytest.approx([v for _, v in expected])
    assert len(logged) >= PULLS // 2
    assert {"arm", "loss", "cosine", f"final_utility/{HELPFUL}"} <= set(top["stage1"].data.metrics)
    assert json.loads(top["stage1"].data.params["arms"]) == ["main", HELPFUL, CONTROL]

    trials = children(top["stage2"].info.run_id)
    assert set(trials) == {f"trial-{i}" for i in range(TRIALS)}
    for record in result.trials:
        run = trials[f"trial-{record.number}"]
        assert run.info.run_id == record.run_id
        assert run.data.tags["autoaux.state"] == "COMPLETE"
        assert run.data.tags["autoaux.device"] == "cpu"
        assert float(run.data.params[f"ratio/{HELPFUL}"]) == pytest.approx(record.ratios[HELPFUL])
        assert run.data.metrics["best_dev_score"] == record.score
        assert "seconds" in run.data.metrics
        curve = client.get_metric_history(run.info.run_id, "dev_score")
        assert [(m.step, m.value) for m in curve] == [tuple(p) for p in record.dev_curve]


# ------------------------------------------------------------------------------- determinism
def test_same_seed_same_result(result: RunResult, planted: Planted) -> None:
    again = autoaux.run(
        make_config(planted, tracking__enabled=False, output_dir=str(planted.folder / "again")),
        progress=False,
    )
    assert again.mlflow["run_id"] is None
    assert again.selected == result.selected
    assert again.utilities == result.utilities
    assert again.pulls == result.pulls
    assert repr(again.selection.history) == repr(result.selection.history)  # nan-safe
    assert again.ratios == result.ratios
    assert [(t.ratios, t.score, t.dev_curve) for t in again.trials] == [
        (t.ratios, t.score, t.dev_curve) for t in result.trials
    ]
    assert again.best_dev_score == result.best_dev_score
    assert again.test_score == result.test_score
    assert {k: (b.dev, b.test) for k, b in again.baselines.items()} == {
        k: (b.dev, b.test) for k, b in result.baselines.items()
    }


# ------------------------------------------------------------------------------- Python API
@pytest.fixture(scope="module")
def user_tasks(planted: Planted) -> dict[str, Task]:
    suite = make_planted_suite(
        n_helpful=1, n_neutral=0, n_harmful=0, main_train=60, aux_train=200, dev=64, test=64,
        seed=1,
    )  # fmt: skip
    return {t.name: t for t in suite.tasks}


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory: pytest.TempPathFactory, user_tasks: dict[str, Task]) -> Path:
    """A local Hugging Face model folder (a tiny BERT and its tokenizer), as a user has one."""
    from autoaux.model import ModelSpec, build_encoder

    folder = tmp_path_factory.mktemp("my-model")
    texts = [ex.text for task in user_tasks.values() for ex in task.train]
    encoder, tokenizer = build_encoder(ModelSpec(max_length=32), texts=texts, seed=0)
    encoder.save_pretrained(folder)  # type: ignore[operator]  # a transformers PreTrainedModel
    tokenizer.save_pretrained(folder)
    return folder


def test_select_takes_task_objects_and_a_local_model_folder(
    user_tasks: dict[str, Task], model_folder: Path, tmp_path: Path
) -> None:
    selection = autoaux.select(
        main=user_tasks["main"],
        auxiliary=[user_tasks[HELPFUL], CONTROL],
        encoder=model_folder,
        preset="bandit",
        pulls=6,
        steps_per_pull=2,
        overrides={"tracking.enabled": False, "output_dir": str(tmp_path), "model.max_length": 32},
        progress=False,
    )
    assert selection.arms == ("main", HELPFUL, CONTROL)
    assert sum(selection.pulls.values()) == 6
    assert CONTROL not in selection.selected
    assert (tmp_path / "selection.json").is_file() and (tmp_path / "stage1_utilities.png").is_file()


def test_mix_with_no_auxiliary_task_is_one_main_only_trial(
    user_tasks: dict[str, Task], tmp_path: Path
) -> None:
    mixture = autoaux.mix(
        main=user_tasks["main"],
        tasks=[],
        steps=20,
        eval_every=10,
        overrides={"tracking.enabled": False, "output_dir": str(tmp_path), "model.max_length": 32},
        tracker=NullTracker(),
        progress=False,
    )
    assert mixture.tasks == ()
    assert mixture.ratios == {"main": 1.0} and mixture.probabilities == {"main": 1.0}
    assert len(mixture.trials) == 1 and mixture.trials[0].ratios == {}
    assert mixture.best_trial == 0 and mixture.test_score is not None
    assert json.loads((tmp_path / "mix.json").read_text())["best_trial"] == 0


# ------------------------------------------------------------------------------- failures
class _FakeModel:
    def snapshot(self) -> dict[str, Any]:
        return {"w": 1}


class _FakeTrainer:
    """Stands in for a Trainer: the score is a fixed function of the mixture."""

    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.model = _FakeModel()

    def train_mixture(self, probabilities: dict[str, float], n_steps: int, **_: Any) -> Any:
        if self.fail:
            raise NonFiniteLossError("a", 3, math.nan)
        score = 0.5 + 0.1 * probabilities.get("a", 0.0)
        return MixtureReport(n_steps, ((n_steps, score),), score, n_steps, {"main": n_steps})

    def evaluate(self, task: str, split: str = "dev", **_: Any) -> float:
        return 0.7


def test_a_failed_trial_is_recorded_and_the_search_goes_on(planted: Planted) -> None:
    calls: list[int] = []

    def make_trainer(total_steps: int) -> Any:
        calls.append(total_steps)
        return _FakeTrainer(fail=len(calls) == 2)

    tracker = MlflowTracker(planted.store, "failures")
    parent = tracker.start("parent")
    mix = run_stage2(
        make_trainer,
        main="main",
        tasks=["a", "b"],
        settings=Stage2Config(trials=4, initial_points=2, steps=10, eval_every=5),
        seed=0,
        tracker=tracker,
    )
    tracker.finish()
    assert calls == [10, 10, 10, 10]
    assert [t.state for t in mix.trials] == ["COMPLETE", "FAILED", "COMPLETE", "COMPLETE"]
    failed = mix.trials[1]
    assert failed.score is None and "NonFiniteLossError" in failed.error
    assert mix.best_trial is not None and mix.trials[mix.best_trial].state == "COMPLETE"
    run = tracker.client.get_run(failed.run_id)
    assert run.info.status == "FAILED"
    assert "non-finite loss" in run.data.tags["autoaux.failure"]
    assert run.data.tags["mlflow.parentRunId"] == mix.run_id
    assert tracker.client.get_run(parent).info.status == "FINISHED"


# ------------------------------------------------------------------------------- pieces
def test_pull_rewards() -> None:
    autosem = Stage1Config(preset="autosem").bandit()
    assert pull_reward(autosem, previous=0.8, current=0.8, cosine=-1.0, is_main=False) == 1.0
    assert pull_reward(autosem, previous=0.8, current=0.79, cosine=1.0, is_main=False) == 0.0
    mixed = Stage1Config(reward="mixed", reward_scale=0.05, reward_weight=0.5).bandit()
    # scaled gain 0.5 + 0.025 / 0.1 = 0.75; cosine reward (0.2 + 1) / 2 = 0.6
    assert pull_reward(mixed, previous=0.8, current=0.825, cosine=0.2, is_main=False) == (
        pytest.approx(0.675)
    )
    assert pull_reward(mixed, previous=0.8, current=0.825, cosine=0.2, is_main=True) == (
        pytest.approx(0.75)
    )
    cosine = Stage1Config(reward="cosine").bandit()
    assert pull_reward(cosine, previous=0.8, current=0.0, cosine=0.0, is_main=False) == 0.5
    assert pull_reward(cosine, previous=0.8, current=0.9, cosine=math.nan, is_main=False) == 1.0


def test_selection_rules() -> None:
    utilities = np.array([0.6, 0.7, 0.55, 0.4])  # main, a, b, control
    histories = [[0.6] * 5, [0.7, 0.72, 0.68, 0.7], [0.5, 0.6, 0.55], [0.4, 0.41, 0.39]]

    def chosen(**settings: Any) -> tuple[list[int], str]:
        return select_arms(
            Stage1Config(**settings).bandit(), utilities, histories, main_arm=0, control_arms=[3]
        )

    assert chosen(selection="default", reward="gain") == ([1], "default")  # bar: main 0.6
    assert chosen(selection="default", reward="mixed") == ([1, 2], "default")  # bar: 0.5
    assert chosen(selection="top-k", top_k=1) == ([1], "top-k")
    assert chosen(selection="threshold", threshold=0.56) == ([1], "threshold")
    assert chosen(selection="control") == ([1, 2], "control")
    assert chosen(selection="auto") == ([1, 2], "control")
    few = [h[:1] for h in histories]  # a control with one reward: no test possible
    assert select_arms(
        Stage1Config(selection="control", reward="gain").bandit(), utilities, few, main_arm=0,
        control_arms=[3],
    ) == ([1], "default")  # fmt: skip


def test_warm_start_ratios() -> None:
    utilities = {"main": 0.5, "a": 0.75, "b": 0.25, "c": math.nan}
    assert warm_start_ratios(["a", "b", "c"], utilities, main="main", max_ratio=5.0) == {
        "a": 1.5, "b": 0.5, "c": 1.0,
    }  # fmt: skip
    assert warm_start_ratios(["a", "b"], {"a": 0.8, "b": 0.4}, main="main", max_ratio=5.0) == {
        "a": 1.0, "b": 0.5,
    }  # fmt: skip
    assert warm_start_ratios(["a"], {"main": 0.1, "a": 0.9}, main="main", max_ratio=2.0) == {
        "a": 2.0
    }
    assert warm_start_ratios(["a", "b"], None, main="main", max_ratio=5.0) == {"a": 1.0, "b": 1.0}
    # the race: main alone is the reference with utility 0, candidates' utilities are effects
    race = {"main": 0.0, "a": 0.05, "b": 0.025}
    assert warm_start_ratios(["a", "b"], race, main="main", max_ratio=5.0) == {"a": 1.0, "b": 0.5}


def test_baseline_mixtures() -> None:
    sizes = {"main": 100, "a": 400, "b": 1600}
    assert uniform("main", ["a", "b"]) == pytest.approx({"main": 1 / 3, "a": 1 / 3, "b": 1 / 3})
    for n in range(12):  # exactly 1 / (n + 1) each, main first, the main task counted once
        names = [f"t{i}" for i in range(n)]
        assert list(uniform("main", [*names, "main"]).items()) == [
            (t, 1.0 / (n + 1)) for t in ["main", *names]
        ]
    assert proportional("main", ["a", "b"], sizes) == pytest.approx(
        {"main": 100 / 2100, "a": 400 / 2100, "b": 1600 / 2100}
    )
    # T = 2: p ∝ sqrt(n) = 10, 20, 40
    assert temperature("main", ["a", "b"], sizes, t=2.0) == pytest.approx(
        {"main": 10 / 70, "a": 20 / 70, "b": 40 / 70}
    )
    assert set(BASELINES) == {"main-only", "uniform", "proportional", "temperature", "stage1-only"}
    assert BASELINES["stage1-only"]("main", ["a", "b"], ["b"], sizes, 2.0) == {
        "main": 0.5, "b": 0.5,
    }  # fmt: skip


def test_package_exports_the_api() -> None:
    for name in ("run", "select", "mix", "load_config", "RunConfig", "RunResult", "ConfigError",
                 "MultiTaskModel", "CosineGate", "Trainer"):  # fmt: skip
        assert name in autoaux.__all__ and getattr(autoaux, name) is not None
