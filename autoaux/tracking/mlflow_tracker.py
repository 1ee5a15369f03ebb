"""Experiment tracking behind a small interface, with an MLflow and a null implementation.

The pipeline talks to a :class:`Tracker` only::

    tracker.start("autoaux rt-sentiment")             # parent run
    tracker.log_params(config.to_params())
    tracker.start("stage1", nested=True)               # child of the current run
    tracker.log_metrics({"reward": 1.0}, step=pull)    # to the innermost open run
    tracker.finish()                                   # closes the stage-1 run
    tracker.finish()                                   # closes the parent

Runs form a stack: :meth:`Tracker.start` opens a run (``nested=True``: a child of the run on top
of the stack) and pushes it; :meth:`Tracker.finish` closes the run on top. Logging always goes to
the innermost open run. :func:`tracked_run` wraps a start/finish pair in a ``with`` block that
closes the run as ``FAILED`` (with the reason as a tag) when the block raises.

:class:`MlflowTracker` uses :class:`mlflow.MlflowClient` explicitly, never MLflow's global
"active run", so nested runs are explicit (tag ``mlflow.parentRunId``) and several trackers can
live in one process. Metrics are buffered and sent with ``log_batch`` (at most 1,000 per call),
flushed every ``flush_seconds``, before an artifact upload and when a run finishes, so per-pull
logging costs one round trip every few seconds instead of one per metric. The store is probed
when the tracker is built: an unreachable store raises :class:`~autoaux.errors.TrackingError`
at once instead of after a long run. Setting up an SQLite store (schema creation and
migration, the experiment) is serialised across processes by a lock file beside the database
(:mod:`autoaux.tracking._store`), so runs started together on a new store all start.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoaux._secrets import redact_text, redact_uri, register_uri
from autoaux.errors import TrackingError
from autoaux.tracking._closing import close_runs, close_stale_runs, experiment_name
from autoaux.tracking._http import fail_fast_http as _fail_fast_http
from autoaux.tracking._store import store_lock
from autoaux.tracking._tracker import (
    FAILURE_TAG,
    NullTracker,
    Tracker,
    _check_status,
    _reason,
    metric_key,
    reopen_run,
    tracked_run,
)
from autoaux.tracking.journal import JournalingClient

__all__ = [
    "DEFAULT_TRACKING_URI",
    "MlflowTracker",
    "NullTracker",
    "Tracker",
    "close_runs",
    "close_stale_runs",
    "experiment_name",
    "make_tracker",
    "metric_key",
    "reopen_run",
    "tracked_run",
]

log = logging.getLogger(__name__)

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
_MAX_METRICS_PER_BATCH = 1000
_MAX_PARAMS_PER_BATCH = 100
_MAX_PARAM_LENGTH = 6000


@dataclass
class _OpenRun:
    run_id: str
    metrics: list[Any] = field(default_factory=list)
    last_flush: float = field(default_factory=time.monotonic)


class MlflowTracker:
    """Tracker on an MLflow tracking store (SQLite file, file store or a remote server).

    Args:
        uri: tracking URI; default ``sqlite:///mlflow.db`` (a file in the working folder).
        experiment: experiment name, created when missing.
        artifact_location: where a *new* experiment keeps its artifacts. Default for an SQLite
            store: ``mlruns/`` beside the database file; otherwise MLflow's default.
        flush_seconds: buffered metrics are sent at least this often (0: on every call).

    Raises:
        TrackingError: the store cannot be reached or refuses to create the experiment.
    """

    def __init__(
        self,
        uri: str = DEFAULT_TRACKING_URI,
        experiment: str = "autoaux",
        *,
        artifact_location: str | None = None,
        flush_seconds: float = 5.0,
        journal: str | Path | None = None,
    ) -> None:
        from mlflow.tracking import MlflowClient

        register_uri(uri)  # its secret values never leave the process
        self._uri = uri
        self._flush_seconds = float(flush_seconds)
        self._stack: list[_OpenRun] = []
        try:
            with _fail_fast_http(), store_lock(uri):  # one process sets a new store up
                self._client = MlflowClient(tracking_uri=uri)
                found = self._client.get_experiment_by_name(experiment)
                if found is None:
                    location = artifact_location or _default_artifact_location(uri)
                    self._experiment_id = self._client.create_experiment(
                        experiment, artifact_location=location
                    )
                else:
                    self._experiment_id = found.experiment_id
                    if found.lifecycle_stage == "deleted":
                        self._client.restore_experiment(found.experiment_id)
        except Exception as error:
            raise TrackingError(
                redact_text(
                    f"tracking store {redact_uri(uri)!r} is unreachable or refused experiment "
                    f"{experiment!r}: {_reason(error)} (expected a reachable MLflow tracking "
                    "URI, e.g. sqlite:///mlflow.db or http://host:5000)"
                )
            ) from error
        self._experiment = experiment
        if journal is not None:  # outages after this point are retried and journaled
            journaling: Any = JournalingClient(self._client, journal, store=uri)
            self._client = journaling

    # ----- properties -------------------------------------------------------------------
    @property
    def tracking_uri(self) -> str | None:
        return self._uri

    @property
    def experiment_id(self) -> str | None:
        return self._experiment_id

    @property
    def experiment_name(self) -> str:
        return self._experiment

    @property
    def run_id(self) -> str | None:
        return self._stack[-1].run_id if self._stack else None

    @property
    def client(self) -> Any:
        """The underlying :class:`mlflow.MlflowClient`."""
        return self._client

    # ----- runs -------------------------------------------------------------------------
    def start(
        self, run_name: str, *, nested: bool = False, tags: Mapping[str, str] | None = None
    ) -> str:
        all_tags = {str(k): str(v) for k, v in (tags or {}).items()}
        if nested:
            if not self._stack:
                raise RuntimeError(f"cannot start nested run {run_name!r}: no run is open")
            self._flush(self._stack[-1])
            all_tags["mlflow.parentRunId"] = self._stack[-1].run_id
        run = self._client.create_run(self._experiment_id, tags=all_tags, run_name=run_name)
        self._stack.append(_OpenRun(run.info.run_id))
        return str(run.info.run_id)

    def reopen(self, run_id: str) -> str:
        """Continue the existing run ``run_id`` (status RUNNING again) as the innermost run;
        the reason it stopped (tag ``autoaux.failure``) is dropped, tag ``autoaux.resumed``
        counts the resumptions."""
        from mlflow.entities import RunTag

        resolve = getattr(self._client, "resolve", None)  # a run created during an outage
        if callable(resolve):
            run_id = str(resolve(run_id))
        run = self._client.get_run(run_id)
        count = int(run.data.tags.get("autoaux.resumed", "0") or 0) + 1
        if FAILURE_TAG in run.data.tags:
            with contextlib.suppress(Exception):
                self._client.delete_tag(run_id, FAILURE_TAG)
        self._client.update_run(run_id, status="RUNNING")
        self._client.log_batch(run_id, tags=[RunTag("autoaux.resumed", str(count))])
        self._stack.append(_OpenRun(run_id))
        return run_id

    def finish(self, status: str = "FINISHED") -> None:
        _check_status(status)
        if not self._stack:
            return
        top = self._stack.pop()
        try:
            self._flush(top)
        finally:
            self._client.set_terminated(top.run_id, status=status)

    def close(self, status: str = "KILLED") -> None:
        """Close every open run, innermost first (for an interrupted program)."""
        while self._stack:
            self.finish(status)

    # ----- logging ----------------------------------------------------------------------
    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        run = self._top()
        items = [Param(metric_key(str(k)), _param_value(v)) for k, v in params.items()]
        for i in range(0, len(items), _MAX_PARAMS_PER_BATCH):
            self._client.log_batch(run.run_id, params=items[i : i + _MAX_PARAMS_PER_BATCH])

    def log_metrics(self, metrics: Mapping[str, float], *, step: int | None = None) -> None:
        from mlflow.entities import Metric

        run = self._top()
        now = int(time.time() * 1000)
        for key, value in metrics.items():
            number = float(value)
            if math.isfinite(number):
                run.metrics.append(Metric(metric_key(str(key)), number, now, int(step or 0)))
        if (
            len(run.metrics) >= _MAX_METRICS_PER_BATCH
            or time.monotonic() - run.last_flush >= self._flush_seconds
        ):
            self._flush(run)

    def log_artifact(self, path: str | Path, *, artifact_path: str | None = None) -> None:
        run = self._top()
        self._flush(run)
        self._client.log_artifact(run.run_id, str(path), artifact_path=artifact_path)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        run = self._top()
        items = [RunTag(str(k), _param_value(v)) for k, v in tags.items()]
        for i in range(0, len(items), _MAX_PARAMS_PER_BATCH):
            self._client.log_batch(run.run_id, tags=items[i : i + _MAX_PARAMS_PER_BATCH])

    def flush(self) -> None:
        """Send every buffered metric now."""
        for run in self._stack:
            self._flush(run)

    # ----- internals --------------------------------------------------------------------
    def _top(self) -> _OpenRun:
        if not self._stack:
            raise RuntimeError("no run is open; call start() first")
        return self._stack[-1]

    def _flush(self, run: _OpenRun) -> None:
        pending, run.metrics = run.metrics, []
        run.last_flush = time.monotonic()
        for i in range(0, len(pending), _MAX_METRICS_PER_BATCH):
            self._client.log_batch(run.run_id, metrics=pending[i : i + _MAX_METRICS_PER_BATCH])


def make_tracker(
    uri: str | None,
    experiment: str = "autoaux",
    *,
    enabled: bool = True,
    artifact_location: str | None = None,
    fallback_uri: str | None = None,
    journal: str | Path | None = None,
) -> Tracker:
    """An :class:`MlflowTracker` for ``uri`` (default store when ``None``), or a
    :class:`NullTracker` when ``enabled`` is false.

    ``fallback_uri``: when ``uri`` is unreachable, log there instead (with a warning saying so)
    rather than raise :class:`TrackingError`. ``journal``: a file in which tracking calls are
    kept while the store is down mid-run (:mod:`autoaux.tracking.journal`).
    """
    if not enabled:
        return NullTracker()
    uri = uri or DEFAULT_TRACKING_URI
    try:
        return MlflowTracker(uri, experiment, artifact_location=artifact_location, journal=journal)
    except TrackingError as error:
        if fallback_uri is None or fallback_uri == uri:
            raise
        log.warning("%s; falling back to the local store %s", error, redact_uri(fallback_uri))
        return MlflowTracker(
            fallback_uri, experiment, artifact_location=artifact_location, journal=journal
        )


def _param_value(value: Any) -> str:
    """A param or tag value as MLflow takes it: a string, without secrets, cut to length."""
    text = "" if value is None else redact_text(str(value))
    if len(text) > _MAX_PARAM_LENGTH:
        text = text[: _MAX_PARAM_LENGTH - 3] + "..."
    return text


def _default_artifact_location(uri: str) -> str | None:
    """``<folder of the database>/mlruns`` for an SQLite URI, else None (MLflow's default)."""
    if not uri.startswith("sqlite:///"):
        return None
    db = uri.removeprefix("sqlite:///").split("?", 1)[0]
    if not db or db == ":memory:":
        return None
    return (Path(db).expanduser().resolve().parent / "mlruns").as_uri()
