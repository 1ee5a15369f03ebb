"""The chosen mixture: a main task and the mixing ratios of its auxiliary tasks.

:class:`Mixture` turns ratios into sampling weights and probabilities for the fixed mixtures:
the race's episodes, stage 2's trials and its result (zero-ratio tasks listed), the
``main-only``, ``uniform`` and ``stage1-only`` baselines and the Hugging Face trainer
(:mod:`autoaux.hf`). The trainer's and the Hugging Face sampler's own normalisation of the
weights they are handed stays: they also take raw weights.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Mixture", "MixtureSource"]

MixtureSource = Any
"""What :meth:`Mixture.from_result` reads: a ``RunResult``, ``MixResult`` or ``SelectionResult``,
a :class:`Mixture`, a mapping shaped like ``result.json``, or the path of such a JSON file."""


@dataclass(frozen=True)
class Mixture:
    """The main task and the auxiliary tasks' mixing ratios (the main task's ratio is 1).

    A training batch is drawn from task ``t`` with probability ``w_t / sum_s w_s``, where the
    weight ``w`` is 1 for the main task and the ratio for an auxiliary task. Ratios are finite
    and ``>= 0``; a task with ratio 0 is never drawn and is left out of :attr:`tasks`.

    Attributes:
        main_task: the main task's name.
        ratios: auxiliary task -> ratio, in a fixed order (the main task is not listed).
    """

    main_task: str
    ratios: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.main_task, str) or not self.main_task:
            raise ValueError(f"Mixture.main_task must be a task name, got {self.main_task!r}")
        ratios: dict[str, float] = {}
        for name, value in dict(self.ratios).items():
            ratio = float(value)
            if not math.isfinite(ratio) or ratio < 0.0:
                raise ValueError(f"Mixture: ratio of {name!r} must be finite and >= 0, got {value}")
            if name == self.main_task:
                if not math.isclose(ratio, 1.0):
                    raise ValueError(
                        f"Mixture: the main task {name!r} has ratio 1 by definition, got {value}"
                    )
                continue
            ratios[str(name)] = ratio
        object.__setattr__(self, "ratios", ratios)

    @property
    def tasks(self) -> tuple[str, ...]:
        """The tasks that are drawn: the main task first, then auxiliary tasks with ratio > 0."""
        return (self.main_task, *(name for name, r in self.ratios.items() if r > 0.0))

    def weights(self) -> dict[str, float]:
        """Task -> sampling weight for :attr:`tasks` (main 1.0, auxiliary tasks their ratio)."""
        return {self.main_task: 1.0, **{n: r for n, r in self.ratios.items() if r > 0.0}}

    def probabilities(self, *, keep_zero: bool = False) -> dict[str, float]:
        """Task -> probability that a batch comes from it (weights normalised to sum 1): the
        main task first, then the auxiliary tasks in the order of :attr:`ratios`.
        ``keep_zero`` also lists the tasks with ratio 0 (probability 0), as stage 2 records
        them. The sum is numpy's over ``[1, *ratios]``, as ``bayesopt.MixingRatioSpace`` does.
        """
        names = [self.main_task, *self.ratios]
        weights = np.asarray([1.0, *self.ratios.values()], dtype=np.float64)
        p = weights / weights.sum()
        return {n: float(v) for n, v in zip(names, p, strict=True) if keep_zero or v > 0.0}

    @classmethod
    def from_result(cls, result: MixtureSource) -> Mixture:
        """The mixture a selection run chose.

        Accepts a :class:`~autoaux.runs.RunResult` or :class:`~autoaux.runs.MixResult`
        (their ``ratios``; a main-task entry of 1 is dropped), a
        :class:`~autoaux.runs.SelectionResult` (stage 1 only: every selected task at ratio 1),
        a :class:`Mixture`, a mapping with ``main_task`` and ``ratios`` (or ``selected``), as in
        ``result.json``, ``mix.json`` and ``selection.json``, or the path of such a file.
        """
        if isinstance(result, Mixture):
            return result
        if isinstance(result, str | os.PathLike):
            path = Path(result)
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise FileNotFoundError(f"no result file at {path}") from None
            except json.JSONDecodeError as error:
                raise ValueError(f"{path} is not valid JSON: {error}") from None
            if not isinstance(data, Mapping):
                raise ValueError(f"{path}: expected a JSON object with 'main_task' and 'ratios'")
            return cls._from_mapping(data, origin=str(path))
        if isinstance(result, Mapping):
            return cls._from_mapping(result, origin="mapping")
        if hasattr(result, "to_dict") and hasattr(result, "main_task"):
            return cls._from_mapping(result.to_dict(), origin=type(result).__name__)
        raise TypeError(
            "expected a RunResult, MixResult, SelectionResult, Mixture, mapping or a path to "
            f"result.json, got {type(result).__name__}"
        )

    @classmethod
    def _from_mapping(cls, data: Mapping[str, Any], *, origin: str) -> Mixture:
        main = data.get("main_task")
        if not isinstance(main, str) or not main:
            raise ValueError(f"{origin}: no 'main_task' (a task name) in the result")
        ratios = data.get("ratios")
        if ratios:
            if not isinstance(ratios, Mapping):
                raise ValueError(f"{origin}: 'ratios' must map task names to numbers")
            if any(v is None for v in ratios.values()):
                missing = [k for k, v in ratios.items() if v is None]
                raise ValueError(f"{origin}: no ratio for {missing}")
            return cls(main, {str(k): float(v) for k, v in ratios.items()})
        selected = data.get("selected")
        if selected is None and "ratios" not in data:
            raise ValueError(f"{origin}: the result has neither 'ratios' nor 'selected'")
        return cls(main, dict.fromkeys((str(s) for s in selected or ()), 1.0))
