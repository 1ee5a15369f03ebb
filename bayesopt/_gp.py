"""Gaussian-process Bayesian optimisation of mixing ratios on ``skopt.Optimizer``."""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np
from scipy.optimize import fmin_l_bfgs_b
from scipy.stats import qmc
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process.kernels import Product, Sum
from skopt import Optimizer
from skopt.learning import GaussianProcessRegressor
from skopt.learning.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
from threadpoolctl import ThreadpoolController

from bayesopt._base import RatioSearch
from bayesopt._likelihood import _log_likelihood
from bayesopt._log_ei import _LogEI
from bayesopt._space import MixingRatioSpace, Point
from bayesopt._trial import Trial, TrialState

ACQUISITIONS = ("gp_hedge", "EI", "PI", "LCB")
"""Acquisition functions accepted by :class:`MixingRatioOptimizer`."""

INITIAL_DESIGNS = ("lhs", "sobol", "halton", "random")
"""Initial designs accepted by :class:`MixingRatioOptimizer` (skopt initial point generators)."""


_CONTROLLER: list[ThreadpoolController] = []


def _blas_controller() -> ThreadpoolController:
    """The process's ``ThreadpoolController``, created on first use (BLAS is loaded by then)."""
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


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

    The BLAS libraries are looked up once per process (``_blas_controller``): a fresh
    ``threadpool_limits`` scans every loaded library on each call, which took about 5 ms, a
    fifth of a trial's ask + tell.
    """
    with _blas_controller().limit(limits=1, user_api="blas"), warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="The objective has been evaluated at point", category=UserWarning
        )
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        warnings.filterwarnings("ignore", message="The balance properties of Sobol")
        yield


def _skopt_seed(seed: int) -> int:
    """The 32-bit ``random_state`` skopt's ``RandomState`` gets, derived from ``seed``."""
    return int(np.random.SeedSequence([seed, 0x5EED]).generate_state(1)[0])


def _rng_fingerprint(optimizer: Optimizer) -> str:
    """A short digest of skopt's ``RandomState``, to check that a replay reproduced it."""
    _, keys, position, *_ = optimizer.rng.get_state()
    digest = hashlib.sha256(np.asarray(keys, dtype=np.uint32).tobytes()).hexdigest()[:16]
    return f"{digest}:{int(position)}"


