"""One process at a time sets up an SQLite tracking store.

MLflow creates and migrates an SQLite store's schema the first time a process opens it, and
``create_experiment`` fails in all but one of several processes that create the same name at
once. Runs started together on a new ``sqlite:///x.db`` would race there (``Online migration
expected to match one row ...``), so opening the store and creating the experiment happen under
an exclusive lock on the file ``x.db.lock`` beside the database (:mod:`filelock`: released by
the operating system if its holder dies). Other stores need no lock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

__all__ = ["LOCK_SECONDS", "absolute_store", "store_lock"]

#: How long a process waits for another one to set the store up before giving up.
LOCK_SECONDS = 300.0


def _sqlite_file(uri: str) -> Path | None:
    if not uri.startswith("sqlite:///"):
        return None
    db = uri.removeprefix("sqlite:///").split("?", 1)[0]
    if not db or db == ":memory:":
        return None
    return Path(db).expanduser()


def absolute_store(uri: str, cwd: str | Path | None = None) -> str:
    """``uri`` with a relative SQLite path made absolute against ``cwd`` (default: the working
    folder), so that one store has one name whatever folder it is named from."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        base = Path.cwd() if cwd is None else Path(cwd)
        return "sqlite:///" + str(base / uri.removeprefix("sqlite:///"))
    return uri


@contextlib.contextmanager
def store_lock(uri: str, *, timeout: float = LOCK_SECONDS) -> Iterator[None]:
    """Hold the set-up lock of the store ``uri`` (an SQLite file; other stores: no lock)."""
    db = _sqlite_file(uri)
    if db is None:
        yield
        return
    from filelock import FileLock

    db.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(db) + ".lock", timeout=timeout):
        yield
