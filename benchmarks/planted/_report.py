"""The planted benchmark's markdown tables (used by run_all.py for RESULTS.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchmarks._common import fmt, md_table, method_table, paired

from ._suites import DEFAULT_VARIANT


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
        parts += _main_parts(main, b, overridden)
    scale = data.get("scale")
    if scale:
        parts += _scale_parts(scale)
    sweep = data.get("sweep")
    if sweep:
        parts += _sweep_parts(sweep)
    gating = data.get("gating")
    if gating:
        parts += _gating_parts(gating)
    rules_list = data.get("rules")
    if isinstance(rules_list, dict):
        rules_list = [rules_list]
    for rules in rules_list or []:
        parts += _rules_parts(rules)
    facts = data.get("facts")
    if facts:
        parts += _facts_parts(facts)
    return "\n\n".join(parts) + "\n"


def _main_parts(main: Mapping[str, Any], b: Mapping[str, Any], overridden: str) -> list[str]:
    """The main section: setup, selection quality, methods, cost, per-category statistics."""
    parts: list[str] = []
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
    labels = {
        "main-only": "main only",
        "uniform-all": "uniform over all candidates",
        "oracle": "oracle subset (planted helpful set, ratio 1)",
        "stage1-only": "stage 1 only (selection, ratio 1)",
        "autoaux": "autoaux (stage 1 + stage 2)",
        "neutral-only": "check: neutral set only",
        "harmful-only": "check: harmful set only",
    }
    parts.append(method_table(s, labels))
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
    return parts


def _scale_parts(scale: Mapping[str, Any]) -> list[str]:
    """The scale section: quality and time at each pool size."""
    parts: list[str] = []
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
    return parts


def _sweep_parts(sweep: Mapping[str, Any]) -> list[str]:
    """The sweep section: one row per stage-1 setting."""
    parts: list[str] = []
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
    return parts


def _gating_parts(gating: Mapping[str, Any]) -> list[str]:
    """The gating section: one row per gating mode."""
    parts: list[str] = []
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
    return parts


def _rules_parts(rules: Mapping[str, Any]) -> list[str]:
    """One rules section: one row per selection rule."""
    parts: list[str] = []
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
    return parts


def _facts_parts(facts: Mapping[str, Any]) -> list[str]:
    """The facts section: one row per stage-1 preset."""
    parts: list[str] = []
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
    return parts
