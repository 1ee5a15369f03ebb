"""Fixtures of the stage tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def one_thread(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """One torch thread (as a worker process runs its episodes) and a fresh feature cache."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("AUTOAUX_CACHE", str(tmp_path / "cache"))
    yield
    torch.set_num_threads(threads)
