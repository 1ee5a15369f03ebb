"""Stage-2 trial executors: batches on a local Ray instance match local batches, dead workers.

A local Ray instance with 2 CPUs (offline, no dashboard) runs 4 quick trials 2 at a time on a
tiny model and planted tasks. The result must equal a :class:`LocalExecutor` run with the same
seed and batch size; a worker killed in the middle of a trial (``os._exit`` on its first
attempt) leaves the run complete with that trial run again; a trial whose worker dies on both
attempts is recorded FAILED and the search goes on; every trial run is in MLflow under the
stage-2 run.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import torch
from mlflow.tracking import MlflowClient

import autoaux
from autoaux.config import RunConfig, Stage2Config, config_from_dict
from autoaux.errors import ConfigError
from autoaux.runs.checkpoint import RunInterrupted
from autoaux.runs.result import MixResult, TrialRecord
from autoaux.stages.executors import (
    LocalExecutor,
    RayExecutor,
    TrialOutcome,
    TrialProgress,
    TrialSpec,
    make_executor,
)
from autoaux.stages.stage2 import run_stage2
from autoaux.tracking import MlflowTracker, tracked_run
from autoaux.training import Workbench
from tasks import Task, make_planted_suite

TRIALS, PARALLEL = 4, 2


# ------------------------------------------------------------------------------- without Ray
def test_stage2_config_keys() -> None:
    settings = Stage2Config(executor="ray", parallel=4, ray_address="ray://head:10001")
    assert (settings.executor, settings.parallel, settings.ray_address) == (
        "ray",
        4,
        "ray://head:10001",
    )
    assert Stage2Config(ray_address="auto").ray_address == "auto"
    assert Stage2Config(ray_address="10.0.0.1:6379").ray_address == "10.0.0.1:6379"
    assert Stage2Config().executor == "local" and Stage2Config().parallel == 1
    bad: dict[str, Any] = {"executor": "dask", "parallel": 0, "ray_address": "head"}
    for key, value in bad.items():
        with pytest.raises(ConfigError, match=f"stage2.{key}"):
            Stage2Config(**{key: value})


def test_progress_counts_running_done_and_failed() -> None:
    shown = TrialProgress()
    settings = Stage2Config()
    specs = [TrialSpec(n, {"a": 1.0}, {"main": 0.5, "a": 0.5}, "main", settings) for n in (0, 1)]
    for spec in specs:
        shown.started(spec)
    assert shown.postfix() == "running 2, done 0, failed 0, best dev -"
    shown.finished(TrialOutcome(TrialRecord(0, {"a": 1.0}, 0.75, "COMPLETE")))
    shown.finished(TrialOutcome(TrialRecord(1, {"a": 1.0}, None, "FAILED")))
    assert shown.postfix() == "running 0, done 2, failed 1, best dev 0.750"


def test_executor_ray_without_ray_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ConfigError, match=r"stage2\.executor.*autoaux\[ray\]"):
        make_executor(Stage2Config(executor="ray"), _no_trainer)


# ------------------------------------------------------------------------------- with Ray
@pytest.fixture(scope="module", autouse=True)
def _environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A private tokenizer cache and one torch thread (as each Ray worker uses)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTOAUX_CACHE", str(tmp_path_factory.mktemp("cache")))
        patch.setenv("RAY_USAGE_STATS_ENABLED", "0")
        patch.setenv("OMP_NUM_THREADS", "1")
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the workers use one thread each: the same arithmetic
        try:
            yield
        finally:
            torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def ray() -> Iterator[Any]:
    """A local Ray instance with 2 CPUs, offline, without the dashboard."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'autoaux[ray]')")
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # test classes by value
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@dataclass(frozen=True)
class Setup:
    main: Task
    helpful: Task
    folder: Path


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    suite = make_planted_suite(
        n_helpful=1, n_neutral=0, n_harmful=0, main_train=80, aux_train=200, dev=64,
        test=64, seed=0,
    )  # fmt: skip
    return Setup(suite.main, suite.auxiliary[0], tmp_path_factory.mktemp("executors"))


