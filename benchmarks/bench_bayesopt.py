"""Benchmark of the stage-2 mixing-ratio search: simple regret and cost per trial.

Prints, for five synthetic response surfaces over mixing ratios, the median simple regret after
5, 10, ... trials (10 seeds, paired: seed ``s`` draws the same observation noise for every
method) and the mean ask + tell milliseconds per trial of

* ``autoaux GP``: ``MixingRatioOptimizer`` at its defaults on [0, 5];
* ``Optuna GPSampler``, ``Optuna TPE``, ``Optuna random``: Optuna's samplers at their defaults
  on the same box, driven through ``Study.ask`` / ``Study.tell`` (reference methods: Optuna is
  imported here only, installed by the ``bench`` extra, and the rows are left out without it);
* ``autoaux random``: ``RandomRatioSearch`` uniform on [0, 5];
* ``autoaux random int 0..9``: ``RandomRatioSearch`` on the whole numbers 0..9 (what a
  published re-implementation of AutoSem does instead of BO);

(the mean over all trials, and over the last 10, where every GP method is past its initial
design); then, per surface, in how many seeds autoaux GP's regret is lower / tied / higher than each
other method's after 20 and 30 trials (a tie: both below 1e-4, which counts as solved, or
equal), a summary table (median regret after 20 / 30 trials and ms per trial), and the GP
optimiser's own ask + tell time over a 50-trial run and the time ``load_state_dict`` takes to
replay it.

Simple regret after t trials is ``f* - f(x_t)`` where ``x_t`` is the trial with the best
*observed* score among the first t (what a user would pick) and ``f`` is the noise-free
surface, so on a noisy surface a lucky noisy score does not count as progress.

Surfaces (scores are maximised, dev-accuracy-like values):

* ``smooth3``: 3 ratios, ``0.9 - 0.01 * |r - (1.5, 0.8, 3.2)|^2``, interior optimum, no noise.
* ``mixture4-noisy``: 4 tasks (two helpful, one neutral, one harmful), a smooth function of
  the sampling probabilities ``p = [1, r] / (1 + sum r)``; the optimum (0.9) switches the
  neutral and harmful tasks off and trains the helpful ones at ratios 1.5 and 0.83; observed
  scores carry Gaussian noise with standard deviation 0.01 (a 2,000-example dev set).
* ``bumps3``: 3 ratios, a narrow global bump (height 0.15, width 0.8) on a baseline of 0.75
  and a broad local one (height 0.08, width 1.5); no noise.
* ``multimodal2``: 2 ratios, five bumps of heights 0.12 to 0.07 whose highest is the
  narrowest (width 0.45); no noise. Exploration decides which bump a search ends on.
* ``faces4-noisy``: 4 ratios, a global bump (height 0.12, width 1.0) centred on the face where
  the third task is switched off, and a broad interior one (height 0.07, width 1.8); noise
  standard deviation 0.005. Exploration of the box's faces, under noise.

Usage::

    OMP_NUM_THREADS=1 python -m benchmarks.bench_bayesopt   # full run (1-2 min on 2 busy cores)
    python -m benchmarks.bench_bayesopt --smoke              # a tiny run, about 30 seconds
    python -m benchmarks.bench_bayesopt --methods "autoaux GP,Optuna GPSampler" --surfaces bumps3
    python -m benchmarks.bench_bayesopt --json out.json      # also write the figures as JSON
    python -m benchmarks.bench_bayesopt --seed-offset 100    # seeds 100..109 (for tuning)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

# This file is called bayesopt.py: keep its own folder off the import path so that
# ``import bayesopt`` finds the package, not this script.
import numpy as np
from scipy.optimize import minimize

from bayesopt import MixingRatioOptimizer, MixingRatioSpace, RandomRatioSearch

Ratios = dict[str, float]


@dataclass(frozen=True)
class Surface:
    name: str
    names: tuple[str, ...]
    value: Callable[[np.ndarray], float]  # noise-free score of a ratio vector (names order)
    noise: float  # standard deviation of the observed score

    def f(self, ratios: Ratios) -> float:
        return self.value(np.array([ratios[n] for n in self.names], dtype=float))


def _smooth3(r: np.ndarray) -> float:
    return float(0.9 - 0.01 * np.sum((r - np.array([1.5, 0.8, 3.2])) ** 2))


def _mixture4(r: np.ndarray) -> float:
    p = np.concatenate([[1.0], r]) / (1.0 + r.sum())
    main, helpful1, helpful2, neutral, harmful = p
    return float(
        0.9
        - 1.2 * (main - 0.30) ** 2
        - 0.8 * (helpful1 - 0.45) ** 2
        - 0.8 * (helpful2 - 0.25) ** 2
        - 0.10 * neutral
        - 0.40 * harmful
    )


def _bumps3(r: np.ndarray) -> float:
    narrow = np.sum((r - np.array([0.7, 3.5, 1.2])) ** 2) / (2 * 0.8**2)
    broad = np.sum((r - np.array([4.0, 1.0, 4.0])) ** 2) / (2 * 1.5**2)
    return float(0.75 + 0.15 * np.exp(-narrow) + 0.08 * np.exp(-broad))


def _multimodal2(r: np.ndarray) -> float:
    d2 = np.sum((r - _MULTIMODAL2_CENTRES) ** 2, axis=1)
    return float(0.75 + np.sum(_MULTIMODAL2_HEIGHTS * np.exp(-d2 / (2 * _MULTIMODAL2_WIDTHS**2))))


_MULTIMODAL2_CENTRES = np.array([[4.2, 0.6], [1.0, 1.2], [2.6, 4.0], [0.5, 4.3], [4.0, 3.2]])
_MULTIMODAL2_HEIGHTS = np.array([0.12, 0.10, 0.09, 0.08, 0.07])
_MULTIMODAL2_WIDTHS = np.array([0.45, 0.6, 0.8, 0.5, 0.6])


def _faces4(r: np.ndarray) -> float:
    face = np.sum((r - np.array([0.4, 3.6, 0.0, 2.2])) ** 2) / (2 * 1.0**2)
    broad = np.sum((r - np.array([3.0, 1.5, 3.5, 3.0])) ** 2) / (2 * 1.8**2)
    return float(0.75 + 0.12 * np.exp(-face) + 0.07 * np.exp(-broad))


SURFACES = (
    Surface("smooth3", ("a", "b", "c"), _smooth3, 0.0),
    Surface("mixture4-noisy", ("helpful1", "helpful2", "neutral", "harmful"), _mixture4, 0.01),
    Surface("bumps3", ("a", "b", "c"), _bumps3, 0.0),
    Surface("multimodal2", ("a", "b"), _multimodal2, 0.0),
    Surface("faces4-noisy", ("a", "b", "c", "d"), _faces4, 0.005),
)

LOW, HIGH = 0.0, 5.0
SOLVED = 1e-4
"""Regret below this counts as solved: two such regrets tie in the paired comparison."""


def best_value(surface: Surface) -> float:
    """max f over [0, 9]^n (covers both search boxes), by multi-start L-BFGS-B."""
    rng = np.random.default_rng(0)
    n = len(surface.names)
    starts = rng.uniform(0.0, 9.0, size=(200, n))
    best = -math.inf
    for x0 in starts:
        result = minimize(lambda x: -surface.value(x), x0, method="L-BFGS-B", bounds=[(0, 9)] * n)
        best = max(best, -float(result.fun))
    return best


# -- methods -------------------------------------------------------------------------------


class Search(Protocol):
    """What the benchmark drives: one point per ``ask``, its score by ``tell``."""

    def ask(self) -> Ratios: ...

    def tell(self, ratios: Ratios, score: float) -> object: ...


class OptunaSearch:
    """An Optuna study over the box [LOW, HIGH]^n, driven through ``Study.ask`` / ``tell``."""

    def __init__(self, names: tuple[str, ...], sampler: Any) -> None:
        optuna = _optuna()
        from optuna.distributions import FloatDistribution

        self._study = optuna.create_study(direction="maximize", sampler=sampler)
        self._distributions = {name: FloatDistribution(LOW, HIGH) for name in names}
        self._pending: Any = None

    def ask(self) -> Ratios:
        self._pending = self._study.ask(self._distributions)
        return {name: float(self._pending.params[name]) for name in self._distributions}

    def tell(self, ratios: Ratios, score: float) -> None:
        self._study.tell(self._pending, score)

    def enqueue(self, ratios: Ratios) -> None:
        """Ask ``ratios`` before the sampler's own points (Optuna's ``enqueue_trial``)."""
        self._study.enqueue_trial(dict(ratios))


def _optuna() -> Any:
    """Import Optuna quietly (and with one torch thread, for GPSampler), or raise ImportError."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    return optuna


