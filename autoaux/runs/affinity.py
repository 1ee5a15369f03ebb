"""The affinity screen's result: the task-affinity matrix, the intervals, the shortlist.

``affinity.json`` is :meth:`AffinityResult.to_dict`; :meth:`AffinityResult.from_dict` reads it
back into an equal record (plain JSON values only: nothing in the file is ever executed).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoaux.runs._files import write_json

__all__ = ["AFFINITY_FILE", "DECISIONS", "AffinityResult"]

AFFINITY_FILE = "affinity.json"
"""Name of the screen's JSON file in the output folder (and MLflow artifact)."""

DECISIONS = ("shortlisted", "dropped", "cut", "failed")
"""What the screen decided for a candidate of the main task: it goes on to stage 1
(``shortlisted``), its affinity is below the control's with confidence (``dropped``), it is
no worse than the control but ranked below the shortlist's size (``cut``), or a probe's dev
loss (its own or the control's) was not finite, so nothing was measured (``failed``)."""

Matrix = tuple[tuple[float, ...], ...]


@dataclass(frozen=True)
class AffinityResult:
    """The affinity of training on each column task for each row task.

    Rows (``targets``) are the tasks whose dev loss is measured: the main task first, then,
    for a pairwise screen, every candidate. Columns (``arms``) are the candidates and the
    control, in pool order; ``affinity[i][j]`` is the mean over ``rounds`` of the relative drop
    of ``targets[i]``'s dev loss after a probe with ``arms[j]``, against the probe with the
    control (0 for the control itself; ``nan`` where the row and column are the same task).
    ``low`` / ``high`` bound it at one-sided level ``alpha`` each. ``losses[i][j]`` holds the
    per-round dev losses. ``decisions`` and ``shortlist`` concern the main task's row.
    """

    main_task: str
    targets: tuple[str, ...]
    arms: tuple[str, ...]
    control: str
    affinity: Matrix
    low: Matrix
    high: Matrix
    losses: tuple[tuple[tuple[float, ...], ...], ...]
    decisions: dict[str, str]
    shortlist: tuple[str, ...]
    rounds: int
    probe_steps: int
    alpha: float
    steps: int
    seconds: float
    run_id: str | None = None

    @property
    def pairwise(self) -> bool:
        """Whether the matrix has a row per candidate besides the main task's."""
        return len(self.targets) > 1

    def row(self, target: str | None = None) -> dict[str, float]:
        """Column task -> affinity for ``target`` (default: the main task)."""
        i = self.targets.index(target or self.main_task)
        return dict(zip(self.arms, self.affinity[i], strict=True))

    def interval(self, task: str, target: str | None = None) -> tuple[float, float]:
        """``(low, high)`` of ``task``'s affinity for ``target`` (default: the main task)."""
        i, j = self.targets.index(target or self.main_task), self.arms.index(task)
        return self.low[i][j], self.high[i][j]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (``nan`` becomes ``None``, ``null`` in JSON)."""
        return {
            "main_task": self.main_task,
            "targets": list(self.targets),
            "arms": list(self.arms),
            "control": self.control,
            "affinity": [[_json(v) for v in r] for r in self.affinity],
            "low": [[_json(v) for v in r] for r in self.low],
            "high": [[_json(v) for v in r] for r in self.high],
            "losses": [[[_json(v) for v in c] for c in r] for r in self.losses],
            "decisions": dict(self.decisions),
            "shortlist": list(self.shortlist),
            "rounds": self.rounds,
            "probe_steps": self.probe_steps,
            "alpha": self.alpha,
            "steps": self.steps,
            "seconds": self.seconds,
            "run_id": self.run_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AffinityResult:
        """The record :meth:`to_dict` describes (``null`` back to ``nan``).

        Raises:
            ValueError: a key is missing or a matrix does not match ``targets`` x ``arms``.
        """
        try:
            targets = tuple(str(t) for t in data["targets"])
            arms = tuple(str(a) for a in data["arms"])
            matrices = [_matrix(data[key], len(targets), len(arms)) for key in ("affinity", "low",
                                                                               "high")]
            losses = tuple(
                tuple(tuple(_number(v) for v in cell) for cell in row) for row in data["losses"]
            )
            return cls(
                main_task=str(data["main_task"]),
                targets=targets,
                arms=arms,
                control=str(data["control"]),
                affinity=matrices[0],
                low=matrices[1],
                high=matrices[2],
                losses=losses,
                decisions={str(k): str(v) for k, v in data["decisions"].items()},
                shortlist=tuple(str(t) for t in data["shortlist"]),
                rounds=int(data["rounds"]),
                probe_steps=int(data["probe_steps"]),
                alpha=float(data["alpha"]),
                steps=int(data["steps"]),
                seconds=float(data["seconds"]),
                run_id=None if data.get("run_id") is None else str(data["run_id"]),
            )
        except (KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"not an affinity record: {error!r}") from None

    def to_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` to ``path`` atomically; return the path."""
        return write_json(path, self.to_dict())

    @classmethod
    def from_json(cls, path: str | Path) -> AffinityResult:
        """Read ``affinity.json`` (raises ``ValueError`` naming the file when unusable)."""
        path = Path(path)
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, OSError) as error:
            raise ValueError(f"{path}: {error}") from None


def _json(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _matrix(rows: Sequence[Sequence[Any]], n_rows: int, n_cols: int) -> Matrix:
    matrix = tuple(tuple(_number(v) for v in row) for row in rows)
    if len(matrix) != n_rows or any(len(row) != n_cols for row in matrix):
        raise ValueError(f"a matrix of {n_rows} x {n_cols} values was expected")
    return matrix
