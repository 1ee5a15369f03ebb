"""Tracking that survives an outage of the MLflow store: retries, a local journal and replay.

:class:`JournalingClient` stands between :class:`~autoaux.tracking.MlflowTracker` and its
:class:`mlflow.MlflowClient` for the writes the tracker makes (``create_run``, ``log_batch``,
``log_artifact``, ``set_terminated``, ``update_run``); reads pass straight through. Each write
is an *operation* sent in order::

    try the operation, up to 1 + retries times, sleeping backoff * 2**i between tries
    still failing (the store is unreachable)  -> the client is DOWN:
        the operation and every later one are appended to the journal (JSON lines, fsynced)
        a run created while down gets a stand-in id "offline-<hex>" (tag autoaux.offline_id,
        which every run carries); every later call on it, replayed or sent straight once the
        store is back, goes to the store's id
    while DOWN, at most every probe_seconds, the journal is replayed in order;
        once it is empty the client is UP again and writes go straight to the store

A write the store *refuses* (an invalid value, an unknown run) is not an outage: it raises as
it would without the journal, or, met during a replay, is logged and skipped so that one bad
record does not hold back the rest. The journal lives in the run's output folder
(``tracking-journal.jsonl``); an acknowledgement line follows every replayed operation, so a
process killed during an outage leaves the unsent operations on disk and the next client on
that file (``autoaux run --resume DIR``, or ``autoaux tracking replay DIR`` after the run)
sends them. Stand-in ids map to real ids once sent (:meth:`JournalingClient.resolve`), in this
process and, through the acknowledgements, in the next. A ``create_run`` whose answer was lost
(the store went away mid-call) is found by its tag before it is replayed, never made twice.
Metric timestamps are taken when the value is logged, so a replayed history is the history of
the run, not of the replay.

:func:`replay_into` copies what is left at the end of a run into another store (the
``[tracking] fallback`` store) when the first one never came back; the journal keeps it for
:func:`replay_journal` (``autoaux tracking replay DIR``) once the store is back.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from autoaux._hints import replay_hint
from autoaux._secrets import redact_uri
from autoaux.tracking._http import fail_fast_http as _fail_fast_http

__all__ = ["JOURNAL_FILE", "JournalingClient", "replay_into", "replay_journal"]

log = logging.getLogger(__name__)

JOURNAL_FILE = "tracking-journal.jsonl"
OFFLINE_PREFIX = "offline-"
#: Tag set on every run the client creates: the id it is known by until the store answers.
REF_TAG = "autoaux.offline_id"
_PARENT_TAG = "mlflow.parentRunId"
# MLflow error codes that mean "the store answered and refused": never an outage.
_PERMANENT = frozenset(
    {
        "INVALID_PARAMETER_VALUE",
        "RESOURCE_DOES_NOT_EXIST",
        "RESOURCE_ALREADY_EXISTS",
        "INVALID_STATE",
        "BAD_REQUEST",
        "PERMISSION_DENIED",
        "UNAUTHENTICATED",
    }
)


class _OfflineInfo:
    def __init__(self, run_id: str) -> None:
        self.run_id = run_id


class _OfflineRun:
    """What ``create_run`` returns (only ``info.run_id`` is used by the tracker)."""

    def __init__(self, run_id: str) -> None:
        self.info = _OfflineInfo(run_id)


class JournalingClient:
    """An MLflow client whose writes are retried, journaled while the store is down and
    replayed when it returns (see the module docstring).

    Args:
        client: the :class:`mlflow.MlflowClient` to send to.
        path: the journal file (created when first needed; earlier unsent operations in it are
            loaded and sent first).
        retries: further tries of a failing write before the store counts as down.
        backoff: seconds before the first retry; doubled each retry, at most ``max_backoff``.
        probe_seconds: while down, how often a write tries to replay the journal.
        sleep: the sleeping function (tests pass a fake).
        store: the store's URI, written to the journal so that ``autoaux tracking replay``
            knows where to send it.
    """

    def __init__(
        self,
        client: Any,
        path: str | Path,
        *,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        probe_seconds: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        store: str | None = None,
    ) -> None:
        self._client = client
        self.path = Path(path)
        self._store = store
        self._retries = int(retries)
        self._backoff = float(backoff)
        self._max_backoff = float(max_backoff)
        self._probe_seconds = float(probe_seconds)
        self._sleep = sleep
        self._pending: list[dict[str, Any]] = []
        self._ids: dict[str, str] = {}
        self._seq = 0
        self._last_probe = 0.0
        self.outages = 0
        self._load()

    # ----- state ------------------------------------------------------------------------
    @property
    def down(self) -> bool:
        """Whether operations are waiting in the journal."""
        return bool(self._pending)

    @property
    def pending(self) -> int:
        """How many operations wait in the journal."""
        return len(self._pending)

    @property
    def inner(self) -> Any:
        """The wrapped :class:`mlflow.MlflowClient`."""
        return self._client

    def resolve(self, run_id: str) -> str:
        """The real id of ``run_id`` (itself unless it is a stand-in not yet sent)."""
        return self._ids.get(run_id, run_id)

    def __getattr__(self, name: str) -> Any:  # reads: get_run, search_runs, ...
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:  # stand-in ids become real ones
            args = tuple(self.resolve(a) if isinstance(a, str) else a for a in args)
            if isinstance(kwargs.get("run_id"), str):
                kwargs["run_id"] = self.resolve(kwargs["run_id"])
            return attr(*args, **kwargs)

        return call

    # ----- the writes the tracker makes ----------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        start_time: int | None = None,
        tags: Mapping[str, str] | None = None,
        run_name: str | None = None,
    ) -> Any:
        ref = f"{OFFLINE_PREFIX}{uuid.uuid4().hex}"
        op: dict[str, Any] = {
            "op": "create_run",
            "experiment_id": experiment_id,
            "start_time": start_time if start_time is not None else _now_ms(),
            "tags": {**dict(tags or {}), REF_TAG: ref},
            "run_name": run_name,
            "ref": ref,
        }
        if not self._pending:
            with contextlib.suppress(_Outage):
                return _OfflineRun(str(self._send(self._translate(op), tries=self._retries + 1)))
        self._enqueue(op)
        return _OfflineRun(ref)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Any] = (),
        params: Sequence[Any] = (),
        tags: Sequence[Any] = (),
    ) -> None:
        self._write(
            {
                "op": "log_batch",
                "run_id": run_id,
                "metrics": [[m.key, m.value, m.timestamp, m.step] for m in metrics],
                "params": [[p.key, p.value] for p in params],
                "tags": [[t.key, t.value] for t in tags],
            }
        )

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        from mlflow.entities import RunTag

        self.log_batch(run_id, tags=[RunTag(str(key), str(value))])

    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None:
        self._write(
            {
                "op": "log_artifact",
                "run_id": run_id,
                "local_path": str(local_path),
                "artifact_path": artifact_path,
            }
        )

    def set_terminated(
        self, run_id: str, status: str | None = None, end_time: int | None = None
    ) -> None:
        self._write(
            {
                "op": "set_terminated",
                "run_id": run_id,
                "status": status,
                "end_time": end_time if end_time is not None else _now_ms(),
            }
        )

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> None:
        self._write({"op": "update_run", "run_id": run_id, "status": status, "name": name})

    # ----- replay -----------------------------------------------------------------------
    def drain(self, *, timeout: float = 0.0) -> bool:
        """Replay the journal, retrying for up to ``timeout`` seconds; True when empty."""
        deadline = time.monotonic() + max(0.0, timeout)
        delay = self._backoff
        while True:
            self._replay()
            if not self._pending or time.monotonic() >= deadline:
                return not self._pending
            self._sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, self._max_backoff)

    def pending_ops(self) -> list[dict[str, Any]]:
        """A copy of the unsent operations, ids already resolved where known (for
        :func:`replay_into`); they stay in the journal."""
        return [self._translate(op) for op in self._pending]

    # ----- internals --------------------------------------------------------------------
    def _write(self, op: dict[str, Any]) -> None:
        if self._pending:
            if time.monotonic() - self._last_probe >= self._probe_seconds:
                self._replay()
            if self._pending:
                if op["op"] == "log_artifact":
                    op["local_path"] = self._keep_copy(op["local_path"])
                self._enqueue(op)
                return
        try:
            self._send(self._translate(op), tries=self._retries + 1)
        except _Outage:
            if op["op"] == "log_artifact":
                op["local_path"] = self._keep_copy(op["local_path"])
            self._enqueue(op)

    def _enqueue(self, op: dict[str, Any]) -> None:
        if not self._pending:
            if self._store is not None:
                self._append({"store": self._store})
            self.outages += 1
            self._last_probe = time.monotonic()
            log.warning(
                "tracking store unreachable: keeping tracking calls in %s until it returns",
                self.path,
            )
        self._seq += 1
        op["seq"] = self._seq
        self._pending.append(op)
        self._append(op)

    def _replay(self) -> None:
        self._last_probe = time.monotonic()
        sent = 0
        while self._pending:
            op = self._pending[0]
            try:
                real = self._created(op) if op["op"] == "create_run" else None
                if real is None:
                    real = self._send(self._translate(op), tries=1, replaying=True)
            except _Outage:
                break
            if op["op"] == "create_run" and real is not None:
                self._ids[op["ref"]] = real
            self._append({"ack": op["seq"], "run_id": real})
            self._pending.pop(0)
            sent += 1
        if sent:
            left = f"{len(self._pending)} left" if self._pending else "journal empty"
            log.warning("tracking store back: replayed %d tracking calls (%s)", sent, left)

    def _created(self, op: Mapping[str, Any]) -> str | None:
        """The run a journaled ``create_run`` already made (the store may have created it and
        gone away before answering), found by its :data:`REF_TAG`; ``None`` if there is none.
        Raises :class:`_Outage` when the store cannot be asked."""
        search = getattr(self._client, "search_runs", None)
        if search is None:
            return None
        query = f"tags.`{REF_TAG}` = '{op['ref']}'"
        try:
            with _fail_fast_http():
                found = search([op["experiment_id"]], filter_string=query, max_results=1)
        except Exception as error:
            raise _Outage(str(error)) from error
        return str(found[0].info.run_id) if found else None

    def _translate(self, op: dict[str, Any]) -> dict[str, Any]:
        out = dict(op)
        if "run_id" in out:
            out["run_id"] = self.resolve(out["run_id"])
        if out["op"] == "create_run" and _PARENT_TAG in out["tags"]:
            out["tags"] = {**out["tags"], _PARENT_TAG: self.resolve(out["tags"][_PARENT_TAG])}
        return out

    def _send(self, op: dict[str, Any], *, tries: int, replaying: bool = False) -> str | None:
        """Send one operation; return the run id for ``create_run``. Raises :class:`_Outage`
        when the store stays unreachable; a refusal raises (or, replaying, is skipped)."""
        delay = self._backoff
        for attempt in range(tries):
            try:
                with _fail_fast_http():
                    return _apply(self._client, op)
            except Exception as error:
                if _is_refusal(error):
                    if not replaying:
                        raise
                    log.warning("tracking store refused a replayed %s: %s", op["op"], error)
                    return None
                if attempt + 1 == tries:
                    log.debug("tracking call %s failed: %s", op["op"], error)
                    raise _Outage(str(error)) from error
                self._sleep(delay)
                delay = min(delay * 2, self._max_backoff)
        raise AssertionError("unreachable")  # pragma: no cover

    def _keep_copy(self, local_path: str) -> str:
        """Copy an artifact into the journal's folder, so the file replayed is the one logged."""
        folder = self.path.with_name(self.path.name + ".files") / uuid.uuid4().hex[:12]
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / Path(local_path).name  # the artifact keeps its name
        with contextlib.suppress(OSError):
            shutil.copyfile(local_path, target)
            return str(target)
        return local_path

    def _append(self, record: Mapping[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, allow_nan=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def _load(self) -> None:
        if not self.path.is_file():
            return
        ops: dict[int, dict[str, Any]] = {}
        acks: dict[int, dict[str, Any]] = {}
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by a kill
                continue
            if "ack" in record:
                acks[int(record["ack"])] = record
            elif "seq" in record:
                ops[int(record["seq"])] = record
        for seq, op in sorted(ops.items()):
            ack = acks.get(seq)
            if ack is None and not self._inside(op):
                log.warning(
                    "%s: skipped a journaled artifact outside the output folder (%s)",
                    self.path,
                    str(op.get("local_path"))[:200],
                )
            elif ack is None:
                self._pending.append(op)
            elif op["op"] == "create_run" and ack.get("run_id") and "ref" in op:
                self._ids[op["ref"]] = str(ack["run_id"])
        self._seq = max(ops, default=0)
        if self._pending:
            log.warning(
                "%d tracking calls from an earlier process wait in %s; replaying them",
                len(self._pending),
                self.path,
            )
            self._last_probe = 0.0


    def _inside(self, op: Mapping[str, Any]) -> bool:
        """Whether a journaled operation read from disk may be replayed: an artifact only when
        it is a plain file inside the journal's (the output) folder."""
        if op.get("op") != "log_artifact":
            return True
        try:
            path = Path(str(op["local_path"]))
            folder = self.path.parent.resolve()
            return not path.is_symlink() and path.resolve().is_relative_to(folder)
        except (KeyError, OSError, ValueError):
            return False


class _Outage(Exception):
    """The store could not be reached (after the retries)."""


def _apply(client: Any, op: Mapping[str, Any]) -> str | None:
    from mlflow.entities import Metric, Param, RunTag

    kind = op["op"]
    if kind == "create_run":
        run = client.create_run(
            op["experiment_id"],
            start_time=op["start_time"],
            tags=op["tags"],
            run_name=op["run_name"],
        )
        return str(run.info.run_id)
    if kind == "log_batch":
        client.log_batch(
            op["run_id"],
            metrics=[Metric(k, float(v), int(t), int(s)) for k, v, t, s in op["metrics"]],
            params=[Param(k, v) for k, v in op["params"]],
            tags=[RunTag(k, v) for k, v in op["tags"]],
        )
    elif kind == "log_artifact":
        client.log_artifact(op["run_id"], op["local_path"], artifact_path=op["artifact_path"])
    elif kind == "set_terminated":
        client.set_terminated(op["run_id"], status=op["status"], end_time=op["end_time"])
    elif kind == "update_run":
        client.update_run(op["run_id"], status=op["status"], name=op["name"])
    else:
        raise ValueError(f"unknown journal operation {kind!r}")
    return None


def _is_refusal(error: BaseException) -> bool:
    code = getattr(error, "error_code", None)
    return isinstance(code, str) and code in _PERMANENT


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


def _now_ms() -> int:
    return int(time.time() * 1000)


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


def replay_journal(
    path: str | Path, *, uri: str | None = None, wait: float = 0.0
) -> tuple[int, int]:
    """Send the unsent calls of a journal (a file, or the output folder holding
    ``tracking-journal.jsonl``) to its store, waiting up to ``wait`` seconds for the store;
    return ``(sent, left)``. ``uri``: the store (default: the one the journal names)."""
    file = Path(path)
    if file.is_dir():
        file = file / JOURNAL_FILE
    if not file.is_file():
        raise FileNotFoundError(f"no tracking journal at {file}")
    uri = uri or _journal_store(file)
    if uri is None:
        raise ValueError(f"{file} does not name its tracking store; give the store's URI")
    from mlflow.tracking import MlflowClient

    client = JournalingClient(MlflowClient(tracking_uri=uri), file, store=uri)
    before = client.pending
    client.drain(timeout=wait)
    return before - client.pending, client.pending


def _journal_store(file: Path) -> str | None:
    """The store URI recorded in a journal's ``store`` lines (the last one)."""
    uri = None
    for line in file.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(json.JSONDecodeError, TypeError):
            record = json.loads(line)
            if isinstance(record, dict) and isinstance(record.get("store"), str):
                uri = record["store"]
    return uri
