"""The set-up every stage loop shares: one nested MLflow run, its params, the resume id, the
timer and the progress bar.

``run_race``, ``run_stage1``, ``run_stage2`` and ``run_screen`` each run inside one
:func:`stage_run`::

    with stage_run("stage1", tracker, params=..., checkpoint=checkpoint) as stage:
        saved = checkpoint.restore_...(...)          # the loop's own state, if any
        stage.rewind(saved.elapsed)                  # the time spent before the interruption
        bar = stage.bar(total, initial=done, unit="pull", desc="stage 1")
        ...                                          # the loop, logging to stage.tracker
        result = ...(seconds=stage.seconds, run_id=stage.public_run_id)

The run is nested under the tracker's open run, if any, tagged ``autoaux.stage = name``, and
continues the run the checkpoint saved for ``name`` when resuming; its id is saved in the
checkpoint as soon as it is open.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from autoaux.tracking import NullTracker, Tracker, tracked_run

if TYPE_CHECKING:
    from autoaux.runs.checkpoint import RunCheckpoint

__all__ = ["StageRun", "stage_run"]


class StageRun:
    """The open stage: its tracker, its run id, the time it has taken and its progress bars."""

    def __init__(self, tracker: Tracker, run_id: str, *, start: float, progress: bool) -> None:
        self.tracker = tracker
        self.run_id = run_id
        self._start = start
        self._progress = progress

    @property
    def public_run_id(self) -> str | None:
        """The run id a result keeps: ``None`` when nothing is tracked."""
        return self.run_id if self.tracker.tracking_uri is not None else None

    @property
    def seconds(self) -> float:
        """Seconds since the stage started, time spent before a resume included."""
        return time.perf_counter() - self._start

    def rewind(self, elapsed: float) -> None:
        """Count ``elapsed`` seconds (spent before an interruption) as already taken."""
        self._start -= elapsed

    def bar(
        self,
        total: int,
        *,
        unit: str,
        desc: str,
        initial: int = 0,
        iterable: Iterable[Any] | None = None,
    ) -> Any:
        """A progress bar over ``total`` steps, ``initial`` of them done (shown only when the
        stage was asked for progress); over ``iterable`` when given."""
        return tqdm(
            iterable,
            total=total,
            initial=initial,
            desc=desc,
            unit=unit,
            disable=not self._progress,
        )


@contextmanager
def stage_run(
    name: str,
    tracker: Tracker | None,
    *,
    params: Mapping[str, Any],
    checkpoint: RunCheckpoint | None = None,
    progress: bool = False,
) -> Iterator[StageRun]:
    """Open the stage's run ``name`` (see the module docstring), log ``params`` and record the
    run id in ``checkpoint``; the block runs inside the run (closed FINISHED, or FAILED/KILLED
    on an exception, as :func:`autoaux.tracking.tracked_run` does)."""
    tracker = tracker if tracker is not None else NullTracker()
    start = time.perf_counter()
    resume_id = checkpoint.run_id(name) if checkpoint is not None else None
    nested = tracker.run_id is not None
    tags = {"autoaux.stage": name}
    with tracked_run(tracker, name, nested=nested, tags=tags, resume_id=resume_id) as run:
        tracker.log_params(params)
        if checkpoint is not None:
            checkpoint.set_run_id(name, run)
        yield StageRun(tracker, run, start=start, progress=progress)
