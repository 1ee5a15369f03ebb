"""Seeded random search over mixing ratios: the baseline for the GP optimiser."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bayesopt._base import RatioSearch
from bayesopt._space import MixingRatioSpace


class RandomRatioSearch(RatioSearch):
    """Random search with the ask/tell interface of :class:`MixingRatioOptimizer`.

    Pending ``initial_ratios`` are asked first; every other point is an independent draw from
    the space's prior (``MixingRatioSpace.sample``: uniform in ``[low, high]`` per task,
    log-uniform when ``log``, equally likely whole numbers in integer mode) with this object's
    ``numpy.random.Generator``, seeded by ``seed``. Told scores do not influence later points.
    With ``MixingRatioSpace(names, low=0, high=9, integer=True)`` this is the "random integer
    ratios in 0..9" scheme some multi-task re-implementations use instead of BO.
    """

    def __init__(
        self,
        space: MixingRatioSpace,
        *,
        seed: int | None = None,
        initial_ratios: Sequence[Mapping[str, float]] = (),
    ) -> None:
        super().__init__(space, seed=seed, initial_ratios=initial_ratios)

    def _suggest(self, n: int | None) -> list[dict[str, float]]:
        return [self._space.sample(self._rng) for _ in range(1 if n is None else n)]

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state: seed, trials, initial-ratio position, generator state."""
        return self._base_state()
