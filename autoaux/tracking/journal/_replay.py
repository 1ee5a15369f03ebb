"""Sending what a journal holds: at the end of a run (:func:`settle_tracking`), into the
fallback store (:func:`replay_into`) and later from the command line (:func:`replay_journal`)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoaux._hints import replay_hint
from autoaux._secrets import redact_uri
from autoaux.errors import TrackingError
from autoaux.tracking.journal._client import JournalingClient
from autoaux.tracking.journal._records import _PARENT_TAG, JOURNAL_FILE, journal_name

log = logging.getLogger(__name__)


def replay_into(client: Any, ops: Sequence[Mapping[str, Any]], *, experiment_id: str) -> int:
    """Send journaled operations to another store (``client``); return how many were sent.

    Runs that exist only in the first store are stood in for by one run each in this store
    (named ``"<id> (continued)"``, tag ``autoaux.primary_run_id``) that receives their
    operations; runs created during the outage are created here.
    """
    from mlflow.entities import Metric, Param, RunTag

    ids: dict[str, str] = {}

    def run_for(run_id: str) -> str:
        if run_id not in ids:
            run = client.create_run(
                experiment_id,
                tags={"autoaux.primary_run_id": run_id},
                run_name=f"{run_id} (continued)",
            )
            ids[run_id] = str(run.info.run_id)
        return ids[run_id]

    sent = 0
    for op in ops:
        kind = op["op"]
        if kind == "create_run":
            tags = dict(op["tags"])
            if _PARENT_TAG in tags:
                tags[_PARENT_TAG] = run_for(tags[_PARENT_TAG])
            run = client.create_run(
                experiment_id, start_time=op["start_time"], tags=tags, run_name=op["run_name"]
            )
            ids[op["ref"]] = str(run.info.run_id)
        elif kind == "log_batch":
            client.log_batch(
                run_for(op["run_id"]),
                metrics=[Metric(k, float(v), int(t), int(s)) for k, v, t, s in op["metrics"]],
                params=[Param(k, v) for k, v in op["params"]],
                tags=[RunTag(k, v) for k, v in op["tags"]],
            )
        elif kind == "log_artifact":
            client.log_artifact(
                run_for(op["run_id"]), op["local_path"], artifact_path=op["artifact_path"]
            )
        elif kind == "set_terminated":
            client.set_terminated(run_for(op["run_id"]), status=op["status"])
        elif kind == "update_run":
            client.update_run(run_for(op["run_id"]), status=op["status"], name=op["name"])
        sent += 1
    return sent


#: How long the end of a run waits for a store that is down before giving up on it.
SETTLE_SECONDS = 30.0


def fallback_uri(config: Any) -> str:
    """The ``[tracking] fallback`` store: ``fallback_uri``, or ``mlflow-fallback.db`` (SQLite)
    in the output folder."""
    if config.tracking.fallback_uri:
        return str(config.tracking.fallback_uri)
    folder = Path(config.output_dir).expanduser().resolve()
    return f"sqlite:///{folder / 'mlflow-fallback.db'}"


def settle_tracking(tracker: Any, config: Any, *, wait: float = SETTLE_SECONDS) -> None:
    """At the end of a run: send what the journal still holds, waiting up to ``wait`` seconds
    for the store. If it stays down the calls stay in the journal and the last message gives
    the command that sends them later (``autoaux tracking replay DIR``); with ``[tracking]
    fallback`` a copy is also written to the fallback store, to look at meanwhile."""
    client = getattr(tracker, "client", None)
    if not isinstance(client, JournalingClient) or not client.down:
        return
    copied = ""
    try:
        if client.drain(timeout=wait):
            return
        if config.tracking.fallback:
            from mlflow.tracking import MlflowClient

            from autoaux.tracking._store import store_lock

            uri = fallback_uri(config)
            name = config.tracking.experiment
            with store_lock(uri):
                other = MlflowClient(tracking_uri=uri)
                found = other.get_experiment_by_name(name)
                experiment = found.experiment_id if found else other.create_experiment(name)
            sent = replay_into(other, client.pending_ops(), experiment_id=experiment)
            copied = f" (a copy of the {sent} calls is in the fallback store {redact_uri(uri)})"
    except Exception as error:  # the run's results are on disk; never fail it here
        log.warning("could not settle the tracking journal (%s)", error)
    hint = replay_hint(client.path.parent, tracker.tracking_uri)
    log.warning(
        "tracking store %s still unreachable: %d tracking calls kept in %s%s; once it is back, %s",
        redact_uri(tracker.tracking_uri or ""),
        client.pending,
        client.path,
        copied,
        hint.say("send them"),
    )


@dataclass(frozen=True)
class ReplayReport:
    """What :func:`replay_journal` did: calls ``sent``, calls ``left`` in the journal (the store
    is still away, or refused the client: ``refusal`` says why), bad records ``skipped``."""

    sent: int
    left: int
    skipped: int
    refusal: str | None = None


def journal_file(path: str | Path) -> Path:
    """The journal of an output folder (``tracking-journal.jsonl``), or ``path`` itself when it
    is a journal file.

    Raises:
        FileNotFoundError: there is none.
    """
    file = Path(path).expanduser()
    if file.is_dir():
        file = file / JOURNAL_FILE
    if not file.is_file():
        raise FileNotFoundError(f"no tracking journal at {file}")
    return file


def replay_store(file: str | Path, given: str | None = None) -> str:
    """The store to replay the journal ``file`` into: the user's, checked against the one the
    journal names, never taken from the journal alone (as a resume takes its store).

    ``given`` (``--tracking-uri``) is used when it is the journal's store. Without it, the
    ``MLFLOW_TRACKING_URI`` variable or the default ``sqlite:///mlflow.db`` of the working
    folder is used when it is the journal's store, and so is the journal's store itself when
    it is an SQLite file inside the journal's folder (the fallback store). A journal that
    names no store takes the user's (``given``, the variable or the default).

    Raises:
        TrackingError: the store given is not the journal's, or none was given and the
            journal's is none of the above (the message names the ``--tracking-uri`` to pass).
    """
    from autoaux.tracking.mlflow_tracker import DEFAULT_TRACKING_URI

    file = Path(file)
    saved = _journal_store(file)
    env = os.environ.get("MLFLOW_TRACKING_URI") or None
    if saved is None:
        return given or env or DEFAULT_TRACKING_URI
    if given is not None:
        if journal_name(given) != saved:
            raise TrackingError(
                f"--tracking-uri {redact_uri(given)}: the journal {file} holds calls for the "
                f"tracking store {saved}; pass --tracking-uri {saved} (a replay sends them to "
                "their own store)"
            )
        return given
    for candidate in (env, DEFAULT_TRACKING_URI):
        if candidate and journal_name(candidate) == saved:
            return candidate
    folder = Path(os.path.abspath(file.parent))
    inside = f"sqlite:///{folder}{os.sep}"
    if saved.startswith(inside) and ".." not in saved and "?" not in saved:
        return saved
    raise TrackingError(
        f"{file}: the journal holds calls for the tracking store {saved}; a replay takes the "
        f"store from you, not from the journal: pass --tracking-uri {saved} (credentials in "
        "MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD or MLFLOW_TRACKING_TOKEN)"
    )


def replay_journal(path: str | Path, *, uri: str | None = None, wait: float = 0.0) -> ReplayReport:
    """Send the unsent calls of a journal (a file, or the output folder holding
    ``tracking-journal.jsonl``) to its store, waiting up to ``wait`` seconds for the store.
    ``uri``: the user's store (:func:`replay_store` checks it; default: ``MLFLOW_TRACKING_URI``
    or ``sqlite:///mlflow.db``). The caller holds the output folder's lock
    (:func:`autoaux.api.replay_tracking` does).

    Raises:
        FileNotFoundError: no journal there.
        TrackingError: the store is not the journal's (see :func:`replay_store`).
    """
    file = journal_file(path)
    store = replay_store(file, uri)
    from mlflow.tracking import MlflowClient

    client = JournalingClient(MlflowClient(tracking_uri=store), file, store=store)
    before = client.pending
    client.drain(timeout=wait)
    return ReplayReport(
        sent=before - client.pending - (client.skipped - client.loaded_skipped),
        left=client.pending,
        skipped=client.skipped,
        refusal=client.refusal,
    )


def _journal_store(file: Path) -> str | None:
    """The store URI recorded in a journal's ``store`` lines (the last one)."""
    uri = None
    for line in file.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(json.JSONDecodeError, TypeError):
            record = json.loads(line)
            if isinstance(record, dict) and isinstance(record.get("store"), str):
                uri = record["store"]
    return None if uri is None else journal_name(uri)
