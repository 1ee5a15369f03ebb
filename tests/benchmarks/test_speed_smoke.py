"""``python -m benchmarks.speed --smoke`` times the product's trainer and the hand-written loops on
synthetic cached features in its own process and prints the table and well-formed figures."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROWS = {
    "product, before",
    "product",
    "hand loop, plain",
    "hand loop, skip zeros",
    "hand loop, 384-input first layer",
}


def test_speed_benchmark_smoke(tmp_path: Path) -> None:
    out = tmp_path / "speed.json"
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "AUTOAUX_CACHE": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.speed", "--smoke", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    assert set(data["ms_per_episode"]) == ROWS
    assert all(v > 0 and math.isfinite(v) for v in data["ms_per_episode"].values())
    assert data["shapes"]["top"] == "1536 -> 256 -> 256" and data["shapes"]["batch"] == 16
    assert data["machine"]["torch_threads"] == 1
    assert all(data["same_dev_score_before_after"])
    assert all(v > 0 for v in data["eval_ms"].values())
    assert "| product, before |" in proc.stdout and "| hand loop, skip zeros |" in proc.stdout


def test_speed_benchmark_rejects_bad_counts() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.speed", "--rounds", "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "--rounds and --episodes must be >= 1" in proc.stderr
    assert "Traceback" not in proc.stderr
