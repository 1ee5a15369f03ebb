"""The :class:`Tracker` protocol, the :class:`NullTracker`, and :func:`tracked_run`, the
block that opens a run and closes it with the right status (see
:mod:`autoaux.tracking.mlflow_tracker`)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from autoaux._secrets import redact_text

#: Tag holding the reason a run ended FAILED or KILLED.
FAILURE_TAG = "autoaux.failure"
_STATUSES = ("FINISHED", "FAILED", "KILLED")
_BAD_KEY_CHARS = re.compile(r"[^/\w.\- :]")


def metric_key(name: str) -> str:
    """``name`` made acceptable as an MLflow metric or param key (other characters become ``_``).

    MLflow keys may hold letters, digits, ``_ - . / :`` and spaces; task names such as
    ``"shuffled:tweet-sentiment"`` pass unchanged.
    """
    return _BAD_KEY_CHARS.sub("_", name)


@runtime_checkable
class Tracker(Protocol):
    """What the pipeline needs from an experiment tracker (see the module docstring)."""

    @property
    def tracking_uri(self) -> str | None:
        """The store's URI (``None`` for a tracker that stores nothing)."""
        ...

    @property
    def experiment_id(self) -> str | None:
        """The experiment's id in the store (``None`` for a tracker that stores nothing)."""
        ...

    @property
    def run_id(self) -> str | None:
        """The innermost open run, or ``None``."""
        ...

    def start(
        self, run_name: str, *, nested: bool = False, tags: Mapping[str, str] | None = None
    ) -> str:
        """Open a run (a child of the innermost open run if ``nested``); return its id."""
        ...

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record parameters (stringified) on the innermost open run."""
        ...

    def log_metrics(self, metrics: Mapping[str, float], *, step: int | None = None) -> None:
        """Record metric values at ``step`` on the innermost open run; non-finite values are
        skipped."""
        ...

    def log_artifact(self, path: str | Path, *, artifact_path: str | None = None) -> None:
        """Upload a local file to the innermost open run (under ``artifact_path``)."""
        ...

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags on the innermost open run."""
        ...

    def finish(self, status: str = "FINISHED") -> None:
        """Close the innermost open run with ``status`` (FINISHED, FAILED or KILLED)."""
        ...


@contextlib.contextmanager
def tracked_run(
    tracker: Tracker,
    run_name: str,
    *,
    nested: bool = False,
    tags: Mapping[str, str] | None = None,
    resume_id: str | None = None,
) -> Iterator[str]:
    """``with tracked_run(tracker, "stage1", nested=True) as run_id:`` opens a run for the block.

    It is closed FINISHED when the block ends, KILLED on ``KeyboardInterrupt`` and FAILED on any
    other exception (the reason is set as tag ``autoaux.failure``); the exception propagates.
    ``resume_id``: continue that existing run (a resumed autoaux run) instead of starting one,
    when the tracker can (:func:`reopen_run`).
    """
    run_id = (
        reopen_run(tracker, resume_id, run_name, nested=nested, tags=tags)
        if resume_id is not None
        else tracker.start(run_name, nested=nested, tags=tags)
    )
    try:
        yield run_id
    except BaseException as error:
        status = "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED"
        with contextlib.suppress(Exception):
            tracker.set_tags({FAILURE_TAG: _reason(error)})
        tracker.finish(status)
        raise
    tracker.finish("FINISHED")


def reopen_run(
    tracker: Tracker,
    run_id: str,
    run_name: str,
    *,
    nested: bool = False,
    tags: Mapping[str, str] | None = None,
) -> str:
    """Push the existing run ``run_id`` back on the tracker's stack (status RUNNING again), or
    start a new run when the tracker has no ``reopen`` method."""
    reopen = getattr(tracker, "reopen", None)
    if reopen is None:
        return tracker.start(run_name, nested=nested, tags=tags)
    return str(reopen(run_id))


class NullTracker:
    """A tracker that records nothing (tracking disabled); run ids are ``"null-<n>"``."""

    def __init__(self) -> None:
        self._stack: list[str] = []
        self._count = 0

    @property
    def tracking_uri(self) -> str | None:
        return None

    @property
    def experiment_id(self) -> str | None:
        return None

    @property
    def run_id(self) -> str | None:
        return self._stack[-1] if self._stack else None

    def start(
        self, run_name: str, *, nested: bool = False, tags: Mapping[str, str] | None = None
    ) -> str:
        if nested and not self._stack:
            raise RuntimeError(f"cannot start nested run {run_name!r}: no run is open")
        self._count += 1
        run_id = f"null-{self._count}"
        self._stack.append(run_id)
        return run_id

    def reopen(self, run_id: str) -> str:
        self._stack.append(run_id)
        return run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        return None

    def log_metrics(self, metrics: Mapping[str, float], *, step: int | None = None) -> None:
        return None

    def log_artifact(self, path: str | Path, *, artifact_path: str | None = None) -> None:
        return None

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        return None

    def finish(self, status: str = "FINISHED") -> None:
        _check_status(status)
        if self._stack:
            self._stack.pop()

    def close(self, status: str = "KILLED") -> None:
        """Nothing to close."""


def _check_status(status: str) -> None:
    if status not in _STATUSES:
        raise ValueError(f"status={status!r}; accepted: one of {', '.join(_STATUSES)}")


def _reason(error: BaseException) -> str:
    """One line saying why, without secrets (it becomes a tag or an error message)."""
    text = redact_text(" ".join(str(error).split())) or type(error).__name__
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(error).__name__}: {text}" if text != type(error).__name__ else text
