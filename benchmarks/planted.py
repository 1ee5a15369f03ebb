"""Planted-suite benchmark: does autoaux pick the tasks that are helpful by construction?

The pool comes from :func:`tasks.make_planted_suite`: a low-resource main task (label 1 iff the
sentence holds more "positive" than "negative" cue words; 100 training examples), helpful tasks
(the same rule, more data), neutral ones (an unrelated rule on other words) and harmful ones
(shuffled labels; a rule that competes for the same cue words). autoaux adds a ``shuffled:``
null control arm (``auxiliary.add_control = true``). Everything runs through the public API
(:func:`autoaux.run`, :func:`autoaux.select`, :func:`autoaux.mix`) with tracking disabled
(:class:`autoaux.NullTracker`), the ``"tiny"`` encoder, on the CPU with one torch thread.

Sections (``--sections``, default all):

* ``main``: over seeds, stage-1 precision / recall of the planted helpful set, and the main test
  accuracy of main-only, uniform over all candidates, the oracle subset (the planted helpful set,
  ratio 1), stage 1 only (the selection, ratio 1) and full autoaux (stage 1 + GP stage 2); plus
  two checks of the planting (the neutral set alone, the harmful set alone). Cost in training
  steps and seconds, against exhaustive subset search (``2^n`` subsets x the steps of one run).
* ``scale``: 10, 50 and 100 candidates (quality and wall time; 50 and 100 with a reduced budget,
  stated in the output).
* ``sweep``: stage-1 settings over the same seeds and suites as ``main``: the ``"autosem"``
  preset, the default ``"autoaux"`` preset, and one-setting variants of it (reward, utility,
  gating, selection); precision / recall and the stage-1-only main test accuracy.
* ``gating``: does per-batch gradient gating throw away good updates? On the real trainer, the
  main task mixed 1:1 with one helpful task (4,000 examples), trained under each gating mode;
  main test accuracy, fraction of the helpful task's updates let through and its mean gradient
  cosine.

Comparisons are paired: per seed, every method trains from the same initial weights on the same
tokenizer (the same pool is loaded for every method; a method's unused tasks get ratio 0) with
the same stage-2 seed, so they differ only by their mixture.

Usage::

    python -m benchmarks.planted --budget quick            # ~15 min on 2 loaded cores
    python -m benchmarks.planted --budget full --json benchmarks/results/planted.json
    python -m benchmarks.planted --smoke --json /tmp/planted.json   # seconds; CI-size
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import _common  # noqa: F401  (sets the environment first)
from benchmarks._common import (
    Workspace,
    f1,
    fmt,
    log,
    md_table,
    paired,
    precision_recall,
    publish,
    setup,
    summary,
    write_json,
)

# ------------------------------------------------------------------------------------ budgets


@dataclass(frozen=True)
class Budget:
    """Sizes of one benchmark budget (see ``BUDGETS``)."""

    name: str
    seeds: tuple[int, ...]
    composition: tuple[int, int, int]  # helpful, neutral, harmful (10 candidates by default)
    main_train: int
    aux_train: int
    dev: int
    test: int
    max_length: int
    pulls: int
    steps_per_pull: int
    trials: int
    initial_points: int
    steps: int
    eval_every: int
    scale: tuple[tuple[int, int, int, int, int], ...]  # (n, seeds, aux_train, pulls, trials)
    sweep_seeds: tuple[int, ...]
    sweep_variants: tuple[str, ...]
    gating_seeds: tuple[int, ...]
    gating_aux_train: int
    gating_steps: int


# Stage-1 variants: explicit overrides of the "autoaux" preset (whatever its current values), so
# the sweep stays meaningful when the preset changes. A variant that resolves to the same method
# settings as the default is not run again: it is reported as the default's alias.
VARIANTS: dict[str, dict[str, Any]] = {
    "autoaux preset (default)": {},
    "autosem preset": {"preset": "autosem"},
    "reward=gain": {"reward": "gain"},
    "reward=scaled": {"reward": "scaled"},
    "reward=cosine": {"reward": "cosine"},
    "reward=mixed": {"reward": "mixed"},
    "utility=posterior": {"utility": "posterior"},
    "utility=mean": {"utility": "mean"},
    "gating=off": {"gating": "off"},
    "gating=unweighted": {"gating": "unweighted"},
    "gating=weighted": {"gating": "weighted"},
    "gating=smoothed": {"gating": "smoothed"},
    "selection=default": {"selection": "default"},
    "selection=control": {"selection": "control"},
}
DEFAULT_VARIANT = "autoaux preset (default)"
ALL_VARIANTS = tuple(VARIANTS)


def resolved(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The stage-1 method settings a variant runs with: this process's ``STAGE1_OVERRIDES``
    (the in-run bandit) with the variant's overrides on top, as :func:`make_config` builds them
    (``selection = "auto"`` is ``"control"`` here: the planted pool always has a control arm)."""
    from autoaux.config import STAGE1_PRESETS, Stage1Config

    config = Stage1Config(**{**STAGE1_OVERRIDES, **overrides})
    out = {key: getattr(config, key) for key in STAGE1_PRESETS["autoaux"]}
    if out["selection"] == "auto":
        out["selection"] = "control"
    return out


