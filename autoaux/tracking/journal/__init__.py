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

The code sits in private modules by job, re-exported here: ``_client``
(:class:`JournalingClient`), ``_records`` (the journal's records and their checks),
``_errors`` (:func:`classify_error`) and ``_replay`` (settling, :func:`replay_into`,
:func:`replay_journal`).
"""

from __future__ import annotations

from autoaux.tracking.journal._client import JournalingClient
from autoaux.tracking.journal._errors import classify_error
from autoaux.tracking.journal._records import (
    JOURNAL_FILE,
    OFFLINE_PREFIX,
    OUTPUT_ARTIFACTS,
    REF_TAG,
    journal_name,
    record_problem,
)
from autoaux.tracking.journal._replay import (
    SETTLE_SECONDS,
    ReplayReport,
    fallback_uri,
    journal_file,
    replay_into,
    replay_journal,
    replay_store,
    settle_tracking,
)

__all__ = [
    "JOURNAL_FILE",
    "OFFLINE_PREFIX",
    "OUTPUT_ARTIFACTS",
    "REF_TAG",
    "SETTLE_SECONDS",
    "JournalingClient",
    "ReplayReport",
    "classify_error",
    "fallback_uri",
    "journal_file",
    "journal_name",
    "record_problem",
    "replay_into",
    "replay_journal",
    "replay_store",
    "settle_tracking",
]
