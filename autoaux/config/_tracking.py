"""``[tracking]`` and ``[checkpoint]``: what a run records, in MLflow and for a resume
(:class:`TrackingConfig`, :class:`CheckpointConfig`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from autoaux._secrets import register_uri
from autoaux.config._checks import _check_bool, _check_int, _check_str

__all__ = ["CheckpointConfig", "TrackingConfig"]


@dataclass(frozen=True)
class TrackingConfig:
    """``[tracking]``: MLflow. ``uri`` is any tracking URI (default: an SQLite file in the
    working folder); ``enabled = false`` runs without tracking. ``artifact_location`` applies
    when the experiment is created (default: ``mlruns/`` beside an SQLite store).

    An unreachable store fails the run at start, unless ``fallback = true``: the run then logs
    to ``fallback_uri`` (default: ``mlflow-fallback.db``, SQLite, in ``output_dir``) and says so.
    A store that goes away mid-run never stops the run: calls are retried with back-off, kept in
    ``output_dir/tracking-journal.jsonl`` while it is down and replayed when it returns
    (:mod:`autoaux.tracking.journal`)."""

    _section: ClassVar[str] = "tracking"

    enabled: bool = True
    uri: str = "sqlite:///mlflow.db"
    experiment: str = "autoaux"
    run_name: str | None = None
    artifact_location: str | None = None
    # --- reliability (autoaux.tracking.journal): see the TrackingConfig docstring
    fallback: bool = False
    fallback_uri: str | None = None

    def __post_init__(self) -> None:
        _check_bool(self, "enabled")
        _check_str(self, "uri")
        _check_str(self, "experiment")
        _check_str(self, "run_name", optional=True)
        _check_str(self, "artifact_location", optional=True)
        _check_bool(self, "fallback")
        _check_str(self, "fallback_uri", optional=True)
        for uri in (self.uri, self.fallback_uri, self.artifact_location):
            register_uri(uri)  # their secret values never leave the process


@dataclass(frozen=True)
class CheckpointConfig:
    """``[checkpoint]``: resumable runs (:mod:`autoaux.runs`). With ``enabled``, the run's
    state is written atomically to ``output_dir/checkpoint/`` after every ``every`` stage-1
    pulls, after every stage-2 trial and after every baseline; ``autoaux run --resume DIR``
    continues from it. A larger ``every`` saves time with large encoders (each checkpoint holds
    the model and its optimiser state) at the cost of redoing up to ``every`` pulls."""

    _section: ClassVar[str] = "checkpoint"

    enabled: bool = True
    every: int = 1

    def __post_init__(self) -> None:
        _check_bool(self, "enabled")
        _check_int(self, "every", minimum=1)