BUDGETS: dict[str, Budget] = {
    "smoke": Budget(
        name="smoke",
        seeds=(0,),
        composition=(1, 1, 1),
        main_train=40,
        aux_train=120,
        dev=64,
        test=64,
        max_length=24,
        pulls=8,
        steps_per_pull=2,
        trials=2,
        initial_points=1,
        steps=16,
        eval_every=8,
        scale=((5, 1, 60, 10, 1),),
        sweep_seeds=(0,),
        sweep_variants=(DEFAULT_VARIANT, "autosem preset"),
        gating_seeds=(0,),
        gating_aux_train=120,
        gating_steps=12,
    ),
    "quick": Budget(
        name="quick",
        seeds=(0, 1, 2),
        composition=(3, 3, 4),
        main_train=100,
        aux_train=1000,
        dev=200,
        test=400,
        max_length=32,
        pulls=200,
        steps_per_pull=5,
        trials=4,
        initial_points=2,
        steps=300,
        eval_every=50,
        scale=((50, 1, 300, 250, 3),),
        sweep_seeds=(0, 1, 2),
        sweep_variants=ALL_VARIANTS,
        gating_seeds=(0, 1),
        gating_aux_train=4000,
        gating_steps=300,
    ),
    "full": Budget(
        name="full",
        seeds=(0, 1, 2, 3, 4),
        composition=(3, 3, 4),
        main_train=100,
        aux_train=1000,
        dev=200,
        test=400,
        max_length=32,
        pulls=200,
        steps_per_pull=5,
        trials=6,
        initial_points=3,
        steps=300,
        eval_every=50,
        scale=((50, 2, 300, 300, 4), (100, 1, 300, 500, 4)),
        sweep_seeds=(0, 1, 2, 3, 4),
        sweep_variants=ALL_VARIANTS,
        gating_seeds=(0, 1, 2),
        gating_aux_train=4000,
        gating_steps=300,
    ),
}

BASELINES = ("main-only", "uniform", "stage1-only")

# Stage-1 overrides for every run of this process (``--stage1 key=value,...``): measures a
# candidate default against the recorded results of the current one. The planted suite measures
# the in-run bandits (``preset = "bandit"``, the default before the race, and AutoSem's); the
# race of paired episodes is measured on real text by ``benchmarks/multidomain.py``.
STAGE1_OVERRIDES: dict[str, Any] = {"preset": "bandit"}


def parse_overrides(text: str) -> dict[str, Any]:
    """``"confidence=0.99,gating=smoothed"`` -> ``{"confidence": 0.99, "gating": "smoothed"}``."""
    out: dict[str, Any] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        key, _, raw = item.partition("=")
        value: Any = raw.strip()
        for convert in (int, float):
            try:
                value = convert(value)
                break
            except ValueError:
                pass
        if value in ("true", "false"):
            value = value == "true"
        out[key.strip()] = value
    return out


METHODS = ("main-only", "uniform-all", "oracle", "stage1-only", "autoaux")
CATEGORIES = ("helpful", "neutral", "harmful-shuffled", "harmful-competing", "control")


def composition(n: int) -> tuple[int, int, int]:
    """Helpful / neutral / harmful counts for ``n`` candidates (30% / 30% / 40%)."""
    helpful = max(1, round(0.3 * n))
    neutral = max(0, round(0.3 * n))
    return helpful, neutral, max(0, n - helpful - neutral)


# ------------------------------------------------------------------------------------ helpers


def make_suite(seed: int, comp: tuple[int, int, int], b: Budget, *, aux_train: int | None = None):
    from tasks import make_planted_suite

    helpful, neutral, harmful = comp
    return make_planted_suite(
        n_helpful=helpful,
        n_neutral=neutral,
        n_harmful=harmful,
        main_train=b.main_train,
        aux_train=aux_train or b.aux_train,
        dev=b.dev,
        test=b.test,
        seed=seed,
    )


def category(suite: Any, name: str) -> str:
    if name.startswith("shuffled:"):
        return "control"
    if name in suite.helpful:
        return "helpful"
    if name in suite.neutral:
        return "neutral"
    if "shuffled" in name:
        return "harmful-shuffled"
    return "harmful-competing"


