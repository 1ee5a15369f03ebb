"""Benchmark of the stage-2 mixing-ratio search: simple regret and cost per trial.

Prints, for three synthetic response surfaces over mixing ratios,

* the median simple regret after 5, 10, ... trials (10 seeds) of
  - GP-BO: ``MixingRatioOptimizer`` at its defaults (5 initial points, gp_hedge) on [0, 5],
  - random search: ``RandomRatioSearch`` uniform on [0, 5],
  - random integer ratios: ``RandomRatioSearch`` on the whole numbers 0..9 (what a published
    re-implementation of AutoSem does instead of BO),
  and in how many seeds GP-BO's final regret beats each baseline's;
* the GP optimiser's own ask + tell time per trial over a 50-trial run (mean over all 50
  trials and over the last 10), and the time ``load_state_dict`` takes to replay 50 trials.

Simple regret after t trials is ``f* - f(x_t)`` where ``x_t`` is the trial with the best
*observed* score among the first t (what a user would pick) and ``f`` is the noise-free
surface, so on the noisy surface a lucky noisy score does not count as progress.

Surfaces (scores are maximised, dev-accuracy-like values):

* ``smooth3``: 3 ratios, ``0.9 - 0.01 * |r - (1.5, 0.8, 3.2)|^2``, interior optimum, no noise.
* ``mixture4-noisy``: 4 tasks (two helpful, one neutral, one harmful), a smooth function of
  the sampling probabilities ``p = [1, r] / (1 + sum r)``; the optimum (0.9) switches the
  neutral and harmful tasks off and trains the helpful ones at ratios 1.5 and 0.83; observed
  scores carry Gaussian noise with standard deviation 0.01 (a 2,000-example dev set).
* ``bumps3``: 3 ratios, a narrow global bump (height 0.15, width 0.8) on a baseline of 0.75
  and a broad local one (height 0.08, width 1.5); no noise.

Usage::

    python -m benchmarks.bench_bayesopt                 # full run (a few minutes on 2 cores)
    python -m benchmarks.bench_bayesopt --smoke         # a tiny run, about 20 seconds
    python -m benchmarks.bench_bayesopt --json out.json # also write the figures as JSON
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


SURFACES = (
    Surface("smooth3", ("a", "b", "c"), _smooth3, 0.0),
    Surface("mixture4-noisy", ("helpful1", "helpful2", "neutral", "harmful"), _mixture4, 0.01),
    Surface("bumps3", ("a", "b", "c"), _bumps3, 0.0),
)

LOW, HIGH = 0.0, 5.0


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


METHODS: dict[str, Callable[[tuple[str, ...], int], MixingRatioOptimizer | RandomRatioSearch]] = {
    "GP-BO [0,5]": lambda names, seed: MixingRatioOptimizer(
        MixingRatioSpace(names, low=LOW, high=HIGH), seed=seed
    ),
    "random [0,5]": lambda names, seed: RandomRatioSearch(
        MixingRatioSpace(names, low=LOW, high=HIGH), seed=seed
    ),
    "random integer 0..9": lambda names, seed: RandomRatioSearch(
        MixingRatioSpace(names, low=0, high=9, integer=True), seed=seed
    ),
}


def regret_curve(
    surface: Surface, method: str, seed: int, n_trials: int, f_star: float
) -> tuple[list[float], float]:
    """Simple regret after each trial, and the search's own seconds (objective excluded)."""
    search = METHODS[method](surface.names, seed)
    noise = np.random.default_rng([seed, 17])

    def objective(ratios: Ratios) -> float:
        return surface.f(ratios) + surface.noise * float(noise.standard_normal())

    start = time.perf_counter()
    search.run(objective, n_trials)
    seconds = time.perf_counter() - start
    curve, best_observed, incumbent = [], -math.inf, f_star
    for trial in search.trials:
        assert trial.score is not None
        if trial.score > best_observed:
            best_observed, incumbent = trial.score, surface.f(trial.ratios)
        curve.append(f_star - incumbent)
    return curve, seconds


def timing(n_trials: int, seeds: int) -> dict[str, float]:
    """GP ask + tell seconds per trial on smooth3, and replay time of load_state_dict."""
    surface = SURFACES[0]
    per_trial: list[list[float]] = []
    replay: list[float] = []
    for seed in range(seeds):
        search = METHODS["GP-BO [0,5]"](surface.names, seed)
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
        METHODS["GP-BO [0,5]"](surface.names, seed).load_state_dict(state)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a tiny run to check it works")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write figures here")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per method (default 10)")
    parser.add_argument("--trials", type=int, default=None, help="trials per run (default 30)")
    args = parser.parse_args(argv)
    seeds = args.seeds or (2 if args.smoke else 10)
    n_trials = args.trials or (10 if args.smoke else 30)
    timing_trials, timing_seeds = (12, 1) if args.smoke else (50, 3)
    checkpoints = [t for t in range(5, n_trials + 1, 5)] or [n_trials]

    print(f"bayesopt benchmark: {seeds} seeds, {n_trials} trials per run")
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}")
    results: dict[str, Any] = {
        "seeds": seeds,
        "trials": n_trials,
        "checkpoints": checkpoints,
        "surfaces": {},
    }
    for surface in SURFACES:
        f_star = best_value(surface)
        print()
        print(
            f"{surface.name}: {len(surface.names)} ratios, noise sd {surface.noise}, "
            f"f* = {f_star:.4f}; median simple regret after t trials"
        )
        header = f"{'method':<22}" + "".join(f"{'t=' + str(t):>10}" for t in checkpoints)
        print(header + f"{'s/run':>9}")
        entry: dict[str, Any] = {"f_star": f_star, "noise": surface.noise, "methods": {}}
        finals: dict[str, list[float]] = {}
        for method in METHODS:
            curves, seconds = [], []
            for seed in range(seeds):
                curve, spent = regret_curve(surface, method, seed, n_trials, f_star)
                curves.append(curve)
                seconds.append(spent)
            medians = [statistics.median(c[t - 1] for c in curves) for t in checkpoints]
            means = [statistics.fmean(c[t - 1] for c in curves) for t in checkpoints]
            finals[method] = [c[-1] for c in curves]
            print(
                f"{method:<22}"
                + "".join(f"{m:>10.5f}" for m in medians)
                + f"{statistics.fmean(seconds):>9.2f}"
            )
            entry["methods"][method] = {
                "median_regret": medians,
                "mean_regret": means,
                "final_regret_per_seed": finals[method],
                "mean_seconds_per_run": statistics.fmean(seconds),
            }
        gp = finals["GP-BO [0,5]"]
        wins = {
            other: sum(g < o for g, o in zip(gp, finals[other], strict=True))
            for other in METHODS
            if other != "GP-BO [0,5]"
        }
        entry["gp_wins_at_final"] = wins
        print(
            f"GP-BO's regret after {n_trials} trials is lower in "
            + ", ".join(f"{w}/{seeds} seeds vs {other}" for other, w in wins.items())
        )
        results["surfaces"][surface.name] = entry

    cost = timing(timing_trials, timing_seeds)
    results["timing"] = cost
    print()
    print(
        f"GP-BO ask + tell over a {cost['trials']}-trial run ({cost['seeds']} seeds, 3 ratios): "
        f"{cost['mean_s_per_trial'] * 1000:.0f} ms per trial on average, "
        f"{cost['mean_s_per_trial_last10'] * 1000:.0f} ms over the last 10, "
        f"max {cost['max_s_per_trial'] * 1000:.0f} ms; "
        f"load_state_dict replay of {cost['trials']} trials: {cost['replay_s']:.2f} s"
    )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
