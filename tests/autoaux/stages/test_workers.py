"""Side-by-side episodes (autoaux.stages.workers): a race or a screen run on worker processes
takes exactly the decisions of one run in this process."""

from __future__ import annotations

import dataclasses
import json
import math
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import autoaux
from autoaux.config import ScreenConfig, Stage1Config, config_from_dict
from autoaux.errors import ConfigError
from autoaux.stages.race import run_race
from autoaux.stages.screen import run_screen
from autoaux.stages.workers import (
    InProcess,
    LocalProcesses,
    WorkerPlan,
    _call,
    open_workers,
)
from autoaux.training.trainer import NonFiniteLossError
from tasks import make_planted_suite, write_task_csv

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="worker processes are forked")

MAIN, CONTROL = "main", "shuffled:neutral"
_TIMEOUT = 120  # seconds a worker may take for one small matmul
MEANS = {MAIN: 0.70, "good": 0.80, "neutral": 0.70, "bad": 0.60, CONTROL: 0.68}


class _Report:
    def __init__(self, best_dev: float, steps: dict[str, int]) -> None:
        self.best_dev = best_dev
        self.mean_loss = {MAIN: 0.5}
        self.steps_per_task = steps


class _Trainer:
    """An episode's score: the arm's mean + a round effect shared by the round + own noise."""

    def __init__(self, seed_key: str) -> None:
        self.round = int(seed_key.rsplit("-", 1)[1])

    def train_mixture(self, probabilities: dict[str, float], steps: int, **_: Any) -> _Report:
        (task,) = [t for t in probabilities if t != MAIN] or [MAIN]
        shared = np.random.default_rng(self.round).normal(0.0, 0.05)
        own = np.random.default_rng([self.round, len(task)]).normal(0.0, 0.005)
        return _Report(MEANS[task] + shared + own, dict.fromkeys(probabilities, steps))


def _factory(steps: int, seed_key: str) -> _Trainer:
    return _Trainer(seed_key)


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, default=dataclasses.asdict) == json.dumps(b, default=dataclasses.asdict)


def _race(workers: int, pulls: int) -> Any:
    return run_race(
        _factory,
        main=MAIN,
        pool=["good", "neutral", "bad", CONTROL],
        settings=Stage1Config(pulls=pulls, episode_steps=10).race(),
        seed=0,
        workers=WorkerPlan(workers=workers),
    )


@pytest.mark.parametrize("pulls", [200, 7])
def test_a_race_on_worker_processes_is_the_sequential_race(pulls: int) -> None:
    sequential, parallel = _race(1, pulls), _race(3, pulls)
    assert _same(parallel.history, sequential.history)
    assert _same(parallel.verdicts, sequential.verdicts)
    assert parallel.selected == sequential.selected and parallel.decision == sequential.decision
    if pulls == 7:  # the budget ends inside the second round: the rest of it is discarded
        assert len(parallel.history) == 7
    else:  # every candidate decided: the race stopped before its budget, inside a round
        assert sequential.selected == ("good",)
        assert len(sequential.history) < pulls
        assert sequential.verdicts["bad"].verdict == "hurts"


def _probe_factory(target: str, arm: str, steps: int, seed_key: str) -> Any:
    class Probe:
        def train_mixture(self, *_: Any, **__: Any) -> None:
            pass

        def evaluate_loss(self, task: str, split: str) -> float:
            r = int(seed_key.rsplit("-", 1)[1])
            return 1.0 - 0.1 * ("good" in arm) + 0.01 * r + 0.001 * len(arm)

    return Probe()


def test_a_screen_on_worker_processes_gives_the_same_losses() -> None:
    settings = ScreenConfig(rounds=3, probe_steps=5, shortlist=1)
    kwargs = dict(main=MAIN, candidates=["good", "bad"], control=CONTROL, settings=settings)
    one = run_screen(_probe_factory, **kwargs, pairwise=True, workers=WorkerPlan(workers=1))
    two = run_screen(_probe_factory, **kwargs, pairwise=True, workers=WorkerPlan(workers=2))
    assert _same(one.losses, two.losses) and one.shortlist == two.shortlist == ("good",)
    assert math.isnan(one.losses[1][0][0])  # "good" as a target has no probe of itself


def _double(factory: Any, item: int) -> int:
    return factory * item


def _fail(factory: Any, item: int) -> int:
    raise NonFiniteLossError("aux", item, math.inf)