def make_config(
    suite: Any,
    seed: int,
    b: Budget,
    ws: Workspace,
    *,
    pulls: int | None = None,
    trials: int | None = None,
    stage1: Mapping[str, Any] | None = None,
    baselines: Sequence[str] = BASELINES,
) -> Any:
    from autoaux import config_from_dict

    names = [t.name for t in suite.auxiliary]
    data = {
        "seed": seed,
        "model": {"encoder": "tiny", "max_length": b.max_length},
        "main": {"task": suite.main.name},
        "auxiliary": {"tasks": names, "add_control": True},
        "stage1": {
            "pulls": pulls or b.pulls,
            "steps_per_pull": b.steps_per_pull,
            **STAGE1_OVERRIDES,
            **(stage1 or {}),
        },
        "stage2": {
            "trials": trials or b.trials,
            "initial_points": b.initial_points,
            "steps": b.steps,
            "eval_every": b.eval_every,
        },
        "baselines": {"run": list(baselines)},
        "tracking": {"enabled": False},
        "output_dir": ws.folder(),
        "device": "cpu",
    }
    return config_from_dict(
        data, source="benchmarks/planted.py", user_tasks=[t.name for t in suite.tasks]
    )


def score_subset(config: Any, suite: Any, subset: Sequence[str], ws: Workspace) -> dict[str, Any]:
    """Main test score of ``main + subset`` at ratio 1, trained like one stage-2 trial.

    The whole pool is loaded (same tokenizer and initial weights as the run) and the warm-start
    trial gets ratio 1 for ``subset`` and 0 for every other task.
    """
    import autoaux

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
    import autoaux

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
    out: dict[str, Any] = {"methods": {}, "paired_vs_autoaux": {}, "selection": {}}
    for m in methods:
        tests = [r["scores"][m]["test"] for r in runs]
        out["methods"][m] = {
            "test": summary(tests),
            "per_seed": tests,
            "steps": summary([r["scores"][m]["steps"] for r in runs]),
            "seconds": summary([r["scores"][m]["seconds"] for r in runs]),
        }
    auto = [r["scores"]["autoaux"]["test"] for r in runs]
    s1 = [r["scores"]["stage1-only"]["test"] for r in runs]
    for m in methods:
        if m != "autoaux":
            out["paired_vs_autoaux"][m] = paired(auto, [r["scores"][m]["test"] for r in runs])
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


# ------------------------------------------------------------------------------------ sweep


def section_sweep(b: Budget, ws: Workspace, main: Mapping[str, Any] | None) -> dict[str, Any]:
    """Stage-1 settings on the main suites; the default variant reuses the main runs."""
    import autoaux

    reuse = {}
    if main is not None:
        reuse = {r["seed"]: r for r in main["runs"]}
    default = resolved(VARIANTS[DEFAULT_VARIANT])
    settings = {v: resolved(VARIANTS[v]) for v in b.sweep_variants}
    aliases = {v: DEFAULT_VARIANT for v, s in settings.items() if s == default}
    per_variant: dict[str, list[dict[str, Any]]] = {v: [] for v in b.sweep_variants}
    for seed in b.sweep_seeds:
        suite = make_suite(seed, b.composition, b)
        config = make_config(suite, seed, b, ws)
        cache: dict[frozenset[str], dict[str, Any]] = {}
        if seed in reuse:
            r = reuse[seed]
            cache[frozenset(r["selection"]["selected"])] = r["scores"]["stage1-only"]
            cache[frozenset()] = r["scores"]["main-only"]
        for variant in b.sweep_variants:
            if variant in aliases and variant != DEFAULT_VARIANT and per_variant[DEFAULT_VARIANT]:
                continue  # filled in from the default below
            if variant in aliases and seed in reuse:
                sel = dict(reuse[seed]["selection"])
                sel["reused_from_main"] = True
            else:
                log(f"planted sweep: seed {seed}, {variant}")
                result = autoaux.select(
                    config.replace(output_dir=ws.folder()),
                    user_tasks=suite.tasks,
                    tracker=autoaux.NullTracker(),
                    progress=False,
                    **VARIANTS[variant],
                )
                sel = selection_summary(suite, result)
            key = frozenset(sel["selected"])
            if key not in cache:
                cache[key] = score_subset(config, suite, sorted(key), ws)
            sel["stage1_only_test"] = cache[key]["test"]
            sel["seed"] = seed
            per_variant[variant].append(sel)
            log(
                f"  {variant}: selected {sel['selected']} P={sel['precision']:.2f} "
                f"R={sel['recall']:.2f} test={sel['stage1_only_test']:.3f}"
            )
    for variant in aliases:
        if not per_variant[variant]:
            per_variant[variant] = per_variant[DEFAULT_VARIANT]
    table = {}
    for variant, rows in per_variant.items():
        table[variant] = {
            "overrides": VARIANTS[variant],
            "settings": settings[variant],
            "same_as_default": variant in aliases,
            "precision": summary([r["precision"] for r in rows]),
            "recall": summary([r["recall"] for r in rows]),
            "f1": summary([r["f1"] for r in rows]),
            "n_selected": summary([r["n_selected"] for r in rows]),
            "empty_selections": sum(not r["selected"] for r in rows),
            "controls_selected": sum(r["selected_by_category"]["control"] for r in rows),
            "stage1_only_test": summary([r["stage1_only_test"] for r in rows]),
            "margin_helpful_vs_control": summary(
                [
                    r["categories"]["helpful"]["utility"] - r["categories"]["control"]["utility"]
                    for r in rows
                    if "helpful" in r["categories"] and "control" in r["categories"]
                ]
            ),
            "margin_helpful_vs_best_other": summary([_margin(r) for r in rows]),
            "helpful_gate_scale": summary(
                [r["categories"].get("helpful", {}).get("gate_scale", math.nan) for r in rows]
            ),
            "seconds": summary([r["seconds"] for r in rows]),
            "runs": rows if variant not in aliases or variant == DEFAULT_VARIANT else [],
        }
    return {"seeds": list(b.sweep_seeds), "default": default, "variants": table}