def make_config(setup: Setup, store: str, **stage2: Any) -> RunConfig:
    data: dict[str, Any] = {
        "seed": 0,
        "device": "cpu",
        "model": {"encoder": "tiny", "max_length": 16, "vocab_size": 400},
        "main": {"task": setup.main.name},
        "auxiliary": {"tasks": [setup.helpful.name]},
        "stage2": {"trials": TRIALS, "initial_points": 2, "steps": 16, "eval_every": 8, **stage2},
        "protocol": {"eval_every": 8, "patience": 4},
        "tracking": {"uri": store, "experiment": "executors"},
        "output_dir": str(setup.folder / "out"),
    }
    return config_from_dict(data, source="test", user_tasks=(setup.main.name, setup.helpful.name))


def mix(setup: Setup, store: str, **stage2: Any) -> MixResult:
    return autoaux.mix(
        make_config(setup, store, **stage2),
        tasks=[setup.helpful],
        main=setup.main,
        progress=False,
    )


def summary(result: MixResult) -> list[tuple[int, dict[str, float], float | None, str]]:
    return [(t.number, t.ratios, t.score, t.state) for t in result.trials]


@pytest.fixture(scope="module")
def reference(setup: Setup) -> MixResult:
    """The local executor, batches of 2: what every Ray run below must reproduce."""
    return mix(setup, f"sqlite:///{setup.folder / 'local.db'}", parallel=PARALLEL)


@pytest.fixture(scope="module")
def ray_store(setup: Setup) -> str:
    return f"sqlite:///{setup.folder / 'ray.db'}"


@pytest.fixture(scope="module")
def on_ray(ray: Any, setup: Setup, ray_store: str) -> MixResult:
    return mix(setup, ray_store, executor="ray", parallel=PARALLEL)


def trial_runs(store: str, stage2_run: str) -> list[Any]:
    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("executors")
    assert experiment is not None
    return list(
        client.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.`mlflow.parentRunId` = '{stage2_run}'",
        )
    )


def test_ray_batches_equal_local_batches_of_the_same_size(
    reference: MixResult, on_ray: MixResult
) -> None:
    assert len(on_ray.trials) == TRIALS
    assert all(t.state == "COMPLETE" for t in on_ray.trials)
    assert summary(on_ray) == summary(reference)
    assert on_ray.best_trial == reference.best_trial
    assert on_ray.ratios == reference.ratios
    assert on_ray.test_score == reference.test_score
    assert on_ray.best_state is not None and reference.best_state is not None
    assert all(torch.equal(on_ray.best_state[k], v) for k, v in reference.best_state.items())


def test_batch_size_not_executor_decides_the_points(setup: Setup, reference: MixResult) -> None:
    """A sequential run (batches of 1) asks its own points: the batch size matters."""
    sequential = mix(setup, f"sqlite:///{setup.folder / 'local.db'}", parallel=1)
    # the first trial is the main task alone, the second the warm start
    assert sequential.trials[0].ratios == reference.trials[0].ratios == {"helpful-0": 0.0}
    assert sequential.trials[1].ratios == reference.trials[1].ratios == {"helpful-0": 1.0}
    assert [t.ratios for t in sequential.trials] != [t.ratios for t in reference.trials]


