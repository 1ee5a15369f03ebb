"""Does "helps" mean "better than training the main task without it"? Real suites, right truth.

Every training run here follows the product's protocol (``[protocol]``, default: the main task
trains until its dev score stops improving, auxiliary batches on top). Per (suite, seed), with
one workbench (same tasks, cached MiniLM features and initial weights for every method):

* **exhaustive**: main + every subset of the real candidates at ratio 1 (the empty subset is
  main alone). Each candidate's **effect alone** (main + it minus main alone, main test score)
  is the truth for its verdict: a task *helps* when its effect alone is above 0 with 95%
  confidence over the seeds (paired t interval). The control's effect alone is measured too.
  The **oracle by dev** is the subset with the best main dev score (its test score reported).
* **autoaux**: the default race (stage 1) on the pool with its control, then the GP stage 2 on
  what it selected (which always tries main alone first); its chosen mixture's main test score.
  **stage1-only**: the selection at ratio 1 (from the exhaustive runs); **uniform**: every
  candidate at ratio 1.

Costs are optimiser steps (every task counted) and seconds. One JSON line per (suite, seed) is
appended to ``--out``; ``--report`` summarises any set of such files.

Suites (``--suite``):

* ``questions``: main ``trec-fine`` (50 question types) with 200 training rows, the many-class
  task a fixed 300-step budget starves; pool ``trec-coarse`` (same questions, coarse labels),
  ``sms-spam``, ``bbc-topic``, control ``shuffled:trec-coarse``.
* ``sentiment``: the default run's main task and pool: ``nyt-polarity`` (100 rows) with the
  three other sentiment domains, ``trec-coarse``, ``sms-spam``, control
  ``shuffled:amazon-polarity``.

Usage::

    python -m benchmarks.helps --suite questions --seeds 10-14 --out benchmarks/results/helps.jsonl
    python -m benchmarks.helps --report benchmarks/results/helps.jsonl
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

from benchmarks._common import Workspace, log, md_table, paired, precision_recall, seeds_of, setup
from benchmarks._subsets import subset_test, train_subset

SUITES: dict[str, dict[str, Any]] = {
    "questions": {
        "main": "trec-fine",
        "rows": 200,
        "candidates": ["trec-coarse", "sms-spam", "bbc-topic"],
        "control": "shuffled:trec-coarse",
    },
    "sentiment": {
        "main": "nyt-polarity",
        "rows": 100,
        "candidates": [
            "amazon-polarity",
            "movie-polarity",
            "tweet-polarity",
            "trec-coarse",
            "sms-spam",
        ],
        "control": "shuffled:amazon-polarity",
    },
}


def make_config(suite: str, seed: int, args: argparse.Namespace, folder: str) -> Any:
    from autoaux import config_from_dict
    from autoaux.config.defaults import default_config_dict

    spec = SUITES[suite]
    base = default_config_dict()
    return config_from_dict(
        {
            "seed": seed,
            "model": {"encoder": args.encoder, "max_length": 64},
            "main": {"task": spec["main"], "max_train_examples": spec["rows"]},
            "auxiliary": {
                "tasks": [*spec["candidates"], spec["control"]],
                "max_train_examples": 1000,
            },
            "stage1": {**base["stage1"], **json.loads(args.stage1)},
            "stage2": {**base["stage2"], "trials": args.trials},
            "tracking": {"enabled": False},
            "checkpoint": {"enabled": False},
            "output_dir": folder,
            "device": "cpu",
        },
        source="benchmarks/helps.py",
    )


def run_one(suite: str, seed: int, args: argparse.Namespace, ws: Workspace) -> dict[str, Any]:
    from autoaux import NullTracker
    from autoaux.stages import run_race, run_stage2
    from autoaux.training import Workbench

    t0 = time.perf_counter()
    spec = SUITES[suite]
    main, candidates, control = spec["main"], spec["candidates"], spec["control"]
    config = make_config(suite, seed, args, ws.folder())
    pool = list(config.auxiliary_tasks())
    bench = Workbench.build(config, [main, *pool], ())
    protocol, s2 = config.protocol, config.stage2

    def train(subset: Sequence[str]) -> dict[str, Any]:
        return train_subset(
            bench, main, subset, steps=s2.steps, eval_every=s2.eval_every, main_steps=True
        )

    out: dict[str, Any] = {"suite": suite, "main": main, "seed": seed, "candidates": candidates}
    s = time.perf_counter()
    subsets = [
        train(combo)
        for k in range(len(candidates) + 1)
        for combo in itertools.combinations(candidates, k)
    ]
    out["subsets"] = subsets
    out["control_alone"] = train([control])
    out["exhaustive_seconds"] = time.perf_counter() - s

    s = time.perf_counter()
    selection = run_race(
        bench.episode_factory(),
        main=main,
        pool=pool,
        controls=[control],
        settings=config.stage1.race(),
        seed=seed,
        tracker=NullTracker(),
        protocol=protocol,
    )
    race_seconds = time.perf_counter() - s
    s = time.perf_counter()
    mix = run_stage2(
        bench.factory("stage2"),
        main=main,
        tasks=selection.selected,
        settings=s2,
        seed=seed,
        utilities=selection.utilities,
        protocol=protocol,
    )
    out["autoaux"] = {
        "selected": list(selection.selected),
        "decision": selection.decision,
        "verdicts": {k: v.to_dict() for k, v in selection.verdicts.items()},
        "episodes": len(selection.history),
        "stage1_steps": sum(r.steps for r in selection.history),
        "stage1_seconds": race_seconds,
        "stage2_steps": sum(sum(t.steps_per_task.values()) for t in mix.trials),
        "stage2_seconds": time.perf_counter() - s,
        "dev": mix.best_dev_score,
        "test": mix.test_score,
        "ratios": dict(mix.ratios),
        "main_alone": mix.main_alone,
        "main_only_dev": mix.main_only_dev,
        "trials": [{"ratios": t.ratios, "dev": t.score} for t in mix.trials],
        "utilities": dict(selection.utilities),
    }
    out["seconds"] = time.perf_counter() - t0
    return out


# ------------------------------------------------------------------------------ report
def _ci(d: Mapping[str, Any]) -> str:
    half = d.get("ci95", math.nan)
    if not math.isfinite(d.get("mean", math.nan)):
        return "n/a"
    if half is None or not math.isfinite(half):
        return f"{100 * d['mean']:+.1f}"
    return f"{100 * d['mean']:+.1f} ± {100 * half:.1f}"


def _candidate_table(
    recs: Sequence[Mapping[str, Any]], candidates: Sequence[str], control: str, base: list[Any]
) -> tuple[str, dict[str, bool]]:
    """Each candidate's effect alone against the main task alone, and autoaux's verdicts."""
    truth: dict[str, bool] = {}
    rows: list[tuple[str, ...]] = []
    for cand in [*candidates, control]:
        alone = (
            [r["control_alone"]["test"] for r in recs]
            if cand == control
            else [subset_test(r, [cand]) for r in recs]
        )
        d = paired(alone, base)
        helps = math.isfinite(d.get("ci95", math.nan)) and d["mean"] - d["ci95"] > 0
        truth[cand] = helps
        verdicts = [r["autoaux"]["verdicts"].get(cand, {}).get("verdict", "-") for r in recs]
        counts = {v: verdicts.count(v) for v in ("helps", "negligible", "hurts", "undecided")}
        rows.append(
            (
                cand + (" (control)" if cand == control else ""),
                _ci(d),
                "helps" if helps else "no",
                " / ".join(str(counts[v]) for v in counts),
            )
        )
    table = md_table(
        (
            "candidate",
            "effect alone vs main alone (test, pts, 95% CI)",
            "truth",
            "verdicts helps / negligible / hurts / undecided",
        ),
        rows,
    )
    return table, truth


def _selection_line(
    recs: Sequence[Mapping[str, Any]],
    candidates: Sequence[str],
    control: str,
    truth: Mapping[str, bool],
) -> str:
    """Precision and recall of stage 1's selection against the candidates that help."""
    relevant = [c for c in candidates if truth[c]]
    prs = [precision_recall(r["autoaux"]["selected"], relevant) for r in recs]
    selected = sum(len(r["autoaux"]["selected"]) for r in recs)
    right = sum(len(set(r["autoaux"]["selected"]) & set(relevant)) for r in recs)
    should = len(relevant) * len(recs)
    precision = right / selected if selected else math.nan
    recall = right / should if should else math.nan
    control_helps = sum(
        r["autoaux"]["verdicts"].get(control, {}).get("verdict") == "helps" for r in recs
    )
    per_p = [p for p, _ in prs if math.isfinite(p)]
    per_r = [r for _, r in prs if math.isfinite(r)]
    mean_p = statistics.fmean(per_p) if per_p else math.nan
    mean_r = statistics.fmean(per_r) if per_r else math.nan
    return (
        f"\nhelps: precision {precision:.2f}, recall {recall:.2f} over {len(recs)} runs "
        f"(pooled; per run mean {mean_p:.2f} / {mean_r:.2f}); "
        f"the control called helps in {control_helps} of {len(recs)} runs\n"
    )