def _margin(sel: Mapping[str, Any]) -> float:
    """Lowest helpful utility minus the highest utility of any other candidate or control:
    positive when the helpful set could be picked by a threshold."""
    helpful = [u for a, u in sel["utilities"].items() if a in sel.get("helpful", ())]
    others = [
        u
        for a, u in sel["utilities"].items()
        if a not in sel.get("helpful", ()) and a != sel.get("main_task")
    ]
    if not helpful or not others:
        return math.nan
    return min(helpful) - max(others)


# ------------------------------------------------------------------------------------ gating


def section_gating(b: Budget) -> dict[str, Any]:
    """Main + one helpful task (ratio 1:1) under each gate: what gating lets through, and what
    it costs the main task."""
    from autoaux.model import ModelSpec, MultiTaskModel, build_encoder
    from autoaux.training import derive_seed
    from autoaux.training.gating import CosineGate
    from autoaux.training.trainer import Trainer, TrainerSpec, prepare_tasks
    from tasks import make_planted_suite

    modes = ("off", "unweighted", "weighted", "smoothed")
    rows: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    for seed in b.gating_seeds:
        suite = make_planted_suite(
            n_helpful=1, n_neutral=0, n_harmful=0, main_train=b.main_train,
            aux_train=b.gating_aux_train, dev=b.dev, test=b.test, seed=seed,
        )  # fmt: skip
        helpful = suite.auxiliary[0].name
        texts = [ex.text for t in suite.tasks for ex in t.train]
        encoder, tokenizer = build_encoder(
            ModelSpec(encoder="tiny", max_length=b.max_length),
            texts=texts,
            seed=derive_seed(seed, "encoder"),
        )
        model = MultiTaskModel(
            encoder, {t.name: t.num_labels for t in suite.tasks}, seed=derive_seed(seed, "heads")
        )
        data = prepare_tasks(
            suite.tasks, tokenizer, max_length=b.max_length, batch_size=16,
            seed=derive_seed(seed, "data"),
        )  # fmt: skip
        initial = model.snapshot()
        for mode in modes:
            model.restore(initial)
            trainer = Trainer(
                model,
                data,
                main="main",
                spec=TrainerSpec(total_steps=b.gating_steps, device="cpu"),
                gate=CosineGate(mode),
                seed=derive_seed(seed, "gating"),
            )
            start = time.perf_counter()
            report = trainer.train_mixture(
                {"main": 1.0, helpful: 1.0}, b.gating_steps, eval_every=b.eval_every
            )
            rows[mode].append(
                {
                    "seed": seed,
                    "test": trainer.evaluate("main", "test"),
                    "dev": report.best_dev,
                    "helpful_mean_cosine": report.mean_cosine.get(helpful, math.nan),
                    "helpful_mean_scale": report.mean_scale.get(helpful, math.nan),
                    "seconds": time.perf_counter() - start,
                }
            )
            log(f"planted gating: seed {seed} {mode}: {rows[mode][-1]}")
    return {
        "setup": {
            "main_train": b.main_train,
            "helpful_train": b.gating_aux_train,
            "steps": b.gating_steps,
            "mixture": "main 1 : helpful 1",
            "seeds": list(b.gating_seeds),
        },
        "modes": {
            m: {
                "test": summary([r["test"] for r in v]),
                "helpful_mean_cosine": summary([r["helpful_mean_cosine"] for r in v]),
                "helpful_fraction_kept": summary([r["helpful_mean_scale"] for r in v]),
                "seconds": summary([r["seconds"] for r in v]),
                "runs": v,
            }
            for m, v in rows.items()
        },
    }


