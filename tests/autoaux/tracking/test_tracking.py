"""Trackers: the null one, and MLflow against a temporary SQLite store read back with
MlflowClient (runs, nesting, params, metrics, artifacts, statuses)."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoaux.errors import TrackingError
from autoaux.tracking import (
    MlflowTracker,
    NullTracker,
    Tracker,
    make_tracker,
    metric_key,
    tracked_run,
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("mlflow")
    return f"sqlite:///{folder / 'mlflow.db'}"


def test_null_tracker_keeps_a_stack_and_records_nothing(tmp_path: Path) -> None:
    tracker = NullTracker()
    assert isinstance(tracker, Tracker)
    assert tracker.run_id is None and tracker.tracking_uri is None
    parent = tracker.start("parent")
    child = tracker.start("child", nested=True)
    assert tracker.run_id == child != parent
    tracker.log_params({"a": 1})
    tracker.log_metrics({"m": 1.0}, step=0)
    (tmp_path / "f.txt").write_text("x")
    tracker.log_artifact(tmp_path / "f.txt")
    tracker.finish()
    assert tracker.run_id == parent
    tracker.finish()
    assert tracker.run_id is None
    with pytest.raises(RuntimeError, match="no run is open"):
        tracker.start("orphan", nested=True)
    with pytest.raises(ValueError, match="status"):
        tracker.finish("DONE")


def test_make_tracker_disabled_gives_null() -> None:
    assert isinstance(make_tracker("sqlite:///x.db", enabled=False), NullTracker)


def test_metric_key_keeps_task_names() -> None:
    assert metric_key("utility/shuffled:tweet-sentiment") == "utility/shuffled:tweet-sentiment"
    assert metric_key("utility/a*b") == "utility/a_b"


def test_mlflow_tracker_nested_runs_metrics_params_artifacts(store: str, tmp_path: Path) -> None:
    tracker = MlflowTracker(store, "test-nesting", flush_seconds=60.0)
    assert isinstance(tracker, Tracker)
    client = tracker.client
    parent = tracker.start("parent", tags={"autoaux.main_task": "main"})
    tracker.log_params({"stage1.pulls": 3, "auxiliary.tasks": ["a", "b"], "none": None})
    with tracked_run(tracker, "stage1", nested=True) as stage1:
        for pull in range(3):
            tracker.log_metrics(
                {"reward": 0.5 * pull, "utility/shuffled:a": 0.1, "skipped": float("nan")},
                step=pull,
            )
        # buffered (flush_seconds=60) until the run ends
        assert client.get_metric_history(stage1, "reward") == []
    history = client.get_metric_history(stage1, "reward")
    assert [(m.step, m.value) for m in history] == [(0, 0.0), (1, 0.5), (2, 1.0)]
    assert client.get_metric_history(stage1, "skipped") == []
    with tracked_run(tracker, "stage2", nested=True) as stage2:
        with tracked_run(tracker, "trial-0", nested=True) as trial:
            tracker.log_metrics({"dev": 0.7}, step=10)
        artifact = tmp_path / "plot.png"
        artifact.write_bytes(b"\x89PNG")
        tracker.log_artifact(artifact)
    tracker.set_tags({"autoaux.selected": "a"})
    tracker.log_metrics({"best_dev_score": 0.8})
    tracker.finish()
    assert tracker.run_id is None

    runs = {r.info.run_name: r for r in client.search_runs([tracker.experiment_id])}
    assert set(runs) == {"parent", "stage1", "stage2", "trial-0"}
    assert runs["parent"].info.run_id == parent
    assert runs["stage1"].data.tags["mlflow.parentRunId"] == parent
    assert runs["stage2"].data.tags["mlflow.parentRunId"] == parent
    assert runs["trial-0"].data.tags["mlflow.parentRunId"] == stage2
    assert runs["trial-0"].info.run_id == trial
    assert all(r.info.status == "FINISHED" for r in runs.values())
    assert runs["parent"].data.params == {
        "stage1.pulls": "3",
        "auxiliary.tasks": "['a', 'b']",
        "none": "",
    }
    assert runs["parent"].data.tags["autoaux.main_task"] == "main"
    assert runs["parent"].data.tags["autoaux.selected"] == "a"
    assert runs["parent"].data.metrics["best_dev_score"] == 0.8
    assert runs["trial-0"].data.metrics["dev"] == 0.7
    assert [f.path for f in client.list_artifacts(stage2)] == ["plot.png"]
    location = client.get_experiment(tracker.experiment_id).artifact_location
    assert location.startswith("file://") and location.endswith("/mlruns")


def test_failed_block_closes_run_failed_with_reason(store: str) -> None:
    tracker = MlflowTracker(store, "test-failure")
    tracker.start("parent")
    with pytest.raises(ZeroDivisionError), tracked_run(tracker, "trial", nested=True) as trial:
        1 / 0  # noqa: B018
    assert tracker.run_id is not None  # the parent is still open
    tracker.finish()
    run = tracker.client.get_run(trial)
    assert run.info.status == "FAILED"
    assert "ZeroDivisionError" in run.data.tags["autoaux.failure"]


def test_reopening_an_experiment_reuses_it(store: str) -> None:
    first = MlflowTracker(store, "test-reuse")
    second = MlflowTracker(store, "test-reuse")
    assert first.experiment_id == second.experiment_id


def test_many_metrics_are_sent_in_batches(store: str) -> None:
    tracker = MlflowTracker(store, "test-batches", flush_seconds=0.0)
    run = tracker.start("many")
    tracker.log_metrics({f"m{i}": float(i) for i in range(1500)}, step=1)
    tracker.finish()
    assert len(tracker.client.get_run(run).data.metrics) == 1500


def test_unreachable_server_fails_fast() -> None:
    with pytest.raises(TrackingError) as info:
        MlflowTracker("http://127.0.0.1:9", "x")
    message = str(info.value)
    assert "http://127.0.0.1:9" in message and "unreachable" in message and "\n" not in message


def test_nested_start_without_parent_is_an_error(store: str) -> None:
    tracker = MlflowTracker(store, "test-orphan")
    with pytest.raises(RuntimeError, match="no run is open"):
        tracker.start("orphan", nested=True)
    with pytest.raises(RuntimeError, match="no run is open"):
        tracker.log_metrics({"m": 1.0})
