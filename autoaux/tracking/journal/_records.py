"""What a journal holds: its file name, the stand-in run ids, and the checks every
journaled operation passes (:func:`record_problem`, the artifact file checks)."""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autoaux._secrets import redact_uri
from autoaux.tracking._store import absolute_store

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
_RUN_STATUSES = frozenset({"RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"})


_OPERATIONS = frozenset({"create_run", "log_batch", "log_artifact", "set_terminated", "update_run"})


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
