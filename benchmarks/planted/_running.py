"""Running the planted benchmark: one seed of the main comparison, its summary, the main and
scale sections."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import autoaux
from benchmarks._common import (
    Workspace,
    f1,
    log,
    method_summaries,
    paired,
    precision_recall,
    summary,
)

from ._suites import CATEGORIES, METHODS, Budget, category, composition, make_config, make_suite


def score_subset(config: Any, suite: Any, subset: Sequence[str], ws: Workspace) -> dict[str, Any]:
    """Main test score of ``main + subset`` at ratio 1, trained like one stage-2 trial.

    The whole pool is loaded (same tokenizer and initial weights as the run) and the warm-start
    trial gets ratio 1 for ``subset`` and 0 for every other task.
    """
    pool = list(config.auxiliary_tasks())
    utilities = {config.main.task: 1.0, **{t: (1.0 if t in subset else 0.0) for t in pool}}
    start = time.perf_counter()
    mixed = autoaux.mix(
        config.replace(output_dir=ws.folder()).with_overrides({"stage2.main_alone": False}),
        tasks=pool,
        utilities=utilities,
        trials=1,
        user_tasks=suite.tasks,
        tracker=autoaux.NullTracker(),
        progress=False,
    )
    used = {k for k, v in mixed.ratios.items() if v > 0 and k != config.main.task}
    if used != set(subset):
        raise RuntimeError(f"subset scoring trained {sorted(used)}, expected {sorted(subset)}")
    trial = mixed.trials[0]
    return {
        "test": mixed.test_score,
        "dev": mixed.best_dev_score,
        "steps": trial.steps_per_task and sum(trial.steps_per_task.values()),
        "seconds": trial.seconds,
        "call_seconds": time.perf_counter() - start,
    }


def selection_summary(suite: Any, sel: Any) -> dict[str, Any]:
    """Selected set, precision / recall, and per-category utility / cosine / gate scale."""
    precision, recall = precision_recall(sel.selected, suite.helpful)
    by_cat: dict[str, dict[str, list[float]]] = {
        c: {"utility": [], "posterior": [], "mean_cosine": [], "pulls": [], "gate_scale": []}
        for c in CATEGORIES
    }
    scales: dict[str, list[float]] = {}
    for record in sel.history:
        if not math.isnan(record.scale):
            scales.setdefault(record.task, []).append(record.scale)
    for arm in sel.arms:
        if arm == sel.main_task:
            continue
        c = by_cat[category(suite, arm)]
        c["utility"].append(sel.utilities[arm])
        c["posterior"].append(sel.posterior[arm])
        c["mean_cosine"].append(sel.mean_cosines[arm])
        c["pulls"].append(float(sel.pulls[arm]))
        if arm in scales:
            c["gate_scale"].append(sum(scales[arm]) / len(scales[arm]))
    cats = {
        c: {k: (sum(v) / len(v) if v else math.nan) for k, v in vals.items()}
        for c, vals in by_cat.items()
        if vals["pulls"]
    }
    return {
        "selected": list(sel.selected),
        "helpful": sorted(suite.helpful),
        "main_task": sel.main_task,
        "rule": sel.rule,
        "precision": precision,
        "recall": recall,
        "f1": f1(precision, recall),
        "n_selected": len(sel.selected),
        "selected_by_category": {
            c: sum(category(suite, t) == c for t in sel.selected) for c in CATEGORIES
        },
        "main_utility": sel.utilities.get(sel.main_task, math.nan),
        "categories": cats,
        "utilities": dict(sel.utilities),
        "posterior": dict(sel.posterior),
        "mean_cosines": dict(sel.mean_cosines),
        "pulls": dict(sel.pulls),
        "rewards": {a: [round(x, 5) for x in v] for a, v in sel.rewards.items()},
        "controls": list(sel.controls),
        "seconds": sel.seconds,
    }


# ------------------------------------------------------------------------------------ main


def run_seed(
    seed: int, comp: tuple[int, int, int], b: Budget, ws: Workspace, *,
    pulls: int | None = None, trials: int | None = None, aux_train: int | None = None,
    checks: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """One seed of the main comparison: a full ``autoaux.run`` with baselines, the oracle."""
    t0 = time.perf_counter()
    suite = make_suite(seed, comp, b, aux_train=aux_train)
    config = make_config(suite, seed, b, ws, pulls=pulls, trials=trials)
    result = autoaux.run(
        config, user_tasks=suite.tasks, tracker=autoaux.NullTracker(), progress=False
    )
    sel = selection_summary(suite, result.selection)
    s1 = config.stage1
    stage1_steps = s1.pulls * s1.steps_per_pull
    stage2_steps = sum(sum(t.steps_per_task.values()) for t in result.trials)
    scores: dict[str, dict[str, Any]] = {}
    names = {"main-only": "main-only", "uniform": "uniform-all", "stage1-only": "stage1-only"}
    for key, label in names.items():
        base = result.baselines[key]
        extra = stage1_steps if key == "stage1-only" else 0
        extra_s = result.selection.seconds if key == "stage1-only" else 0.0
        scores[label] = {
            "test": base.test,
            "dev": base.dev,
            "steps": base.steps + extra,
            "seconds": base.seconds + extra_s,
        }
    scores["autoaux"] = {
        "test": result.test_score,
        "dev": result.best_dev_score,
        "steps": stage1_steps + stage2_steps,
        "seconds": result.selection.seconds + result.mixture.seconds,
        "ratios": dict(result.ratios),
    }
    oracle = score_subset(config, suite, sorted(suite.helpful), ws)
    scores["oracle"] = {k: oracle[k] for k in ("test", "dev", "steps", "seconds")}
    if checks:
        for label, group in (("neutral-only", suite.neutral), ("harmful-only", suite.harmful)):
            if group:
                got = score_subset(config, suite, sorted(group), ws)
                scores[label] = {k: got[k] for k in ("test", "dev", "steps", "seconds")}
    n = len(suite.auxiliary)
    return {
        "seed": seed,
        "n_candidates": n,
        "composition": dict(zip(("helpful", "neutral", "harmful"), comp, strict=True)),
        "helpful": sorted(suite.helpful),
        "selection": sel,
        "scores": scores,
        "cost": {
            "stage1_steps": stage1_steps,
            "stage2_steps": stage2_steps,
            "one_run_steps": b.steps,
            "autoaux_steps": stage1_steps + stage2_steps,
            "exhaustive_subsets": 2**n,
            "exhaustive_steps": (2**n) * b.steps,
            "stage1_seconds": result.selection.seconds,
            "stage2_seconds": result.mixture.seconds,
            "run_seconds": result.seconds,
        },
        "wall_seconds": time.perf_counter() - t0,
    }


def aggregate(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per-method summaries, paired differences against autoaux, selection quality."""
    methods = [m for m in (*METHODS, "neutral-only", "harmful-only") if m in runs[0]["scores"]]
    figures, versus = method_summaries(runs, methods)
    out: dict[str, Any] = {"methods": figures, "paired_vs_autoaux": versus, "selection": {}}
    s1 = [r["scores"]["stage1-only"]["test"] for r in runs]
    out["paired_stage1_only_vs"] = {
        m: paired(s1, [r["scores"][m]["test"] for r in runs])
        for m in ("main-only", "uniform-all", "oracle")
    }
    for key in ("precision", "recall", "f1", "n_selected"):
        out["selection"][key] = summary([r["selection"][key] for r in runs])
    out["selection"]["empty_selections"] = sum(not r["selection"]["selected"] for r in runs)
    cats: dict[str, dict[str, Any]] = {}
    for c in CATEGORIES:
        rows = [r["selection"]["categories"][c] for r in runs if c in r["selection"]["categories"]]
        if rows:
            cats[c] = {k: summary([row[k] for row in rows]) for k in rows[0]}
    out["selection"]["categories"] = cats
    out["cost"] = {k: summary([r["cost"][k] for r in runs]) for k in runs[0]["cost"]}
    return out


