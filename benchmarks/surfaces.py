"""Seeded random mixing-ratio surfaces with a known (approximated) optimum.

A *family* of response surfaces for tuning and testing the stage-2 optimiser: each seed gives
one surface over ``n`` mixing ratios in ``[0, max_ratio]^n`` (``n`` from 1 to 6) whose values
look like a main task's dev accuracy as a function of how often each auxiliary task is
sampled. Tuning the optimiser on some seeds and reporting on others measures how well its
defaults carry over to surfaces they were not chosen on (benchmarks/bench_family.py).

**The surface.** With ``u = r / max_ratio`` in ``[0, 1]^n`` and the main task's sampling
probability ``p = 1 / (1 + sum r)``, the noise-free score is the sum of::

    base                                            0.65 .. 0.85
    sum_i v_i (1 - exp(-r_i / tau_i))               diminishing returns per task: helpful
                                                    (v > 0), neutral (v ~ 0) or harmful (v < 0)
    - d (1 - p)^k                                   dilution: crowding the main task out
    sum_{i<j} g_ij s_i s_j                          interactions of the saturated terms
                                                    s_i = 1 - exp(-r_i / tau_i) (some pairs)
    a sqrt(2/M) sum_m w_m cos(omega_m . u + b_m)    a GP-like draw (M random Fourier features
                                                    of a squared-exponential kernel with one
                                                    length scale per ratio, some ratios flat)
    sum_b h_b exp(-sum_i (u_i - c_bi)^2 / 2 w_bi^2) 0-3 anisotropic bumps, some centred on a
                                                    face (a task switched off)
    sum_q h_q exp(-((u - c_q) . e_q)^2 / 2 w_q^2)   0-1 ridges along a random direction

and an observation adds Gaussian noise of standard deviation ``noise``: none for a quarter of
the surfaces, else log-uniform between 0.002 and 0.02 (the seed-to-seed spread of a real
trial's dev accuracy is about 0.01-0.02).

**The optimum.** ``f*`` and its location are approximated by dense sampling (a scrambled
Sobol set of 2^14 points, the bump centres and the box's corners) followed by L-BFGS-B from
the best 12 distinct points, so the simple regret of a search is ``f* - f(x)``; the optimum is
at least as good as any of those points, and the tests check it against a large independent
random sample (on the 40 surfaces of benchmarks/bench_family.py, 200,000 random points each,
none beat ``f*`` by more than 3e-11). ``f_median``, the median of ``f`` over the Sobol set, is
what a random point scores: ``(f* - f(x)) / (f* - f_median)`` is a regret on a common scale
across surfaces.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize
from scipy.stats import qmc

N_FEATURES = 64
"""Random Fourier features of the GP-like component."""

_SOBOL_POINTS = 2**14
_REFINE_STARTS = 12


@dataclass(frozen=True, eq=False)
class RatioSurface:
    """One random surface: ``value(r)`` for ratios ``r`` of shape ``(n,)`` or ``(m, n)``.

    Built by :func:`random_surface`; the fields are the drawn parameters (see the module
    docstring for the formula) and the approximated optimum.
    """

    seed: int
    max_ratio: float
    noise: float
    base: float
    helpfulness: np.ndarray  # (n,) v_i
    tau: np.ndarray  # (n,) saturation ratio of each task
    dilution: tuple[float, float]  # (d, k)
    interactions: np.ndarray  # (n, n) upper-triangular g_ij
    rff_amplitude: float
    rff_weights: np.ndarray  # (M,)
    rff_omega: np.ndarray  # (M, n), on u in [0, 1]^n
    rff_phase: np.ndarray  # (M,)
    bumps: tuple[tuple[float, np.ndarray, np.ndarray], ...]  # (height, centre (n,), width (n,))
    ridges: tuple[tuple[float, np.ndarray, np.ndarray, float], ...]  # (h, centre, dir, width)
    optimum: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (n,) ratios
    f_star: float = float("nan")
    f_median: float = float("nan")

    @property
    def n_ratios(self) -> int:
        return len(self.tau)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f"task{i + 1}" for i in range(self.n_ratios))

    @property
    def name(self) -> str:
        return f"family-{self.seed}"

    def value(self, ratios: np.ndarray) -> np.ndarray | float:
        """Noise-free score at ``ratios`` (``(n,)`` -> float, ``(m, n)`` -> ``(m,)``)."""
        r = np.asarray(ratios, dtype=float)
        single = r.ndim == 1
        r = np.atleast_2d(r)
        if r.shape[1] != self.n_ratios:
            raise ValueError(f"expected {self.n_ratios} ratios per point, got {r.shape[1]}")
        u = r / self.max_ratio
        saturated = 1.0 - np.exp(-r / self.tau)  # (m, n)
        p_main = 1.0 / (1.0 + r.sum(axis=1))
        d, k = self.dilution
        out = self.base + saturated @ self.helpfulness - d * (1.0 - p_main) ** k
        out += np.einsum("mi,ij,mj->m", saturated, self.interactions, saturated)
        phases = u @ self.rff_omega.T + self.rff_phase  # (m, M)
        scale = self.rff_amplitude * np.sqrt(2.0 / len(self.rff_weights))
        out += scale * (np.cos(phases) @ self.rff_weights)
        for height, centre, width in self.bumps:
            out += height * np.exp(-0.5 * np.sum(((u - centre) / width) ** 2, axis=1))
        for height, centre, direction, spread in self.ridges:
            out += height * np.exp(-0.5 * (((u - centre) @ direction) / spread) ** 2)
        return float(out[0]) if single else out

    def observe(self, ratios: np.ndarray, rng: np.random.Generator) -> float:
        """One noisy observation at ``ratios`` (shape ``(n,)``), its noise drawn from ``rng``."""
        return float(self.value(ratios)) + self.noise * float(rng.standard_normal())

    def regret(self, ratios: np.ndarray) -> float:
        """Simple regret ``f* - f(ratios)`` (noise-free)."""
        return self.f_star - float(self.value(ratios))


def _log_uniform(rng: np.random.Generator, low: float, high: float, size: int | None = None):
    return np.exp(rng.uniform(np.log(low), np.log(high), size))


def random_surface(
    seed: int, *, n_ratios: int | None = None, max_ratio: float = 5.0, locate: bool = True
) -> RatioSurface:
    """The surface of ``seed`` (``n_ratios`` drawn from 1..6 unless given).

    ``locate=False`` skips locating the optimum (``optimum`` empty, ``f_star`` and
    ``f_median`` NaN), for a quick look at the drawn parameters.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if n_ratios is not None and (
        isinstance(n_ratios, bool) or not isinstance(n_ratios, int) or not 1 <= n_ratios <= 6
    ):
        raise ValueError(f"n_ratios must be an int in 1..6 or None, got {n_ratios!r}")
    if not max_ratio > 0:
        raise ValueError(f"max_ratio must be > 0, got {max_ratio!r}")
    rng = np.random.default_rng([seed, 0x5A5F])
    n = int(rng.integers(1, 7)) if n_ratios is None else n_ratios

    kind = rng.choice(3, size=n, p=[0.4, 0.3, 0.3])  # helpful, neutral, harmful
    helpfulness = np.where(
        kind == 0,
        rng.uniform(0.02, 0.08, n),
        np.where(kind == 1, rng.uniform(-0.005, 0.005, n), -rng.uniform(0.01, 0.05, n)),
    )
    tau = _log_uniform(rng, 0.3, 3.0, n)
    dilution = (float(rng.uniform(0.02, 0.1)), float(rng.uniform(2.0, 6.0)))
    interactions = np.triu(rng.uniform(-0.03, 0.03, (n, n)) * (rng.random((n, n)) < 0.3), k=1)

    length = _log_uniform(rng, 0.1, 1.0, n)
    length[rng.random(n) < 0.25] = 5.0  # some ratios barely matter to the GP-like part
    rff_weights = rng.standard_normal(N_FEATURES)
    rff_omega = rng.standard_normal((N_FEATURES, n)) / length
    rff_phase = rng.uniform(0.0, 2.0 * np.pi, N_FEATURES)
    rff_amplitude = float(rng.uniform(0.005, 0.03))

    bumps = []
    for _ in range(int(rng.integers(0, 4))):
        centre = rng.random(n)
        centre[rng.random(n) < 0.2] = 0.0  # on a face: that task switched off
        bumps.append((float(rng.uniform(0.01, 0.08)), centre, _log_uniform(rng, 0.06, 0.3, n)))
    ridges = []
    for _ in range(int(rng.integers(0, 2))):
        direction = rng.standard_normal(n)
        direction /= np.linalg.norm(direction)
        ridges.append(
            (
                float(rng.uniform(0.01, 0.04)),
                rng.random(n),
                direction,
                float(_log_uniform(rng, 0.05, 0.2)),
            )
        )
    noise = 0.0 if rng.random() < 0.25 else float(_log_uniform(rng, 0.002, 0.02))

    surface = RatioSurface(
        seed=seed,
        max_ratio=float(max_ratio),
        noise=noise,
        base=float(rng.uniform(0.65, 0.85)),
        helpfulness=helpfulness,
        tau=tau,
        dilution=dilution,
        interactions=interactions,
        rff_amplitude=rff_amplitude,
        rff_weights=rff_weights,
        rff_omega=rff_omega,
        rff_phase=rff_phase,
        bumps=tuple(bumps),
        ridges=tuple(ridges),
    )
    if not locate:
        return surface
    optimum, f_star, f_median = _optimum(surface, seed)
    object.__setattr__(surface, "optimum", optimum)
    object.__setattr__(surface, "f_star", f_star)
    object.__setattr__(surface, "f_median", f_median)
    return surface


