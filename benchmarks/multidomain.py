"""Multi-domain sentiment benchmark: does stage 1 find the tasks that help, and does it pay?

Each of the four sentiment domains of Hutto & Gilbert (2014) in turn is the main task, cut to
100 training examples; the pool is the three other domains, ``trec-coarse``, ``sms-spam``,
``bbc-topic`` and the null control ``shuffled:<first domain>``. Per (main, seed), with one
workbench (same tasks, cached MiniLM features and initial weights for every method):

* **exhaustive**: every subset of the six real candidates (64) trained like one stage-2 trial
  at ratio 1 (main and each task of the subset drawn equally often). Its subsets give
  ``main-only`` (the empty set), ``uniform`` (all six), the **oracle by dev** (the subset with
  the best main dev score; its test score is reported) and the **hindsight best** (the best
  test score, an upper bound no method can see). Each candidate's **effect alone** (main +
  it, minus main only, on test) is the ground truth for the verdicts.
* **temperature**: the temperature-sampling baseline (``p ~ n^(1/2)`` over main and the pool).
* **autoaux**: stage 1 as configured (the default race of paired episodes against the
  control), then the GP stage 2 on what it selected (main only when nothing). With
  ``--screen``, the affinity screen (:mod:`autoaux.stages.screen`) runs first and the race
  judges its shortlist; its steps count as stage-1 steps.
* **autosem**: the literal AutoSem stage 1 (``preset = "autosem"``); its selection is scored
  by its subset's exhaustive entry (ratio 1), so it costs no extra training.

Scores are main test accuracy; differences are paired by seed with 95% t intervals. Costs are
training steps. Results are appended, one JSON line per (main, seed), to ``--out`` so a long
run can be stopped and summarised at any time (``--report``).

Usage::

    python -m benchmarks.multidomain --seeds 0-9 --out benchmarks/results/multidomain.jsonl
    python -m benchmarks.multidomain --report benchmarks/results/multidomain-*.jsonl
    python -m benchmarks.multidomain --smoke
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks import _subsets
from benchmarks._common import (
    Workspace,
    log,
    md_table,
    paired,
    precision_recall,
    screen_summary,
    seeds_of,
    setup,
    summary,
)
from benchmarks._subsets import subset_test

DOMAINS = ("amazon-polarity", "movie-polarity", "nyt-polarity", "tweet-polarity")
OTHERS = ("trec-coarse", "sms-spam", "bbc-topic")


def pool_of(main: str) -> tuple[list[str], str]:
    """The real candidates of ``main`` and its control."""
    domains = [d for d in DOMAINS if d != main]
    return [*domains, *OTHERS], "shuffled:" + domains[0]


def make_config(
    main: str, seed: int, args: argparse.Namespace, ws: Workspace, **stage1: Any
) -> Any:
    from autoaux import config_from_dict

    candidates, control = pool_of(main)
    return config_from_dict(
        {
            "seed": seed,
            "model": {"encoder": args.encoder, "max_length": 64},
            "main": {"task": main, "max_train_examples": args.main_train},
            "auxiliary": {
                "tasks": [*candidates, control],
                "max_train_examples": args.aux_train,
            },
            "stage1": {
                "pulls": args.episodes,
                "episode_steps": args.episode_steps,
                **stage1,
            },
            "stage2": {
                "trials": args.trials,
                "initial_points": 3,
                "steps": args.steps,
                "eval_every": args.steps // 6 or 1,
            },
            "tracking": {"enabled": False},
            "output_dir": ws.folder(),
            "device": "cpu",
        },
        source="benchmarks/multidomain.py",
    )


def train_subset(bench: Any, main: str, subset: Sequence[str], args: argparse.Namespace) -> dict:
    """main + subset at ratio 1, like one stage-2 trial; dev and test of the best checkpoint."""
    return _subsets.train_subset(
        bench, main, subset, steps=args.steps, eval_every=args.steps // 6 or 1
    )


def _exhaustive_subsets(
    bench: Any, main: str, seed: int, candidates: Sequence[str], args: argparse.Namespace
) -> list[dict]:
    """Every subset of the candidates trained at ratio 1 (main-only, uniform, oracle, hindsight,
    effects alone); they do not depend on stage 1, so --cache keeps them for a rerun with other
    stage-1 settings."""
    key = f"{main}-seed{seed}-m{args.main_train}-a{args.aux_train}-s{args.steps}"
    cached = args.cache / f"{key}.json" if args.cache is not None else None
    if cached is not None and cached.is_file():
        subsets: list[dict] = json.loads(cached.read_text())
        return subsets
    subsets = []
    for k in range(len(candidates) + 1):
        for combo in itertools.combinations(candidates, k):
            if args.smoke and k > 1:
                continue
            subsets.append(train_subset(bench, main, combo, args))
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(json.dumps(subsets))
    return subsets


def _run_autoaux(
    bench: Any,
    config: Any,
    main: str,
    seed: int,
    pool: list[str],
    args: argparse.Namespace,
    out: dict[str, Any],
) -> list[str]:
    """autoaux into ``out`` (with --screen, the affinity screen first, then the race on its
    shortlist): stage 1 as configured, stage 2 on its selection. Returns the pool raced."""
    from autoaux import NullTracker
    from autoaux.stages import run_race, run_stage2

    candidates, control = pool_of(main)
    s = time.perf_counter()
    screen_steps = 0
    if args.screen is not None:
        from autoaux.config import ScreenConfig
        from autoaux.stages.screen import run_screen

        screen = run_screen(
            bench.probe_trainer,
            main=main, candidates=candidates, control=control,
            settings=ScreenConfig(**json.loads(args.screen)),
        )  # fmt: skip
        screen_steps = screen.steps
        pool = [*screen.shortlist, control]
        out["screen"] = screen_summary(screen, seconds=screen.seconds)
    selection = run_race(
        bench.episode_factory(),
        main=main,
        pool=pool,
        controls=[control],
        settings=config.stage1.race(),
        seed=seed,
        tracker=NullTracker(),
        protocol=config.protocol,
    )
    race_seconds = time.perf_counter() - s
    mix = run_stage2(
        bench.factory("stage2"),
        main=main,
        tasks=selection.selected,
        settings=config.stage2,
        seed=seed,
        utilities=selection.utilities,
        protocol=config.protocol,
    )
    out["autoaux"] = {
        "selected": list(selection.selected),
        "decision": selection.decision,
        "verdicts": {k: v.to_dict() for k, v in selection.verdicts.items()},
        "episodes": len(selection.history),
        "stage1_steps": sum(r.steps for r in selection.history) + screen_steps,
        "stage1_seconds": race_seconds,
        "stage2_steps": sum(sum(t.steps_per_task.values()) for t in mix.trials),
        "dev": mix.best_dev_score,
        "test": mix.test_score,
        "ratios": dict(mix.ratios),
    }
    return pool


def _run_autosem(
    bench: Any, main: str, seed: int, pool: list[str], args: argparse.Namespace, ws: Workspace
) -> dict[str, Any]:
    """The literal AutoSem stage 1, scored through its subset."""
    from autoaux import NullTracker
    from autoaux.stages import run_stage1
    from autoaux.stages.stage1 import make_gate

    _, control = pool_of(main)
    sem = make_config(main, seed, args, ws).with_overrides(
        {"stage1.preset": "autosem", "stage1.pulls": args.autosem_pulls}
    )
    trainer = bench.trainer(
        None,
        "stage1",
        gate=make_gate(sem.stage1.bandit()),
        schedule_steps=sem.stage1.pulls * sem.stage1.steps_per_pull,
    )
    autosem = run_stage1(
        trainer,
        main=main,
        pool=pool,
        controls=[control],
        settings=sem.stage1.bandit(),
        seed=seed,
        tracker=NullTracker(),
    )
    return {
        "selected": list(autosem.selected),
        "steps": sem.stage1.pulls * sem.stage1.steps_per_pull,
    }


def _run_temperature(
    bench: Any, config: Any, main: str, candidates: Sequence[str], args: argparse.Namespace
) -> dict[str, Any]:
    """Temperature sampling over main and the real pool."""
    from autoaux.stages import run_baselines

    sizes = {name: len(bench.data[name].train) for name in [main, *candidates]}
    base = run_baselines(
        ["temperature"],
        bench.factory("baselines"),
        main=main,
        auxiliary=candidates,
        sizes=sizes,
        steps=args.steps,
        eval_every=args.steps // 6 or 1,
        protocol=config.protocol,
    )["temperature"]
    return {"dev": base.dev, "test": base.test, "steps": base.steps}


def run_one(main: str, seed: int, args: argparse.Namespace, ws: Workspace) -> dict[str, Any]:
    from autoaux.training import Workbench

    t0 = time.perf_counter()
    config = make_config(main, seed, args, ws, **json.loads(args.stage1))
    candidates, _ = pool_of(main)
    pool = list(config.auxiliary_tasks())
    bench = Workbench.build(config, [main, *pool], ())
    out: dict[str, Any] = {"main": main, "seed": seed, "candidates": candidates}
    out["subsets"] = _exhaustive_subsets(bench, main, seed, candidates, args)
    pool = _run_autoaux(bench, config, main, seed, pool, args, out)
    out["autosem"] = _run_autosem(bench, main, seed, pool, args, ws)
    out["temperature"] = _run_temperature(bench, config, main, candidates, args)
    out["seconds"] = time.perf_counter() - t0
    return out


# ------------------------------------------------------------------------------ report
def _effect(record: Mapping[str, Any], cand: str) -> float | None:
    with_it, alone = subset_test(record, [cand]), subset_test(record, [])
    return None if with_it is None or alone is None else with_it - alone


def report(lines: Sequence[Mapping[str, Any]]) -> str:
    out: list[str] = []
    mains = [m for m in DOMAINS if any(r["main"] == m for r in lines)]
    rows = []
    verdict_rows = []
    all_pr: list[tuple[float, float]] = []
    control_selected = 0
    for main in mains:
        recs = sorted((r for r in lines if r["main"] == main), key=lambda r: r["seed"])
        base = [subset_test(r, []) for r in recs]
        methods: dict[str, list[float | None]] = {
            "main-only": base,
            "uniform": [subset_test(r, r["candidates"]) for r in recs],
            "temperature": [r["temperature"]["test"] for r in recs],
            "oracle by dev": [max(r["subsets"], key=lambda s: s["dev"])["test"] for r in recs],
            "hindsight best": [max(s["test"] for s in r["subsets"]) for r in recs],
            "autosem (ratio 1)": [subset_test(r, r["autosem"]["selected"]) for r in recs],
            "autoaux selection (ratio 1)": [subset_test(r, r["autoaux"]["selected"]) for r in recs],
            "autoaux (+ stage 2)": [r["autoaux"]["test"] for r in recs],
        }
        exhaustive_steps = statistics.fmean(sum(s["steps"] for s in r["subsets"]) for r in recs)
        costs = {
            "autoaux (+ stage 2)": statistics.fmean(
                r["autoaux"]["stage1_steps"] + r["autoaux"]["stage2_steps"] for r in recs
            ),
            "oracle by dev": exhaustive_steps,
            "autosem (ratio 1)": statistics.fmean(r["autosem"]["steps"] for r in recs),
        }
        for name, values in methods.items():
            stats = summary(values)
            diff = paired(values, base)
            cost = costs.get(name)
            rows.append((
                main, name, f"{stats['mean']:.3f}",
                "" if name == "main-only"
                else f"{100 * diff['mean']:+.1f} ± {100 * diff['ci95']:.1f}"
                if math.isfinite(diff.get("ci95", math.nan)) else "n/a",
                f"{diff['wins']}/{diff['ties']}/{diff['losses']}" if name != "main-only" else "",
                "" if cost is None else f"{cost:,.0f}"
                + (f" ({100 * cost / exhaustive_steps:.0f}%)" if name != "oracle by dev" else ""),
            ))  # fmt: skip
        # verdicts against each candidate's measured effect alone (paired over seeds)
        candidates = recs[0]["candidates"]
        for cand in candidates:
            eff = summary([_effect(r, cand) for r in recs])
            verdicts = [r["autoaux"]["verdicts"].get(cand, {}).get("verdict", "?") for r in recs]
            counts = {v: verdicts.count(v) for v in ("helps", "undecided", "hurts")}
            truth = (
                "helps"
                if eff["n"] > 1 and eff["mean"] - eff["ci95"] > 0
                else (
                    "hurts" if eff["n"] > 1 and eff["mean"] + eff["ci95"] < 0 else "no clear effect"
                )
            )
            verdict_rows.append((
                main, cand, f"{100 * eff['mean']:+.1f} ± {100 * eff['ci95']:.1f}", truth,
                f"{counts['helps']}/{counts['undecided']}/{counts['hurts']}",
            ))  # fmt: skip
        for r in recs:
            relevant = [c for c in candidates if _significant(recs, c)]
            all_pr.append(precision_recall(r["autoaux"]["selected"], relevant))
            control_selected += any(s.startswith("shuffled:") for s in r["autoaux"]["selected"])
    n = sum(1 for _ in lines)
    out.append(
        f"{n} (main, seed) runs; main test accuracy; differences vs main-only paired by "
        "seed with 95% t intervals (points); wins/ties/losses over seeds"
    )
    out.append(
        md_table(("main", "method", "test", "vs main-only", "w/t/l", "training steps"), rows)
    )
    out.append("")
    out.append(
        "Verdicts of the autoaux race against each candidate's effect alone (main + it "
        "at ratio 1 minus main only, test, paired over seeds); helps/undecided/hurts "
        "counts over seeds"
    )
    out.append(
        md_table(("main", "candidate", "effect alone", "truth", "race verdicts"), verdict_rows)
    )
    precisions = [p for p, _ in all_pr if math.isfinite(p)]
    recalls = [r for _, r in all_pr if math.isfinite(r)]
    out.append("")
    precision = statistics.fmean(precisions) if precisions else math.nan
    recall = statistics.fmean(recalls) if recalls else math.nan
    out.append(
        f"selection vs 'helps alone with 95% confidence': precision {precision:.2f} (runs that "
        f"selected something: {len(precisions)}), recall {recall:.2f}; control selected in "
        f"{control_selected} of {n} runs"
    )
    return "\n".join(out)


def _significant(recs: Sequence[Mapping[str, Any]], cand: str) -> bool:
    eff = summary([_effect(r, cand) for r in recs])
    return eff["n"] > 1 and eff["mean"] - eff["ci95"] > 0


def compare(new_path: Path, old_path: Path) -> str:
    """autoaux of ``new_path`` against autoaux of ``old_path`` on their common (main, seed)
    pairs: main test accuracy (paired, points), stage-1 steps (share of the exhaustive search),
    the selection's precision / recall against 'helps alone with 95% confidence' (judged on
    the new file's seeds)."""

    def load(path: Path) -> dict[tuple[str, int], Mapping[str, Any]]:
        rows = (json.loads(x) for x in path.read_text().splitlines() if x.strip())
        return {(r["main"], r["seed"]): r for r in rows}

    new, old = load(new_path), load(old_path)
    keys = sorted(set(new) & set(old))
    if not keys:
        mains = sorted({m for m, _ in new}), sorted({m for m, _ in old})
        raise ValueError(
            f"{new_path} and {old_path} share no (main, seed) run to pair: their main tasks are "
            f"{', '.join(mains[0]) or 'none'} and {', '.join(mains[1]) or 'none'}"
        )
    rows = []
    for main in [m for m in DOMAINS if any(k[0] == m for k in keys)] + ["all"]:
        ks = [k for k in keys if main in ("all", k[0])]
        a = [new[k]["autoaux"]["test"] for k in ks]
        b = [old[k]["autoaux"]["test"] for k in ks]
        diff = paired(a, b)
        exhaustive = statistics.fmean(sum(s["steps"] for s in new[k]["subsets"]) for k in ks)
        steps_new = statistics.fmean(new[k]["autoaux"]["stage1_steps"] for k in ks)
        steps_old = statistics.fmean(old[k]["autoaux"]["stage1_steps"] for k in ks)
        pr_new, pr_old = [], []
        for k in ks:
            recs = [new[j] for j in keys if j[0] == k[0]]
            relevant = [c for c in new[k]["candidates"] if _significant(recs, c)]
            pr_new.append(precision_recall(new[k]["autoaux"]["selected"], relevant))
            pr_old.append(precision_recall(old[k]["autoaux"]["selected"], relevant))

        def mean(values: list[float]) -> str:
            finite = [v for v in values if math.isfinite(v)]
            return f"{statistics.fmean(finite):.2f}" if finite else "n/a"

        rows.append((
            main, str(len(ks)), f"{statistics.fmean(a):.3f}", f"{statistics.fmean(b):.3f}",
            f"{100 * diff['mean']:+.1f} ± {100 * diff['ci95']:.1f}"
            if math.isfinite(diff.get("ci95", math.nan)) else f"{100 * diff['mean']:+.1f}",
            f"{diff['wins']}/{diff['ties']}/{diff['losses']}",
            f"{steps_new:,.0f} ({100 * steps_new / exhaustive:.0f}%)",
            f"{steps_old:,.0f} ({100 * steps_old / exhaustive:.0f}%)",
            f"{mean([p for p, _ in pr_new])} / {mean([r for _, r in pr_new])}",
            f"{mean([p for p, _ in pr_old])} / {mean([r for _, r in pr_old])}",
        ))  # fmt: skip
    return md_table(
        (
            "main",
            "runs",
            "test (new)",
            "test (old)",
            "new - old (pts)",
            "w/t/l",
            "stage-1 steps new (of exhaustive)",
            "old",
            "precision / recall new",
            "old",
        ),
        rows,
    )


