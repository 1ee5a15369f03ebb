"""Gaussian-process Bayesian optimisation of mixing ratios on ``skopt.Optimizer``."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from skopt import Optimizer
from threadpoolctl import threadpool_limits

from bayesopt._base import RatioSearch
from bayesopt._space import MixingRatioSpace, Point
from bayesopt._trial import Trial, TrialState

ACQUISITIONS = ("gp_hedge", "EI", "PI", "LCB")
"""Acquisition functions accepted by :class:`MixingRatioOptimizer`."""


@contextmanager
def _skopt_call() -> Iterator[None]:
    """Context for every call into skopt: one BLAS thread, known warnings silenced.

    * BLAS runs single-threaded: the GP's matrices are tiny (one row per trial), and a
      multi-threaded OpenBLAS spends far longer waking threads than computing; on a busy
      2-core machine a 25-trial search took 3 to 8 times longer with 2 BLAS threads than
      with 1. It also keeps the floating-point results independent of the thread count.
    * "The objective has been evaluated at point ... before, using random point": skopt's
      duplicate avoidance, which is the documented behaviour here.
    * scikit-learn ``ConvergenceWarning`` from the GP's kernel-hyperparameter fit (a length
      scale at its bound is routine with a handful of points).
    """
    with threadpool_limits(limits=1, user_api="blas"), warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="The objective has been evaluated at point", category=UserWarning
        )
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        yield


def _skopt_seed(seed: int) -> int:
    """The 32-bit ``random_state`` skopt's ``RandomState`` gets, derived from ``seed``."""
    return int(np.random.SeedSequence([seed, 0x5EED]).generate_state(1)[0])


def _rng_fingerprint(optimizer: Optimizer) -> str:
    """A short digest of skopt's ``RandomState``, to check that a replay reproduced it."""
    _, keys, position, *_ = optimizer.rng.get_state()
    digest = hashlib.sha256(np.asarray(keys, dtype=np.uint32).tobytes()).hexdigest()[:16]
    return f"{digest}:{int(position)}"


