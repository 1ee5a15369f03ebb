"""Reliability: NaN losses, kill -9 and Ctrl-C with resume, a tracking store that goes away.

The end-to-end scenarios run the real CLI in subprocesses (one torch thread each) on tiny planted
tasks written to CSV files: a run is killed with SIGKILL during stage 1, the resumed run is
stopped with Ctrl-C (SIGINT) later in stage 1, the next resume is killed with SIGKILL during
stage 2, and a last resume finishes. The result must equal that of an uninterrupted run with the
same seed, and MLflow must show every trial once (a trial redone after a kill has a new run; the
interrupted one is KILLED) and no run left RUNNING. The outage scenario kills an
``mlflow server`` mid-run and starts it again on the same store: every pull metric and every
trial must reach it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

import autoaux
from autoaux.errors import TrackingError
from autoaux.runs.checkpoint import CheckpointError, RunCheckpoint
from autoaux.runs.checkpoint._run import VERSION
from autoaux.tracking import MlflowTracker, make_tracker
from autoaux.tracking.journal import JournalingClient
from tasks import Example, Task, make_planted_suite, write_task_csv

PULLS, TRIALS = 12, 4
TIMEOUT = 240.0  # seconds any one subprocess may take before the test gives up


@pytest.fixture(scope="module", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTOAUX_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


def _env() -> dict[str, str]:
    return dict(
        os.environ,
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        MLFLOW_DISABLE_TELEMETRY="true",
        TOKENIZERS_PARALLELISM="false",
    )


def _write_config(
    folder: Path, *, name: str, uri: str, pulls: int = PULLS, trials: int = TRIALS
) -> Path:
    """Planted CSV tasks and a tiny two-stage config in ``folder``; returns the TOML path."""
    suite = make_planted_suite(
        n_helpful=1, n_neutral=0, n_harmful=0, main_train=60, aux_train=300, dev=64, test=64,
        seed=0,
    )  # fmt: skip
    tables = []
    for task in suite.tasks:
        path = write_task_csv(task, folder / f"{task.name}.csv", split="all")
        tables.append(f'[[task]]\nname = "{task.name}"\npath = "{path}"\nsplit_column = "split"\n')
    text = f"""seed = 0
