"""What the trainer's calls report (:class:`StepReport`, :class:`MixtureReport`) and the error
it raises on a NaN or infinite loss (:class:`NonFiniteLossError`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

__all__ = ["MixtureReport", "NonFiniteLossError", "StepReport"]


class NonFiniteLossError(RuntimeError):
    """A training loss became NaN or infinite; names the task and the trainer step."""

    def __init__(self, task: str, step: int, loss: float) -> None:
        self.task = task
        self.step = step
        self.loss = loss
        super().__init__(f"non-finite loss {loss} on task {task!r} at step {step}")

    def __reduce__(self) -> tuple[type[NonFiniteLossError], tuple[str, int, float]]:
        # rebuilt from its fields when it comes back from a worker process
        return (type(self), (self.task, self.step, self.loss))


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    return float(np.mean(items)) if items else float("nan")


@dataclass(frozen=True)
class StepReport:
    """What :meth:`Trainer.train_steps` did.

    ``losses`` has one entry per step; ``cosines`` and ``scales`` one per gated auxiliary step
    (empty for the main task or without a gate). ``nonfinite`` is true when some loss was NaN or
    infinite (only seen with ``raise_on_nonfinite=False``).
    """

    task: str
    steps: int
    mean_loss: float
    losses: tuple[float, ...]
    cosines: tuple[float, ...] = ()
    scales: tuple[float, ...] = ()
    nonfinite: bool = False

    @property
    def mean_cosine(self) -> float:
        """Mean per-batch gradient cosine (``nan`` when none was measured)."""
        return _mean(self.cosines)

    @property
    def mean_scale(self) -> float:
        """Mean gate scale (``nan`` when no step was gated)."""
        return _mean(self.scales)


@dataclass(frozen=True)
class MixtureReport:
    """What :meth:`Trainer.train_mixture` did.

    ``dev_curve`` holds ``(step, main dev score)`` with ``step`` counted from 1 within the call;
    the model holds the weights of ``best_step`` (the best score; the earliest on ties) when the
    call returns. Per-task dictionaries cover the tasks drawn at least once.
    """

    steps: int
    dev_curve: tuple[tuple[int, float], ...]
    best_dev: float
    best_step: int
    steps_per_task: dict[str, int] = field(default_factory=dict)
    mean_loss: dict[str, float] = field(default_factory=dict)
    mean_cosine: dict[str, float] = field(default_factory=dict)
    mean_scale: dict[str, float] = field(default_factory=dict)
    stopped_early: bool = False