# ------------------------------------------------------------------------------ main
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-9")
    parser.add_argument("--mains", default=",".join(DOMAINS))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--report",
        type=Path,
        nargs="+",
        default=None,
        help="summarise these JSON-lines files instead of running",
    )
    parser.add_argument("--encoder", default="minilm-cached")
    parser.add_argument("--main-train", type=int, default=100)
    parser.add_argument("--aux-train", type=int, default=1000)
    parser.add_argument("--episodes", type=int, default=150)
    parser.add_argument("--episode-steps", type=int, default=150)
    parser.add_argument("--autosem-pulls", type=int, default=150)
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="folder keeping the exhaustive subsets' scores between runs",
    )
    parser.add_argument(
        "--stage1",
        default="{}",
        help="JSON of extra [stage1] keys for autoaux, e.g. '{\"alpha\": 0.1}'",
    )
    parser.add_argument(
        "--compare",
        type=Path,
        nargs=2,
        metavar=("NEW", "OLD"),
        default=None,
        help="paired comparison of autoaux in two JSON-lines files (same "
        "(main, seed) pairs): test accuracy and stage-1 steps",
    )
    parser.add_argument(
        "--screen",
        default=None,
        help="screen the pool first: JSON of [screen] keys ('{}': defaults)",
    )
    parser.add_argument("--smoke", action="store_true", help="tiny budgets, subsets of size <= 1")
    args = parser.parse_args(argv)
    if args.report is not None:
        lines = [
            json.loads(x)
            for path in args.report
            for x in path.read_text().splitlines()
            if x.strip()
        ]
        print(report(lines))
        return 0
    if args.compare is not None:
        try:
            print(compare(*args.compare))
        except ValueError as error:
            parser.error(str(error))
        return 0
    if args.smoke:
        args.main_train, args.aux_train, args.episodes, args.episode_steps = 60, 120, 8, 20
        args.autosem_pulls, args.trials, args.steps = 8, 2, 30
    machine = setup(1)
    log(f"multidomain: {machine}")
    ws = Workspace()
    mains = [m for m in args.mains.split(",") if m]
    lines = []
    try:
        for seed in seeds_of(args.seeds):  # seed-major: partial runs stay balanced over mains
            for main in mains:
                log(f"multidomain: main {main}, seed {seed}")
                record = run_one(main, seed, args, ws)
                lines.append(record)
                if args.out is not None:
                    with args.out.open("a") as f:
                        f.write(json.dumps(record) + "\n")
                log(
                    f"multidomain: {main} seed {seed}: {record['autoaux']['decision']} "
                    f"({record['seconds']:.0f}s)"
                )
    finally:
        ws.close()
    print(report(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
