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

An *outage* is a connection error, a timeout or a 5xx (or 429) answer: the operation waits.
A *bad record* is one the store refuses (a 4xx-like answer: an invalid value, an unknown run)
or one that fails the checks every record passes when it is loaded and again before it is sent
(:func:`record_problem`: known operation, fields of the right types, numeric metric values; an
artifact only from the journal's own files folder or one of the run's outputs, a plain file,
no link on the way): it never blocks what follows. Live, a refusal raises as it would without
the journal; met during a replay, a bad record is logged, skipped (an acknowledgement saying
so is written), counted in :attr:`JournalingClient.skipped`, and the next record is sent. A
store that refuses the *client* (401, 403, an endpoint that is not MLflow's) is neither: the
replay stops and keeps everything, since every record would be refused alike.

The journal lives in the run's output folder (``tracking-journal.jsonl``); an acknowledgement
line follows every replayed operation, so a process killed during an outage leaves the unsent
operations on disk and the next client on that file (``autoaux run --resume DIR``, or
``autoaux tracking replay DIR`` after the run) sends them. Stand-in ids map to real ids once
sent (:meth:`JournalingClient.resolve`), in this process and, through the acknowledgements,
in the next. A ``create_run`` whose answer was lost (the store went away mid-call) is found
by its tag before it is replayed, never made twice.
Metric timestamps are taken when the value is logged, so a replayed history is the history of
the run, not of the replay.

:func:`replay_into` copies what is left at the end of a run into another store (the
``[tracking] fallback`` store) when the first one never came back; the journal keeps it for
:func:`replay_journal` (``autoaux tracking replay DIR``) once the store is back.

The journal names its store on its first line, redacted (:func:`autoaux._secrets.redact_uri`)
and with a relative SQLite path made absolute; it is never where a replay sends to on its own:
:func:`replay_store` takes the store from the user (``--tracking-uri``, ``MLFLOW_TRACKING_URI``
or the default ``sqlite:///mlflow.db`` of the working folder) and refuses one that is not the
journal's, as a resume does.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import shutil
import stat
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoaux._hints import replay_hint
from autoaux._secrets import redact_text, redact_uri, register_uri
from autoaux.errors import TrackingError
from autoaux.tracking._http import fail_fast_http as _fail_fast_http
from autoaux.tracking._store import absolute_store

__all__ = [
    "JOURNAL_FILE",
    "OUTPUT_ARTIFACTS",
    "JournalingClient",
    "ReplayReport",
    "classify_error",
    "journal_file",
    "journal_name",
    "record_problem",
    "replay_into",
    "replay_journal",
    "replay_store",
]

log = logging.getLogger(__name__)

JOURNAL_FILE = "tracking-journal.jsonl"
OFFLINE_PREFIX = "offline-"
#: Tag set on every run the client creates: the id it is known by until the store answers.
REF_TAG = "autoaux.offline_id"
_PARENT_TAG = "mlflow.parentRunId"
#: The run outputs (files directly in the output folder) a journaled artifact may be, besides
#: the copies in the journal's own files folder (``<journal>.files/<id>/<name>``).
OUTPUT_ARTIFACTS = frozenset(
    {
        "result.json",
        "selection.json",
        "mix.json",
        "affinity.json",
        "config.json",
        "affinity.png",
        "stage1_utilities.png",
        "stage2_trials.png",
    }
)
# MLflow error codes of a store that refused one record (the next one may pass).
_RECORD_CODES = frozenset(
    {
        "INVALID_PARAMETER_VALUE",
        "RESOURCE_DOES_NOT_EXIST",
        "RESOURCE_ALREADY_EXISTS",
        "ALREADY_EXISTS",
        "RESOURCE_CONFLICT",
        "INVALID_STATE",
        "BAD_REQUEST",
        "NOT_FOUND",
        "ABORTED",
    }
)
# MLflow error codes of a store that refuses the client itself (every record alike).
_CLIENT_CODES = frozenset(
    {"UNAUTHENTICATED", "PERMISSION_DENIED", "CUSTOMER_UNAUTHORIZED", "ENDPOINT_NOT_FOUND"}
)
_HTTP_CODE = re.compile(r"error code (\d{3})")
_RUN_STATUSES = frozenset({"RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"})


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
        store: the store's URI; the journal names it (redacted) so that ``autoaux tracking
            replay`` can check that the store it is given is this one.

    Attributes:
        skipped: bad records skipped (when loaded, or refused during a replay).
        loaded_skipped: those of them skipped when the journal was loaded.
        outages: how many times the store went away.
        refusal: why the store last refused the client itself during a replay (401, 403, not
            an MLflow endpoint), or ``None``.
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
        self.skipped = 0
        self.refusal: str | None = None
        self.loaded_skipped = 0
        register_uri(store)
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
        """A copy of the unsent operations that pass :meth:`problem`, ids already resolved
        where known (for :func:`replay_into`); they stay in the journal."""
        return [self._translate(op) for op in self._pending if self.problem(op) is None]

    def problem(self, op: Mapping[str, Any]) -> str | None:
        """Why the journaled operation ``op`` must not be sent (:func:`record_problem`, an
        artifact from outside the journal's files folder and the run's outputs), or ``None``."""
        problem = record_problem(op)
        if problem is None and op.get("op") == "log_artifact":
            problem = self._artifact_problem(str(op["local_path"]))
        return problem

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
            if self._store is not None:  # never the credentials
                self._append({"store": journal_name(self._store)})
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
        sent = skipped = 0
        while self._pending:
            op = self._pending[0]
            problem = self.problem(op)
            if problem is None:
                problem = self._stand_in_problem(op)
            real: str | None = None
            if problem is None:
                try:
                    real = self._created(op) if op["op"] == "create_run" else None
                    if real is None:
                        real = self._send(self._translate(op), tries=1, replaying=True)
                except _Outage:
                    break
                except _Refused as refusal:
                    problem = f"the store refused it: {refusal}"
            if problem is not None:
                self._skip(op, problem)
                skipped += 1
            else:
                if op["op"] == "create_run" and real is not None:
                    self._ids[op["ref"]] = real
                self._append({"ack": op["seq"], "run_id": real})
                sent += 1
            self._pending.pop(0)
        if sent or skipped:
            left = f"{len(self._pending)} left" if self._pending else "journal empty"
            bad = f", {skipped} bad records skipped" if skipped else ""
            log.warning("tracking store back: replayed %d tracking calls (%s%s)", sent, left, bad)

    def _skip(self, op: Mapping[str, Any], problem: str) -> None:
        """Log, count and acknowledge a bad record, so that it never blocks what follows."""
        self.skipped += 1
        reason = redact_text(" ".join(problem.split()))[:300]
        log.warning(
            "%s: skipped tracking record %s (%s): %s",
            self.path,
            op.get("seq"),
            op.get("op"),
            reason,
        )
        self._append({"ack": op["seq"], "run_id": None, "skipped": reason})

    def _stand_in_problem(self, op: Mapping[str, Any]) -> str | None:
        """A call on a run created during the outage whose creation was skipped (its stand-in
        id never became a real one) cannot be sent."""
        run_id = op.get("run_id")
        if (
            isinstance(run_id, str)
            and run_id.startswith(OFFLINE_PREFIX)
            and self.resolve(run_id) == run_id
        ):
            return f"its run {run_id} was never created"
        return None

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
            if classify_error(error) == "record":
                raise _Refused(_short(error)) from error
            self._note_outage(error)
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
        when the store stays unreachable (or, replaying, refuses the client); a refused record
        raises the store's error (replaying: :class:`_Refused`)."""
        delay = self._backoff
        for attempt in range(tries):
            try:
                with _fail_fast_http():
                    return _apply(self._client, op)
            except Exception as error:
                kind = classify_error(error)
                if kind == "record":
                    if not replaying:
                        raise
                    raise _Refused(_short(error)) from error
                if kind == "client":
                    if not replaying:
                        raise
                    self._note_outage(error)
                    raise _Outage(str(error)) from error
                if attempt + 1 == tries:
                    log.debug("tracking call %s failed: %s", op["op"], redact_text(str(error)))
                    if replaying:
                        self._note_outage(error)
                    raise _Outage(str(error)) from error
                self._sleep(delay)
                delay = min(delay * 2, self._max_backoff)
        raise AssertionError("unreachable")  # pragma: no cover

    def _note_outage(self, error: BaseException) -> None:
        if classify_error(error) == "client":
            self.refusal = _short(error)
            log.warning("the tracking store refused this client: %s", self.refusal)
        else:
            self.refusal = None

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
        bad: list[tuple[Any, str]] = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by a kill
                continue
            if not isinstance(record, dict) or "store" in record:
                continue
            if "ack" in record:
                if _is_int(record["ack"]):
                    acks[int(record["ack"])] = record
                continue
            problem = record_problem(record)
            if problem is not None:
                bad.append((record.get("seq"), problem))
                continue
            ops[int(record["seq"])] = record
        for seq, op in sorted(ops.items()):
            ack = acks.get(seq)
            if ack is None:
                problem = self.problem(op)
                if problem is None:
                    self._pending.append(op)
                else:
                    bad.append((seq, problem))
            elif op["op"] == "create_run" and isinstance(ack.get("run_id"), str):
                self._ids[op["ref"]] = str(ack["run_id"])
        for seq, problem in bad:
            if _is_int(seq) and int(seq) in acks:
                continue  # answered already
            self.skipped += 1
            log.warning(
                "%s: skipped bad tracking record %s: %s",
                self.path,
                seq,
                redact_text(problem)[:300],
            )
        self._seq = max([*ops, *(s for s, _ in bad if _is_int(s))], default=0)
        if self._pending:
            log.warning(
                "%d tracking calls from an earlier process wait in %s; replaying them",
                len(self._pending),
                self.path,
            )
            self._last_probe = 0.0
        self.loaded_skipped = self.skipped

    def _artifact_problem(self, local_path: str) -> str | None:
        """Why an artifact file may not be sent: only a plain file (no link on the way) in the
        journal's own files folder (``<journal>.files/<id>/<name>``) or one of the run's
        outputs directly in the journal's folder (:data:`OUTPUT_ARTIFACTS`)."""
        path = Path(local_path)
        shown = local_path[:200]
        if not path.is_absolute() or os.path.normpath(local_path) != local_path:
            return f"artifact {shown!r} is not a plain absolute path"
        for base in dict.fromkeys((Path(os.path.abspath(self.path.parent)),
                                   self.path.parent.resolve())):  # fmt: skip
            files = base / (self.path.name + ".files")
            if path.parent == base and path.name in OUTPUT_ARTIFACTS:
                return _plain_file(base, path.relative_to(base).parts, shown)
            if path.is_relative_to(files) and len(path.relative_to(files).parts) == 2:
                return _plain_file(base, path.relative_to(base).parts, shown)
        return f"artifact {shown} is outside the journal's files folder and the run's outputs"


def _plain_file(base: Path, parts: Sequence[str], shown: str) -> str | None:
    """``None`` when ``base/parts...`` is a regular file reached without a symbolic link."""
    current = base
    for i, part in enumerate(parts):
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except OSError:
            return f"artifact {shown} is missing"
        if stat.S_ISLNK(mode):
            return f"artifact {shown} goes through a symbolic link; refused"
        last = i == len(parts) - 1
        if (last and not stat.S_ISREG(mode)) or (not last and not stat.S_ISDIR(mode)):
            return f"artifact {shown} is not a plain file"
    return None


def journal_name(uri: str) -> str:
    """How a journal names its store: redacted, a relative SQLite path made absolute."""
    return redact_uri(absolute_store(uri))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _pairs_problem(items: Any, what: str) -> str | None:
    if not isinstance(items, list):
        return f"{what} is not a list"
    for item in items:
        if not (isinstance(item, list) and len(item) == 2 and all(map(_is_str, item))):
            return f"{what}: {str(item)[:80]} is not a [key, value] pair of strings"
    return None


def record_problem(op: Any) -> str | None:
    """Why a journaled operation (a JSON object read from the journal) is malformed, or
    ``None``: a known operation with a sequence number and fields of the right types, metric
    values numbers (NaN and infinities included), finite numeric timestamps and steps, a run
    status MLflow knows, an artifact path that stays inside the run's artifacts."""
    if not isinstance(op, dict):
        return "not a JSON object"
    kind, seq = op.get("op"), op.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        return f"sequence number {seq!r} is not a positive integer"
    if kind not in _OPERATIONS:
        return f"unknown operation {str(kind)[:40]!r}"
    if kind != "create_run" and not (_is_str(op.get("run_id")) and op["run_id"]):
        return "no run id"
    if kind == "create_run":
        tags = op.get("tags")
        if not _is_str(op.get("experiment_id")):
            return "no experiment id"
        if not _is_number(op.get("start_time")) or not math.isfinite(op["start_time"]):
            return "start_time is not a number"
        if not (isinstance(tags, dict) and all(map(_is_str, [*tags, *tags.values()]))):
            return "tags are not a mapping of strings"
        if op.get("run_name") is not None and not _is_str(op["run_name"]):
            return "run_name is not a string"
        if not (_is_str(op.get("ref")) and op["ref"].startswith(OFFLINE_PREFIX)):
            return "no stand-in id"
    elif kind == "log_batch":
        metrics = op.get("metrics")
        if not isinstance(metrics, list):
            return "metrics is not a list"
        for metric in metrics:
            if not (isinstance(metric, list) and len(metric) == 4 and _is_str(metric[0])):
                return f"metric {str(metric)[:80]} is not [key, value, timestamp, step]"
            if not _is_number(metric[1]):
                value = str(metric[1])[:40]
                return f"metric {metric[0][:80]!r} has the value {value!r}, not a number"
            if not all(_is_number(x) and math.isfinite(x) for x in metric[2:]):
                return f"metric {metric[0][:80]!r} has no numeric timestamp and step"
        for key in ("params", "tags"):
            problem = _pairs_problem(op.get(key), key)
            if problem is not None:
                return problem
    elif kind == "log_artifact":
        where = op.get("artifact_path")
        if not _is_str(op.get("local_path")):
            return "no artifact file"
        if where is not None and (
            not _is_str(where) or where.startswith(("/", "\\")) or ".." in re.split(r"[/\\]", where)
        ):
            return f"artifact_path {str(where)[:80]!r} leaves the run's artifacts"
    elif kind == "set_terminated":
        if op.get("status") is not None and op["status"] not in _RUN_STATUSES:
            return f"status {str(op['status'])[:40]!r} is not a run status"
        end = op.get("end_time")
        if end is not None and not (_is_number(end) and math.isfinite(end)):
            return "end_time is not a number"
    elif kind == "update_run":
        if op.get("status") is not None and op["status"] not in _RUN_STATUSES:
            return f"status {str(op['status'])[:40]!r} is not a run status"
        if op.get("name") is not None and not _is_str(op["name"]):
            return "name is not a string"
    return None


_OPERATIONS = frozenset({"create_run", "log_batch", "log_artifact", "set_terminated", "update_run"})


def classify_error(error: BaseException) -> str:
    """What a failed tracking call means: ``"outage"`` (a connection error, a timeout, a 5xx or
    429 answer, anything unknown: try again later), ``"record"`` (the store refused this one
    record: a 4xx-like answer, or the record cannot be sent as it is) or ``"client"`` (the
    store refuses this client: 401, 403, or not an MLflow endpoint)."""
    for link in _chain(error):
        if isinstance(link, ConnectionError | TimeoutError):
            return "outage"
        with contextlib.suppress(ImportError):
            import requests

            if isinstance(link, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
                return "outage"
    code = getattr(error, "error_code", None)
    if isinstance(code, str) and code in _CLIENT_CODES:
        return "client"
    if isinstance(code, str) and code in _RECORD_CODES:
        return "record"
    match = _HTTP_CODE.search(str(error))
    status = int(match.group(1)) if match else None
    if status is None and isinstance(code, str):
        with contextlib.suppress(Exception):
            status = int(error.get_http_status_code())  # type: ignore[attr-defined]
    if status is not None:
        if status in (401, 403, 404, 405):
            return "client"
        if 400 <= status < 500 and status not in (408, 429):
            return "record"
        return "outage"
    if isinstance(error, ValueError | TypeError | KeyError | IndexError):
        return "record"
    if isinstance(error, FileNotFoundError | IsADirectoryError | NotADirectoryError):
        return "record"
    return "outage"


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def _short(error: BaseException) -> str:
    text = redact_text(" ".join(str(error).split())) or type(error).__name__
    return text[:300]


class _Outage(Exception):
    """The store could not be reached (after the retries), or refused the client."""


class _Refused(Exception):
    """The store refused one record."""


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