class _MapGaussianProcess(GaussianProcessRegressor):
    """skopt's GP whose kernel hyperparameters are fitted by MAP rather than maximum likelihood.

    The kernel is ``ConstantKernel(s) * Matern52(l_1..l_n) + WhiteKernel(v)`` on ratios scaled to
    ``[0, 1]`` and standardised scores; its ``theta`` is ``log [s, l_1..l_n, v]``. The log prior
    added to the log marginal likelihood is (the scale and noise priors are the Gamma densities
    Optuna's GPSampler uses)::

        s ~ Gamma(2, 1)       log p = log s - s
        l_i                   log p = -a log l_i - b / l_i^2 - c l_i^2     (a, b, c = LENGTH_PRIOR)
        v ~ Gamma(1.1, 30)    log p = 0.1 log v - 30 v

    With a handful of points, maximum likelihood readily stretches the length scales over the
    whole box (a flat model that stops exploring) or explains everything as noise; the prior
    keeps both moderate unless the data insist. The length-scale prior (a generalised inverse
    Gaussian density of ``1 / l^2``) peaks at ``l = 0.54`` of the box side and is weak on both
    sides: 4.9 nats lower at ``l = 0.15`` (the width of a narrow optimum, which the data can
    then resolve after a few points near it) and 1.7 nats lower at ``l = 3`` (a flat task).
    ``1 / l^2 ~ Gamma(2, 0.5)`` (``(a, b, c) = (2, 0.5, 0)``, mode 0.71), 18 nats lower at
    ``l = 0.15``, kept the model too smooth to find narrow optima; Optuna's own
    ``(0, 0.1, 0.1)`` (mode 1) was less reliable on noisy surfaces (benchmarks/bench_bayesopt.py,
    tuning seeds 100-129), and on the random surfaces of benchmarks/bench_family.py it was
    behind on the medians of two of three tuning sets (RESULTS.md, "fourth round"), though it
    found the optimum on a face of the box that these defaults miss on one held-out surface.
    """

    LENGTH_PRIOR = (1.0, 0.15, 0.05)
    """``(a, b, c)``: log prior of each length scale ``-a log l - b / l^2 - c l^2``."""

    NOISE_PRIOR = (0.1, 30.0)
    """``(a, b)``: log prior of the noise variance ``a log v - b v`` (``Gamma(1 + a, b)``)."""

    def log_marginal_likelihood(
        self, theta: Any = None, eval_gradient: bool = False, clone_kernel: bool = True
    ) -> Any:
        if theta is None:
            return super().log_marginal_likelihood(theta, eval_gradient, clone_kernel)
        theta = np.asarray(theta, dtype=float)
        if self._is_map_kernel(theta):
            value = _log_likelihood(self.X_train_, self.y_train_, self.alpha, theta, eval_gradient)
        else:
            value = super().log_marginal_likelihood(theta, eval_gradient, clone_kernel)
        log_s, log_l, log_v = theta[0], theta[1:-1], theta[-1]
        inv_l2 = np.exp(-2.0 * log_l)
        a, b, c = self.LENGTH_PRIOR
        prior = (log_s - np.exp(log_s)) + np.sum(-a * log_l - b * inv_l2 - c / inv_l2)
        a_v, b_v = self.NOISE_PRIOR
        prior += a_v * log_v - b_v * np.exp(log_v)
        if not eval_gradient:
            return value + prior
        grad = np.empty_like(theta)
        grad[0] = 1.0 - np.exp(log_s)
        grad[1:-1] = -a + 2.0 * b * inv_l2 - 2.0 * c / inv_l2
        grad[-1] = a_v - b_v * np.exp(log_v)
        return value[0] + prior, value[1] + grad

    def _is_map_kernel(self, theta: np.ndarray) -> bool:
        """Whether the kernel is ``C * Matern52 + White`` with every hyperparameter free."""
        kernel = self.kernel_
        return (
            isinstance(kernel, Sum)
            and isinstance(kernel.k2, WhiteKernel)
            and isinstance(kernel.k1, Product)
            and isinstance(kernel.k1.k1, ConstantKernel)
            and isinstance(kernel.k1.k2, Matern)
            and kernel.k1.k2.nu == 2.5
            and theta.shape == (self.X_train_.shape[1] + 2,)
        )


# -- acquisition: log expected improvement, maximised from many candidates -----------------


