"""How long must the main task train? Curves that choose the training protocol.

For each main task of a small suite and each of a few auxiliary tasks, train main alone and
main + the task at 1:1 with the auxiliary batches *added* (``count="main"``: the main task takes
the same main-task steps in both), from the run's initial weights, paired by seed, for up to
``--max-main`` main steps, recording the main dev and test scores every ``--every`` main steps.
Then every early-stopping rule (evaluate every ``k`` main steps, stop after ``P`` evaluations
without a better dev score, cap ``C``; keep the best-dev checkpoint) is replayed on the recorded
curves, and for each rule the script prints the test score of main alone, each task's paired
effect (95% t interval over seeds) and the main steps spent. The fixed-total protocol
(``count="all"``, the old default, ``--total`` steps split 1:1) is measured beside it.

Usage::

    python -m benchmarks.protocol --seeds 0-4 --out benchmarks/results/protocol.json
    python -m benchmarks.protocol --report benchmarks/results/protocol.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks._common import Workspace, log, paired, seeds_of, setup

SUITE: dict[str, tuple[int, tuple[str, ...]]] = {
    # main task: (training rows, auxiliary tasks)
    "trec-fine": (200, ("trec-coarse", "sms-spam")),
    "nyt-polarity": (100, ("amazon-polarity", "sms-spam")),
}
RULES: tuple[tuple[int, int, int], ...] = tuple(
    (k, p, c)
    for k in (25, 50)
    for p in (2, 4, 8)
    for c in (400, 1000, 1600)
    if c % k == 0
)


def curves(main: str, seed: int, args: argparse.Namespace, ws: Workspace) -> dict[str, Any]:
    from autoaux import config_from_dict
    from autoaux.training import Workbench

    rows, aux = SUITE[main]
    config = config_from_dict(
        {
            "seed": seed,
            "model": {"encoder": args.encoder, "max_length": 64},
            "main": {"task": main, "max_train_examples": rows},
            "auxiliary": {"tasks": list(aux), "max_train_examples": 1000, "add_control": False},
            "tracking": {"enabled": False},
            "output_dir": ws.folder(),
            "device": "cpu",
        },
        source="benchmarks/protocol.py",
    )
    bench = Workbench.build(config, [main, *aux], ())
    out: dict[str, Any] = {"main": main, "seed": seed, "curves": {}, "total": {}}
    for task in (None, *aux):
        weights = {main: 1.0} if task is None else {main: 1.0, task: 1.0}
        trainer = bench.factory("stage2")(None)
        points: list[tuple[int, float, float]] = []

        def record(step: int, dev: float, trainer: Any = trainer, points: list = points) -> None:
            points.append((step, dev, trainer.evaluate(main, "test")))

        trainer.train_mixture(
            weights, args.max_main, eval_every=args.every, count="main", callback=record
        )
        out["curves"][task or "main-only"] = points
        # the old protocol: a fixed total split 1:1, linear decay, evaluated 6 times
        trainer = bench.factory("stage2")(args.total)
        report = trainer.train_mixture(weights, args.total, eval_every=args.total // 6)
        out["total"][task or "main-only"] = {
            "dev": report.best_dev,
            "test": trainer.evaluate(main, "test"),
        }
    return out


def replay(points: list[list[float]], k: int, patience: int, cap: int, every: int) -> tuple:
    """(best dev, its test, main steps spent) of one rule on one recorded curve."""
    best, test, spent, stale = -math.inf, math.nan, 0.0, 0
    for step, dev, tst in points:
        if step % k or step > cap:
            continue
        spent = step
        if dev > best:
            best, test, stale = dev, tst, 0
        else:
            stale += 1
            if stale >= patience:
                break
    return best, test, spent


def report(records: list[dict[str, Any]], every: int) -> None:
    mains = sorted({r["main"] for r in records})
    for main in mains:
        rows = [r for r in records if r["main"] == main]
        seeds = [r["seed"] for r in rows]
        tasks = [t for t in rows[0]["curves"] if t != "main-only"]
        print(f"\n## {main} (seeds {seeds})\n")
        head = "| rule (k, patience, cap) | main only test | " + " | ".join(
            f"+{t} (pts, 95% CI)" for t in tasks
        ) + " | main steps (alone / with) |"
        print(head)
        print("|" + "---|" * (3 + len(tasks)))
        fixed = [r["total"]["main-only"]["test"] for r in rows]
        cells = []
        for t in tasks:
            d = paired([r["total"][t]["test"] for r in rows], fixed)
            cells.append(f"{100 * d['mean']:+.1f} ± {100 * (d.get('ci95') or math.nan):.1f}")
        mean_fixed = sum(fixed) / len(fixed)
        print(f"| fixed total (old) | {mean_fixed:.3f} | " + " | ".join(cells) + " | |")
        for k, p, c in RULES:
            alone = [replay(r["curves"]["main-only"], k, p, c, every) for r in rows]
            cells, spent = [], []
            for t in tasks:
                got = [replay(r["curves"][t], k, p, c, every) for r in rows]
                d = paired([g[1] for g in got], [a[1] for a in alone])
                cells.append(f"{100 * d['mean']:+.1f} ± {100 * (d.get('ci95') or math.nan):.1f}")
                spent.append(sum(g[2] for g in got) / len(got))
            mean_alone = sum(a[2] for a in alone) / len(alone)
            print(
                f"| {k}, {p}, {c} | {sum(a[1] for a in alone) / len(alone):.3f} | "
                + " | ".join(cells)
                + f" | {mean_alone:.0f} / {', '.join(f'{s:.0f}' for s in spent)} |"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-2")
    parser.add_argument("--mains", default=",".join(SUITE))
    parser.add_argument("--encoder", default="minilm-cached")
    parser.add_argument("--max-main", type=int, default=1600)
    parser.add_argument("--every", type=int, default=25)
    parser.add_argument("--total", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/protocol.json"))
    parser.add_argument("--report", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.report is not None:
        data = json.loads(args.report.read_text())
        report(data["records"], data["every"])
        return 0
    setup()
    seeds = seeds_of(args.seeds)
    records: list[dict[str, Any]] = []
    if args.out.is_file():
        records = json.loads(args.out.read_text())["records"]
    done = {(r["main"], r["seed"]) for r in records}
    ws = Workspace()
    try:
        for main_task in args.mains.split(","):
            for seed in seeds:
                if (main_task, seed) in done:
                    continue
                t0 = time.perf_counter()
                records.append(curves(main_task, seed, args, ws))
                log(f"{main_task} seed {seed}: {time.perf_counter() - t0:.0f}s")
                args.out.write_text(json.dumps({"every": args.every, "records": records}))
    finally:
        ws.close()
    report(records, args.every)
    return 0


if __name__ == "__main__":
    sys.exit(main())