def _optuna_sampler(kind: str) -> Callable[[tuple[str, ...], int], Search]:
    def make(names: tuple[str, ...], seed: int) -> Search:
        samplers = _optuna().samplers
        sampler = {
            "gp": samplers.GPSampler,
            "tpe": samplers.TPESampler,
            "random": samplers.RandomSampler,
        }[kind](seed=seed)
        return OptunaSearch(names, sampler)

    return make


METHODS: dict[str, Callable[[tuple[str, ...], int], Search]] = {
    "autoaux GP": lambda names, seed: MixingRatioOptimizer(
        MixingRatioSpace(names, low=LOW, high=HIGH), seed=seed
    ),
    "Optuna GPSampler": _optuna_sampler("gp"),
    "Optuna TPE": _optuna_sampler("tpe"),
    "Optuna random": _optuna_sampler("random"),
    "autoaux random": lambda names, seed: RandomRatioSearch(
        MixingRatioSpace(names, low=LOW, high=HIGH), seed=seed
    ),
    "autoaux random int 0..9": lambda names, seed: RandomRatioSearch(
        MixingRatioSpace(names, low=0, high=9, integer=True), seed=seed
    ),
}
"""Method name -> ``factory(task_names, seed)``. The first method is the one compared."""

OPTUNA_METHODS = ("Optuna GPSampler", "Optuna TPE", "Optuna random")


