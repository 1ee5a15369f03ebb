"""The MLflow UI really shows a finished run tree: mlflow server + headless Chromium."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from .conftest import CliRun

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: chromium)"),
]
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _dump_dom(url: str, profile: Path) -> str:
    assert CHROMIUM is not None
    proc = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
         "--virtual-time-budget=30000", "--dump-dom", url],
        capture_output=True, text=True, timeout=120, check=False,
    )
    return proc.stdout


def test_mlflow_ui_renders_parent_and_trial_runs(quick_run: CliRun, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    assert quick_run.returncode == 0, quick_run.stderr
    result = json.loads((quick_run.output / "result.json").read_text())
    store = f"sqlite:///{quick_run.workdir / 'mlflow.db'}"
    client = MlflowClient(store)
    experiment_id = result["mlflow"]["experiment_id"]
    runs = client.search_runs([experiment_id])
    parent = next(r for r in runs if r.info.run_id == result["mlflow"]["run_id"])
    trial_names = [r.info.run_name for r in runs if r.info.run_name.startswith("trial")]
    assert len(trial_names) == len(result["trials"]) >= 1

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", store,
         "--host", "127.0.0.1", "--port", str(port)],
        cwd=quick_run.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, "mlflow server exited"
            assert time.monotonic() < deadline, "mlflow server did not start in 90 s"
            time.sleep(0.5)

        # The experiment's run list shows the parent run (children are folded under it).
        dom = _dump_dom(f"{base}/#/experiments/{experiment_id}/runs", tmp_path / "p1")
        assert parent.info.run_name in dom
        # The comparison view of the whole tree lists every trial by name.
        ids = urllib.parse.quote(json.dumps([r.info.run_id for r in runs]))
        exps = urllib.parse.quote(json.dumps([experiment_id]))
        dom = _dump_dom(f"{base}/#/compare-runs?runs={ids}&experiments={exps}", tmp_path / "p2")
        assert parent.info.run_name in dom
        for name in trial_names:
            assert name in dom, name
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
