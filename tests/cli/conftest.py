"""Fixtures for the command-line tests: one finished ``autoaux run --quick`` for the session."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class CliRun:
    returncode: int
    stdout: str
    stderr: str
    workdir: Path
    output: Path


def cli_env(cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        MLFLOW_DISABLE_TELEMETRY="true",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        AUTOAUX_CACHE=str(cache),
    )
    return env


def run_cli(args: Sequence[str], *, cwd: Path, cache: Path, timeout: float = 600) -> CliRun:
    proc = subprocess.run(
        [sys.executable, "-m", "autoaux.cli", *args],
        cwd=cwd,
        env=cli_env(cache),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return CliRun(proc.returncode, proc.stdout, proc.stderr, cwd, cwd / "out")


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data cache for the whole test session (built-in wheels are fetched once)."""
    env_cache = os.environ.get("AUTOAUX_TEST_CACHE")
    if env_cache:
        return Path(env_cache)
    return tmp_path_factory.mktemp("autoaux-cache")


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory: pytest.TempPathFactory, data_cache: Path) -> CliRun:
    """``autoaux run --quick`` on the built-in data with a temporary SQLite store."""
    work = tmp_path_factory.mktemp("quick-run")
    return run_cli(
        ["--quiet", "run", "--quick", "--output", "out", "--experiment", "cli-test"],
        cwd=work,
        cache=data_cache,
    )
