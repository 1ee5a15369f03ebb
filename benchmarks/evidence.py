"""Which stage-1 evidence separates helpful auxiliary tasks from the null control?

For each sentiment domain as the main task (100 training examples, cached MiniLM features),
pool = the three other domains, ``trec-coarse``, ``sms-spam`` and ``shuffled:<first domain>``:

* **in-run pulls** (AutoSem's kind of evidence): one shared model, a burn-in of ``--burn-in``
  main-task steps, then every arm pulled in turn (round robin, 10 steps a pull). Per pull:
  ``gain`` (AutoSem: 1 if the main dev accuracy on 4 batches did not fall), ``acc64`` (the
  change of that accuracy), ``acc-full`` (the change of accuracy on the whole dev split) and
  ``cosine`` (the pull's mean gradient cosine with the main task). Separation: the AUC of a
  candidate's per-pull values against the control's (0.5 = no separation).
* **paired episodes** (autoaux's default): ``--rounds`` rounds; in each, every arm trains one
  episode (main + arm 1:1, ``--episode-steps`` steps from the initial weights, one seed per
  round) scored by the main dev accuracy on the whole dev split. Separation: d' of the paired
  differences (candidate minus control, same round): mean / sd.

Each candidate's true effect is measured separately by ``benchmarks/multidomain.py`` (main +
it at ratio 1 against main only, on test, over seeds); this script prints the separation.

Usage::

    python -m benchmarks.evidence --json benchmarks/results/evidence.json
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import Workspace, log, md_table, setup, write_json
from benchmarks.multidomain import DOMAINS

OTHERS = ("trec-coarse", "sms-spam")


def auc(a: Sequence[float], b: Sequence[float]) -> float:
    """P(a > b) + P(a = b) / 2 over all pairs (Mann-Whitney)."""
    x, y = np.asarray(a, float)[:, None], np.asarray(b, float)[None, :]
    if x.size == 0 or y.size == 0:
        return math.nan
    return float((x > y).mean() + 0.5 * (x == y).mean())


def measure(main: str, seed: int, args: argparse.Namespace, ws: Workspace) -> dict[str, Any]:
    from autoaux import config_from_dict
    from autoaux.stages import run_episode
    from autoaux.stages.stage1 import make_gate
    from autoaux.training import Workbench

    domains = [d for d in DOMAINS if d != main]
    candidates = [*domains, *OTHERS]
    control = "shuffled:" + domains[0]
    arms = [*candidates, control]
    config = config_from_dict(
        {
            "seed": seed,
            "model": {"encoder": "minilm-cached", "max_length": 64},
            "main": {"task": main, "max_train_examples": 100},
            "auxiliary": {"tasks": arms, "max_train_examples": 1000},
            "stage1": {
                "preset": "bandit",
                "policy": "uniform",
                "pulls": len(arms) * args.pulls_per_arm,
                "steps_per_pull": 10,
                "reward": "mixed",  # so that the gate measures the cosine (gating off)
                "include_main_arm": False,
                "eval_batches": None,
            },
            "tracking": {"enabled": False},
            "output_dir": ws.folder(),
            "device": "cpu",
        },
        source="benchmarks/evidence.py",
    )
    bench = Workbench.build(config, [main, *arms], ())
    # --- in-run pulls after a burn-in on the main task
    trainer = bench.trainer(None, "stage1", gate=make_gate(config.stage1.bandit()))
    trainer.train_steps(main, args.burn_in)
    values: dict[str, dict[str, list[float]]] = {a: {} for a in arms}
    previous_full = trainer.evaluate(main, "dev")
    previous_64 = trainer.evaluate(main, "dev", max_batches=4)
    order = np.random.default_rng(seed)
    for _ in range(args.pulls_per_arm):
        for arm in order.permutation(arms):
            report = trainer.train_steps(str(arm), 10)
            full = trainer.evaluate(main, "dev")
            small = trainer.evaluate(main, "dev", max_batches=4)
            row = values[str(arm)]
            row.setdefault("gain", []).append(float(small >= previous_64))
            row.setdefault("acc64", []).append(small - previous_64)
            row.setdefault("acc-full", []).append(full - previous_full)
            row.setdefault("cosine", []).append(report.mean_cosine)
            previous_full, previous_64 = full, small
    in_run = {
        cand: {
            signal: auc(values[cand][signal], values[control][signal])
            for signal in ("gain", "acc64", "acc-full", "cosine")
        }
        for cand in candidates
    }
    # --- paired episodes
    factory = bench.episode_factory()
    scores: dict[str, list[float]] = {a: [] for a in arms}
    for r in range(args.rounds):
        for arm in arms:
            score, _ = run_episode(factory, main=main, task=arm, steps=args.episode_steps,
                                   round_=r)  # fmt: skip
            scores[arm].append(score)
    episodes = {}
    for cand in candidates:
        diffs = np.asarray(scores[cand]) - np.asarray(scores[control])
        sd = float(diffs.std(ddof=1))
        episodes[cand] = {
            "mean": float(diffs.mean()),
            "sd": sd,
            "d_prime": float(diffs.mean() / sd) if sd > 1e-9 else math.nan,
        }
    return {"main": main, "seed": seed, "in_run_auc": in_run, "episodes": episodes}


def report(records: Sequence[dict[str, Any]]) -> str:
    rows = []
    for rec in records:
        for cand, aucs in rec["in_run_auc"].items():
            ep = rec["episodes"][cand]
            rows.append((
                rec["main"], cand, *(f"{aucs[s]:.2f}" for s in ("gain", "acc64", "acc-full",
                                                                "cosine")),
                f"{100 * ep['mean']:+.1f}", f"{ep['d_prime']:+.2f}",
            ))  # fmt: skip
    header = ("main", "candidate", "AUC gain", "AUC acc64", "AUC acc-full", "AUC cosine",
              "episode effect (pts)", "episode d'")  # fmt: skip
    return md_table(header, rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mains", default=",".join(DOMAINS))
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--burn-in", type=int, default=200)
    parser.add_argument("--pulls-per-arm", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--episode-steps", type=int, default=150)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    machine = setup(1)
    ws = Workspace()
    records = []
    try:
        for main_task in args.mains.split(","):
            log(f"evidence: {main_task}")
            records.append(measure(main_task, args.seed, args, ws))
    finally:
        ws.close()
    table = report(records)
    print(table)
    summary = {
        signal: statistics.fmean(
            r["in_run_auc"][c][signal] for r in records for c in r["in_run_auc"]
        )
        for signal in ("gain", "acc64", "acc-full", "cosine")
    }
    print("mean in-run AUC over all candidates:", {k: round(v, 3) for k, v in summary.items()})
    if args.json is not None:
        write_json(args.json, {"machine": machine, "args": vars(args) | {"json": str(args.json)},
                               "records": records, "table": table})  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
