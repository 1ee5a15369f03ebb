"""Benchmark of the bandit policies: cost per step and dynamic regret.

Prints, for every policy:

* microseconds per ``select()`` + ``update()`` step at 10, 100 and 1,000 arms (median of
  3 repeats, after a warm-up that pulls every arm), and
* dynamic regret on a piecewise-stationary Bernoulli problem whose best arm changes half-way,
  mean and standard deviation over 20 seeds. Dynamic regret is the expected-reward shortfall
  against the arm that is best *at each step*: ``sum_t max_i mu_i(t) - mu_{a_t}(t)``.

Usage::

    python -m benchmarks.bench_bandits                 # full run (about a minute)
    python -m benchmarks.bench_bandits --smoke         # a tiny run, a few seconds
    python -m benchmarks.bench_bandits --json out.json # also write the figures as JSON
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from bandits import make_bandit

# (label, policy name, options). Every policy at its defaults, plus AutoSem's decayed Thompson
# sampling and a sliding window longer than the run, which is plain UCB with no forgetting
# and makes SW-UCB compute its full index at 100 and 1,000 arms (with the default window of
# 100 it mostly replays arms that fell out of the window, which is cheap).
VARIANTS: list[tuple[str, str, dict[str, Any]]] = [
    ("thompson", "thompson", {}),
    ("thompson decay=0.3", "thompson", {"decay": 0.3}),
    ("discounted-ucb", "discounted-ucb", {}),
    ("sliding-window-ucb", "sliding-window-ucb", {}),
    ("sliding-window-ucb window=1e5 (UCB)", "sliding-window-ucb", {"window": 100_000}),
    ("exp3", "exp3", {}),
    ("epsilon-greedy", "epsilon-greedy", {}),
    ("uniform", "uniform", {}),
]

ARM_COUNTS = (10, 100, 1000)

# The piecewise-stationary problem: 5 Bernoulli arms; arm 0 is best for the first half,
# arm 4 for the second.
PHASES = (
    (0.8, 0.5, 0.5, 0.4, 0.2),
    (0.4, 0.5, 0.5, 0.4, 0.9),
)


def time_per_step(name: str, options: dict[str, Any], n_arms: int, steps: int) -> float:
    """Median over 3 repeats of the microseconds one select+update step takes."""
    bandit = make_bandit(name, n_arms, seed=0, **options)
    env = np.random.default_rng(1)
    means = np.linspace(0.1, 0.9, n_arms).tolist()
    warmup = env.random(n_arms + 1000).tolist()
    for draw in warmup:
        arm = bandit.select()
        bandit.update(arm, 1.0 if draw < means[arm] else 0.0)
    timings = []
    for _ in range(3):
        draws = env.random(steps).tolist()
        start = time.perf_counter()
        for draw in draws:
            arm = bandit.select()
            bandit.update(arm, 1.0 if draw < means[arm] else 0.0)
        timings.append((time.perf_counter() - start) / steps * 1e6)
    return statistics.median(timings)


def dynamic_regret(name: str, options: dict[str, Any], horizon: int, seed: int) -> float:
    """Dynamic (pseudo-)regret of one run on the piecewise-stationary problem."""
    bandit = make_bandit(name, len(PHASES[0]), seed=seed, **options)
    draws = np.random.default_rng(10_000 + seed).random(horizon).tolist()
    half = horizon // 2
    regret = 0.0
    for t, draw in enumerate(draws):
        means = PHASES[0] if t < half else PHASES[1]
        arm = bandit.select()
        regret += max(means) - means[arm]
        bandit.update(arm, 1.0 if draw < means[arm] else 0.0)
    return regret


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a tiny run to check it works")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write figures here")
    args = parser.parse_args(argv)

    steps = 300 if args.smoke else 20_000
    horizon = 200 if args.smoke else 2000
    seeds = range(3 if args.smoke else 20)

    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}")
    print(f"\nmicroseconds per select+update ({steps} timed steps, median of 3 repeats)")
    header = f"{'policy':38s}" + "".join(f"{f'{k} arms':>12s}" for k in ARM_COUNTS)
    print(header)
    print("-" * len(header))
    timing: list[dict[str, Any]] = []
    for label, name, options in VARIANTS:
        row = []
        for n_arms in ARM_COUNTS:
            micros = time_per_step(name, options, n_arms, steps)
            row.append(micros)
            timing.append(
                {
                    "policy": label,
                    "name": name,
                    "options": options,
                    "n_arms": n_arms,
                    "us_per_step": round(micros, 3),
                }
            )
        print(f"{label:38s}" + "".join(f"{m:12.2f}" for m in row))

    print(
        f"\ndynamic regret, {len(PHASES[0])} Bernoulli arms, {horizon} steps, best arm "
        f"changes at step {horizon // 2}; mean ± std over {len(seeds)} seeds"
    )
    print(f"  phase 1 means {PHASES[0]}\n  phase 2 means {PHASES[1]}")
    print(f"{'policy':38s}{'mean':>10s}{'std':>10s}{'min':>10s}{'max':>10s}")
    print("-" * 78)
    regret: list[dict[str, Any]] = []
    for label, name, options in VARIANTS:
        values = np.array([dynamic_regret(name, options, horizon, seed) for seed in seeds])
        regret.append(
            {
                "policy": label,
                "name": name,
                "options": options,
                "mean": float(values.mean()),
                "std": float(values.std(ddof=1)),
                "min": float(values.min()),
                "max": float(values.max()),
                "seeds": len(seeds),
            }
        )
        print(
            f"{label:38s}{values.mean():10.1f}{values.std(ddof=1):10.1f}"
            f"{values.min():10.1f}{values.max():10.1f}"
        )

    if args.json is not None:
        figures = {
            "settings": {
                "smoke": args.smoke,
                "timed_steps": steps,
                "horizon": horizon,
                "seeds": len(seeds),
                "phases": PHASES,
                "python": platform.python_version(),
                "numpy": np.__version__,
            },
            "timing": timing,
            "regret": regret,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"\nfigures written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