output_dir = "{folder / name}"
device = "cpu"
[model]
encoder = "tiny"
max_length = 24
[main]
task = "main"
[auxiliary]
tasks = ["helpful-0"]
add_control = true
[stage1]
preset = "bandit"
pulls = {pulls}
steps_per_pull = 3
selection = "top-k"
top_k = 1
[stage2]
trials = {trials}
initial_points = 2
steps = 20
eval_every = 10
[baselines]
run = ["main-only"]
[tracking]
uri = "{uri}"
experiment = "reliability"
"""
    path = folder / f"{name}.toml"
    path.write_text(text + "\n".join(tables))
    return path


def _cli(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "autoaux.cli", "--quiet", *args],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _state(out: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((out / "checkpoint" / "state.json").read_text()))
    except (OSError, ValueError):
        return {}


def _pulls_saved(state: dict[str, Any]) -> int:
    return len((state.get("stage1") or {}).get("history", ()))


def _trials_saved(state: dict[str, Any]) -> int:
    return len((state.get("stage2") or {}).get("trials", ()))


def _stop_when(
    proc: subprocess.Popen[bytes], out: Path, ready: Callable[[dict[str, Any]], bool], sig: int
) -> tuple[int, str]:
    """Send ``sig`` once the checkpoint satisfies ``ready``; return (exit code, stderr)."""
    deadline = time.monotonic() + TIMEOUT
    while proc.poll() is None and time.monotonic() < deadline:
        if ready(_state(out)):
            proc.send_signal(sig)
            break
        time.sleep(0.02)
    _, err = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, err.decode(errors="replace")


def _finish(proc: subprocess.Popen[bytes]) -> None:
    _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err.decode(errors="replace")[-3000:]


def _summary(out: Path) -> dict[str, Any]:
    data = json.loads((out / "result.json").read_text())
    return {
        "selected": data["selected"],
        "utilities": data["utilities"],
        "pulls": data["pulls"],
        "ratios": data["ratios"],
        "best_dev_score": data["best_dev_score"],
        "test_score": data["test_score"],
        "trials": [(t["number"], t["ratios"], t["score"], t["state"]) for t in data["trials"]],
        "baselines": {k: (v["dev"], v["test"]) for k, v in data["baselines"].items()},
    }


def _runs_under(client: MlflowClient, parent: str) -> list[Any]:
    runs: list[Any] = []
    queue = [parent]
    experiment = client.get_run(parent).info.experiment_id
    while queue:
        current = queue.pop()
        children = client.search_runs(
            [experiment], filter_string=f"tags.mlflow.parentRunId = '{current}'"
        )
        runs.extend(children)
        queue.extend(r.info.run_id for r in children)
    return runs


# ------------------------------------------------------------------------------ kill / resume
def test_sigkill_and_ctrl_c_then_resume_equal_an_uninterrupted_run(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    reference = _write_config(tmp_path, name="reference", uri=f"sqlite:///{tmp_path / 'ref.db'}")
    broken = _write_config(tmp_path, name="broken", uri=store)
    out = tmp_path / "broken"
    uninterrupted = _cli("run", "--config", str(reference))  # alongside the interrupted chain
    resume = ("run", "--resume", str(out), "--tracking-uri", store)  # the store is the user's

    # 1. SIGKILL during stage 1
    code, _ = _stop_when(
        _cli("run", "--config", str(broken)), out, lambda s: _pulls_saved(s) >= 3, signal.SIGKILL
    )
    assert code == -signal.SIGKILL
    assert _state(out)["status"] == "running" and 3 <= _pulls_saved(_state(out)) < PULLS
    # 2. resume, then Ctrl-C later in stage 1: the pull ends, the checkpoint is written
    code, err = _stop_when(
        _cli(*resume), out, lambda s: _pulls_saved(s) >= 7, signal.SIGINT
    )
    assert code == 130, err[-2000:]
    assert f"autoaux run --resume {out}" in err
    saved = _state(out)
    assert saved["status"] == "interrupted" and saved["stage"] == "stage1"
    client = MlflowClient(tracking_uri=store)
    parent = saved["mlflow"]["parent"]
    assert client.get_run(parent).info.status == "KILLED"
    assert client.get_run(saved["mlflow"]["stage1"]).info.status == "KILLED"
    # 3. resume, SIGKILL during stage 2 (a trial is in flight)
    code, _ = _stop_when(
        _cli(*resume), out, lambda s: _trials_saved(s) >= 2, signal.SIGKILL
    )
    assert code == -signal.SIGKILL
    assert _state(out)["stage"] == "stage2"
    # 4. resume to the end
    _finish(_cli(*resume))
    _finish(uninterrupted)

    assert _summary(out) == _summary(tmp_path / "reference")
    assert _state(out)["status"] == "finished"
    assert not list((out / "checkpoint").glob("*.pt"))
    # MLflow: one parent (continued), no run RUNNING, every trial once among the live runs
    found = client.get_experiment_by_name("reliability")
    assert found is not None
    experiment = found.experiment_id
    parents = client.search_runs([experiment], filter_string="tags.`autoaux.stage` = 'parent'")
    assert [r.info.run_id for r in parents] == [parent]
    assert client.get_run(parent).info.status == "FINISHED"
    runs = _runs_under(client, parent)
    assert all(r.info.status != "RUNNING" for r in runs)
    live = [r for r in runs if r.info.status != "KILLED"]
    trials = sorted(
        int(r.data.tags["autoaux.trial"]) for r in live if "autoaux.trial" in r.data.tags
    )
    assert trials == list(range(TRIALS))
    assert sorted(r.info.run_name for r in live if "autoaux.trial" not in r.data.tags) == [
        "baseline-main-only",
        "stage1",
        "stage2",
    ]
    killed = [r for r in runs if r.info.status == "KILLED"]
    assert all(r.data.tags.get("autoaux.failure") for r in killed)
    # every pull logged its reward at its step
    stage1 = next(r for r in live if r.info.run_name == "stage1")
    steps = {m.step for m in client.get_metric_history(stage1.info.run_id, "reward")}
    assert steps == set(range(1, PULLS + 1))


def test_resume_without_a_checkpoint_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no checkpoint to resume") as caught:
        autoaux.resume(tmp_path)
    assert "\n" not in str(caught.value)
    (tmp_path / "checkpoint").mkdir()
    state = {"version": VERSION, "status": "finished", "config": {}}
    (tmp_path / "checkpoint" / "state.json").write_text(json.dumps(state))
    with pytest.raises(CheckpointError, match="has finished"):
        RunCheckpoint.load(tmp_path)


# ------------------------------------------------------------------------------ NaN losses
def _text_task(name: str, kind: str, label: Callable[[int], float], n: int) -> Task:
    words = ["alpha", "beta", "gamma", "delta", "eps"]

    def split(offset: int, size: int) -> tuple[Example, ...]:
        return tuple(
            Example(" ".join(words[(i + j) % 5] for j in range(4)), label(i))
            for i in range(offset, offset + size)
        )

    return Task(
        name=name,
        kind=kind,  # type: ignore[arg-type]
        train=split(0, n),
        dev=split(n, 32),
        test=split(n + 32, 32),
        labels=("a", "b") if kind == "classification" else (),
        metric="accuracy" if kind == "classification" else "pearson",
    )


def test_a_diverging_loss_fails_its_trials_and_the_search_completes(tmp_path: Path) -> None:
    main = _text_task("main", "classification", lambda i: i % 2, 64)
    # a regression task whose targets overflow float32 squared error: its loss is inf
    diverging = _text_task("diverging", "regression", lambda i: 1e30 * (1 + i % 3), 64)
    store = f"sqlite:///{tmp_path / 'm.db'}"
    mix = autoaux.mix(
        main=main,
        tasks=[diverging],
        trials=3,
        initial_points=2,
        steps=20,
        eval_every=10,
        overrides={
            "output_dir": str(tmp_path / "out"),
            "model.max_length": 16,
            "device": "cpu",
            "tracking.uri": store,
            "tracking.experiment": "nan",
            # the two tasks share their texts; this test is about losses, not contamination
            "auxiliary.drop_contaminated": False,
        },
        progress=False,
    )
    assert [t.number for t in mix.trials] == [0, 1, 2]  # the optimiser went on after failures
    failed = [t for t in mix.trials if t.state == "FAILED"]
    assert failed, "the diverging task was never drawn"
    client = MlflowClient(tracking_uri=store)
    for trial in failed:
        assert trial.score is None and "NonFiniteLossError" in trial.error
        assert trial.run_id is not None
        run = client.get_run(trial.run_id)
        assert run.info.status == "FAILED"
        assert "non-finite loss" in run.data.tags["autoaux.failure"]
    assert len({tuple(t.ratios.values()) for t in mix.trials}) == 3  # three different points
    assert (tmp_path / "out" / "mix.json").is_file()
    assert mix.run_id is not None
    assert client.get_run(mix.run_id).info.status == "FINISHED"


# ------------------------------------------------------------------------------ tracking outage
def test_mix_settles_its_tracking_journal_as_run_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """``mix`` (``select`` and ``affinity`` share its code) ends as ``run`` does: the calls
    kept while the store was down are settled; the store stays away here, so they stay in
    the journal and the last message says how to send them, which then sends every one."""
    from autoaux.api import replay_tracking
    from autoaux.tracking.journal import JOURNAL_FILE, settle_tracking

    store = f"sqlite:///{tmp_path / 'm.db'}"
    out = tmp_path / "out"

    def refused(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("connection refused")

    with monkeypatch.context() as outage:  # the store answers reads, refuses every write
        for name in ("create_run", "log_batch", "set_terminated", "log_artifact", "update_run"):
            outage.setattr(MlflowClient, name, refused)
        outage.setattr(settle_tracking, "__kwdefaults__", {"wait": 0.0})  # no waiting for it
        with caplog.at_level(logging.WARNING):
            mixture = autoaux.mix(
                main=_text_task("main", "classification", lambda i: i % 2, 64),
                tasks=[],
                steps=20,
                eval_every=10,
                overrides={
                    "output_dir": str(out),
                    "model.max_length": 16,
                    "device": "cpu",
                    "tracking.uri": store,
                    "tracking.experiment": "outage",
                },
                progress=False,
            )
    assert mixture.best_trial == 0 and (out / "mix.json").is_file()
    assert "still unreachable" in caplog.text
    assert f"autoaux tracking replay {out}" in caplog.text
    assert (out / JOURNAL_FILE).is_file()
    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("outage")
    assert experiment is not None and client.search_runs([experiment.experiment_id]) == []
    report = replay_tracking(out, tracking_uri=store)
    assert report.sent > 0 and report.left == 0 and report.skipped == 0
    runs = client.search_runs([experiment.experiment_id])
    parent = next(r for r in runs if r.data.tags.get("autoaux.command") == "mix")
    stage2 = next(r for r in runs if r.info.run_name == "stage2")
    assert stage2.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert parent.data.params and "best_dev_score" in stage2.data.metrics
    assert "mix.json" in {a.path for a in client.list_artifacts(parent.info.run_id)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(store: str, port: int, artifacts: Path) -> subprocess.Popen[bytes] | None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", store,
         "--default-artifact-root", str(artifacts), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return proc
        except OSError:
            time.sleep(0.2)
    _kill_server(proc)
    return None


def _kill_server(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
    proc.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.parametrize("comes_back", [True, False], ids=["store-returns", "store-stays-away"])
def test_a_tracking_server_outage_mid_run_loses_nothing(tmp_path: Path, comes_back: bool) -> None:
    """The server's process group is killed with SIGKILL in stage 1. Either it comes back on
    the same store while stage 2 still has trials to run (runs were created while it was away,
    and later calls go to them), or it stays away to the end: the run exits 0 saying how to
    replay its journal, and ``autoaux tracking replay`` sends it once the server is back."""
    store = f"sqlite:///{tmp_path / 'server.db'}"
    port = _free_port()
    server = _start_server(store, port, tmp_path / "artifacts")
    if server is None:
        pytest.skip("mlflow server could not start on 127.0.0.1")
    try:
        config = _write_config(tmp_path, name="outage", uri=f"http://127.0.0.1:{port}")
        out = tmp_path / "outage"
        proc = _cli("run", "--config", str(config))
        deadline = time.monotonic() + TIMEOUT
        while proc.poll() is None and _pulls_saved(_state(out)) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        _kill_server(server)  # the store goes away in stage 1 ...
        if comes_back:
            while proc.poll() is None and _trials_saved(_state(out)) < 1:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            assert proc.poll() is None, "the run should outlive the store"
            # ... and comes back (the run waits meanwhile, so that trials remain to be run)
            proc.send_signal(signal.SIGSTOP)
            restarted = _start_server(store, port, tmp_path / "artifacts")
            proc.send_signal(signal.SIGCONT)
            assert restarted is not None
            server = restarted
        _, err = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == 0, err.decode(errors="replace")[-3000:]
        assert b"keeping tracking calls" in err
        if not comes_back:
            message = err.decode(errors="replace")
            command = f"autoaux tracking replay {out} --tracking-uri http://127.0.0.1:{port}"
            assert command in message, message[-3000:]
            assert (out / "result.json").is_file()
            restarted = _start_server(store, port, tmp_path / "artifacts")
            assert restarted is not None
            server = restarted
            # the store comes from the user, never from the journal alone
            replay = _cli("tracking", "replay", str(out), "--tracking-uri", f"http://127.0.0.1:{port}")
            stdout, err = replay.communicate(timeout=TIMEOUT)
            assert replay.returncode == 0, err.decode(errors="replace")[-3000:]
            assert stdout.decode().strip().endswith("0 left")
    finally:
        _kill_server(server, signal.SIGTERM)

    client = MlflowClient(tracking_uri=store)
    result = json.loads((out / "result.json").read_text())
    parent = result["mlflow"]["run_id"]
    runs = _runs_under(client, parent)
    everything = client.search_runs([client.get_run(parent).info.experiment_id])
    assert [r.info.status for r in everything if r.info.status != "FINISHED"] == []
    assert len(everything) == 1 + len(runs)  # no run twice, none outside the tree
    stage1 = next(r for r in runs if r.info.run_name == "stage1")
    for key in ("reward", "dev_score", "arm"):
        steps = {m.step for m in client.get_metric_history(stage1.info.run_id, key)}
        assert set(range(1, PULLS + 1)) <= steps, key
    trial_runs = [r for r in runs if "autoaux.trial" in r.data.tags]
    trials = {int(r.data.tags["autoaux.trial"]): r for r in trial_runs}
    assert sorted(trials) == list(range(TRIALS)) and len(trial_runs) == TRIALS
    for record in result["trials"]:
        run = trials[record["number"]]
        assert run.data.metrics["best_dev_score"] == pytest.approx(record["score"])
        assert run.data.params  # the trial's ratios
    stage2 = next(r for r in runs if r.info.run_name == "stage2")
    scores = {m.step for m in client.get_metric_history(stage2.info.run_id, "score")}
    assert scores == set(range(TRIALS))
    assert "result.json" in {a.path for a in client.list_artifacts(parent)}
    assert client.get_run(parent).data.params  # the parent's params, logged before the outage


@pytest.mark.slow
def test_runs_started_together_on_a_new_sqlite_store_all_finish(tmp_path: Path) -> None:
    """Four runs start at once on one new SQLite store: its creation, schema migration and
    the experiment's creation are serialised by the lock file beside the database."""
    db = tmp_path / "shared.db"
    store = f"sqlite:///{db}"
    configs = []
    for k in range(4):
        folder = tmp_path / f"run{k}"
        folder.mkdir()
        configs.append(_write_config(folder, name="out", uri=store, pulls=4, trials=2))
    procs = [_cli("run", "--config", str(config)) for config in configs]
    for proc in procs:
        _finish(proc)
    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("reliability")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 4
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert Path(str(db) + ".lock").exists()


