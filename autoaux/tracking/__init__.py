"""Tracking behind a small interface: the :class:`Tracker` protocol, :class:`NullTracker`,
:func:`tracked_run`, the MLflow tracker and the journal that keeps tracking calls while the
store is down. Only this package touches an MLflow client.
"""

from __future__ import annotations

from autoaux.tracking.journal import (
    JOURNAL_FILE,
    SETTLE_SECONDS,
    JournalingClient,
    fallback_uri,
    replay_into,
    settle_tracking,
)
from autoaux.tracking.mlflow_tracker import (
    DEFAULT_TRACKING_URI,
    FAILURE_TAG,
    MlflowTracker,
    NullTracker,
    Tracker,
    close_runs,
    close_stale_runs,
    experiment_name,
    make_tracker,
    metric_key,
    reopen_run,
    tracked_run,
)

__all__ = [
    "DEFAULT_TRACKING_URI",
    "FAILURE_TAG",
    "JOURNAL_FILE",
    "SETTLE_SECONDS",
    "JournalingClient",
    "MlflowTracker",
    "NullTracker",
    "Tracker",
    "close_runs",
    "close_stale_runs",
    "experiment_name",
    "fallback_uri",
    "make_tracker",
    "metric_key",
    "reopen_run",
    "replay_into",
    "settle_tracking",
    "tracked_run",
]