class _Optimizer(Optimizer):
    """``skopt.Optimizer`` whose EI step maximises log EI from many candidates.

    With ``acq_func="EI"`` each fit is followed by (the other acquisitions keep skopt's own
    search, ``n_points`` random candidates and L-BFGS from the best few):

    1. candidates: a scrambled Sobol set of ``n_sobol`` points in the unit box (even coverage,
       so a narrow under-sampled region is not missed by chance), plus ``n_local`` Gaussian
       perturbations (standard deviation ``local_scale`` times each fitted length scale) of
       each of the ``n_incumbents`` best told points, plus those points themselves;
    2. log EI (``_LogEI``) at every candidate;
    3. L-BFGS-B on log EI with its analytic gradient from the best ``n_starts`` candidates at
       once (one batched problem whose variables are scaled by the length scales, which
       equalises the curvature across tasks), at most ``max_iter`` iterations;
    4. the point with the highest log EI found is the next ask; if it repeats a told point
       (on a noisy surface log EI often asks for the best point again, most often on a face
       or a corner of the box), it is moved ``nudge`` of the box side towards the centre,
       where skopt would have replaced it with a uniformly random point.

    Every random number comes from skopt's ``RandomState``, so replaying the same tells
    reproduces the same asks.
    """

    def __init__(self, *args: Any, search: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        self.search = dict(search or {})
        #: the largest EI found by the latest acquisition search, in the units of ``y``
        self.best_ei: float | None = None
        super().__init__(*args, **kwargs)

    def copy(self, random_state: Any = None) -> _Optimizer:
        """skopt's ``copy`` (used by ``ask(n)``'s constant liar), keeping this class."""
        optimizer = _Optimizer(
            dimensions=self.space.dimensions,
            base_estimator=self.base_estimator_,
            n_initial_points=self.n_initial_points_,
            initial_point_generator=self._initial_point_generator,
            acq_func=self.acq_func,
            acq_optimizer=self.acq_optimizer,
            acq_func_kwargs=self.acq_func_kwargs,
            acq_optimizer_kwargs=self.acq_optimizer_kwargs,
            space_constraint=self.space.constraint,
            random_state=random_state,
            model_queue_size=self.max_model_queue_size,
            search=self.search,
        )
        optimizer._initial_samples = self._initial_samples
        if hasattr(self, "gains_"):
            optimizer.gains_ = np.copy(self.gains_)
        if self.Xi:
            optimizer._tell(self.Xi, self.yi)
        return optimizer

    def _tell(self, x: Any, y: Any, fit: bool = True) -> Any:
        if self.acq_func != "EI" or not self.search:
            return super()._tell(x, y, fit=fit)
        result = super()._tell(x, y, fit=False)
        if fit and self._n_initial_points <= 0 and self.base_estimator_ is not None:
            model = clone(self.base_estimator_)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(self.space.transform(self.Xi), self.yi)
            if self.max_model_queue_size is not None:
                while len(self.models) >= self.max_model_queue_size:
                    self.models.pop(0)
            self.models.append(model)
            next_x = self._maximise_log_ei(model)
            self._next_x = self.space.inverse_transform(next_x.reshape((1, -1)))[0]
        return result

    def _maximise_log_ei(self, model: GaussianProcessRegressor) -> np.ndarray:
        s = self.search
        y = np.asarray(self.yi, dtype=float)
        told = np.asarray(self.space.transform(self.Xi), dtype=float)
        xi = float(self.acq_func_kwargs.get("xi", 0.0))
        if s.get("threshold", "observed") == "mean":
            y_best = float(np.min(model.predict(told)))
        else:
            y_best = float(y.min())
        acq = _LogEI(model, y_best, xi)
        dim = told.shape[1]
        seed = int(self.rng.randint(0, 2**31 - 1))
        generator = np.random.default_rng(seed)
        sobol = qmc.Sobol(dim, scramble=True, seed=generator).random(s["n_sobol"])
        best = told[np.argsort(y, kind="stable")[: s["n_incumbents"]]]
        noise = generator.standard_normal((len(best), s["n_local"], dim))
        local = best[:, None, :] + s["local_scale"] * acq.length * noise
        candidates = np.vstack([sobol, best, np.clip(local.reshape(-1, dim), 0.0, 1.0)])
        values, _ = acq(candidates)
        order = np.argsort(-values, kind="stable")
        starts = candidates[order[: s["n_starts"]]]

        def objective(u: np.ndarray) -> tuple[float, np.ndarray]:
            x = u.reshape(starts.shape) * acq.length
            value, grad = acq(x, gradient=True)
            assert grad is not None
            return -float(value.sum()), -(grad * acq.length).reshape(-1)

        bounds = np.tile(1.0 / acq.length, len(starts))
        u, _, _ = fmin_l_bfgs_b(
            objective,
            (starts / acq.length).reshape(-1),
            bounds=[(0.0, b) for b in bounds],
            maxiter=s["max_iter"],
        )
        refined = np.clip(u.reshape(starts.shape) * acq.length, 0.0, 1.0)
        refined_values, _ = acq(refined)
        best_log_ei = max(float(values.max()), float(refined_values.max()))
        self.best_ei = math.exp(best_log_ei) * (float(model.y_train_std_) or 1.0)
        if refined_values.max() >= values[order[0]]:
            chosen = refined[int(np.argmax(refined_values))]
        else:
            chosen = candidates[order[0]]
        return self._away_from_told(chosen, told, float(s.get("nudge", 0.0)))

    @staticmethod
    def _away_from_told(x: np.ndarray, told: np.ndarray, nudge: float) -> np.ndarray:
        """``x``, or, if it repeats a told point, ``x`` moved ``k * nudge`` towards the centre.

        skopt answers an ask that repeats a told point with a uniformly random point. On a
        noisy surface log EI often asks for the best point again (most often a corner or a
        face: a task switched off), so the search would jump to random points exactly when it
        has found the optimum. Moving each coordinate ``nudge`` (a fraction of the box side)
        towards the centre, ``k = 1, 2, ...`` until the point is new, keeps the re-evaluation
        where log EI wanted it. ``nudge = 0``: skopt's behaviour.
        """
        if nudge <= 0.0 or not len(told):
            return x
        direction = np.where(x <= 0.5, 1.0, -1.0)
        point = x
        for k in range(1, 100):
            if np.min(np.max(np.abs(told - point), axis=1)) > 1e-9:
                return point
            point = np.clip(x + k * nudge * direction, 0.0, 1.0)
        return point


class MixingRatioOptimizer(RatioSearch):
    """GP Bayesian optimisation of mixing ratios, maximising a score, in ask/tell style.

    **Model.** ``skopt.Optimizer`` with a scikit-optimize GP as ``base_estimator``: kernel
    ``ConstantKernel * Matern(nu=2.5) + WhiteKernel`` (Matern 5/2 with one length scale per
    task, bounds 0.01..100, and a fitted noise variance, bounds 1e-9..1), ``normalize_y=True``,
    on the ratios rescaled to ``[0, 1]`` (in log space when the space is ``log``). The kernel
    hyperparameters are fitted by MAP under weak priors (see ``_MapGaussianProcess``:
    length scales near half the box, little noise, unless the data say otherwise), which
    keeps the model from flattening out over unexplored parts of the box. The noise term is
    fitted, so a noisy score (a small dev set) is smoothed rather than interpolated; the
    fitted level is :attr:`noise_std`. skopt minimises, so the optimiser is told
    ``y = -score``; the sign flip is internal and every public score is the maximised one.

    **Loop.** The first ``n_initial_points`` observations are design points: pending
    ``initial_ratios`` (in order), then the points of a space-filling design generated once by
    skopt (``initial_design``: a maximin Latin hypercube by default, or Sobol, Halton, or
    uniform random draws), which cover the box far more evenly than random draws. Every told
    trial counts toward ``n_initial_points``, warm-start points and evaluations told before
    the first ask included (skopt's own rule), so ``initial_ratios`` replace design points
    rather than add to them. After that each tell refits the GP and picks the next point by
    its acquisition. The default, ``"EI"``, is expected improvement maximised in log space
    (``_LogEI``; plain EI underflows to a flat 0 away from the best point, log EI keeps a
    gradient towards under-explored regions): log EI is evaluated at 1,024 scrambled Sobol
    points plus Gaussian perturbations of the 3 best told points, and L-BFGS with the
    analytic gradient refines the best 5 (see ``_Optimizer``); a proposal that repeats a told
    point (log EI re-evaluating the best point of a noisy surface) is moved 1e-4 of the box
    side towards the centre rather than replaced by a random point. ``"PI"``, ``"LCB"`` and
    ``"gp_hedge"`` (which picks one of the three with a softmax over their past gains) keep
    skopt's search: L-BFGS from the best 2 of 1,000 random candidates. The first few fits
    start from skopt's default hyperparameters with random restarts; once those have settled,
    each fit starts from the previous one's hyperparameters without restarts, which is what
    keeps a trial's ask + tell cheap.
    ``ask()`` returns the proposal; asking again without a tell returns it again (also in the
    design phase; with ``initial_design="random"`` each ``ask()`` then draws a new point), and
    skopt caches an ``ask(n)`` batch until the next tell.

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
        Observations before the GP takes over (>= 1): design points plus ``initial_ratios``.
        The default, 4, is stage 2's (``[stage2] initial_points``); it was chosen on the tuning
        surfaces of benchmarks/bench_family.py (seeds 1000-1039) over 5, 6, ``d + 2`` and 10,
        kept over 2 and 3 in a third round, and judged on held-out ones
        (benchmarks/results/RESULTS.md, "Stage-2 optimiser, second round" and "third round").
    initial_design:
        One of ``INITIAL_DESIGNS``: ``"lhs"`` (maximin Latin hypercube), ``"sobol"``,
        ``"halton"`` or ``"random"``.
    acquisition:
        One of ``ACQUISITIONS``.
    seed:
        Seeds skopt's ``RandomState`` (via ``SeedSequence([seed, 0x5EED])``; the GP's
        hyperparameter restarts get ``SeedSequence([seed + 1, 0x5EED])``) and this object's
        ``numpy.random.Generator`` (used to replace duplicate points); ``None`` draws one.
    initial_ratios:
        Points asked first, in order (for instance ratios proportional to stage-1 utilities).
    """

    # Search internals, each measured with benchmarks/bayesopt.py (see the class docstring).
    _N_CANDIDATES = 1000
    """PI / LCB / gp_hedge: random points at which the acquisition is evaluated before L-BFGS
    refines the best (skopt's ``n_points``)."""
    _N_LBFGS_STARTS = 2
    """PI / LCB / gp_hedge: best candidates refined by L-BFGS (skopt's
    ``n_restarts_optimizer``)."""
    _GP_RESTARTS = 2
    """Random restarts of the kernel-hyperparameter fit while it is cold."""
    _COLD_FITS = 5
    """GP fits from skopt's default hyperparameters (with restarts) before warm starting."""
    _LENGTH_SCALE_BOUNDS = (0.01, 100.0)
    """Bounds of each ratio's Matern length scale, in units of the box side."""
    _NOISE_BOUNDS = (1e-9, 1.0)
    """Bounds of the fitted noise variance, on standardised scores (1.0: all of their variance)."""
    _NOISE_START = 1e-2
    """Starting noise variance of a cold fit, on standardised scores."""
    _XI = 0.0
    """EI / PI improvement margin, in standard deviations of the told scores (0.01 stalled
    about 1e-4 short of the optimum on a smooth surface)."""
    _MAP = True
    """Fit the kernel by MAP under :class:`_MapGaussianProcess`'s priors (else ML-II)."""
    _SEARCH: ClassVar[dict[str, Any]] = {
        "n_sobol": 1024,
        "n_incumbents": 3,
        "n_local": 64,
        "local_scale": 0.1,
        "n_starts": 5,
        "max_iter": 50,
        "nudge": 1e-4,
    }
    """Settings of the log-EI search (see ``_Optimizer``); empty: skopt's own EI search. Measured
    on seeds 100-119 of benchmarks/bench_bayesopt.py: 2,048 Sobol points, 10 L-BFGS starts or
    perturbations 3 times wider, extra candidates on the box's faces, and starts drawn like
    Optuna's (the best candidate plus a roulette over the rest by EI) changed nothing beyond
    seed noise; without the perturbations the search did slightly worse. ``nudge``: on the
    tuning surfaces of benchmarks/bench_family.py, re-asking next to a told point instead of
    skopt's random point helped on a noisy one-ratio surface and changed no other surface's
    median."""

    def __init__(
        self,
        space: MixingRatioSpace,
        *,
        n_initial_points: int = 4,
        initial_design: str = "lhs",
        acquisition: str = "EI",
        seed: int | None = None,
        initial_ratios: Sequence[Mapping[str, float]] = (),
    ) -> None:
        super().__init__(space, seed=seed, initial_ratios=initial_ratios)
        self._n_initial_points = self._check_n_initial(n_initial_points)
        self._initial_design = self._check_initial_design(initial_design)
        self._acquisition = self._check_acquisition(acquisition)
        self._events: list[dict[str, Any]] = []
        self._deferred: list[Point] = []
        self._fits = 0
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
    def _check_initial_design(initial_design: object) -> str:
        if initial_design not in INITIAL_DESIGNS:
            raise ValueError(
                f"initial_design must be one of {INITIAL_DESIGNS}, got {initial_design!r}"
            )
        assert isinstance(initial_design, str)
        return initial_design

    @staticmethod
    def _check_acquisition(acquisition: object) -> str:
        if acquisition not in ACQUISITIONS:
            raise ValueError(f"acquisition must be one of {ACQUISITIONS}, got {acquisition!r}")
        assert isinstance(acquisition, str)
        return acquisition

    def _surrogate(self) -> GaussianProcessRegressor:
        """A cold GP: ``C * Matern52(ARD) + White`` on standardised scores."""
        n = len(self._space)
        kernel = ConstantKernel(1.0, (0.01, 1000.0)) * Matern(
            length_scale=np.ones(n), length_scale_bounds=[self._LENGTH_SCALE_BOUNDS] * n, nu=2.5
        ) + WhiteKernel(self._NOISE_START, self._NOISE_BOUNDS)
        model = _MapGaussianProcess if self._MAP else GaussianProcessRegressor
        return model(
            kernel=kernel,
            normalize_y=True,
            noise="gaussian",
            n_restarts_optimizer=self._GP_RESTARTS,
            random_state=_skopt_seed(self._seed + 1),
        )

    def _new_optimizer(self) -> Optimizer:
        self._fits = 0
        with _skopt_call():
            return _Optimizer(
                self._space.to_skopt(),
                base_estimator=self._surrogate(),
                n_initial_points=self._n_initial_points,
                initial_point_generator=self._initial_design,
                acq_func=self._acquisition,
                acq_optimizer="lbfgs",
                acq_func_kwargs={"xi": 0.0},
                acq_optimizer_kwargs={
                    "n_points": self._N_CANDIDATES,
                    "n_restarts_optimizer": self._N_LBFGS_STARTS,
                },
                random_state=_skopt_seed(self._seed),
                model_queue_size=1,
                search=self._SEARCH,
            )

    @property
    def n_initial_points(self) -> int:
        return self._n_initial_points

    @property
    def initial_design(self) -> str:
        return self._initial_design

    @property
    def acquisition(self) -> str:
        return self._acquisition

    @property
    def noise_std(self) -> float | None:
        """Standard deviation of the observation noise the latest GP fit estimated, in score
        units (``None`` before the GP takes over): ``sqrt(noise variance) * std(told scores)``.
        """
        if not self._optimizer.models:
            return None
        model = self._optimizer.models[-1]
        return float(np.sqrt(model.noise_) * model.y_train_std_)

    @property
    def expected_improvement(self) -> float | None:
        """The largest expected improvement over the best told score, in score units, that
        the latest acquisition search found (the value of the point :meth:`ask` returns next,
        before any nudge away from a told point); ``None`` while the initial design runs or
        when the acquisition is not ``"EI"``. On the fitted GP, ``EI(x) = E[max(f(x) - best -
        xi, 0)]`` for the noise-free score ``f``; a search whose largest EI is below the noise
        of a trial's score is unlikely to find a better mixture that a trial can tell apart.
        """
        value = getattr(self._optimizer, "best_ei", None)
        return float(value) if value is not None else None

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
        optimizer = self._optimizer
        if self._XI is not None:
            told = [*optimizer.yi, *values]
            optimizer.acq_func_kwargs["xi"] = self._XI * float(np.std(told)) if told else 0.0
        with _skopt_call():
            optimizer.tell(points, values)
        self._events.append({"op": "tell", "x": points, "y": values})
        if optimizer._n_initial_points <= 0 and optimizer.models:  # this tell fitted the GP
            self._after_fit(optimizer.models[-1])

    def _after_fit(self, model: GaussianProcessRegressor) -> None:
        """Warm-start the next kernel fit from this one once ``_COLD_FITS`` fits are done.

        skopt clones ``base_estimator_`` for each fit, so the next fit starts from the kernel
        set here: the fitted one with its noise term restored (skopt zeroes it after a fit),
        and no random restarts.
        """
        self._fits += 1
        if self._fits < self._COLD_FITS:
            return
        product = model.kernel_.k1
        low, high = self._NOISE_BOUNDS
        noise = float(np.clip(model.noise_, low, high))
        kernel = product + WhiteKernel(noise, self._NOISE_BOUNDS)
        self._optimizer.base_estimator_.set_params(kernel=kernel, n_restarts_optimizer=0)

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
        state["initial_design"] = self._initial_design
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
            # states saved before the initial design was a setting used random points
            self._initial_design = self._check_initial_design(state.get("initial_design", "random"))
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
