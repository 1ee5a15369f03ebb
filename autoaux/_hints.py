"""The commands autoaux prints for the user to run, built so that they work when pasted.

Every suggested command (the resume after Ctrl-C, the replay of a tracking journal, the MLflow
UI of a run) is built here from what the run knows, with every option the command needs and
each word quoted for a POSIX shell (:func:`shlex.quote`; a path with spaces stays one word).

The tracking store is always named, because the commands take it from the user, never from the
output folder: ``--tracking-uri URI`` with the store as the run used it (a relative SQLite path
made absolute, so the command works from any folder), left out only for the default store
``sqlite:///mlflow.db`` of the working folder, which every command uses when none is given.
A URI that carries credentials is never printed (:mod:`autoaux._secrets`): the command then
reads it from the ``MLFLOW_TRACKING_URI`` variable (``--tracking-uri "$MLFLOW_TRACKING_URI"``)
and the hint says to set that variable to the store first.

A hint reads ``<what to do> with: <command>``: the command is always everything after the last
``with: `` of the line.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from autoaux._secrets import REDACTED, redact_uri

__all__ = [
    "DEFAULT_STORE",
    "STORE_VARIABLE",
    "Hint",
    "browser_url",
    "has_credentials",
    "replay_hint",
    "resume_hint",
    "ui_hint",
]

#: The store every command uses when none is given (relative to the working folder).
DEFAULT_STORE = "sqlite:///mlflow.db"
#: The variable that carries a store whose URI holds credentials (MLflow reads it too).
STORE_VARIABLE = "MLFLOW_TRACKING_URI"
_FROM_VARIABLE = f'"${STORE_VARIABLE}"'  # expanded by the shell, never printed expanded
_BROWSER_SCHEMES = ("http", "https")


@dataclass(frozen=True)
class Hint:
    """A command to suggest. ``command``: the shell line; ``store``: the (redacted) store that
    ``$MLFLOW_TRACKING_URI`` must hold when the command reads it from there, else ``None``."""

    command: str
    store: str | None = None

    def say(self, action: str) -> str:
        """``"<action> with: <command>"``, preceded by what to set first when the store comes
        from the variable (``action`` e.g. ``"resume"``)."""
        if self.store is None:
            return f"{action} with: {self.command}"
        return (
            f"set {STORE_VARIABLE} to the tracking store {self.store} (credentials included), "
            f"then {action} with: {self.command}"
        )

    def __str__(self) -> str:
        return self.command


def has_credentials(uri: str) -> bool:
    """Whether ``uri`` carries credentials (or is an already redacted one that did)."""
    return redact_uri(uri) != uri or REDACTED in uri


def resume_hint(
    output_dir: str | Path, tracking_uri: str | None, *, cwd: str | None = None
) -> Hint:
    """``autoaux run --resume OUTPUT [--tracking-uri URI]``. ``tracking_uri``: the store the run
    logs to (``None``: a run without tracking); ``cwd``: the folder a relative SQLite store is
    relative to (default: the working folder)."""
    return _hint(["autoaux", "run", "--resume", _path(output_dir)], tracking_uri, cwd=cwd)


def replay_hint(
    output_dir: str | Path, tracking_uri: str | None, *, cwd: str | None = None
) -> Hint:
    """``autoaux tracking replay OUTPUT [--tracking-uri URI]``: sends a run's journal to its
    store."""
    words = ["autoaux", "tracking", "replay", _path(output_dir)]
    return _hint(words, tracking_uri, cwd=cwd)


def ui_hint(tracking_uri: str, *, cwd: str | None = None) -> Hint | None:
    """``autoaux ui [--tracking-uri URI]`` for a store that the MLflow UI can serve (a database
    or a folder); ``None`` for a tracking server, which serves its own UI (:func:`browser_url`)."""
    if urlsplit(tracking_uri).scheme.lower() in _BROWSER_SCHEMES:
        return None
    return _hint(["autoaux", "ui"], tracking_uri, cwd=cwd)


def browser_url(tracking_uri: str, experiment_id: str | None, run_id: str | None) -> str:
    """The page of a run on a tracking server (without credentials: the browser asks)."""
    parts = urlsplit(redact_uri(tracking_uri))
    host = parts.netloc.rsplit("@", 1)[-1]
    base = urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))
    if experiment_id and run_id:
        return f"{base}/#/experiments/{experiment_id}/runs/{run_id}"
    return f"{base}/"


def _hint(words: list[str], tracking_uri: str | None, *, cwd: str | None) -> Hint:
    line = shlex.join(words)
    if tracking_uri is None:
        return Hint(line)
    if has_credentials(tracking_uri):
        return Hint(f"{line} --tracking-uri {_FROM_VARIABLE}", store=redact_uri(tracking_uri))
    here = cwd if cwd is not None else os.getcwd()
    uri = _absolute_sqlite(tracking_uri, here)
    if uri == _absolute_sqlite(DEFAULT_STORE, here):  # the default store of this folder
        return Hint(line)
    return Hint(f"{line} --tracking-uri {shlex.quote(uri)}")


def _absolute_sqlite(uri: str, cwd: str) -> str:
    """A relative SQLite store made absolute (``sqlite:///x.db`` is ``./x.db``)."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + str(Path(cwd) / uri.removeprefix("sqlite:///"))
    return uri


def _path(path: str | Path) -> str:
    """A path as one argument word: never read as an option (``-x`` becomes ``./-x``)."""
    text = str(path)
    return f"./{text}" if text.startswith("-") else text
