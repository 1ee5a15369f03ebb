"""Frozen trial records handed out by the searches."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from numbers import Real
from typing import Any


class TrialState(StrEnum):
    """Outcome of one trial: ``COMPLETE`` (finite score) or ``FAILED`` (no usable score)."""

    COMPLETE = "COMPLETE"
    FAILED = "FAILED"


@dataclass(frozen=True)
class Trial:
    """One evaluated mixing ratio, as recorded by ``tell``.

    Attributes
    ----------
    number:
        0-based position in the search's history.
    ratios:
        The evaluated ratios, task name -> ratio (a private copy; see ``MixingRatioSpace``).
    score:
        The score that was maximised (e.g. main-task dev accuracy); ``None`` when FAILED.
    state:
        ``TrialState.COMPLETE`` or ``TrialState.FAILED``.
    seconds:
        Wall-clock seconds the evaluation took (0.0 when unknown).
    """

    number: int
    ratios: dict[str, float]
    score: float | None
    state: TrialState
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.number, bool) or not isinstance(self.number, int) or self.number < 0:
            raise ValueError(f"number must be a non-negative int, got {self.number!r}")
        if not isinstance(self.state, TrialState):
            raise TypeError(f"state must be a TrialState, got {self.state!r}")
        if not isinstance(self.ratios, Mapping):
            raise TypeError(f"ratios must be a mapping, got {type(self.ratios).__name__}")
        object.__setattr__(self, "ratios", {str(k): float(v) for k, v in self.ratios.items()})
        if self.state is TrialState.COMPLETE:
            if (
                isinstance(self.score, bool)
                or not isinstance(self.score, Real)
                or not math.isfinite(self.score)
            ):
                raise ValueError(f"a COMPLETE trial needs a finite score, got {self.score!r}")
            object.__setattr__(self, "score", float(self.score))
        elif self.score is not None:
            raise ValueError(f"a FAILED trial has score None, got {self.score!r}")
        if (
            isinstance(self.seconds, bool)
            or not isinstance(self.seconds, Real)
            or not math.isfinite(self.seconds)
            or self.seconds < 0
        ):
            raise ValueError(f"seconds must be a finite number >= 0, got {self.seconds!r}")
        object.__setattr__(self, "seconds", float(self.seconds))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable record: ``{number, ratios, score, state, seconds}``."""
        return {
            "number": self.number,
            "ratios": dict(self.ratios),
            "score": self.score,
            "state": self.state.value,
            "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Trial:
        """Inverse of :meth:`to_dict`."""
        try:
            return cls(
                number=data["number"],
                ratios=data["ratios"],
                score=data["score"],
                state=TrialState(data["state"]),
                seconds=data.get("seconds", 0.0),
            )
        except KeyError as error:
            raise ValueError(f"trial record lacks the key {error.args[0]!r}") from None