def test_an_unreachable_store_fails_fast_or_falls_back(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{_free_port()}"
    start = time.monotonic()
    with pytest.raises(TrackingError, match="unreachable") as caught:
        make_tracker(dead, "x")
    assert "\n" not in str(caught.value) and time.monotonic() - start < 30
    fallback = f"sqlite:///{tmp_path / 'fallback.db'}"
    tracker = make_tracker(dead, "x", fallback_uri=fallback)
    assert isinstance(tracker, MlflowTracker) and tracker.tracking_uri == fallback


# ------------------------------------------------------------------------------ the journal
class _FlakyClient:
    """Records writes; raises ConnectionError while ``down``."""

    def __init__(self) -> None:
        self.down = False
        self.calls: list[tuple[str, Any]] = []
        self.count = 0

    def _check(self) -> None:
        if self.down:
            raise ConnectionError("connection refused")

    def create_run(self, experiment_id: str, **kw: Any) -> Any:
        self._check()
        self.count += 1
        run_id = f"real-{self.count}"
        self.calls.append(("create_run", (run_id, kw["tags"].get("mlflow.parentRunId"))))
        return type("R", (), {"info": type("I", (), {"run_id": run_id})()})()

    def log_batch(self, run_id: str, metrics: Any = (), params: Any = (), tags: Any = ()) -> None:
        self._check()
        self.calls.append(("log_batch", (run_id, [(m.key, m.value, m.step) for m in metrics])))

    def set_terminated(self, run_id: str, status: Any = None, end_time: Any = None) -> None:
        self._check()
        self.calls.append(("set_terminated", (run_id, status)))


def test_the_journal_keeps_calls_in_order_and_replays_them(tmp_path: Path) -> None:
    from mlflow.entities import Metric

    flaky = _FlakyClient()
    path = tmp_path / "journal.jsonl"
    client = JournalingClient(
        flaky, path, retries=1, backoff=0, probe_seconds=0, sleep=lambda s: None
    )
    parent = client.create_run("0", tags={}).info.run_id
    flaky.down = True
    client.log_batch(parent, metrics=[Metric("m", 1.0, 1, 1)])
    child = client.create_run("0", tags={"mlflow.parentRunId": parent}).info.run_id
    assert child.startswith("offline-") and client.down
    client.log_batch(child, metrics=[Metric("m", 2.0, 2, 2)])
    client.set_terminated(child, status="FINISHED")
    assert flaky.calls == [("create_run", ("real-1", None))]
    # a new process on the same journal file sees the same pending calls
    assert JournalingClient(flaky, path).pending == 4
    flaky.down = False
    assert client.drain()
    assert flaky.calls == [
        ("create_run", ("real-1", None)),
        ("log_batch", ("real-1", [("m", 1.0, 1)])),
        ("create_run", ("real-2", "real-1")),
        ("log_batch", ("real-2", [("m", 2.0, 2)])),
        ("set_terminated", ("real-2", "FINISHED")),
    ]
    assert client.resolve(child) == "real-2"
    assert JournalingClient(flaky, path).pending == 0
    acks = [json.loads(line) for line in path.read_text().splitlines()]
    assert sum("ack" in a for a in acks) == 4
