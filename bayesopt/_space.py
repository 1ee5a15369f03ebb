"""The search space of stage 2: one mixing ratio per auxiliary task."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np
from skopt.space import Dimension
from skopt.space import Integer as SkoptInteger
from skopt.space import Real as SkoptReal

Point = list[float] | list[int]
"""A point in skopt's coordinates: one value per auxiliary task, in ``names`` order."""


def _check_number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{what} must be a real number, got {value!r} ({type(value).__name__})")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{what} must be finite, got {number}")
    return number


@dataclass(frozen=True, init=False)
class MixingRatioSpace:
    """Mixing ratios of the auxiliary tasks, relative to the main task.

    **Ratio encoding.** The main task's ratio is fixed at 1. Auxiliary task ``i`` gets a ratio
    ``r_i`` in ``[low, high]``, meaning "train on task ``i`` ``r_i`` times as often as on the main
    task". A mixture of ``n`` auxiliary tasks is therefore ``n`` numbers, and the per-step
    sampling probabilities handed to the trainer are ::

        p = [1, r_1, ..., r_n] / (1 + r_1 + ... + r_n)        # shape (1 + n,), sums to 1

    so ``r_i = 0`` switches task ``i`` off, ``r_i = 1`` trains it as often as the main task, and
    ``r_i = 3`` three times as often. Fixing the main ratio removes the one redundant degree of
    freedom of raw probabilities (scaling all ratios gives the same mixture) and keeps the
    search box a plain hyper-rectangle, which is what a GP over ``[low, high]^n`` wants.

    Parameters
    ----------
    task_names:
        Names of the auxiliary tasks, one search dimension each (at least one, no duplicates).
    low, high:
        Bounds shared by every ratio, ``0 <= low < high``.
    integer:
        Search whole ratios only (skopt ``Integer`` dimensions); bounds must be whole numbers.
    log:
        Search on a log scale (skopt prior ``"log-uniform"``), which spends as many trials
        between 0.1 and 1 as between 1 and 10; needs ``low > 0``.
    """

    names: tuple[str, ...]
    low: float
    high: float
    integer: bool
    log: bool

    def __init__(
        self,
        task_names: Iterable[str],
        *,
        low: float = 0.0,
        high: float = 5.0,
        integer: bool = False,
        log: bool = False,
    ) -> None:
        if isinstance(task_names, str):
            raise ValueError(
                f"task_names must be a sequence of task names, not the single string {task_names!r}"
            )
        names = tuple(task_names)
        if not names:
            raise ValueError("task_names is empty: the space needs at least one auxiliary task")
        for name in names:
            if not isinstance(name, str) or not name.strip():
                raise ValueError(f"task names must be non-empty strings, got {name!r}")
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate task names: {duplicates}")
        if not isinstance(integer, bool):
            raise TypeError(f"integer must be a bool, got {integer!r}")
        if not isinstance(log, bool):
            raise TypeError(f"log must be a bool, got {log!r}")
        low_f = _check_number(low, "low")
        high_f = _check_number(high, "high")
        if low_f < 0:
            raise ValueError(f"low must be >= 0 (a negative mixing ratio means nothing), got {low}")
        if low_f >= high_f:
            raise ValueError(f"low must be smaller than high, got low={low} and high={high}")
        if log and low_f <= 0:
            raise ValueError(f"log=True needs low > 0 (log(0) is undefined), got low={low}")
        if integer and not (low_f.is_integer() and high_f.is_integer()):
            raise ValueError(
                f"integer=True needs whole-number bounds, got low={low} and high={high}"
            )
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "low", low_f)
        object.__setattr__(self, "high", high_f)
        object.__setattr__(self, "integer", integer)
        object.__setattr__(self, "log", log)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def cardinality(self) -> int | None:
        """Number of distinct points in integer mode, ``None`` for a continuous space."""
        if not self.integer:
            return None
        return (int(self.high) - int(self.low) + 1) ** len(self.names)

    # -- validation and conversion -------------------------------------------------------

    def _check_keys(self, ratios: Mapping[str, Any]) -> None:
        if not isinstance(ratios, Mapping):
            raise TypeError(
                f"ratios must be a mapping from task name to ratio, got {type(ratios).__name__}"
            )
        missing = [name for name in self.names if name not in ratios]
        unknown = sorted(str(key) for key in ratios if key not in self.names)
        if missing or unknown:
            parts = []
            if missing:
                parts.append(f"missing ratios for {missing}")
            if unknown:
                parts.append(f"unknown tasks {unknown}")
            raise ValueError(
                f"ratios do not match the space's tasks {list(self.names)}: " + "; ".join(parts)
            )

    def validate(self, ratios: Mapping[str, float]) -> dict[str, float]:
        """Check that ``ratios`` is a point of this space and return it as a plain dict.

        The keys must be exactly :attr:`names`; every value must be a finite number in
        ``[low, high]``, and a whole number in integer mode. The result is ordered like
        :attr:`names` and holds Python floats.
        """
        self._check_keys(ratios)
        clean: dict[str, float] = {}
        for name in self.names:
            value = _check_number(ratios[name], f"ratio for task {name!r}")
            if not self.low <= value <= self.high:
                raise ValueError(
                    f"ratio for task {name!r} is {value}, outside the space's bounds "
                    f"[{self.low}, {self.high}]"
                )
            if self.integer and not value.is_integer():
                raise ValueError(
                    f"ratio for task {name!r} is {value}, but the space is integer-valued"
                )
            clean[name] = value
        return clean

    def to_point(self, ratios: Mapping[str, float]) -> Point:
        """Validate ``ratios`` and return skopt coordinates (ints in integer mode)."""
        clean = self.validate(ratios)
        if self.integer:
            return [int(clean[name]) for name in self.names]
        return [clean[name] for name in self.names]

    def from_point(self, point: Sequence[float]) -> dict[str, float]:
        """Turn skopt coordinates (one value per task, in ``names`` order) into ratios."""
        if len(point) != len(self.names):
            raise ValueError(
                f"point has {len(point)} coordinates, the space has {len(self.names)} tasks"
            )
        return self.validate(dict(zip(self.names, (float(v) for v in point), strict=True)))

    def probabilities(self, ratios: Mapping[str, float]) -> np.ndarray:
        """Sampling probabilities ``[main, *names]`` (shape ``(1 + n,)``) for ``ratios``.

        ``p = [1, r_1, ..., r_n] / (1 + sum(r))``; see the class docstring. Any finite,
        non-negative ratios are accepted (the bounds constrain the search, not the encoding).
        """
        self._check_keys(ratios)
        values = [1.0]
        for name in self.names:
            value = _check_number(ratios[name], f"ratio for task {name!r}")
            if value < 0:
                raise ValueError(f"ratio for task {name!r} must be >= 0, got {value}")
            values.append(value)
        weights = np.asarray(values, dtype=np.float64)
        return weights / weights.sum()

    def sample(self, rng: np.random.Generator) -> dict[str, float]:
        """Draw one point from the space's prior with ``rng``.

        Uniform in ``[low, high]`` per task, log-uniform when ``log``; in integer mode the
        uniform case draws each whole number with equal probability, and the log case floors
        a log-uniform draw on ``[low, high + 1)``.
        """
        n = len(self.names)
        values: np.ndarray
        if self.integer and not self.log:
            values = rng.integers(int(self.low), int(self.high), endpoint=True, size=n)
        elif self.log:
            top = self.high + 1.0 if self.integer else self.high
            values = np.exp(rng.uniform(math.log(self.low), math.log(top), size=n))
            if self.integer:
                values = np.floor(values)
            values = np.clip(values, self.low, self.high)
        else:
            values = rng.uniform(self.low, self.high, size=n)
        return {name: float(v) for name, v in zip(self.names, values, strict=True)}

    # -- scikit-optimize -----------------------------------------------------------------

    def to_skopt(self) -> list[Dimension]:
        """skopt dimensions of this space, named after the tasks.

        ``Real(low, high)`` or ``Integer(low, high)`` per task, with ``prior="log-uniform"``
        when ``log`` (else ``"uniform"``).
        """
        prior = "log-uniform" if self.log else "uniform"
        if self.integer:
            return [
                SkoptInteger(int(self.low), int(self.high), prior=prior, name=name)
                for name in self.names
            ]
        return [SkoptReal(self.low, self.high, prior=prior, name=name) for name in self.names]

    @classmethod
    def from_skopt(cls, dimensions: Sequence[Dimension]) -> MixingRatioSpace:
        """Build a space from named skopt ``Real`` / ``Integer`` dimensions.

        All dimensions must share one type, bounds and prior, since a mixing-ratio space has
        one box for all tasks.
        """
        dims = list(dimensions)
        if not dims:
            raise ValueError("dimensions is empty")
        first = dims[0]
        for dim in dims:
            if not isinstance(dim, SkoptReal | SkoptInteger):
                raise ValueError(f"only Real and Integer dimensions are supported, got {dim!r}")
            if dim.name is None:
                raise ValueError(f"every dimension needs a name (the task name), got {dim!r}")
            same = (
                type(dim) is type(first)
                and dim.low == first.low
                and dim.high == first.high
                and dim.prior == first.prior
            )
            if not same:
                raise ValueError(
                    "all dimensions must share one type, bounds and prior, "
                    f"got {first!r} and {dim!r}"
                )
        if first.prior not in ("uniform", "log-uniform"):
            raise ValueError(f"unsupported prior {first.prior!r}")
        return cls(
            [str(dim.name) for dim in dims],
            low=float(first.low),
            high=float(first.high),
            integer=isinstance(first, SkoptInteger),
            log=first.prior == "log-uniform",
        )

    # -- serialisation -------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable description, inverse of :meth:`from_dict`."""
        return {
            "names": list(self.names),
            "low": self.low,
            "high": self.high,
            "integer": self.integer,
            "log": self.log,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MixingRatioSpace:
        """Rebuild a space from :meth:`to_dict` output."""
        try:
            return cls(
                data["names"],
                low=data["low"],
                high=data["high"],
                integer=data["integer"],
                log=data["log"],
            )
        except KeyError as error:
            raise ValueError(f"space description lacks the key {error.args[0]!r}") from None
