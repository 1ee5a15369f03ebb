"""Ask/tell bookkeeping shared by the GP optimiser and the random baseline."""

from __future__ import annotations

import logging
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from numbers import Integral, Real
from typing import Any, overload

import numpy as np

from bayesopt._space import MixingRatioSpace, Point
from bayesopt._trial import Trial, TrialState

logger = logging.getLogger("bayesopt")

Objective = Callable[[dict[str, float]], float]
"""``objective(ratios) -> score`` (higher is better); may raise to signal a failed trial."""

Callback = Callable[[Trial], object]
"""Called with each recorded trial during ``run``; returning ``True`` stops the search."""

STATE_FORMAT = 1

_MAX_RESAMPLES = 10_000


def resolve_seed(seed: int | None) -> int:
    """A concrete non-negative int seed; ``None`` draws one from fresh OS entropy.

    The concrete seed is what ``state_dict`` stores, so an unseeded search can still be resumed.
    """
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0] >> 1)
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative int or None, got {seed!r}")
    return int(seed)


class RatioSearch(ABC):
    """Ask/tell loop over a :class:`MixingRatioSpace`, maximising a score.

    Subclasses supply ``_suggest`` (new points) and may override ``_observe`` (learn from a
    recorded trial). This base hands out ``initial_ratios`` first, keeps asked batches
    distinct, validates and records trials, and implements ``run``, ``trials`` and ``best``.
    """

    def __init__(
        self,
        space: MixingRatioSpace,
        *,
        seed: int | None = None,
        initial_ratios: Iterable[Mapping[str, float]] = (),
    ) -> None:
        if not isinstance(space, MixingRatioSpace):
            raise TypeError(f"space must be a MixingRatioSpace, got {type(space).__name__}")
        self._space = space
        self._seed = resolve_seed(seed)
        self._initial_ratios = self._check_initial(space, initial_ratios)
        self._initial_position = 0
        self._trials: list[Trial] = []
        self._rng = np.random.default_rng(self._seed)

    @staticmethod
    def _check_initial(
        space: MixingRatioSpace, initial_ratios: Iterable[Mapping[str, float]]
    ) -> tuple[dict[str, float], ...]:
        if isinstance(initial_ratios, Mapping):
            raise TypeError("initial_ratios is a sequence of ratio mappings, not a single mapping")
        checked: list[dict[str, float]] = []
        for index, ratios in enumerate(initial_ratios):
            try:
                clean = space.validate(ratios)
            except (TypeError, ValueError) as error:
                raise type(error)(f"initial_ratios[{index}]: {error}") from None
            if clean in checked:
                raise ValueError(f"initial_ratios[{index}] repeats an earlier point: {clean}")
            checked.append(clean)
        return tuple(checked)

    # -- public read-only state ------------------------------------------------------------

    @property
    def space(self) -> MixingRatioSpace:
        return self._space

    @property
    def seed(self) -> int:
        """The concrete seed (drawn at construction when ``seed=None`` was given)."""
        return self._seed

    @property
    def initial_ratios(self) -> tuple[dict[str, float], ...]:
        return tuple(dict(r) for r in self._initial_ratios)

    @property
    def trials(self) -> tuple[Trial, ...]:
        """Every recorded trial, in the order told."""
        return tuple(self._trials)

    @property
    def best(self) -> Trial | None:
        """The COMPLETE trial with the highest score (the earliest on ties), or ``None``."""
        best: Trial | None = None
        best_score = -math.inf
        for trial in self._trials:
            if trial.score is not None and (best is None or trial.score > best_score):
                best, best_score = trial, trial.score
        return best

    # -- ask -------------------------------------------------------------------------------

    @overload
    def ask(self) -> dict[str, float]: ...

    @overload
    def ask(self, n: int) -> list[dict[str, float]]: ...

    def ask(self, n: int | None = None) -> dict[str, float] | list[dict[str, float]]:
        """Ratios to evaluate next: one dict, or a list of ``n`` distinct dicts.

        Pending ``initial_ratios`` come first, in order; the rest come from the subclass.
        Within a batch no point repeats, and a suggested point that was already told is
        replaced by a fresh random one while the (integer) space still has untried points.
        """
        if n is None:
            return self._ask(1, batch=False)[0]
        if isinstance(n, bool) or not isinstance(n, Integral) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        return self._ask(int(n), batch=True)

    def _ask(self, n: int, *, batch: bool) -> list[dict[str, float]]:
        cardinality = self._space.cardinality
        if cardinality is not None and n > cardinality:
            raise ValueError(
                f"cannot ask for {n} distinct points: this integer space has only {cardinality}"
            )
        initial: list[dict[str, float]] = []
        while len(initial) < n and self._initial_position < len(self._initial_ratios):
            initial.append(dict(self._initial_ratios[self._initial_position]))
            self._initial_position += 1
        rest = n - len(initial)
        suggested = self._suggest(rest if batch else None) if rest else []
        return self._make_distinct(initial, suggested)

    def _make_distinct(
        self, initial: list[dict[str, float]], suggested: list[dict[str, float]]
    ) -> list[dict[str, float]]:
        def key(ratios: Mapping[str, float]) -> tuple[float, ...]:
            return tuple(ratios[name] for name in self._space.names)

        told = {key(trial.ratios) for trial in self._trials}
        cardinality = self._space.cardinality
        room = cardinality is None or len(told | {key(r) for r in initial}) + len(suggested) <= (
            cardinality
        )
        seen = {key(r) for r in initial} | (told if room else set())
        out = list(initial)
        for ratios in suggested:
            point = ratios
            tries = 0
            while key(point) in seen:
                tries += 1
                if tries > _MAX_RESAMPLES:
                    raise RuntimeError("could not draw a distinct point; the space is too small")
                point = self._space.sample(self._rng)
            seen.add(key(point))
            out.append(point)
        return out

    @abstractmethod
    def _suggest(self, n: int | None) -> list[dict[str, float]]:
        """New points: one for ``n=None`` (a single ask), else a batch of ``n``."""

    # -- tell ------------------------------------------------------------------------------

    def tell(
        self,
        ratios: Mapping[str, float],
        score: float | None,
        *,
        failed: bool = False,
        seconds: float = 0.0,
    ) -> Trial:
        """Record the evaluation of ``ratios`` and return its frozen :class:`Trial`.

        ``ratios`` must belong to the space (see ``MixingRatioSpace.validate``); they need not
        come from ``ask``, so evaluations made elsewhere can be told at any time, also before
        the first ask. ``failed=True``, ``score=None`` with ``failed=True``, or a NaN/inf score
        record a FAILED trial with score ``None``.
        """
        point = self._space.to_point(ratios)
        if not isinstance(failed, bool):
            raise TypeError(f"failed must be a bool, got {failed!r}")
        if score is None and not failed:
            raise ValueError("score is None; pass failed=True to record a failed trial")
        if score is not None and (isinstance(score, bool) or not isinstance(score, Real)):
            raise TypeError(f"score must be a real number, got {score!r}")
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, Real)
            or not math.isfinite(seconds)
            or seconds < 0
        ):
            raise ValueError(f"seconds must be a finite number >= 0, got {seconds!r}")
        value = None if failed or score is None else float(score)
        if value is not None and not math.isfinite(value):
            logger.warning("score %r for ratios %s is not finite: recorded FAILED", value, ratios)
            value = None
        trial = Trial(
            number=len(self._trials),
            ratios=self._space.from_point(point),
            score=value,
            state=TrialState.FAILED if value is None else TrialState.COMPLETE,
            seconds=float(seconds),
        )
        self._trials.append(trial)
        self._observe(trial, point)
        return trial

    def _observe(self, trial: Trial, point: Point) -> None:  # noqa: B027 (optional hook)
        """Learn from a freshly recorded trial (the base records only)."""

    # -- run -------------------------------------------------------------------------------

    def run(
        self,
        objective: Objective,
        n_trials: int,
        *,
        callbacks: Sequence[Callback] = (),
    ) -> Trial | None:
        """Evaluate ``n_trials`` asked points with ``objective`` and return :attr:`best`.

        Each trial is ``ask()``, a timed ``objective(ratios)``, ``tell(...)``. An exception
        raised by the objective (an ``Exception``, not ``KeyboardInterrupt``) or a NaN/inf
        score records a FAILED trial and the search goes on. Each callback is called with
        every recorded trial; one returning ``True`` stops the search early. Returns ``None``
        when no trial has completed.
        """
        if isinstance(n_trials, bool) or not isinstance(n_trials, Integral) or n_trials < 0:
            raise ValueError(f"n_trials must be a non-negative int, got {n_trials!r}")
        for _ in range(int(n_trials)):
            ratios = self.ask()
            start = time.perf_counter()
            score: Any
            try:
                score = objective(dict(ratios))
                failed = False
            except Exception:
                logger.warning("objective failed for ratios %s", ratios, exc_info=True)
                score, failed = None, True
            seconds = time.perf_counter() - start
            if isinstance(score, np.generic):
                score = score.item()
            trial = self.tell(ratios, score, failed=failed, seconds=seconds)
            stop = False
            for callback in callbacks:
                stop = callback(trial) is True or stop
            if stop:
                break
        return self.best

    # -- state -----------------------------------------------------------------------------

    def _base_state(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "kind": type(self).__name__,
            "space": self._space.to_dict(),
            "seed": self._seed,
            "initial_ratios": [dict(r) for r in self._initial_ratios],
            "initial_position": self._initial_position,
            "trials": [trial.to_dict() for trial in self._trials],
            "rng": self._rng.bit_generator.state,
        }

    def _load_base_state(self, state: Mapping[str, Any]) -> None:
        if not isinstance(state, Mapping):
            raise TypeError(f"state must be a mapping, got {type(state).__name__}")
        try:
            if state["format"] != STATE_FORMAT:
                raise ValueError(
                    f"unsupported state format {state['format']!r} (expected {STATE_FORMAT})"
                )
            if state["kind"] != type(self).__name__:
                raise ValueError(
                    f"state was saved by a {state['kind']}, not a {type(self).__name__}"
                )
            space = MixingRatioSpace.from_dict(state["space"])
            if space != self._space:
                raise ValueError(
                    f"state was saved for another space: {space} (this search has {self._space})"
                )
            seed = resolve_seed(state["seed"])
            initial = self._check_initial(space, state["initial_ratios"])
            position = state["initial_position"]
            if not isinstance(position, int) or not 0 <= position <= len(initial):
                raise ValueError(f"initial_position {position!r} is out of range")
            trials = [Trial.from_dict(t) for t in state["trials"]]
            if [t.number for t in trials] != list(range(len(trials))):
                raise ValueError("trial numbers in state are not 0, 1, 2, ...")
            rng = np.random.default_rng()
            rng.bit_generator.state = state["rng"]
        except KeyError as error:
            raise ValueError(f"state lacks the key {error.args[0]!r}") from None
        for trial in trials:
            space.validate(trial.ratios)
        self._seed = seed
        self._initial_ratios = initial
        self._initial_position = position
        self._trials = trials
        self._rng = rng

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state; ``load_state_dict`` on a search over the same space
        resumes it so that the next ``ask`` is what the uninterrupted search would ask."""

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the state saved by :meth:`state_dict`, settings and seed included.

        The state must come from the same kind of search over an equal space. It is loaded
        into a fresh search first, so an invalid state raises ``ValueError`` and leaves this
        one untouched.
        """
        fresh = type(self)(self._space, seed=0)
        fresh._load_base_state(state)
        fresh._load_state(state)
        self.__dict__.update(fresh.__dict__)

    def _load_state(self, state: Mapping[str, Any]) -> None:  # noqa: B027 (optional hook)
        """Restore the subclass's part of ``state`` (after the base part)."""