def _method_table(
    recs: Sequence[Mapping[str, Any]], base: list[Any]
) -> tuple[str, dict[str, list[float | None]]]:
    """Main test score of each method, against the main task alone and the oracle by dev."""
    methods: dict[str, list[float | None]] = {
        "main alone": base,
        "uniform (all at 1)": [subset_test(r, r["candidates"]) for r in recs],
        "stage1-only (selection at 1)": [subset_test(r, r["autoaux"]["selected"]) for r in recs],
        "oracle by dev": [max(r["subsets"], key=lambda s: s["dev"])["test"] for r in recs],
        "autoaux (stage 1 + stage 2)": [r["autoaux"]["test"] for r in recs],
    }
    oracle = methods["oracle by dev"]
    rows = []
    for name, values in methods.items():
        valid = [v for v in values if v is not None]
        d = paired(values, base)
        o = paired(values, oracle)
        rows.append(
            (
                name,
                f"{statistics.fmean(valid):.3f}" if valid else "n/a",
                "" if name == "main alone" else _ci(d),
                "" if name == "main alone" else f"{d['wins']}/{d['ties']}/{d['losses']}",
                "" if name == "oracle by dev" else _ci(o),
            )
        )
    table = md_table(
        (
            "method",
            "main test",
            "minus main alone (pts, 95% CI)",
            "wins/ties/losses",
            "minus oracle (pts, 95% CI)",
        ),
        rows,
    )
    return table, methods


