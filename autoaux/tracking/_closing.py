"""Closing runs left open in a store (after a kill, before a resume), and reading an
experiment's name."""

from __future__ import annotations

from collections.abc import Mapping

from autoaux.tracking._store import store_lock
from autoaux.tracking._tracker import FAILURE_TAG, Tracker


def close_runs(
    tracker: Tracker,
    query: str,
    *,
    status: str,
    tags: Mapping[str, str],
    skip_status: str | None = None,
) -> list[str] | None:
    """Close as ``status`` the runs of the tracker's experiment that match ``query`` (an MLflow
    filter string), setting ``tags`` on each first; runs already in ``skip_status`` are left
    alone. Returns the ids closed, oldest first, or ``None`` when the tracker has no store."""
    client = getattr(tracker, "client", None)
    if client is None or tracker.experiment_id is None:
        return None
    runs = client.search_runs([tracker.experiment_id], filter_string=query)
    closed = []
    for run in sorted(runs, key=lambda run: run.info.start_time):
        if skip_status is not None and run.info.status == skip_status:
            continue
        for key, value in tags.items():
            client.set_tag(run.info.run_id, key, value)
        client.set_terminated(run.info.run_id, status=status)
        closed.append(str(run.info.run_id))
    return closed


def close_stale_runs(
    tracker: Tracker, parent: str, *, keep: set[str | None], done: set[str | None], reason: str
) -> int:
    """After a resume: close the runs under ``parent`` that were left RUNNING by the stopped
    run, KILLED with ``reason`` (``done`` runs, whose stage ended, as FINISHED; ``keep`` runs,
    which the resumed run reopens, stay open). Returns how many were closed KILLED."""
    client = getattr(tracker, "client", None)
    experiment = tracker.experiment_id
    if client is None or experiment is None:
        return 0
    queue, closed = [parent], 0
    while queue:
        current = queue.pop()
        children = client.search_runs(
            [experiment], filter_string=f"tags.mlflow.parentRunId = '{current}'"
        )
        for child in children:
            queue.append(child.info.run_id)
            if child.info.status != "RUNNING" or child.info.run_id in keep:
                continue
            if child.info.run_id in done:  # the stage ended; only its closing was lost
                client.set_terminated(child.info.run_id, status="FINISHED")
                continue
            client.set_tag(child.info.run_id, FAILURE_TAG, reason)
            client.set_terminated(child.info.run_id, status="KILLED")
            closed += 1
    return closed


def experiment_name(tracker: Tracker) -> str | None:
    """The name of the tracker's experiment (looked up in its store if the tracker does not
    know it); ``None`` without a store."""
    uri = tracker.tracking_uri
    name = getattr(tracker, "experiment_name", None)
    if uri is not None and name is None and tracker.experiment_id is not None:
        from mlflow.tracking import MlflowClient

        with store_lock(uri):
            name = MlflowClient(tracking_uri=uri).get_experiment(tracker.experiment_id).name
    return name
