"""``python -m benchmarks.affinity --smoke`` screens a tiny planted pool in its own process and
writes a well-formed record and the cost table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_affinity_benchmark_smoke(tmp_path: Path) -> None:
    out = tmp_path / "affinity.jsonl"
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "AUTOAUX_CACHE": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.affinity", "--smoke", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert record["n"] == 5 and record["helpful"]
    assert set(record["affinity"]) >= set(record["helpful"])
    assert record["steps"] == (5 + 1) * record["rounds"] * record["probe_steps"]
    assert record["peak_rss_mb"] > 0 and 0.0 <= record["auc"] <= 1.0
    assert "| 5 | 1 | 2 x 4 |" in proc.stdout
