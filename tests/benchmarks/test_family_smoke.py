"""``python -m benchmarks.bench_family report --smoke`` runs and writes well-formed figures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from benchmarks import bench_family


def test_report_smoke_writes_family_figures(tmp_path: Path) -> None:
    out = tmp_path / "family.json"
    assert bench_family.main(["report", "--smoke", "--no-named", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert not out.with_suffix(".partial.json").exists()  # the per-method dump is cleaned up
    assert data["surface_seeds"] == [bench_family.HELD_OUT_SEEDS, bench_family.HELD_OUT_SEEDS + 1]
    assert data["checkpoints"][-1] == 12
    summary = data["family"]["summary"]
    assert "autoaux GP" in summary
    names = [s["name"] for s in data["family"]["surfaces"]]
    for item in summary.values():
        for value in item["median_normalised_regret"].values():
            assert math.isfinite(value) and value >= 0.0
        assert set(item["per_surface_median_regret"]) == set(names)
    if bench_family.REFERENCE in summary:
        pairs = summary["autoaux GP"]["paired_vs_reference"]["12"]
        assert sum(pairs) == len(names)  # one run per surface in the smoke run
        # one run per surface is too few for an interval: none is shown over 1.5x
        assert set(summary["autoaux GP"]["ratio_interval_resolved"].values()) == {None}
        assert summary["autoaux GP"]["surfaces_shown_over_1_5x"] == []


def test_held_out_and_tuning_surfaces_are_disjoint() -> None:
    tuning = {p.seed for p in bench_family.family(bench_family.TUNING_SEEDS, 3)}
    held_out = {p.seed for p in bench_family.family(bench_family.HELD_OUT_SEEDS, 3)}
    assert not tuning & held_out
    assert bench_family.HELD_OUT_SEEDS - bench_family.TUNING_SEEDS >= 100


def test_timing_smoke_interleaves_both_methods(tmp_path: Path) -> None:
    out = tmp_path / "timing.json"
    assert bench_family.main(["timing", "--smoke", "--json", str(out)]) == 0
    timing = json.loads(out.read_text())["timing"]
    assert "autoaux GP" in timing
    for figures in timing.values():
        assert figures["cpu_ms_per_trial"] > 0.0
        assert figures["wall_ms_per_trial_after_10"] > 0.0


def test_main_alone_first_is_every_methods_first_trial() -> None:
    problem = bench_family.family(bench_family.TUNING_SEEDS, 1)[0]
    first = [dict.fromkeys(problem.names, 0.0)]
    methods = {"autoaux GP": bench_family.VARIANTS["autoaux GP"]}
    if bench_family.bench_bayesopt.optuna_available():
        methods[bench_family.REFERENCE] = bench_family.REFERENCES[bench_family.REFERENCE]
    for make in methods.values():
        search = make(problem.names, 0, first)
        ratios = search.ask()
        assert ratios == first[0]
        search.tell(ratios, 0.5)
        assert search.ask() != first[0]
        plain = make(problem.names, 0)
        assert plain.ask() != first[0]
    # the regret curve starts from the main task alone's true value
    curve, _, _ = bench_family.run(problem, methods["autoaux GP"], 0, 2, main_alone=True)
    alone = problem.f_star - problem.value(np.zeros(len(problem.names)))
    assert math.isclose(curve[0], max(alone, 0.0), rel_tol=0.0, abs_tol=1e-12)


def test_ratio_interval_brackets_the_ratio_and_separates_a_real_gap() -> None:
    rng = np.random.default_rng(3)
    theirs = rng.uniform(0.004, 0.006, 20)
    same = bench_family.ratio_interval(theirs, theirs)
    assert same == (1.0, 1.0)
    # three times the regret, drawn apart: the interval excludes 1.5 and holds 3
    low, high = bench_family.ratio_interval(3.0 * rng.uniform(0.004, 0.006, 20), theirs)
    assert 1.5 < low < 3.0 < high
    # pure noise around the same level: the interval straddles 1
    noisy = rng.uniform(0.0, 0.02, 8)
    other = rng.uniform(0.0, 0.02, 8)
    low, high = bench_family.ratio_interval(noisy, other)
    assert low < 1.0 < high
    # regrets below the floor count as the floor, and the resampling is seeded
    assert bench_family.ratio_interval([1e-6] * 5, [1e-5] * 5) == (1.0, 1.0)
    assert bench_family.ratio_interval(noisy, other) == bench_family.ratio_interval(noisy, other)
    with pytest.raises(ValueError, match="equally long"):
        bench_family.ratio_interval([0.1, 0.2], [0.1])
    # too few runs for a bootstrap: no interval, and no surface counted as shown over 1.5x
    assert bench_family.ratio_interval([0.1] * 4, [0.01] * 4) is None