def optuna_available() -> bool:
    try:
        _optuna()
    except ImportError:
        return False
    return True


# -- runs ----------------------------------------------------------------------------------


def regret_curve(
    surface: Surface, method: str, seed: int, n_trials: int, f_star: float
) -> tuple[list[float], list[float]]:
    """Simple regret after each trial, and the ask + tell seconds of each trial."""
    search = METHODS[method](surface.names, seed)
    noise = np.random.default_rng([seed, 17])
    curve: list[float] = []
    seconds: list[float] = []
    best_observed, incumbent = -math.inf, f_star
    for _ in range(n_trials):
        start = time.perf_counter()
        ratios = search.ask()
        asked = time.perf_counter()
        score = surface.f(ratios) + surface.noise * float(noise.standard_normal())
        told = time.perf_counter()
        search.tell(ratios, score)
        seconds.append(asked - start + time.perf_counter() - told)
        if score > best_observed:
            best_observed, incumbent = score, surface.f(ratios)
        curve.append(f_star - incumbent)
    return curve, seconds


def compare(ours: list[float], theirs: list[float]) -> tuple[int, int, int]:
    """Paired (lower, tied, higher) counts of our regrets against theirs."""
    lower = tied = higher = 0
    for a, b in zip(ours, theirs, strict=True):
        if (a < SOLVED and b < SOLVED) or a == b:
            tied += 1
        elif a < b:
            lower += 1
        else:
            higher += 1
    return lower, tied, higher


def timing(n_trials: int, seeds: int) -> dict[str, float]:
    """autoaux GP ask + tell seconds per trial on smooth3, and load_state_dict's replay time."""
    surface = SURFACES[0]

    def make(seed: int) -> MixingRatioOptimizer:
        return MixingRatioOptimizer(MixingRatioSpace(surface.names, low=LOW, high=HIGH), seed=seed)

    per_trial: list[list[float]] = []
    replay: list[float] = []
    for seed in range(seeds):
        search = make(seed)
        times = []
        for _ in range(n_trials):
            start = time.perf_counter()
            ratios = search.ask()
            ask_done = time.perf_counter()
            score = surface.f(ratios)
            tell_start = time.perf_counter()
            search.tell(ratios, score)
            times.append(ask_done - start + time.perf_counter() - tell_start)
        per_trial.append(times)
        state = json.loads(json.dumps(search.state_dict()))
        start = time.perf_counter()
        make(seed).load_state_dict(state)
        replay.append(time.perf_counter() - start)
    flat = [t for times in per_trial for t in times]
    last = [t for times in per_trial for t in times[-10:]]
    return {
        "trials": n_trials,
        "seeds": seeds,
        "mean_s_per_trial": statistics.fmean(flat),
        "mean_s_per_trial_last10": statistics.fmean(last),
        "max_s_per_trial": max(flat),
        "replay_s": statistics.fmean(replay),
    }


