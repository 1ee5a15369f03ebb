"""Affinity-screen benchmark: does the screen find the helpful tasks of a large pool, cheaply?

Sections (``--sections``, default ``planted,real``):

* ``planted``: pools of 10, 50, 100 and 200 planted candidates (30% helpful, 30% neutral, 40%
  harmful, :func:`tasks.make_planted_suite`; main task 100 training examples, each candidate
  300) plus the null control, ``tiny`` encoder. Each (size, seed) runs in its own process, so
  its peak memory (``ru_maxrss``) is its own. Reported: the screen's steps, seconds and peak
  memory (the cost curve); precision and recall of the helpful set for two read-outs of the
  affinity row: the candidates above the control with confidence (``low > 0``) and the top
  ``k`` by affinity with ``k`` the number of planted helpers (an oracle ``k``); and the AUC of
  the affinity between helpful and other candidates.
* ``real``: each sentiment domain as the main task (100 training examples) against every
  other built-in task (1,000 training examples each; the main domain's own ``-rating`` twin is
  left out, it holds the same sentences) plus a ``shuffled:`` control, with the cached MiniLM
  encoder. Per (main, seed): the screen's affinity row; each candidate's measured effect alone
  (main + it at ratio 1 minus main only, main test accuracy, one stage-2-sized run each); the
  Spearman rank correlation of the two; and end to end, the screen's shortlist raced by stage 1
  and mixed by stage 2 against main-only and against the other three sentiment domains at
  ratio 1 (the subset a person would pick by hand).

* ``probes``: how long a probe must be. On the multi-domain pools (each sentiment domain as
  main; the other three, ``trec-coarse``, ``sms-spam``, ``bbc-topic`` and the control), the
  Spearman correlation between the affinity and each candidate's effect alone averaged over the
  10 seeds of ``benchmarks/results/multidomain-*.jsonl``, for several probe lengths. Run on
  seeds 0-1, which the ``real`` section does not report.

Usage::

    python -m benchmarks.affinity --sections probes --seeds 0-1
    python -m benchmarks.affinity --sections planted --sizes 10,50,100,200 --seeds 0
    python -m benchmarks.affinity --sections real --seeds 0-2
    python -m benchmarks.affinity --report benchmarks/results/affinity-*.jsonl
    python -m benchmarks.affinity --smoke

Results are appended as JSON lines to ``--out`` (one per point), so a long run can be stopped
and summarised at any time.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

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

DOMAINS = ("amazon-polarity", "movie-polarity", "nyt-polarity", "tweet-polarity")
SIZES = (10, 50, 100, 200)


# ------------------------------------------------------------------------------- helpers
def auc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """Probability that a positive scores above a negative (ties count half)."""
    if not positive or not negative:
        return math.nan
    wins = sum((p > n) + 0.5 * (p == n) for p in positive for n in negative)
    return wins / (len(positive) * len(negative))


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def peak_rss_mb() -> float:
    """Peak resident memory of this process, MB (Linux reports ``ru_maxrss`` in KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ------------------------------------------------------------------------------- planted
def planted_point(n: int, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """The screen on one planted pool of ``n`` candidates (run in a child process)."""
    import autoaux
    from autoaux import config_from_dict
    from benchmarks.planted import composition
    from tasks import make_planted_suite

    helpful, neutral, harmful = composition(n)
    suite = make_planted_suite(
        n_helpful=helpful, n_neutral=neutral, n_harmful=harmful, main_train=100,
        aux_train=args.aux_train, dev=200, test=400, seed=seed,
    )  # fmt: skip
    ws = Workspace()
    try:
        config = config_from_dict(
            {
                "seed": seed,
                "model": {"encoder": "tiny", "max_length": 32},
                "main": {"task": suite.main.name},
                "auxiliary": {"tasks": [t.name for t in suite.auxiliary], "add_control": True},
                "screen": {
                    "probe_steps": args.probe_steps,
                    "rounds": args.rounds,
                    "shortlist": max(1, len(suite.helpful)),
                },
                "tracking": {"enabled": False},
                "output_dir": ws.folder(),
                "device": "cpu",
            },
            source="benchmarks/affinity.py",
            user_tasks=[t.name for t in suite.tasks],
        )
        start = time.perf_counter()
        result = autoaux.affinity(
            config, user_tasks=suite.tasks, tracker=autoaux.NullTracker(), progress=False
        )
        wall = time.perf_counter() - start
    finally:
        ws.close()
    row = result.row()
    candidates = [a for a in result.arms if a != result.control]
    relevant = set(suite.helpful)
    above = [c for c in candidates if result.interval(c)[0] > 0]
    p_above, r_above = precision_recall(above, relevant)
    p_top, r_top = precision_recall(result.shortlist, relevant)
    return {
        "section": "planted",
        "n": n,
        "seed": seed,
        "probe_steps": args.probe_steps,
        "rounds": args.rounds,
        "aux_train": args.aux_train,
        "helpful": sorted(relevant),
        "affinity": row,
        "low": {c: result.interval(c)[0] for c in candidates},
        "above_control": above,
        "precision_above": p_above,
        "recall_above": r_above,
        "precision_top_k": p_top,
        "recall_top_k": r_top,
        "auc": auc(
            [row[c] for c in candidates if c in relevant],
            [row[c] for c in candidates if c not in relevant],
        ),
        "steps": result.steps,
        "screen_seconds": result.seconds,
        "wall_seconds": wall,
        "peak_rss_mb": peak_rss_mb(),
    }


def section_planted(args: argparse.Namespace) -> None:
    for n in args.sizes:
        for seed in args.seeds:
            log(f"planted: {n} candidates, seed {seed}")
            command = [
                sys.executable, "-m", "benchmarks.affinity", "--one-planted", f"{n}:{seed}",
                "--probe-steps", str(args.probe_steps), "--rounds", str(args.rounds),
                "--aux-train", str(args.aux_train), "--out", str(args.out),
            ]  # fmt: skip
            subprocess.run(command, check=True)


# ------------------------------------------------------------------------------- real
def real_pool(main: str) -> tuple[list[str], str]:
    from tasks import builtin_names

    twin = main.replace("-polarity", "-rating")
    candidates = [t for t in builtin_names() if t not in (main, twin)]
    others = [d for d in DOMAINS if d != main]
    return candidates, "shuffled:" + others[0]


def real_point(main: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    from autoaux import NullTracker, config_from_dict
    from autoaux.stages import run_race, run_stage2
    from autoaux.stages.screen import run_screen
    from autoaux.training import Workbench
    from benchmarks.multidomain import train_subset

    candidates, control = real_pool(main)
    ws = Workspace()
    config = config_from_dict(
        {
            "seed": seed,
            "model": {"encoder": "minilm-cached", "max_length": 64},
            "main": {"task": main, "max_train_examples": 100},
            "auxiliary": {"tasks": [*candidates, control], "max_train_examples": 1000},
            "stage1": {"pulls": args.episodes, "episode_steps": args.episode_steps},
            "protocol": {"budget": args.budget},
            "stage2": {
                "trials": 6,
                "initial_points": 3,
                "steps": args.steps,
                "eval_every": args.steps // 6 or 1,
            },
            "tracking": {"enabled": False},
            "output_dir": ws.folder(),
            "device": "cpu",
        },
        source="benchmarks/affinity.py",
    )
    bench = Workbench.build(config, [main, *candidates, control], ())
    out: dict[str, Any] = {
        "section": "real", "main": main, "seed": seed, "budget": args.budget,
        "episode_steps": args.episode_steps,
    }  # fmt: skip
    # --- the screen
    start = time.perf_counter()
    screen = run_screen(
        bench.probe_trainer,
        main=main, candidates=candidates, control=control, settings=config.screen,
    )  # fmt: skip
    out["screen"] = screen_summary(
        screen, seconds=time.perf_counter() - start, intervals=candidates
    )
    # --- each candidate alone, and main only (ground truth of the affinity)
    alone = {c: train_subset(bench, main, [c], args) for c in candidates}
    main_only = train_subset(bench, main, [], args)
    hand = train_subset(bench, main, [d for d in DOMAINS if d != main], args)
    out["main_only"] = main_only
    out["hand_picked"] = hand
    out["effect_alone"] = {c: alone[c]["test"] - main_only["test"] for c in candidates}
    out["dev_alone"] = {c: alone[c]["dev"] - main_only["dev"] for c in candidates}
    out["spearman_test"] = spearman([screen.row()[c] for c in candidates],
                                    [out["effect_alone"][c] for c in candidates])  # fmt: skip
    out["spearman_dev"] = spearman([screen.row()[c] for c in candidates],
                                   [out["dev_alone"][c] for c in candidates])  # fmt: skip
    # --- end to end: the race on the shortlist, stage 2 on what it selects
    start = time.perf_counter()
    selection = run_race(
        bench.episode_factory(), main=main, pool=[*screen.shortlist, control],
        controls=[control], settings=config.stage1.race(), seed=seed, tracker=NullTracker(),
    )  # fmt: skip
    race_seconds = time.perf_counter() - start
    mix = run_stage2(
        bench.factory("stage2"), main=main, tasks=selection.selected, settings=config.stage2,
        seed=seed, utilities=selection.utilities,
    )  # fmt: skip
    out["autoaux"] = {
        "selected": list(selection.selected),
        "decision": selection.decision,
        "stage1_steps": sum(p.steps for p in selection.history),
        "stage1_seconds": race_seconds,
        "stage2_steps": sum(sum(t.steps_per_task.values()) for t in mix.trials),
        "dev": mix.best_dev_score,
        "test": mix.test_score,
    }
    ws.close()
    return out


def section_real(args: argparse.Namespace) -> None:
    for seed in args.seeds:
        for main in args.mains:
            log(f"real: {main}, seed {seed}")
            point = real_point(main, seed, args)
            _append(args.out, point)
            log(f"  rho={point['spearman_test']:+.2f} shortlist={point['screen']['shortlist']} "
                f"selected={point['autoaux']['selected']} test={point['autoaux']['test']:.3f} "
                f"main-only={point['main_only']['test']:.3f}")  # fmt: skip


# ------------------------------------------------------------------------------- probes
def section_probes(args: argparse.Namespace) -> None:
    """How long a probe must be: on the multi-domain pools (6 candidates + control), the
    Spearman correlation of the affinity (dev loss) against each candidate's effect alone
    averaged over the 10 seeds of ``benchmarks/results/multidomain-*.jsonl``, per probe
    length."""
    from autoaux import config_from_dict
    from autoaux.config import ScreenConfig
    from autoaux.stages.screen import run_screen
    from autoaux.training import Workbench
    from benchmarks.multidomain import pool_of

    truth: dict[tuple[str, str], list[float]] = {}
    for path in sorted((Path(__file__).parent / "results").glob("multidomain-[ab].jsonl")):
        for line in path.read_text().splitlines():
            r = json.loads(line)
            base = next(x["test"] for x in r["subsets"] if x["subset"] == [])
            for x in r["subsets"]:
                if len(x["subset"]) == 1:
                    truth.setdefault((r["main"], x["subset"][0]), []).append(x["test"] - base)
    for seed in args.seeds:
        for main in args.mains:
            candidates, control = pool_of(main)
            config = config_from_dict({
                "seed": seed, "model": {"encoder": "minilm-cached", "max_length": 64},
                "main": {"task": main, "max_train_examples": 100},
                "auxiliary": {"tasks": [*candidates, control], "max_train_examples": 1000},
                "tracking": {"enabled": False}, "device": "cpu",
            })  # fmt: skip
            bench = Workbench.build(config, [main, *candidates, control], ())
            effect = [statistics.fmean(truth[(main, c)]) for c in candidates]
            for steps in args.probe_lengths:
                result = run_screen(
                    bench.probe_trainer,
                    main=main, candidates=candidates, control=control,
                    settings=ScreenConfig(probe_steps=steps, rounds=3),
                )  # fmt: skip
                row = result.row()
                record = {
                    "section": "probes", "main": main, "seed": seed, "probe_steps": steps,
                    "affinity": row, "effect_alone_mean": dict(zip(candidates, effect,
                                                                   strict=True)),
                    "spearman_loss": spearman([row[c] for c in candidates], effect),
                }  # fmt: skip
                _append(args.out, record)
                log(f"probes: {main} seed {seed} {steps} steps: rho {record['spearman_loss']:+.2f}")


# ------------------------------------------------------------------------------- report
def _append(path: Path, record: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, allow_nan=True) + "\n")


def _f(stats: Mapping[str, Any], digits: int = 2, scale: float = 1.0) -> str:
    mean = stats.get("mean", math.nan)
    if mean is None or not math.isfinite(mean):
        return "n/a"
    ci = stats.get("ci95")
    if ci is None or not math.isfinite(ci):
        return f"{scale * mean:.{digits}f}"
    return f"{scale * mean:.{digits}f} ± {scale * ci:.{digits}f}"


def report(paths: Sequence[Path]) -> str:
    records = [json.loads(line) for p in paths for line in p.read_text().splitlines() if line]
    parts: list[str] = []
    planted = [r for r in records if r["section"] == "planted"]
    if planted:
        rows = []
        for n in sorted({r["n"] for r in planted}):
            rs = [r for r in planted if r["n"] == n]
            rows.append([
                n, len(rs), f"{rs[0]['rounds']} x {rs[0]['probe_steps']}",
                _f(summary(r["precision_above"] for r in rs)),
                _f(summary(r["recall_above"] for r in rs)),
                _f(summary(r["precision_top_k"] for r in rs)),
                _f(summary(r["auc"] for r in rs)),
                f"{statistics.fmean(r['steps'] for r in rs):.0f}",
                f"{statistics.fmean(r['screen_seconds'] for r in rs):.0f}",
                f"{max(r['peak_rss_mb'] for r in rs):.0f}",
            ])  # fmt: skip
        parts.append(md_table(
            ["candidates", "seeds", "probes (rounds x steps)", "precision (above control)",
             "recall (above control)", "precision = recall (top k)", "AUC helpful vs rest",
             "screen steps", "screen seconds", "peak memory MB"], rows))  # fmt: skip
    probes = [r for r in records if r["section"] == "probes"]
    if probes:
        rows = []
        for steps in sorted({r["probe_steps"] for r in probes}):
            rs = [r for r in probes if r["probe_steps"] == steps]
            rows.append([steps, len(rs), _f(summary(r["spearman_loss"] for r in rs))])
        parts.append(md_table(
            ["probe steps", "(main, seed) pairs",
             "Spearman: affinity vs 10-seed mean effect alone (mean ± 95% CI)"], rows))  # fmt: skip
    real = [r for r in records if r["section"] == "real"]
    if real:
        rows = []
        for main in DOMAINS:
            rs = [r for r in real if r["main"] == main]
            if not rs:
                continue
            auto = [r["autoaux"]["test"] for r in rs]
            rows.append([
                main, len(rs), _f(summary(r["spearman_test"] for r in rs)),
                _f(summary(r["spearman_dev"] for r in rs)),
                ", ".join(sorted({c for r in rs for c in r["screen"]["shortlist"]})),
                _f(paired(auto, [r["main_only"]["test"] for r in rs]), 1, 100),
                _f(paired(auto, [r["hand_picked"]["test"] for r in rs]), 1, 100),
                f"{statistics.fmean(r['screen']['steps'] for r in rs):.0f}",
                f"{statistics.fmean(r['autoaux']['stage1_steps'] for r in rs):.0f}",
            ])  # fmt: skip
        all_auto = [r["autoaux"]["test"] for r in real]
        rows.append([
            "all", len(real), _f(summary(r["spearman_test"] for r in real)),
            _f(summary(r["spearman_dev"] for r in real)), "",
            _f(paired(all_auto, [r["main_only"]["test"] for r in real]), 1, 100),
            _f(paired(all_auto, [r["hand_picked"]["test"] for r in real]), 1, 100),
            f"{statistics.fmean(r['screen']['steps'] for r in real):.0f}",
            f"{statistics.fmean(r['autoaux']['stage1_steps'] for r in real):.0f}",
        ])  # fmt: skip
        parts.append(_averaged(real))
        parts.append(md_table(
            ["main", "seeds", "Spearman: affinity vs effect alone (test)", "(dev)",
             "shortlisted (any seed)", "autoaux - main only (pts)",
             "autoaux - hand-picked domains (pts)", "screen steps", "race steps"],
            rows))  # fmt: skip
    return "\n\n".join(parts)


def _averaged(real: Sequence[Mapping[str, Any]]) -> str:
    """Per main task, the affinity and the effect alone averaged over seeds (less noise than
    one seed's single runs), their Spearman correlation, and the AUC of the affinity between
    the candidates whose mean effect alone is positive and the others."""
    rows = []
    for main in DOMAINS:
        rs = [r for r in real if r["main"] == main]
        if not rs:
            continue
        names = list(rs[0]["effect_alone"])
        aff = {c: statistics.fmean(r["screen"]["affinity"][c] for r in rs) for c in names}
        eff = {c: statistics.fmean(r["effect_alone"][c] for r in rs) for c in names}
        positive = [c for c in names if eff[c] > 0]
        rest = [c for c in names if eff[c] <= 0]
        top = sorted(names, key=lambda c: -aff[c])[:5]
        rows.append([
            main, len(rs), f"{spearman([aff[c] for c in names], [eff[c] for c in names]):+.2f}",
            f"{auc([aff[c] for c in positive], [aff[c] for c in rest]):.2f}",
            f"{len(positive)} of {len(names)}",
            ", ".join(f"{c} ({100 * aff[c]:+.1f}% / {100 * eff[c]:+.1f})" for c in top),
        ])  # fmt: skip
    return md_table(
        ["main", "seeds", "Spearman (seed means)", "AUC: effect > 0 vs rest",
         "candidates with mean effect > 0", "top 5 by affinity (affinity / effect alone, pts)"],
        rows)  # fmt: skip


# ------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sections", default="planted,real")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--mains", default=",".join(DOMAINS))
    parser.add_argument("--probe-steps", type=int, default=150, help="planted probes (tiny)")
    parser.add_argument("--probe-lengths", default="30,60,100,150,300",
                        help="probes section: the probe lengths compared")
    parser.add_argument("--rounds", type=int, default=2, help="planted rounds")
    parser.add_argument("--aux-train", type=int, default=300, help="planted candidate size")
    parser.add_argument("--steps", type=int, default=300, help="real: steps of a training run")
    parser.add_argument("--episodes", type=int, default=150, help="real: race budget")
    parser.add_argument("--episode-steps", type=int, default=400,
                        help="real: the race's cap of steps per episode")
    parser.add_argument("--budget", choices=("main", "total"), default="main",
                        help="real: the training protocol ([protocol] budget); the rows of "
                             "2026-12-03 were measured with 'total' and 150-step episodes")
    parser.add_argument("--out", type=Path, default=Path("affinity.jsonl"))
    parser.add_argument("--report", type=Path, nargs="*")
    parser.add_argument("--one-planted", help=argparse.SUPPRESS)
    parser.add_argument("--smoke", action="store_true", help="seconds: a tiny planted point")
    args = parser.parse_args(argv)
    if args.report:
        print(report(args.report))
        return 0
    setup(threads=1)
    args.seeds = seeds_of(args.seeds)
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.mains = args.mains.split(",")
    args.probe_lengths = [int(x) for x in args.probe_lengths.split(",")]
    if args.one_planted:
        n, seed = (int(x) for x in args.one_planted.split(":"))
        point = planted_point(n, seed, args)
        _append(args.out, point)
        log(f"  P={point['precision_above']:.2f} R={point['recall_above']:.2f} "
            f"top-k P={point['precision_top_k']:.2f} AUC={point['auc']:.2f} "
            f"{point['steps']} steps {point['screen_seconds']:.0f}s "
            f"{point['peak_rss_mb']:.0f} MB")  # fmt: skip
        return 0
    if args.smoke:
        args.probe_steps, args.rounds, args.aux_train = 4, 2, 40
        point = planted_point(5, 0, args)
        _append(args.out, point)
        print(report([args.out]))
        return 0
    sections = args.sections.split(",")
    if "planted" in sections:
        section_planted(args)
    if "probes" in sections:
        section_probes(args)
    if "real" in sections:
        section_real(args)
    print(report([args.out]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