class MixingRatioOptimizer(RatioSearch):
    """GP Bayesian optimisation of mixing ratios, maximising a score, in ask/tell style.

    **Model.** ``skopt.Optimizer(base_estimator="GP")``: skopt's default GP is a
    ``ConstantKernel * Matern(nu=2.5)`` kernel (Matern 5/2, one length scale per task, bounds
    0.01..100) with a learned Gaussian noise term and ``normalize_y=True``, fitted on the ratios
    rescaled to ``[0, 1]`` (in log space when the space is ``log``). skopt minimises, so the
    optimiser is told ``y = -score``; the sign flip is internal and every public score is the
    maximised one.

    **Loop.** The first ``n_initial_points`` observations are design points: pending
    ``initial_ratios`` (in order), then random draws from skopt (uniform, or log-uniform when
    the space is ``log``). Every told trial counts toward ``n_initial_points``, warm-start
    points and evaluations told before the first ask included (skopt's own rule), so
    ``initial_ratios`` replace random draws rather than add to them. After that each tell
    refits the GP and minimises the acquisition (``"EI"``, ``"PI"``, ``"LCB"``, or
    ``"gp_hedge"``, which picks one of the three with a softmax over their past gains) by
    L-BFGS from the best of 10,000 random candidates. ``ask()`` returns that point; asking
    again without a tell returns it again (during the random phase each ``ask()`` draws a new
    point, and skopt caches an ``ask(n)`` batch until the next tell).

    ``ask(n)`` uses skopt's constant liar ``"cl_min"``: on a throw-away copy it asks a point,
    pretends it scored as well as the best observation (the minimum of the negated scores),
    refits, and asks again, ``n`` times, so the batch spreads out. A point repeated within a
    batch, or (while the integer space has untried points) equal to a told one, is replaced
    by a random draw from this object's generator.

    **Failed trials.** A FAILED trial (NaN/inf score, an exception in ``run``, ``failed=True``)
    tells skopt the *worst completed score seen so far* at that point, a pessimistic but
    finite value that steers the GP away from the failing region without inventing a scale.
    While no trial has completed there is no such value, so failed points are held back and
    told, with the first completed score as their penalty, together with the first completed
    trial (they also count toward ``n_initial_points`` only then). No NaN or inf ever reaches
    skopt.

    **State.** ``state_dict()`` stores the settings, the seed, the trials and the exact
    sequence of asks and tells sent to skopt; ``load_state_dict`` replays it into a fresh
    ``skopt.Optimizer`` with the same ``random_state``. GP fits are deterministic given their
    seed and the replayed asks consume the same random numbers, so the resumed optimiser asks
    what the uninterrupted one would have. Replay refits the GP once per tell, so a restore
    costs about what the original asks and tells did (a few seconds for 50 trials of three
    tasks), small beside one training run per trial.

    Parameters
    ----------
    space:
        The ratio space.
    n_initial_points:
        Observations before the GP takes over (>= 1).
    acquisition:
        One of ``ACQUISITIONS``.
    seed:
        Seeds skopt's ``RandomState`` (via ``SeedSequence([seed, 0x5EED])``) and this object's
        ``numpy.random.Generator`` (used to replace duplicate points); ``None`` draws one.
    initial_ratios:
        Points asked first, in order (for instance ratios proportional to stage-1 utilities).
    """

    def __init__(
        self,
        space: MixingRatioSpace,
        *,
        n_initial_points: int = 5,
        acquisition: str = "gp_hedge",
        seed: int | None = None,
        initial_ratios: Sequence[Mapping[str, float]] = (),
    ) -> None:
        super().__init__(space, seed=seed, initial_ratios=initial_ratios)
        self._n_initial_points = self._check_n_initial(n_initial_points)
        self._acquisition = self._check_acquisition(acquisition)
        self._events: list[dict[str, Any]] = []
        self._deferred: list[Point] = []
        self._optimizer = self._new_optimizer()

    @staticmethod
    def _check_n_initial(n_initial_points: object) -> int:
        if (
            isinstance(n_initial_points, bool)
            or not isinstance(n_initial_points, int)
            or n_initial_points < 1
        ):
            raise ValueError(f"n_initial_points must be an int >= 1, got {n_initial_points!r}")
        return n_initial_points

    @staticmethod
    def _check_acquisition(acquisition: object) -> str:
        if acquisition not in ACQUISITIONS:
            raise ValueError(f"acquisition must be one of {ACQUISITIONS}, got {acquisition!r}")
        assert isinstance(acquisition, str)
        return acquisition

    def _new_optimizer(self) -> Optimizer:
        with _skopt_call():
            return Optimizer(
                self._space.to_skopt(),
                base_estimator="GP",
                n_initial_points=self._n_initial_points,
                initial_point_generator="random",
                acq_func=self._acquisition,
                acq_optimizer="lbfgs",
                random_state=_skopt_seed(self._seed),
            )

    @property
    def n_initial_points(self) -> int:
        return self._n_initial_points

    @property
    def acquisition(self) -> str:
        return self._acquisition

    # -- skopt traffic (every call is logged for replay) -------------------------------------

    def _skopt_ask(self, n: int | None) -> list[Any]:
        with _skopt_call():
            if n is None:
                points = [self._optimizer.ask()]
            else:
                points = list(self._optimizer.ask(n_points=n, strategy="cl_min"))
        self._events.append({"op": "ask", "n": n})
        return points

    def _skopt_tell(self, points: list[Point], values: list[float]) -> None:
        values = [float(v) for v in values]
        if not all(np.isfinite(values)):  # guarded by construction; never tell skopt a NaN
            raise AssertionError(f"non-finite value for skopt: {values}")
        points = [list(p) for p in points]
        with _skopt_call():
            self._optimizer.tell(points, values)
        self._events.append({"op": "tell", "x": points, "y": values})

    def _suggest(self, n: int | None) -> list[dict[str, float]]:
        return [self._space.from_point(p) for p in self._skopt_ask(n)]

    def _observe(self, trial: Trial, point: Point) -> None:
        completed = [t.score for t in self._trials if t.state is TrialState.COMPLETE]
        if not completed:
            self._deferred.append(point)
            return
        penalty = -min(s for s in completed if s is not None)
        if trial.state is TrialState.COMPLETE:
            assert trial.score is not None
            points = [point, *self._deferred]
            values = [-trial.score] + [penalty] * len(self._deferred)
            self._deferred = []
        else:
            points, values = [point], [penalty]
        self._skopt_tell(points, values)

    # -- state -----------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state: settings, seed, trials, skopt traffic, generator state."""
        state = self._base_state()
        state["n_initial_points"] = self._n_initial_points
        state["acquisition"] = self._acquisition
        state["deferred"] = [list(p) for p in self._deferred]
        state["events"] = [dict(e) for e in self._events]
        state["skopt_rng"] = _rng_fingerprint(self._optimizer)
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`, replacing this optimiser's settings and history.

        The space must equal this optimiser's space; an invalid state raises ``ValueError``
        and leaves the optimiser untouched. skopt is rebuilt by replaying the saved asks and
        tells; if the replay does not reproduce skopt's random state (for instance after a
        change of scikit-optimize version) a ``RuntimeWarning`` says that later asks will
        differ from the uninterrupted run.
        """
        super().load_state_dict(state)

    def _load_state(self, state: Mapping[str, Any]) -> None:
        try:
            self._n_initial_points = self._check_n_initial(state["n_initial_points"])
            self._acquisition = self._check_acquisition(state["acquisition"])
            deferred = [self._space.to_point(self._space.from_point(p)) for p in state["deferred"]]
            events = [self._check_event(e) for e in state["events"]]
            fingerprint = state["skopt_rng"]
        except KeyError as error:
            raise ValueError(f"state lacks the key {error.args[0]!r}") from None
        self._deferred = deferred
        self._events = []
        self._optimizer = self._new_optimizer()
        for event in events:
            if event["op"] == "ask":
                self._skopt_ask(event["n"])
            else:
                self._skopt_tell(event["x"], event["y"])
        if _rng_fingerprint(self._optimizer) != fingerprint:
            warnings.warn(
                "replaying the saved history did not reproduce skopt's random state; the "
                "resumed optimiser is valid but its asks will differ from the uninterrupted run",
                RuntimeWarning,
                stacklevel=4,
            )

    def _check_event(self, event: Any) -> dict[str, Any]:
        if not isinstance(event, Mapping) or event.get("op") not in ("ask", "tell"):
            raise ValueError(f"malformed event in state: {event!r}")
        if event["op"] == "ask":
            n = event.get("n")
            if n is not None and (not isinstance(n, int) or n < 1):
                raise ValueError(f"malformed ask event in state: {event!r}")
            return {"op": "ask", "n": n}
        points, values = event.get("x"), event.get("y")
        if not isinstance(points, list) or not isinstance(values, list):
            raise ValueError(f"malformed tell event in state: {event!r}")
        if len(points) != len(values):
            raise ValueError(f"malformed tell event in state: {event!r}")
        return {
            "op": "tell",
            "x": [self._space.to_point(self._space.from_point(p)) for p in points],
            "y": [float(v) for v in values],
        }