def _fmt_regret(value: float) -> str:
    if value < SOLVED:
        return f"{value:.1e}"
    return f"{value:.2e}" if value < 1e-2 else f"{value:.3f}"


def summary_table(results: Mapping[str, Any], at: tuple[int, int]) -> str:
    """Markdown: median regret after ``at`` trials per surface and method, ms per trial."""
    surfaces = results["surfaces"]
    methods = list(next(iter(surfaces.values()))["methods"])
    checkpoints = results["checkpoints"]
    header = [f"surface (median regret t={at[0]} / t={at[1]})", *methods]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, entry in surfaces.items():
        cells = [name]
        for method in methods:
            medians = entry["methods"][method]["median_regret"]
            cells.append(" / ".join(_fmt_regret(medians[checkpoints.index(t)]) for t in at))
        lines.append("| " + " | ".join(cells) + " |")
    for key, what in (("ms_per_trial", "all trials"), ("ms_per_trial_last10", "last 10 trials")):
        cells = [f"ask + tell ms per trial, {what} (range over surfaces)"]
        for method in methods:
            ms = [entry["methods"][method][key] for entry in surfaces.values()]
            cells.append(f"{min(ms):.0f}-{max(ms):.0f}" if len(ms) > 1 else f"{ms[0]:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a tiny run to check it works")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write figures here")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per method (default 10)")
    parser.add_argument("--trials", type=int, default=None, help="trials per run (default 30)")
    parser.add_argument(
        "--seed-offset",
        type=int,
        default=0,
        help="first seed (default 0: seeds 0..9); tune on another range, e.g. 100, and report "
        "on the default one",
    )
    parser.add_argument(
        "--methods", default=None, help=f"comma-separated subset of: {', '.join(METHODS)}"
    )
    parser.add_argument(
        "--surfaces",
        default=None,
        help=f"comma-separated subset of: {', '.join(s.name for s in SURFACES)}",
    )
    parser.add_argument(
        "--no-timing", action="store_true", help="skip the 50-trial timing and replay run"
    )
    return parser


def _print_versions() -> None:
    versions = f"python {platform.python_version()}, numpy {np.__version__}"
    if optuna_available():
        import optuna

        versions += f", optuna {optuna.__version__}"
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    print(f"{versions}, {platform.machine()}, OMP_NUM_THREADS={threads}")


def _run_method(
    surface: Surface,
    method: str,
    seeds: range,
    n_trials: int,
    f_star: float,
    checkpoints: list[int],
) -> tuple[list[list[float]], dict[str, Any]]:
    """One method's regret curves on ``surface`` over ``seeds``; prints its row."""
    curves, seconds = [], []
    for seed in seeds:
        curve, spent = regret_curve(surface, method, seed, n_trials, f_star)
        curves.append(curve)
        seconds.append(spent)
    medians = [statistics.median(c[t - 1] for c in curves) for t in checkpoints]
    means = [statistics.fmean(c[t - 1] for c in curves) for t in checkpoints]
    ms = 1000 * statistics.fmean(s for run in seconds for s in run)
    ms_last = 1000 * statistics.fmean(s for run in seconds for s in run[-10:])
    print(f"{method:<22}" + "".join(f"{m:>10.2e}" for m in medians) + f"{ms:>10.1f}{ms_last:>9.1f}")
    figures = {
        "median_regret": medians,
        "mean_regret": means,
        "regret_per_seed": {str(t): [c[t - 1] for c in curves] for t in checkpoints},
        "final_regret_per_seed": [c[-1] for c in curves],
        "mean_seconds_per_run": statistics.fmean(sum(run) for run in seconds),
        "ms_per_trial": ms,
        "ms_per_trial_last10": ms_last,
    }
    return curves, figures