def _optimum(surface: RatioSurface, seed: int) -> tuple[np.ndarray, float, float]:
    """Dense sampling (Sobol, bump centres, corners) then L-BFGS-B from the best points."""
    n, top = surface.n_ratios, surface.max_ratio
    sobol = qmc.Sobol(n, scramble=True, seed=np.random.default_rng([seed, 0x0B7])).random(
        _SOBOL_POINTS
    )
    corners = np.array(np.meshgrid(*[[0.0, 1.0]] * n)).reshape(n, -1).T
    centres = [c for _, c, _ in surface.bumps]
    points = np.vstack([sobol, corners, *centres]) * top
    values = np.asarray(surface.value(points))
    f_median = float(np.median(values[:_SOBOL_POINTS]))
    order = np.argsort(-values, kind="stable")
    starts: list[np.ndarray] = []
    for index in order:
        if all(np.max(np.abs(points[index] - s)) > 0.05 * top for s in starts):
            starts.append(points[index])
        if len(starts) == _REFINE_STARTS:
            break
    best_x, best_f = points[order[0]], float(values[order[0]])
    for x0 in starts:
        result = minimize(
            lambda x: -float(surface.value(x)), x0, method="L-BFGS-B", bounds=[(0.0, top)] * n
        )
        x = np.clip(result.x, 0.0, top)
        fx = float(surface.value(x))
        if fx > best_f:
            best_x, best_f = x, fx
    return np.asarray(best_x, dtype=float), best_f, f_median


def surface_family(seeds: Iterable[int], *, max_ratio: float = 5.0) -> list[RatioSurface]:
    """The surfaces of ``seeds``, in order."""
    return [random_surface(seed, max_ratio=max_ratio) for seed in seeds]