def test_every_ray_trial_logs_its_run_under_the_stage2_run(
    on_ray: MixResult, ray_store: str
) -> None:
    assert on_ray.run_id is not None
    runs = trial_runs(ray_store, on_ray.run_id)
    by_trial = {int(run.data.tags["autoaux.trial"]): run for run in runs}
    assert sorted(by_trial) == list(range(TRIALS)) and len(runs) == TRIALS
    for trial in on_ray.trials:
        run = by_trial[trial.number]
        assert run.info.run_id == trial.run_id
        assert run.info.status == "FINISHED"
        assert run.data.metrics["best_dev_score"] == pytest.approx(trial.score)
        assert run.data.tags["autoaux.device"] == "cpu"
        assert float(run.data.params[f"ratio/{next(iter(trial.ratios))}"]) == pytest.approx(
            next(iter(trial.ratios.values()))
        )
    client = MlflowClient(tracking_uri=ray_store)
    first = on_ray.trials[0].run_id
    assert first is not None
    history = client.get_metric_history(first, "dev_score")
    assert [m.step for m in history] == [8, 16]
    stage2 = client.get_run(on_ray.run_id)
    assert stage2.data.params["executor"] == "ray" and stage2.data.params["parallel"] == "2"


# ------------------------------------------------------------------------------- dead workers
class DyingFactory:
    """A trainer factory whose first ``deaths`` calls (over all workers) kill their process."""

    def __init__(self, inner: Any, folder: Path, deaths: int) -> None:
        self.inner = inner
        self.folder = folder
        self.deaths = deaths

    def __call__(self, total_steps: int) -> Any:
        for k in range(self.deaths):
            try:
                fd = os.open(self.folder / f"death-{k}", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                continue
            os.close(fd)
            os._exit(1)  # a worker process dying mid-trial (its MLflow run is open)
        return self.inner(total_steps)


def run_dying(
    setup: Setup, store: str, *, deaths: int, parallel: int, trials: int = TRIALS
) -> tuple[MixResult, MlflowTracker]:
    config = make_config(setup, store, executor="ray", parallel=parallel, trials=trials)
    bench = Workbench.build(
        config, [setup.main.name, setup.helpful.name], [setup.main, setup.helpful]
    )
    folder = setup.folder / f"markers-{deaths}-{parallel}"
    folder.mkdir()
    factory = DyingFactory(bench.factory("stage2"), folder, deaths)
    tracker = MlflowTracker(store, "executors")
    with tracked_run(tracker, "parent"):
        executor = RayExecutor(factory, tracker=tracker, parallel=parallel)
        with executor:
            result = run_stage2(
                factory,
                main=setup.main.name,
                tasks=[setup.helpful.name],
                settings=config.stage2,
                seed=config.seed,
                tracker=tracker,
                device_name="cpu",
                executor=executor,
                protocol=config.protocol,
            )
    return result, tracker


def test_a_killed_worker_is_replaced_and_its_trial_run_again(
    ray: Any, setup: Setup, reference: MixResult, ray_store: str
) -> None:
    result, tracker = run_dying(setup, ray_store, deaths=1, parallel=PARALLEL)
    assert summary(result) == summary(reference)
    assert result.run_id is not None
    runs = trial_runs(ray_store, result.run_id)
    assert len(runs) == TRIALS + 1  # the dead attempt's run, closed FAILED by its replacement
    dead = [run for run in runs if run.info.status == "FAILED"]
    assert len(dead) == 1
    assert "worker died" in dead[0].data.tags["autoaux.failure"]
    assert {run.info.status for run in runs if run is not dead[0]} == {"FINISHED"}
    assert tracker.client.get_run(result.run_id).info.status == "FINISHED"


def test_a_trial_whose_worker_dies_twice_fails_and_the_search_goes_on(
    ray: Any, setup: Setup, ray_store: str
) -> None:
    result, tracker = run_dying(setup, ray_store, deaths=2, parallel=1, trials=2)
    first, second = result.trials
    assert first.state == "FAILED" and first.score is None
    assert "worker died" in first.error and "WorkerCrashedError" in first.error
    assert second.state == "COMPLETE" and second.score is not None
    assert result.best_trial == 1 and result.test_score is not None
    assert result.run_id is not None
    runs = trial_runs(ray_store, result.run_id)
    failed = [run for run in runs if run.data.tags["autoaux.trial"] == "0"]
    assert len(failed) == 2 and {run.info.status for run in failed} == {"FAILED"}
    assert first.run_id in {run.info.run_id for run in failed}
    assert tracker.client.get_run(first.run_id).data.tags["autoaux.failure"]


# ------------------------------------------------------------------------------- resume
def run_config(setup: Setup, store: str, name: str, **stage2: Any) -> RunConfig:
    """A whole run (a short stage 1 that selects the helpful task) with checkpoints."""
    base = make_config(setup, store, parallel=PARALLEL, **stage2)
    return base.with_overrides(
        {
            "stage1.preset": "bandit",
            "stage1.pulls": 4,
            "stage1.steps_per_pull": 2,
            "stage1.selection": "top-k",
            "stage1.top_k": 1,
            "baselines.run": [],
            "output_dir": str(setup.folder / name),
        }
    )


def test_a_ray_run_interrupted_in_stage2_resumes_to_the_uninterrupted_result(
    ray: Any, setup: Setup, ray_store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks = [setup.main, setup.helpful]
    local_store = f"sqlite:///{setup.folder / 'local.db'}"
    reference = autoaux.run(run_config(setup, local_store, "local-run"), user_tasks=tasks,
                            progress=False)  # fmt: skip
    assert reference.selected == (setup.helpful.name,) and len(reference.trials) == TRIALS

    original = RayExecutor.run_batch
    batches: list[list[int]] = []

    def ctrl_c_in_second_batch(self: RayExecutor, specs: Any, **callbacks: Any) -> Any:
        batches.append([spec.number for spec in specs])
        if len(batches) == 2:  # Ctrl-C once the batch's trials are submitted

            def stop(spec: TrialSpec) -> None:
                if spec.number == specs[-1].number:
                    raise KeyboardInterrupt

            callbacks["on_start"] = stop
        return original(self, specs, **callbacks)

    monkeypatch.setattr(RayExecutor, "run_batch", ctrl_c_in_second_batch)
    config = run_config(setup, ray_store, "ray-run", executor="ray")
    with pytest.raises(RunInterrupted):
        autoaux.run(config, user_tasks=tasks, progress=False)
    assert batches == [[0, 1], [2, 3]]
    monkeypatch.undo()

    resumed = autoaux.resume(
        config.output_dir, user_tasks=tasks, progress=False, tracking_uri=ray_store
    )
    assert summary(resumed.mixture) == summary(reference.mixture)
    assert resumed.test_score == reference.test_score
    assert resumed.mixture.run_id is not None
    runs = trial_runs(ray_store, resumed.mixture.run_id)
    finished = sorted(
        int(r.data.tags["autoaux.trial"]) for r in runs if r.info.status == "FINISHED"
    )
    assert finished == list(range(TRIALS))
    assert all(r.info.status in ("FINISHED", "KILLED", "FAILED") for r in runs)


# ------------------------------------------------------------------------------- pieces
def _no_trainer(total_steps: int) -> Any:
    raise AssertionError("not called")


def test_make_executor(ray: Any) -> None:
    local = make_executor(Stage2Config(parallel=3), _no_trainer)
    assert isinstance(local, LocalExecutor) and local.parallel == 3
    remote = make_executor(Stage2Config(executor="ray", parallel=2), _no_trainer)
    try:
        assert isinstance(remote, RayExecutor) and remote.parallel == 2
        assert remote.num_gpus_per_trial == 0.0 and remote.num_cpus_per_trial == 1.0
    finally:
        remote.close()
    assert ray.is_initialized()  # an instance this process started is left running
    with pytest.raises(ValueError, match="parallel"):
        LocalExecutor(_no_trainer, parallel=0)
    spec = TrialSpec(0, {}, {"main": 1.0}, "main", Stage2Config())
    assert math.isnan(replace(spec).best_before)