def _run_surface(
    surface: Surface,
    methods: list[str],
    reference: str,
    seeds: range,
    n_trials: int,
    checkpoints: list[int],
) -> dict[str, Any]:
    """Every method on one surface, printed as a table, with paired comparisons to ``reference``."""
    f_star = best_value(surface)
    print()
    print(
        f"{surface.name}: {len(surface.names)} ratios, noise sd {surface.noise}, "
        f"f* = {f_star:.4f}; median simple regret after t trials"
    )
    header = f"{'method':<22}" + "".join(f"{'t=' + str(t):>10}" for t in checkpoints)
    print(header + f"{'ms/trial':>10}{'last 10':>9}")
    entry: dict[str, Any] = {"f_star": f_star, "noise": surface.noise, "methods": {}}
    curves_by_method: dict[str, list[list[float]]] = {}
    for method in methods:
        curves_by_method[method], entry["methods"][method] = _run_method(
            surface, method, seeds, n_trials, f_star, checkpoints
        )
    paired: dict[str, dict[str, list[int]]] = {}
    at = sorted({min(20, n_trials), n_trials})
    for other in methods[1:]:
        paired[other] = {
            str(t): list(
                compare(
                    [c[t - 1] for c in curves_by_method[reference]],
                    [c[t - 1] for c in curves_by_method[other]],
                )
            )
            for t in at
        }
    entry["paired_vs_" + reference] = paired
    entry["gp_wins_at_final"] = {o: p[str(n_trials)][0] for o, p in paired.items()}
    for other, counts in paired.items():
        print(
            f"  {reference} vs {other}: lower/tied/higher regret in "
            + "; ".join(f"t={t}: {'/'.join(map(str, counts[str(t)]))}" for t in at)
        )
    return entry


def _print_timing(cost: dict[str, Any]) -> None:
    print()
    print(
        f"autoaux GP ask + tell over a {cost['trials']}-trial run ({cost['seeds']} seeds, "
        f"3 ratios): {cost['mean_s_per_trial'] * 1000:.0f} ms per trial on average, "
        f"{cost['mean_s_per_trial_last10'] * 1000:.0f} ms over the last 10, "
        f"max {cost['max_s_per_trial'] * 1000:.0f} ms; "
        f"load_state_dict replay of {cost['trials']} trials: {cost['replay_s']:.2f} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    seeds = args.seeds or (2 if args.smoke else 10)
    n_trials = args.trials or (12 if args.smoke else 30)
    timing_trials, timing_seeds = (14, 1) if args.smoke else (50, 3)
    checkpoints = [t for t in range(5, n_trials + 1, 5)] or [n_trials]
    methods = list(METHODS) if args.methods is None else args.methods.split(",")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown methods {unknown}; known: {list(METHODS)}")
    if any(m in OPTUNA_METHODS for m in methods) and not optuna_available():
        print("Optuna is not installed (pip install -e '.[bench]'): its samplers are left out")
        methods = [m for m in methods if m not in OPTUNA_METHODS]
    surfaces = list(SURFACES)
    if args.surfaces is not None:
        wanted = args.surfaces.split(",")
        surfaces = [s for s in SURFACES if s.name in wanted]
        if len(surfaces) != len(wanted):
            parser.error(f"unknown surfaces in {wanted}")

    first = args.seed_offset
    print(
        f"bayesopt benchmark: {seeds} seeds ({first}..{first + seeds - 1}), "
        f"{n_trials} trials per run"
    )
    _print_versions()
    results: dict[str, Any] = {
        "seeds": seeds,
        "seed_offset": first,
        "trials": n_trials,
        "checkpoints": checkpoints,
        "surfaces": {},
    }
    reference = methods[0]
    seed_range = range(args.seed_offset, args.seed_offset + seeds)
    for surface in surfaces:
        results["surfaces"][surface.name] = _run_surface(
            surface, methods, reference, seed_range, n_trials, checkpoints
        )

    if n_trials >= 20 and results["surfaces"]:
        print()
        print(f"Summary ({seeds} seeds, paired; below {SOLVED:g} counts as solved):")
        print(summary_table(results, (20, 30) if n_trials >= 30 else (20, n_trials)))

    if not args.no_timing:
        cost = timing(timing_trials, timing_seeds)
        results["timing"] = cost
        _print_timing(cost)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
