"""The sweep section: stage-1 settings on the main suites."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import autoaux
from benchmarks._common import Workspace, log, summary

from ._running import score_subset, selection_summary
from ._suites import DEFAULT_VARIANT, VARIANTS, Budget, make_config, make_suite, resolved


def section_sweep(b: Budget, ws: Workspace, main: Mapping[str, Any] | None) -> dict[str, Any]:
    """Stage-1 settings on the main suites; the default variant reuses the main runs."""
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
