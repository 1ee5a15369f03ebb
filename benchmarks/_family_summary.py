"""Figures of ``bench_family`` runs: per-surface ratios to GPSampler with 95% intervals,
family summaries and their markdown tables (see ``benchmarks.bench_family``)."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmarks import bench_bayesopt
from benchmarks.bench_bayesopt import SOLVED

if TYPE_CHECKING:
    from benchmarks.bench_family import Problem

REFERENCE = "Optuna GPSampler"
RESOLVED = 1e-3
"""A second floor for the per-surface ratio to GPSampler: regrets below 0.001 (a tenth of a
point of dev accuracy, ten times below the seed-to-seed noise of a real trial) count as 0.001."""
BOOTSTRAP_DRAWS = 4000
"""Resamples of the run seeds behind each per-surface ratio's 95% interval."""
MIN_INTERVAL_RUNS = 5
"""Fewer runs per surface give no interval: a bootstrap of 1 to 4 medians says nothing."""


def ratio_interval(
    ours: Sequence[float], theirs: Sequence[float], floor: float = RESOLVED, seed: int = 0
) -> tuple[float, float] | None:
    """95% percentile-bootstrap interval of ``median(ours) / median(theirs)`` (both floored).

    Run seed ``s`` draws the same observation noise for every method, so the run seeds are
    resampled jointly (a paired bootstrap); ``seed`` seeds the resampling. ``None`` with fewer
    than ``MIN_INTERVAL_RUNS`` runs.
    """
    a = np.maximum(np.asarray(ours, dtype=float), floor)
    b = np.maximum(np.asarray(theirs, dtype=float), floor)
    if a.shape != b.shape or a.ndim != 1 or not len(a):
        raise ValueError(f"need two equally long, non-empty lists, got {a.shape} and {b.shape}")
    if len(a) < MIN_INTERVAL_RUNS:
        return None
    draws = np.random.default_rng(seed).integers(0, len(a), (BOOTSTRAP_DRAWS, len(a)))
    ratios = np.median(a[draws], axis=1) / np.median(b[draws], axis=1)
    low, high = np.percentile(ratios, [2.5, 97.5])
    return float(low), float(high)


def summarise(
    problems: Sequence[Problem], measured: Mapping[str, Any], checkpoints: Sequence[int]
) -> dict[str, Any]:
    """Family medians, per-surface ratios to the reference at the last checkpoint, pairs."""
    scale = {p.name: max(p.f_star - p.f_median, 1e-12) for p in problems}
    last = str(checkpoints[-1])
    summary: dict[str, Any] = {}
    for method, entry in measured.items():
        surfaces = entry["surfaces"]
        normalised = {
            str(t): [r / scale[name] for name, s in surfaces.items() for r in s["regret"][str(t)]]
            for t in checkpoints
        }
        medians = {
            name: {str(t): statistics.median(s["regret"][str(t)]) for t in checkpoints}
            for name, s in surfaces.items()
        }
        item: dict[str, Any] = {
            "median_normalised_regret": {t: statistics.median(v) for t, v in normalised.items()},
            "mean_normalised_regret": {t: statistics.fmean(v) for t, v in normalised.items()},
            "median_regret": {
                str(t): statistics.median(r for s in surfaces.values() for r in s["regret"][str(t)])
                for t in checkpoints
            },
            "per_surface_median_regret": medians,
            "ms_per_trial": entry["ms_per_trial"],
            "ms_per_trial_after_10": entry["ms_per_trial_after_10"],
        }
        if REFERENCE in measured and method != REFERENCE:
            ref = measured[REFERENCE]["surfaces"]
            ref_medians = {name: statistics.median(ref[name]["regret"][last]) for name in surfaces}
            ratios = {
                name: max(medians[name][last], SOLVED) / max(ref_medians[name], SOLVED)
                for name in surfaces
            }
            worst = max(ratios, key=ratios.__getitem__)
            item["ratio_to_reference_at_last"] = ratios
            item["worst_ratio"] = {"surface": worst, "ratio": ratios[worst]}
            coarse = {
                name: max(medians[name][last], RESOLVED) / max(ref_medians[name], RESOLVED)
                for name in surfaces
            }
            worst = max(coarse, key=coarse.__getitem__)
            item["worst_ratio_resolved"] = {"surface": worst, "ratio": coarse[worst]}
            item["surfaces_over_1_5x_resolved"] = sorted(n for n, r in coarse.items() if r > 1.5)
            intervals = {
                name: ratio_interval(surfaces[name]["regret"][last], ref[name]["regret"][last])
                for name in surfaces
            }
            item["ratio_interval_resolved"] = intervals
            item["surfaces_shown_over_1_5x"] = sorted(
                n for n, interval in intervals.items() if interval and interval[0] > 1.5
            )
            pairs: dict[str, list[int]] = {}
            for t in checkpoints:
                ours = [r for s in surfaces.values() for r in s["regret"][str(t)]]
                theirs = [r for name in surfaces for r in ref[name]["regret"][str(t)]]
                pairs[str(t)] = list(bench_bayesopt.compare(ours, theirs))
            item["paired_vs_reference"] = pairs
        summary[method] = item
    return summary


def table(summary: Mapping[str, Any], at: Sequence[int]) -> str:
    """Markdown: one row per method."""
    cols = [f"median normalised regret t={t}" for t in at]
    header = [
        "method",
        *cols,
        f"worst surface vs GPSampler at t={at[-1]} (floor {SOLVED:g}; {RESOLVED:g} [95% CI])",
        "over 1.5x (shown at 95%)",
        "paired vs GPSampler " + "; ".join(f"t={t}" for t in at),
    ]
    header += ["ms/trial (all; after 10)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method, item in summary.items():
        cells = [method]
        cells += [f"{item['median_normalised_regret'][str(t)]:.3f}" for t in at]
        worst, resolved = item.get("worst_ratio"), item.get("worst_ratio_resolved")
        if worst:
            interval = item["ratio_interval_resolved"][resolved["surface"]]
            bracket = f"[{interval[0]:.2f}, {interval[1]:.2f}]" if interval else "[-]"
            cells.append(
                f"{worst['ratio']:.2f}x ({worst['surface']}); {resolved['ratio']:.2f}x "
                f"{bracket} ({resolved['surface']})"
            )
            over, shown = item["surfaces_over_1_5x_resolved"], item["surfaces_shown_over_1_5x"]
            cells.append(f"{len(over)} ({len(shown)})")
        else:
            cells += ["-", "-"]
        pairs = item.get("paired_vs_reference")
        cells.append("; ".join("/".join(map(str, pairs[str(t)])) for t in at) if pairs else "-")
        after = item["ms_per_trial_after_10"]
        cells.append(f"{item['ms_per_trial']:.1f}; {after:.1f}" if after else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def surface_table(summary: Mapping[str, Any], problems: Sequence[Problem], t: int) -> str:
    """Markdown: per-surface median raw regret at ``t`` for every method."""
    methods = list(summary)
    header = ["surface (ratios, noise)", *methods]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for p in problems:
        cells = [f"{p.name} ({len(p.names)}, {p.noise:.3f})"]
        for method in methods:
            cells.append(
                bench_bayesopt._fmt_regret(
                    summary[method]["per_surface_median_regret"][p.name][str(t)]
                )
            )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
