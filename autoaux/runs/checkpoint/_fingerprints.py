"""What a resume compares against the saved run: the configuration, the data files, the
tracking store."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from autoaux.runs.checkpoint._storage import _sha256


def _config_fingerprint(data: Mapping[str, Any]) -> str:
    """sha256 of the saved configuration (canonical JSON, ``output_dir`` left out)."""
    rest = {k: v for k, v in data.items() if k != "output_dir"}
    text = json.dumps(rest, sort_keys=True, allow_nan=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _data_fingerprint(config: Any) -> dict[str, dict[str, str]]:
    """``{task: {"path": resolved path, "sha256": ...}}`` of every ``[[task]]`` data file."""
    out: dict[str, dict[str, str]] = {}
    for spec in getattr(config, "task_files", ()):
        path = Path(spec.path).expanduser().resolve()
        out[spec.name] = {"path": str(path), "sha256": _sha256(path)}
    return out


def _saved_store(state: dict[str, Any]) -> str | None:
    """The store a saved run logs to, as :meth:`RunCheckpoint.tracking_uri` compares it
    (``None``: the run has no tracking or the state does not say)."""
    with contextlib.suppress(AttributeError, TypeError):
        tracking = state.get("config", {}).get("tracking", {})
        if not tracking.get("enabled", True):
            return None
        uri = (state.get("mlflow") or {}).get("tracking_uri") or tracking.get("uri")
        if isinstance(uri, str):
            return _absolute_store(uri, state.get("cwd", "."))
    return None


def _absolute_store(uri: str, cwd: str | Path) -> str:
    """``uri`` with a relative SQLite path made absolute against ``cwd``."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + str(Path(cwd) / uri.removeprefix("sqlite:///"))
    return uri
