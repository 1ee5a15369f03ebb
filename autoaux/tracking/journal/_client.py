"""JournalingClient: the MLflow client wrapper that journals writes while the store is down."""

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

from autoaux._secrets import redact_text, register_uri
from autoaux.tracking._http import fail_fast_http as _fail_fast_http
from autoaux.tracking.journal._errors import _Outage, _Refused, _short, classify_error
from autoaux.tracking.journal._records import (
    _PARENT_TAG,
    OFFLINE_PREFIX,
    OUTPUT_ARTIFACTS,
    REF_TAG,
    _is_int,
    _plain_file,
    journal_name,
    record_problem,
)

log = logging.getLogger(__name__)


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


def _now_ms() -> int:
    return int(time.time() * 1000)