def _cost_line(recs: Sequence[Mapping[str, Any]]) -> str:
    """Steps and seconds of each stage per run, against the exhaustive search."""
    exhaustive = statistics.fmean(sum(s["steps"] for s in r["subsets"]) for r in recs)
    s1 = statistics.fmean(r["autoaux"]["stage1_steps"] for r in recs)
    s2 = statistics.fmean(r["autoaux"]["stage2_steps"] for r in recs)
    t1 = statistics.fmean(r["autoaux"]["stage1_seconds"] for r in recs)
    t2 = statistics.fmean(r["autoaux"]["stage2_seconds"] for r in recs)
    te = statistics.fmean(r["exhaustive_seconds"] for r in recs)
    n_alone = sum(bool(r["autoaux"].get("main_alone")) for r in recs)
    episodes = statistics.fmean(r["autoaux"]["episodes"] for r in recs)
    return (
        f"\ncost per run: stage 1 {s1:,.0f} steps ({episodes:.0f} episodes, {t1:.0f} s), "
        f"stage 2 {s2:,.0f} steps ({t2:.0f} s); exhaustive over "
        f"{len(recs[0]['subsets'])} subsets {exhaustive:,.0f} steps ({te:.0f} s); stage 1 "
        f"= {100 * s1 / exhaustive:.0f}% of the exhaustive search. Stage 2 recommended the "
        f"main task alone in {n_alone} of {len(recs)} runs.\n"
    )


def report(lines: Sequence[Mapping[str, Any]]) -> str:
    out: list[str] = []
    for suite in [s for s in SUITES if any(r["suite"] == s for r in lines)]:
        recs = sorted((r for r in lines if r["suite"] == suite), key=lambda r: r["seed"])
        seeds = [r["seed"] for r in recs]
        main = recs[0]["main"]
        candidates = recs[0]["candidates"]
        control = SUITES[suite]["control"]
        base = [subset_test(r, []) for r in recs]
        out.append(f"\n### {suite}: main {main}, seeds {seeds}\n")
        table, truth = _candidate_table(recs, candidates, control, base)
        out.append(table)
        out.append(_selection_line(recs, candidates, control, truth))
        table, methods = _method_table(recs, base)
        out.append(table)
        worth = paired(
            methods["autoaux (stage 1 + stage 2)"], methods["stage1-only (selection at 1)"]
        )
        out.append(
            f"\nstage 2 minus the selection at ratio 1 (what stage 2's trials buy): "
            f"{_ci(worth)} pts ({worth['wins']}/{worth['ties']}/{worth['losses']})\n"
        )
        out.append(_cost_line(recs))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=sorted(SUITES), default="questions")
    parser.add_argument("--seeds", default="10-14")
    parser.add_argument("--encoder", default="minilm-cached")
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--stage1", default="{}", help="[stage1] overrides as JSON")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/helps.jsonl"))
    parser.add_argument("--report", type=Path, nargs="*", default=None)
    args = parser.parse_args(argv)
    if args.report is not None:
        files = args.report or [args.out]
        lines = [json.loads(x) for f in files for x in f.read_text().splitlines() if x.strip()]
        print(report(lines))
        return 0
    setup()
    seeds = seeds_of(args.seeds)
    done: set[tuple[str, int]] = set()
    if args.out.is_file():
        for x in args.out.read_text().splitlines():
            if x.strip():
                r = json.loads(x)
                done.add((r["suite"], r["seed"]))
    ws = Workspace()
    try:
        for seed in seeds:
            if (args.suite, seed) in done:
                continue
            record = run_one(args.suite, seed, args, ws)
            with args.out.open("a") as f:
                f.write(json.dumps(record) + "\n")
            log(
                f"{args.suite} seed {seed}: {record['seconds']:.0f}s, selected "
                f"{record['autoaux']['selected']}, test {record['autoaux']['test']}"
            )
    finally:
        ws.close()
    lines = [json.loads(x) for x in args.out.read_text().splitlines() if x.strip()]
    print(report(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