def section_main(b: Budget, ws: Workspace) -> dict[str, Any]:
    runs = []
    for seed in b.seeds:
        log(f"planted main: seed {seed} ({sum(b.composition)} candidates)")
        runs.append(run_seed(seed, b.composition, b, ws))
        r = runs[-1]
        log(
            "  selected {} P={:.2f} R={:.2f}; test: {}; {:.0f}s".format(
                r["selection"]["selected"], r["selection"]["precision"],
                r["selection"]["recall"],
                ", ".join(f"{m}={v['test']:.3f}" for m, v in r["scores"].items()),
                r["wall_seconds"],
            )
        )  # fmt: skip
    return {"runs": runs, "summary": aggregate(runs)}


# ------------------------------------------------------------------------------------ scale


def section_scale(b: Budget, ws: Workspace, main: Mapping[str, Any] | None) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    if main is not None:  # the main section is the 10-candidate point at the full budget
        s = main["summary"]
        rows.append(
            {
                "n_candidates": sum(b.composition),
                "seeds": len(main["runs"]),
                "budget": {"aux_train": b.aux_train, "pulls": b.pulls, "trials": b.trials},
                "reduced": False,
                "precision": s["selection"]["precision"],
                "recall": s["selection"]["recall"],
                "test": {m: s["methods"][m]["test"] for m in METHODS},
                "wall_seconds": summary([r["wall_seconds"] for r in main["runs"]]),
                "stage1_seconds": s["cost"]["stage1_seconds"],
                "stage2_seconds": s["cost"]["stage2_seconds"],
                "autoaux_steps": s["cost"]["autoaux_steps"]["mean"],
                "exhaustive_steps": s["cost"]["exhaustive_steps"]["mean"],
            }
        )
    for n, n_seeds, aux_train, pulls, trials in b.scale:
        runs = []
        for seed in range(n_seeds):
            log(f"planted scale: {n} candidates, seed {seed} (pulls {pulls}, trials {trials})")
            runs.append(
                run_seed(
                    seed, composition(n), b, ws, pulls=pulls, trials=trials,
                    aux_train=aux_train, checks=False,
                )
            )  # fmt: skip
            r = runs[-1]
            log(
                f"  P={r['selection']['precision']:.2f} R={r['selection']['recall']:.2f} "
                f"n_sel={r['selection']['n_selected']} {r['wall_seconds']:.0f}s"
            )
        s = aggregate(runs)
        rows.append(
            {
                "n_candidates": n,
                "seeds": n_seeds,
                "budget": {"aux_train": aux_train, "pulls": pulls, "trials": trials},
                "reduced": True,
                "precision": s["selection"]["precision"],
                "recall": s["selection"]["recall"],
                "n_selected": s["selection"]["n_selected"],
                "test": {m: s["methods"][m]["test"] for m in METHODS},
                "wall_seconds": summary([r["wall_seconds"] for r in runs]),
                "stage1_seconds": s["cost"]["stage1_seconds"],
                "stage2_seconds": s["cost"]["stage2_seconds"],
                "autoaux_steps": s["cost"]["autoaux_steps"]["mean"],
                "exhaustive_steps": s["cost"]["exhaustive_steps"]["mean"],
                "runs": runs,
            }
        )
    return {"rows": rows}