def section_facts(b: Budget, ws: Workspace) -> dict[str, Any]:
    """Does the literal AutoSem stage 1 tell a helpful task from its control? A pool of one
    helpful task (the main rule, ``gating_aux_train`` examples) and its shuffled control,
    ``pulls`` x ``steps_per_pull``; final utilities (decayed posterior and undecayed mean
    reward) and mean gradient cosines under the literal AutoSem preset and under the default
    preset."""
    import autoaux
    from autoaux import config_from_dict
    from tasks import make_planted_suite

    presets: dict[str, dict[str, Any]] = {
        "autosem": {"preset": "autosem"},
        "autoaux (default)": {"preset": "bandit"},
    }
    rows: dict[str, list[dict[str, Any]]] = {p: [] for p in presets}
    for seed in b.gating_seeds:
        suite = make_planted_suite(
            n_helpful=1, n_neutral=0, n_harmful=0, main_train=b.main_train,
            aux_train=b.gating_aux_train, dev=b.dev, test=b.test, seed=seed,
        )  # fmt: skip
        helpful = suite.auxiliary[0].name
        control = f"shuffled:{helpful}"
        config = config_from_dict(
            {
                "seed": seed,
                "model": {"encoder": "tiny", "max_length": b.max_length},
                "main": {"task": "main"},
                "auxiliary": {"tasks": [helpful], "add_control": True},
                "stage1": {"pulls": b.pulls, "steps_per_pull": b.steps_per_pull},
                "tracking": {"enabled": False},
                "output_dir": ws.folder(),
                "device": "cpu",
            },
            source="benchmarks/planted.py",
            user_tasks=[t.name for t in suite.tasks],
        )
        for name, overrides in presets.items():
            sel = autoaux.select(
                config.replace(output_dir=ws.folder()),
                user_tasks=suite.tasks,
                tracker=autoaux.NullTracker(),
                progress=False,
                **overrides,
            )
            scales = [r.scale for r in sel.history if r.task == helpful and not math.isnan(r.scale)]
            rows[name].append(
                {
                    "seed": seed,
                    "posterior_helpful": sel.posterior[helpful],
                    "posterior_control": sel.posterior[control],
                    "mean_reward_helpful": sel.mean_rewards[helpful],
                    "mean_reward_control": sel.mean_rewards[control],
                    "cosine_helpful": sel.mean_cosines[helpful],
                    "cosine_control": sel.mean_cosines[control],
                    "helpful_gate_scale": sum(scales) / len(scales) if scales else math.nan,
                    "selected": list(sel.selected),
                }
            )
            log(f"planted facts: seed {seed} {name}: {rows[name][-1]}")
    return {
        "setup": {
            "main_train": b.main_train,
            "helpful_train": b.gating_aux_train,
            "pulls": b.pulls,
            "steps_per_pull": b.steps_per_pull,
            "seeds": list(b.gating_seeds),
        },
        "presets": {
            name: {
                **{
                    key: summary([r[key] for r in v])
                    for key in v[0]
                    if key not in ("seed", "selected")
                },
                "helpful_selected": sum(r["selected"] == ["helpful-0"] for r in v),
                "runs": v,
            }
            for name, v in rows.items()
        },
    }


