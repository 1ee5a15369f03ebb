"""Where the stage-1 and stage-2 loops stood when their checkpoint was written."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autoaux.runs.result import (
    PullRecord,
    TrialRecord,
)


@dataclass
class Stage1Progress:
    """The stage-1 loop after ``len(history)`` pulls."""

    previous: float
    initial: float
    rewards: dict[str, list[float]]
    cosines: dict[str, list[float]]
    history: list[PullRecord]
    elapsed: float = 0.0


@dataclass
class Stage2Progress:
    """The stage-2 loop after ``len(trials)`` trials."""

    trials: list[TrialRecord]
    best: TrialRecord | None
    best_state: dict[str, Any] | None
    test_score: float | None
    elapsed: float = 0.0