def test_workers_return_results_in_order_and_errors_with_their_fields() -> None:
    with LocalProcesses(10, processes=2) as workers:
        assert list(workers.imap(_double, [3, 1, 2])) == [30, 10, 20]
        with pytest.raises(NonFiniteLossError) as caught:
            list(workers.imap(_fail, [7]))
    assert (caught.value.task, caught.value.step) == ("aux", 7)
    copy = pickle.loads(pickle.dumps(NonFiniteLossError("main", 3, math.nan)))
    assert (copy.task, copy.step) == ("main", 3)
    assert str(copy) == "non-finite loss nan on task 'main' at step 3"


def test_the_plan_runs_in_this_process_where_processes_cannot_help() -> None:
    assert isinstance(open_workers(1, WorkerPlan(workers=1)), InProcess)
    with open_workers(1, WorkerPlan(workers=2)) as workers:
        assert isinstance(workers, LocalProcesses) and workers.size == 2
    assert WorkerPlan(workers=0).processes() >= 1
    if torch.cuda.is_available():  # one GPU runs one episode at a time
        assert WorkerPlan(workers=4, device="cuda").processes() == 1
    with pytest.raises(ValueError, match="processes must be >= 2"):
        LocalProcesses(1, processes=1)


def test_workers_is_a_checked_top_level_setting() -> None:
    config = config_from_dict({"main": {"task": "rt-sentiment"}, "workers": 2})
    assert config.workers == 2 and config.to_dict()["workers"] == 2
    assert WorkerPlan.of(config) == WorkerPlan(workers=2, device="auto")
    assert config.with_overrides({"workers": None}).workers == 0
    with pytest.raises(ConfigError, match="workers"):
        config_from_dict({"main": {"task": "rt-sentiment"}, "workers": -1})


def _planted_config(folder: Path, workers: int) -> Any:
    suite = make_planted_suite(
        n_helpful=1, n_neutral=1, n_harmful=0, main_train=60, aux_train=300, dev=80,
        test=80, seed=1,
    )  # fmt: skip
    entries = []
    for task in suite.tasks:
        path = write_task_csv(task, folder / f"{task.name}.csv", split="all")
        entries.append({"name": task.name, "path": str(path), "split_column": "split"})
    return config_from_dict(
        {
            "seed": 0,
            "workers": workers,
            "model": {"encoder": "tiny", "max_length": 24, "hidden_size": 32},
            "main": {"task": "main"},
            "auxiliary": {"tasks": [t.name for t in suite.auxiliary]},
            "task": entries,
            "stage1": {"pulls": 9, "episode_steps": 8},
            "tracking": {"enabled": False},
            "output_dir": str(folder / f"out-{workers}"),
        },
        source="test",
    )


def test_a_real_race_on_two_workers_selects_what_one_process_selects(
    tmp_path: Path, one_thread: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Episodes on the workers run torch on one thread each, as here (``one_thread``)."""
    monkeypatch.setenv("AUTOAUX_CACHE", str(tmp_path / "cache"))
    one = autoaux.select(_planted_config(tmp_path, 1), progress=False)
    two = autoaux.select(_planted_config(tmp_path, 2), progress=False)
    assert [(r.task, r.round, r.reward, r.steps) for r in one.history] == [
        (r.task, r.round, r.reward, r.steps) for r in two.history
    ]
    assert len(one.history) == 9 and one.selected == two.selected
    assert _same(one.verdicts, two.verdicts)


def _matmul_threads(factory: Any, n: int) -> int:
    x = torch.ones(n, n)
    assert float((x @ x)[0, 0]) == n
    return torch.get_num_threads()


def test_a_worker_forked_after_torch_ran_on_two_threads_still_computes() -> None:
    """A forked worker that asked for a second OpenMP thread would hang in its first matmul;
    the workers keep to one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        x = torch.ones(600, 600)
        for _ in range(3):
            (x @ x).sum()  # the parent's OpenMP pool has run with two threads
        workers = LocalProcesses(None, processes=2)
        pool = workers._pool
        assert pool is not None
        try:
            futures = [pool.submit(_call, _matmul_threads, 400) for _ in range(2)]
            assert [f.result(timeout=_TIMEOUT) for f in futures] == [1, 1]
        finally:
            for process in list(pool._processes.values()):  # a hung worker would block close
                process.kill()
            workers.close()
    finally:
        torch.set_num_threads(threads)


def test_a_race_on_ray_is_the_sequential_race() -> None:
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'autoaux[ray]')")
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the stand-ins by value
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        on_ray = run_race(
            _factory,
            main=MAIN,
            pool=["good", "neutral", "bad", CONTROL],
            settings=Stage1Config(pulls=12, episode_steps=10).race(),
            seed=0,
            workers=WorkerPlan(executor="ray"),
        )
    finally:
        ray.shutdown()
    sequential = _race(1, 12)
    assert _same(on_ray.history, sequential.history) and len(on_ray.history) == 12
