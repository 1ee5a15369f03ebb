"""HTTP settings for talking to a remote MLflow store (shared by the tracker and the journal)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

__all__ = ["fail_fast_http"]


@contextlib.contextmanager
def fail_fast_http() -> Iterator[None]:
    """While probing a remote store: no retries and a short timeout, so an unreachable server
    is reported in seconds rather than after MLflow's minutes of back-off."""
    saved = {
        name: os.environ.get(name)
        for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT")
    }
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = "10"
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
