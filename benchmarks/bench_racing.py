"""Benchmark of :class:`bandits.Racing`: pairs to a decision and false verdicts, per method.

Races a control and ``m = 5`` candidates with the same standardised effect ``d'`` (the mean
paired difference over its standard deviation), ``alpha = 0.05``, until the race is done or
``--rounds`` rounds are played. Each arm's reward is its effect plus its own noise, with the
noise scaled so that a paired difference has standard deviation 1 (the five candidates share
the control's noise, as in a real race). Prints, per method, noise and ``d'``:

* median and 90th percentile of the pairs a candidate needs to a verdict (``>R``: undecided
  after ``R`` rounds);
* the fraction of candidates decided within 15 and 25 pairs;
* ``wrong``: the fraction of candidates with a wrong verdict (``hurts`` for ``d' > 0``);
* ``FW helps``: the fraction of races in which any candidate is declared to help (for
  ``d' = 0`` this is the familywise false-``helps`` rate, to compare with alpha), with a
  one-sided 95% upper bound (Clopper-Pearson).

Usage::

    python benchmarks/bench_racing.py              # 200 races per d' (600 at d' = 0), ~3 min
    python benchmarks/bench_racing.py --smoke      # a few seconds
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

# ``benchmarks/bandits.py`` would shadow the package: keep this folder off the import path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import numpy as np  # noqa: E402

from bandits import Racing  # noqa: E402

CANDIDATES = 5
ALPHA = 0.05
EFFECTS = (0.0, 0.5, 1.0, 2.0, 3.0)


def race(
    method: str, effect: float, noise: str, seed: int, rounds: int
) -> tuple[list[float], list[str]]:
    """One race; per candidate the pairs to its verdict (``inf`` if none) and the verdict."""
    bandit = Racing(CANDIDATES + 1, control=0, alpha=ALPHA, method=method, seed=seed)  # type: ignore[arg-type]
    env = np.random.default_rng(1_000_000 + seed)
    means = np.array([0.0] + [effect] * CANDIDATES)
    for _ in range(rounds * (CANDIDATES + 1)):
        if bandit.done:
            break
        arm = bandit.select()
        draw = env.normal() if noise == "normal" else env.standard_t(3) / math.sqrt(3.0)
        bandit.update(arm, float(means[arm] + draw / math.sqrt(2.0)))
    verdicts = bandit.verdicts()
    pairs = [float(v.n) if v.verdict != "undecided" else math.inf for v in verdicts]
    return pairs, [v.verdict for v in verdicts]


def upper_bound(successes: int, trials: int, level: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound of a binomial rate (bisection, no scipy)."""
    if successes >= trials:
        return 1.0
    low, high = successes / trials, 1.0
    for _ in range(60):
        middle = 0.5 * (low + high)
        # P(X <= successes) under rate ``middle``
        cdf = sum(
            math.comb(trials, k) * middle**k * (1.0 - middle) ** (trials - k)
            for k in range(successes + 1)
        )
        if cdf > 1.0 - level:
            low = middle
        else:
            high = middle
    return high


def quantile(values: np.ndarray, q: float, rounds: int) -> str:
    value = float(np.quantile(values, q, method="inverted_cdf"))
    return f">{rounds}" if math.isinf(value) else f"{value:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--races", type=int, default=200, help="races per d' > 0")
    parser.add_argument("--null-races", type=int, default=600, help="races at d' = 0")
    parser.add_argument("--rounds", type=int, default=200, help="rounds before a race stops")
    parser.add_argument("--smoke", action="store_true", help="a tiny run")
    args = parser.parse_args()
    if args.smoke:
        args.races, args.null_races, args.rounds = 10, 20, 60
    print(f"m={CANDIDATES} candidates + control, alpha={ALPHA}, up to {args.rounds} rounds")
    header = (
        f"{'method':<10} {'noise':<7} {'d_':>4} {'races':>5} {'median':>6} {'p90':>5} "
        f"{'<=15':>5} {'<=25':>5} {'wrong':>6} {'FW helps':>9} {'(95% ub)':>9}"
    )
    print(header.replace("d_", "d'"))
    for noise in ("normal", "t3"):
        for method in ("t-mixture", "betting"):
            start = time.perf_counter()
            for effect in EFFECTS:
                races = args.null_races if effect == 0.0 else args.races
                pairs: list[float] = []
                wrong = 0
                any_helps = 0
                for seed in range(races):
                    n, verdicts = race(method, effect, noise, seed, args.rounds)
                    pairs += n
                    bad = "helps" if effect == 0.0 else "hurts"
                    wrong += sum(v == bad for v in verdicts)
                    any_helps += any(v == "helps" for v in verdicts)
                values = np.array(pairs)
                decided = "" if effect == 0.0 else None
                within = [
                    decided if decided is not None else f"{np.mean(values <= k):.2f}"
                    for k in (15, 25)
                ]
                bound = f"{upper_bound(any_helps, races):.3f}" if effect == 0.0 else ""
                print(
                    f"{method:<10} {noise:<7} {effect:>4.1f} {races:>5} "
                    f"{quantile(values, 0.5, args.rounds):>6} "
                    f"{quantile(values, 0.9, args.rounds):>5} "
                    f"{within[0]:>5} {within[1]:>5} {wrong / values.size:>6.3f} "
                    f"{any_helps / races:>9.3f} {bound:>9}"
                )
            print(f"# {method}, {noise}: {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