def section_rules(
    b: Budget, ws: Workspace, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Selection rules applied to the same stage-1 runs (the default preset with ``overrides``,
    ``b.seeds``): the reward histories are kept and each rule is re-applied offline, so rules
    differ only by the rule. Each selection is scored like stage 1 only (ratio 1)."""
    import numpy as np

    import autoaux
    from bandits import select_against_control, select_default

    def control_rule(confidence: float, bonferroni: bool = False) -> Any:
        def rule(histories: list[list[float]], controls: list[int], exclude: list[int]) -> Any:
            k = len(histories) - len(exclude)
            level = 1 - (1 - confidence) / max(k, 1) if bonferroni else confidence
            return select_against_control(histories, controls, confidence=level, exclude=exclude)

        return rule

    def above_control_mean(histories: list[list[float]], controls: list[int], exclude: list[int]):
        bar = max(float(np.mean(histories[c])) for c in controls)
        return [
            i
            for i, h in enumerate(histories)
            if i not in exclude and len(h) >= 1 and float(np.mean(h)) > bar
        ]

    def default_rule(histories: list[list[float]], controls: list[int], exclude: list[int]):
        means = np.array([np.mean(h) if len(h) else np.nan for h in histories])
        return select_default(means, main_arm=None, prior_mean=0.5, exclude=exclude)

    rules: dict[str, Any] = {
        "control, confidence 0.9": control_rule(0.9),
        "control, confidence 0.95": control_rule(0.95),
        "control, confidence 0.99": control_rule(0.99),
        "control, 0.9 Bonferroni over candidates": control_rule(0.9, bonferroni=True),
        "mean reward above the control's": above_control_mean,
        "mean reward above 0.5 (default rule)": default_rule,
    }
    rows: dict[str, list[dict[str, Any]]] = {r: [] for r in rules}
    for seed in b.seeds:
        suite = make_suite(seed, b.composition, b)
        config = make_config(suite, seed, b, ws)
        log(f"planted rules: seed {seed}")
        sel = autoaux.select(
            config.replace(output_dir=ws.folder()),
            user_tasks=suite.tasks,
            tracker=autoaux.NullTracker(),
            progress=False,
            **dict(overrides or {}),
        )
        arms = list(sel.arms)
        histories = [list(sel.rewards[a]) for a in arms]
        controls = [arms.index(c) for c in sel.controls]
        exclude = [*controls, arms.index(sel.main_task)]
        cache: dict[frozenset[str], dict[str, Any]] = {}
        for name, rule in rules.items():
            chosen = sorted(arms[i] for i in rule(histories, controls, exclude))
            key = frozenset(chosen)
            if key not in cache:
                cache[key] = score_subset(config, suite, chosen, ws)
            precision, recall = precision_recall(chosen, suite.helpful)
            rows[name].append(
                {
                    "seed": seed,
                    "selected": chosen,
                    "precision": precision,
                    "recall": recall,
                    "f1": f1(precision, recall),
                    "stage1_only_test": cache[key]["test"],
                }
            )
            log(f"  {name}: {chosen} test={cache[key]['test']:.3f}")
    return {
        "seeds": list(b.seeds),
        "stage1_overrides": dict(overrides or {}),
        "settings": resolved(dict(overrides or {})),
        "rules": {
            name: {
                "precision": summary([r["precision"] for r in v]),
                "recall": summary([r["recall"] for r in v]),
                "f1": summary([r["f1"] for r in v]),
                "stage1_only_test": summary([r["stage1_only_test"] for r in v]),
                "runs": v,
            }
            for name, v in rows.items()
        },
    }


# ------------------------------------------------------------------------------------ report


def markdown(data: Mapping[str, Any]) -> str:
    """The planted-suite tables (used by run_all.py for RESULTS.md)."""
    parts: list[str] = []
    b = data["budget"]
    main = data.get("main")
    changed = data.get("stage1_overrides") or {}
    overridden = (
        "; stage 1 overrides of the default preset: "
        + ", ".join(f"`{k} = {v}`" for k, v in changed.items())
        if changed
        else ""
    )
    if main:
        s = main["summary"]
        seeds = len(main["runs"])
        comp = main["runs"][0]["composition"]
        parts.append(
            f"**Planted suite** ({sum(comp.values())} candidates: {comp['helpful']} helpful, "
            f"{comp['neutral']} neutral, {comp['harmful']} harmful, plus a `shuffled:` control "
            f"arm; main task {b['main_train']} training examples; {seeds} seeds; mean ± sd, "
            f"tiny encoder{overridden}). Stage 1: {b['pulls']} pulls x "
            f"{b['steps_per_pull']} steps; stage 2: {b['trials']} trials x {b['steps']} "
            f"steps; every baseline {b['steps']} steps."
        )
        sel = s["selection"]
        parts.append(
            f"Stage-1 selection of the helpful set: precision {fmt(sel['precision'], 2)}, "
            f"recall {fmt(sel['recall'], 2)}, F1 {fmt(sel['f1'], 2)} "
            f"({sel['empty_selections']} empty selections)."
        )
        rows = []
        labels = {
            "main-only": "main only",
            "uniform-all": "uniform over all candidates",
            "oracle": "oracle subset (planted helpful set, ratio 1)",
            "stage1-only": "stage 1 only (selection, ratio 1)",
            "autoaux": "autoaux (stage 1 + stage 2)",
            "neutral-only": "check: neutral set only",
            "harmful-only": "check: harmful set only",
        }
        for m, label in labels.items():
            if m not in s["methods"]:
                continue
            ms = s["methods"][m]
            vs = s["paired_vs_autoaux"].get(m)
            vs_txt = f"{fmt(vs, 3)} ({vs['wins']}/{vs['ties']}/{vs['losses']})" if vs else "—"
            rows.append(
                [label, fmt(ms["test"]), vs_txt, f"{ms['steps']['mean']:.0f}",
                 f"{ms['seconds']['mean']:.0f}"]
            )  # fmt: skip
        parts.append(
            md_table(
                ["method", "main test accuracy", "autoaux − method (W/T/L)", "steps", "seconds"],
                rows,
            )
        )
        c = s["cost"]
        parts.append(
            f"Cost: autoaux {c['autoaux_steps']['mean']:.0f} training steps "
            f"({c['stage1_steps']['mean']:.0f} stage 1 + {c['stage2_steps']['mean']:.0f} stage 2); "
            f"exhaustive subset search {c['exhaustive_subsets']['mean']:.0f} subsets x "
            f"{b['steps']} steps = {c['exhaustive_steps']['mean']:.3g} steps "
            f"({c['exhaustive_steps']['mean'] / c['autoaux_steps']['mean']:.0f}x autoaux)."
        )
        cats = sel["categories"]
        rows = []
        for cat, v in cats.items():
            rows.append(
                [cat, fmt(v["utility"], 3), fmt(v["mean_cosine"], 3), fmt(v["gate_scale"], 2),
                 f"{v['pulls']['mean']:.1f}"]
            )  # fmt: skip
        parts.append("Stage-1 statistics per planted category (mean over arms and seeds):")
        parts.append(
            md_table(["category", "utility", "mean gradient cosine", "gate scale", "pulls"], rows)
        )
    scale = data.get("scale")
    if scale:
        rows = []
        for r in scale["rows"]:
            t = r["test"]
            rows.append(
                [
                    r["n_candidates"],
                    r["seeds"],
                    f"{r['budget']['pulls']} pulls, {r['budget']['trials']} trials, "
                    f"aux {r['budget']['aux_train']}" + (" (reduced)" if r["reduced"] else ""),
                    fmt(r["precision"], 2),
                    fmt(r["recall"], 2),
                    fmt(t["main-only"]),
                    fmt(t["uniform-all"]),
                    fmt(t["oracle"]),
                    fmt(t["stage1-only"]),
                    fmt(t["autoaux"]),
                    f"{r['stage1_seconds']['mean']:.0f} + {r['stage2_seconds']['mean']:.0f}",
                    f"{r['autoaux_steps']:.0f} vs {r['exhaustive_steps']:.2g}",
                ]
            )
        parts.append(
            "**Scale** (main test accuracy; seconds of stage 1 + stage 2 wall time). At 50 and "
            "100 candidates the budget is reduced (fewer pulls per arm, 300 examples per "
            "auxiliary task) and the planted sets are large (15 and 30 helpful tasks): mixing "
            "every helpful task at ratio 1 leaves the main task 1/16 and 1/31 of the steps, so "
            "the 'oracle' and 'uniform' rows there mostly measure an undertrained main head."
        )
        parts.append(
            md_table(
                ["candidates", "seeds", "budget", "precision", "recall", "main only",
                 "uniform", "oracle", "stage 1 only", "autoaux", "seconds",
                 "steps: autoaux vs exhaustive"],
                rows,
            )
        )  # fmt: skip
    sweep = data.get("sweep")
    if sweep:
        rows = []
        base = sweep["variants"][DEFAULT_VARIANT]["runs"]
        for name, v in sweep["variants"].items():
            if v["same_as_default"] and name != DEFAULT_VARIANT:
                continue
            delta = "—"
            if name != DEFAULT_VARIANT and v["runs"]:
                d = paired(
                    [r["stage1_only_test"] for r in v["runs"]],
                    [r["stage1_only_test"] for r in base],
                )
                delta = f"{d['mean']:+.3f} ({d['wins']}/{d['ties']}/{d['losses']})"
            rows.append(
                [
                    name,
                    fmt(v["precision"], 2),
                    fmt(v["recall"], 2),
                    fmt(v["f1"], 2),
                    f"{v['empty_selections']}",
                    fmt(v["stage1_only_test"]),
                    delta,
                    fmt(v["margin_helpful_vs_control"], 3),
                    fmt(v["margin_helpful_vs_best_other"], 3),
                    fmt(v["helpful_gate_scale"], 2),
                ]
            )
        default = ", ".join(f"{k} {v}" for k, v in sweep["default"].items())
        same = [n for n, v in sweep["variants"].items() if v["same_as_default"]]
        parts.append(
            f"**Stage-1 settings sweep** (same suites and budget, {len(sweep['seeds'])} seeds). "
            f"The default `autoaux` preset here: {default} (so {', '.join(same)} are the "
            "default row). Each other row changes one setting of it. Stage-1-only test = the "
            "selection trained at ratio 1; margins are utility differences (helpful minus the "
            "control arm; lowest helpful minus the highest non-helpful candidate or control):"
        )
        parts.append(
            md_table(
                ["stage 1 setting", "precision", "recall", "F1", "empty", "stage-1-only test",
                 "Δ vs default (W/T/L)", "margin vs control", "margin vs best other",
                 "helpful gate scale"],
                rows,
            )
        )  # fmt: skip
    gating = data.get("gating")
    if gating:
        g = gating["setup"]
        rows = [
            [
                m,
                fmt(v["test"]),
                fmt(v["helpful_fraction_kept"], 2),
                fmt(v["helpful_mean_cosine"], 3),
            ]
            for m, v in gating["modes"].items()
        ]
        parts.append(
            f"**Gating** (main {g['main_train']} examples mixed 1:1 with one helpful task of "
            f"{g['helpful_train']}, {g['steps']} steps, {len(g['seeds'])} seeds):"
        )
        parts.append(
            md_table(
                ["gating", "main test accuracy", "helpful updates kept (mean scale)",
                 "helpful mean cosine"],
                rows,
            )
        )  # fmt: skip
    rules_list = data.get("rules")
    if isinstance(rules_list, dict):
        rules_list = [rules_list]
    for rules in rules_list or []:
        rows = [
            [name, fmt(v["precision"], 2), fmt(v["recall"], 2), fmt(v["f1"], 2),
             fmt(v["stage1_only_test"])]
            for name, v in rules["rules"].items()
        ]  # fmt: skip
        changed = ", ".join(f"{k} = {v}" for k, v in rules.get("stage1_overrides", {}).items())
        parts.append(
            f"**Selection rules** on the same stage-1 runs (default preset"
            f"{', ' + changed if changed else ''}; {len(rules['seeds'])} seeds; each rule "
            "re-applied to the stored rewards):"
        )
        parts.append(md_table(["rule", "precision", "recall", "F1", "stage-1-only test"], rows))
    facts = data.get("facts")
    if facts:
        f = facts["setup"]
        rows = []
        for name, v in facts["presets"].items():
            rows.append(
                [name, f"{fmt(v['posterior_helpful'])} / {fmt(v['posterior_control'])}",
                 f"{fmt(v['mean_reward_helpful'])} / {fmt(v['mean_reward_control'])}",
                 f"{fmt(v['cosine_helpful'])} / {fmt(v['cosine_control'])}",
                 fmt(v["helpful_gate_scale"], 2),
                 f"{v['helpful_selected']}/{len(v['runs'])}"]
            )  # fmt: skip
        parts.append(
            f"**Stage 1 on a helpful task and its shuffled control** (main {f['main_train']} "
            f"examples, helpful {f['helpful_train']}, {f['pulls']} pulls x "
            f"{f['steps_per_pull']} steps, {len(f['seeds'])} seeds; helpful / control):"
        )
        parts.append(
            md_table(
                ["preset", "decayed posterior", "mean reward", "mean gradient cosine",
                 "helpful gate scale", "helpful selected (alone)"],
                rows,
            )
        )  # fmt: skip
    return "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--budget", choices=tuple(BUDGETS), default="quick")
    parser.add_argument("--smoke", action="store_const", const="smoke", dest="budget")
    parser.add_argument("--quick", action="store_const", const="quick", dest="budget")
    parser.add_argument("--full", action="store_const", const="full", dest="budget")
    parser.add_argument(
        "--sections",
        default="main,scale,sweep,gating,facts,rules",
        help="comma-separated sections",
    )
    parser.add_argument("--seeds", type=int, default=None, help="override the number of seeds")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--markdown", type=Path, default=None, help="write the tables here")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument(
        "--stage1",
        default="",
        help='stage-1 overrides for every run, e.g. "confidence=0.99" (a candidate default)',
    )
    parser.add_argument(
        "--rules-stage1",
        default="",
        help='stage-1 overrides for the rules section, e.g. "gating=smoothed,reward=scaled"',
    )
    args = parser.parse_args(argv)
    b = BUDGETS[args.budget]
    rules_overrides = parse_overrides(args.rules_stage1)
    STAGE1_OVERRIDES.update(parse_overrides(args.stage1))
    if args.seeds is not None:
        b = dataclasses.replace(
            b, seeds=tuple(range(args.seeds)), sweep_seeds=tuple(range(args.seeds))
        )
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(sections) - {"main", "scale", "sweep", "gating", "facts", "rules"}
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}")
    info = setup(args.threads)
    ws = Workspace()
    start = time.perf_counter()
    data: dict[str, Any] = {
        "benchmark": "planted",
        "budget": dataclasses.asdict(b),
        "machine": info,
        "command": "python -m benchmarks.planted "
        + " ".join(repr(a) if " " in a else a for a in argv),
        "sections": sections,
        "stage1_overrides": dict(STAGE1_OVERRIDES),
        "seconds": {},
    }
    try:
        main_data = None
        for section in ("main", "scale", "sweep", "gating", "facts", "rules"):
            if section not in sections:
                continue
            t0 = time.perf_counter()
            if section == "main":
                main_data = data["main"] = section_main(b, ws)
            elif section == "scale":
                data["scale"] = section_scale(b, ws, main_data)
            elif section == "sweep":
                data["sweep"] = section_sweep(b, ws, main_data)
            elif section == "gating":
                data["gating"] = section_gating(b)
            elif section == "facts":
                data["facts"] = section_facts(b, ws)
            else:
                data["rules"] = section_rules(b, ws, rules_overrides)
            data["seconds"][section] = time.perf_counter() - t0
            if args.json:  # keep what is done so far if a later section breaks
                write_json(args.json, data)
    finally:
        ws.close()
    data["seconds"]["total"] = time.perf_counter() - start
    publish(data, markdown(data), json_path=args.json, markdown_path=args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
