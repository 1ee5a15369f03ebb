"""RunCheckpoint: the resumable state of one run (see :mod:`autoaux.runs.checkpoint`)."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from autoaux._hints import resume_hint
from autoaux._secrets import redact_uri
from autoaux.errors import AutoauxError
from autoaux.runs._files import (
    UnsafeOutput,
    plain_folder,
    refuse_link,
    write_text,
)
from autoaux.runs._verify import DIGEST_KEY, StateMismatch, state_digest, verify_state
from autoaux.runs.affinity import AffinityResult
from autoaux.runs.checkpoint._errors import CheckpointError
from autoaux.runs.checkpoint._fingerprints import (
    _absolute_store,
    _config_fingerprint,
    _data_fingerprint,
    _saved_store,
)
from autoaux.runs.checkpoint._progress import Stage1Progress, Stage2Progress
from autoaux.runs.checkpoint._readers import (
    _baseline_from,
    _mix_from,
    _pull_from,
    _selection_from,
    _trial_from,
)
from autoaux.runs.checkpoint._storage import (
    _atomic_torch_save,
    _jsonable,
    _remove_others,
    _remove_temps,
    _sha256,
    _temp_prefix,
)
from autoaux.runs.result import (
    BaselineScore,
    MixResult,
    PullRecord,
    SelectionResult,
)
from autoaux.tracking import close_stale_runs

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoint"
STATE_FILE = "state.json"
VERSION = 3
"""2 -> 3: a trainer's optimiser state holds the cached top's first layer as two parameters
(``LeadingLinear``), and leaves the pair block out for single-text tasks."""
_TRAINER_FILE = re.compile(r"stage1-\d{6}\.pt")
_BEST_FILE = re.compile(r"best-trial-\d{4,}\.pt")
_STALE_REASON = "interrupted; redone after resume"


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _restoring(method: _Method) -> _Method:
    """A restore method whose malformed input (any ``ValueError``, ``KeyError``... from the saved
    state or the objects it is loaded into) is a one-line :class:`CheckpointError`."""

    @functools.wraps(method)
    def wrapper(self: RunCheckpoint, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except AutoauxError:
            raise
        except (ValueError, KeyError, TypeError, IndexError, AttributeError, RuntimeError) as error:
            raise CheckpointError(
                f"{self.folder / STATE_FILE}: {_malformed(error)}; resume refused"
            ) from None

    return cast(_Method, wrapper)


@dataclass
class RunCheckpoint:
    """The resumable state of one run (see the module docstring).

    Build it with :meth:`create` (a new run) or :meth:`load` (``resume``); ``enabled=False``
    gives a checkpoint that saves nothing (``[checkpoint] enabled = false``), whose restore
    methods return ``None``.
    """

    folder: Path
    state: dict[str, Any]
    every: int = 1
    enabled: bool = True
    resuming: bool = False
    _interrupt_requested: bool = field(default=False, repr=False)
    _graceful: bool = field(default=False, repr=False)
    _stage1_start: float = field(default=0.0, repr=False)
    _stage2_start: float = field(default=0.0, repr=False)

    # ----- building -----------------------------------------------------------------------
    @classmethod
    def create(cls, config: Any, *, overwrite: bool = False) -> RunCheckpoint:
        """A fresh checkpoint for ``config`` (a :class:`RunConfig`) in its output folder.

        Raises:
            CheckpointError: the folder holds an unfinished run and ``overwrite`` is false
                (``autoaux run --resume DIR`` continues it, ``--overwrite`` replaces it).
        """
        folder = Path(config.output_dir).expanduser().resolve() / CHECKPOINT_DIR
        settings = config.checkpoint
        refuse_link(folder)
        old = refuse_link(folder / STATE_FILE)
        if old.is_file() and not overwrite:
            try:
                saved = json.loads(old.read_text(encoding="utf-8"))
                status = saved["status"]
            except (OSError, ValueError, KeyError, TypeError):
                saved, status = {}, "unreadable"
            if status != "finished":
                uri = _saved_store(saved) if isinstance(saved, dict) else None
                raise CheckpointError(
                    f"{folder.parent}: holds an unfinished run ({status}); replace it with "
                    f"--overwrite, or {resume_hint(folder.parent, uri).say('continue it')}"
                )
        data = config.to_dict()
        state: dict[str, Any] = {
            "version": VERSION,
            "status": "running",
            "config": data,
            "fingerprint": {"config": _config_fingerprint(data), "data": _data_fingerprint(config)},
            "files": {},
            "params": config.to_params(),
            "source": config.source,
            "user_tasks": list(config.user_tasks),
            "cwd": os.getcwd(),
            "mlflow": {},
            "stage1": None,
            "stage1_result": None,
            "stage2": None,
            "stage2_result": None,
            "baselines": {},
        }
        checkpoint = cls(folder, state, every=settings.every, enabled=settings.enabled)
        if checkpoint.enabled:
            plain_folder(folder)
            if old.is_file():
                log.warning("replacing the checkpoint of an unfinished run in %s", folder.parent)
            for stale in folder.glob("*.pt"):
                stale.unlink(missing_ok=True)
            _remove_temps(folder, everyone=True)  # the folder is locked: no writer is alive
            checkpoint._write_state()
        return checkpoint

    @classmethod
    def load(cls, output_dir: str | Path) -> RunCheckpoint:
        """The checkpoint in ``output_dir`` (the run's output folder).

        Raises:
            CheckpointError: no readable checkpoint there, or its run has finished.
        """
        root = Path(output_dir).expanduser().resolve()
        path = root / CHECKPOINT_DIR / STATE_FILE
        try:
            plain_folder(root / CHECKPOINT_DIR, create=False)
            refuse_link(path)
        except UnsafeOutput as error:
            raise CheckpointError(f"{error}; resume refused") from None
        if not path.is_file():
            raise CheckpointError(
                f"{root}: no checkpoint to resume (expected {path}, written by `autoaux run` "
                "with [checkpoint] enabled)"
            )
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            version = state["version"]
            config = state["config"]
            if not isinstance(config, dict):
                raise TypeError("its config is not a mapping")
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise CheckpointError(f"{path}: unreadable checkpoint ({error})") from None
        if version != VERSION:
            raise CheckpointError(
                f"{path}: checkpoint version {version}, expected {VERSION} (written by another "
                "autoaux version; start afresh with --overwrite)"
            )
        if state.get("status") == "finished":
            raise CheckpointError(
                f"{root}: the run has finished; nothing to resume (result: {root / 'result.json'})"
            )
        fingerprint = state.get("fingerprint")
        if not isinstance(fingerprint, dict) or not isinstance(state.get("files"), dict):
            raise CheckpointError(f"{path}: unreadable checkpoint (no fingerprint or file list)")
        digest = state.pop(DIGEST_KEY, None)
        if digest != state_digest(state):
            raise CheckpointError(
                f"{path}: the state does not match its digest (the file was edited or is "
                "damaged); resume refused"
            )
        if fingerprint.get("config") != _config_fingerprint(config):
            raise CheckpointError(
                f"{path}: the saved configuration does not match its fingerprint (the file was "
                "edited); resume refused"
            )
        try:
            every = int(config.get("checkpoint", {}).get("every", 1))
        except (AttributeError, TypeError, ValueError) as error:
            raise CheckpointError(f"{path}: {_malformed(error)}; resume refused") from None
        checkpoint = cls(root / CHECKPOINT_DIR, state, every=every, resuming=True)
        checkpoint._verify()
        _remove_temps(root / CHECKPOINT_DIR, everyone=True)  # the folder is locked
        return checkpoint

    def _verify(self) -> None:
        """Check the whole state against itself and its configuration (:mod:`._verify`)."""
        path = self.folder / STATE_FILE
        try:
            verify_state(self.state, self.config())
        except StateMismatch as error:
            raise CheckpointError(f"{path}: {error}; resume refused") from None
        except AutoauxError as error:
            raise CheckpointError(f"{path}: the saved configuration is invalid ({error})") from None
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as error:
            raise CheckpointError(f"{path}: {_malformed(error)}; resume refused") from None

    def check_data(self) -> None:
        """Refuse a resume whose ``[[task]]`` data files changed since the run started.

        Raises:
            CheckpointError: naming the task and the file.
        """
        saved = self.state["fingerprint"].get("data") or {}
        for name, entry in saved.items():
            path = Path(str(entry.get("path")))
            try:
                digest = _sha256(path)
            except OSError as error:
                raise CheckpointError(
                    f"task {name!r}: data file {path} is unreadable ({error.strerror or error}); "
                    "resume refused"
                ) from None
            if digest != entry.get("sha256"):
                raise CheckpointError(
                    f"task {name!r}: data file {path} changed since the run started (sha256 "
                    f"{digest[:12]}..., recorded {str(entry.get('sha256'))[:12]}...); resume "
                    "refused (restore the file, or start afresh with --overwrite)"
                )

    def tracking_uri(self, given: str | None = None) -> str | None:
        """The tracking store of a resume: the user's, never the checkpoint's alone.

        ``given`` (``--tracking-uri``) is used when it names the store the run logged to. Without
        it, the saved store is used only when it is the ``MLFLOW_TRACKING_URI`` variable, the
        default ``sqlite:///mlflow.db`` of the working folder, or an SQLite store inside the
        output folder (the fallback store); else the resume is refused, saying which
        ``--tracking-uri`` continues it. ``None``: the run has no tracking.

        Raises:
            CheckpointError: ``given`` names another store, or none was given and the saved one
                is not one of the above.
        """
        tracking = self.state["config"].get("tracking", {})
        saved = self.state["mlflow"].get("tracking_uri") or tracking.get("uri")
        if saved:  # a relative SQLite store is relative to the folder the run started in
            saved = _absolute_store(str(saved), self.state.get("cwd", "."))
        if not tracking.get("enabled", True):
            if given is not None:
                raise CheckpointError(
                    "--tracking-uri: the run was started without tracking; a resume cannot add it"
                )
            return None
        cwd = os.getcwd()
        if given is not None:
            if saved and redact_uri(_absolute_store(given, cwd)) != saved:
                raise CheckpointError(
                    f"--tracking-uri {redact_uri(given)}: the run logs to {saved}; a resume "
                    "continues the run in its own store"
                )
            return given
        candidates = [os.environ.get("MLFLOW_TRACKING_URI"), "sqlite:///mlflow.db"]
        for candidate in candidates:
            if candidate and redact_uri(_absolute_store(candidate, cwd)) == saved:
                return candidate
        inside = f"sqlite:///{self.folder.parent}{os.sep}"
        if saved and saved.startswith(inside) and ".." not in saved and "?" not in saved:
            return str(saved)
        hint = resume_hint(self.folder.parent, saved)
        raise CheckpointError(
            f"{self.folder.parent}: the run logs to the tracking store {saved}; a resume takes "
            f"the store from you, not from the checkpoint; {hint.say('resume')}"
        )

    def config(self, *, user_tasks: Sequence[str] = (), tracking_uri: str | None = None) -> Any:
        """The saved :class:`RunConfig`, with ``output_dir`` this checkpoint's folder and the
        tracking store :meth:`tracking_uri` chose (``fallback_uri`` and ``artifact_location``
        of the saved file are not used: the fallback store is the output folder's)."""
        from autoaux.config import config_from_dict

        data = dict(self.state["config"])
        data["output_dir"] = str(self.folder.parent)
        tracking = dict(data.get("tracking", {}))
        if tracking_uri is not None:
            tracking["uri"] = tracking_uri
        tracking["fallback_uri"] = None
        tracking["artifact_location"] = None
        data["tracking"] = tracking
        names = tuple(dict.fromkeys((*self.state.get("user_tasks", ()), *user_tasks)))
        return config_from_dict(data, source=str(self.state.get("source")), user_tasks=names)

    def params(self, config: Any) -> dict[str, str]:
        """The parent run's params: those of the first process (MLflow refuses a param whose
        value changes, and a resumed config differs in resolved paths)."""
        saved = self.state.get("params")
        return dict(saved) if self.resuming and saved else config.to_params()

    # ----- MLflow -------------------------------------------------------------------------
    def run_id(self, key: str) -> str | None:
        """The saved MLflow run id of ``"parent"``, ``"stage1"`` or ``"stage2"``."""
        if not self.resuming:
            return None
        value = self.state["mlflow"].get(key)
        return str(value) if value else None

    def attach(self, tracker: Any, parent: str) -> None:
        """Record the tracker's store and the parent run; when resuming, close the runs that
        the interrupted process left RUNNING (see the module docstring)."""
        uri = tracker.tracking_uri
        if uri is not None:
            uri = redact_uri(_absolute_store(uri, self.state.get("cwd", ".")))
        self.state["mlflow"].update(
            tracking_uri=uri, experiment_id=tracker.experiment_id, parent=parent
        )
        if self.resuming:
            self._close_stale_runs(tracker, parent)
        self._write_state()

    def set_run_id(self, key: str, run_id: str) -> None:
        self.state["mlflow"][key] = run_id
        self._write_state()

    def _close_stale_runs(self, tracker: Any, parent: str) -> None:
        keep = {
            self.state["mlflow"].get(stage)
            for stage in ("stage1", "stage2")
            if self.state.get(f"{stage}_result") is None
        }
        done = {
            self.state["mlflow"].get(stage)
            for stage in ("stage1", "stage2")
            if self.state.get(f"{stage}_result") is not None
        }
        try:
            closed = close_stale_runs(tracker, parent, keep=keep, done=done, reason=_STALE_REASON)
            if closed:
                log.info("resume: closed %d run(s) left RUNNING as KILLED", closed)
        except Exception as error:  # the store's bookkeeping must not stop the resume
            log.warning("resume: could not close the interrupted runs (%s)", error)

    # ----- stage 1 ------------------------------------------------------------------------
    @_restoring
    def restore_stage1(self, trainer: Any, bandit: Any) -> Stage1Progress | None:
        """Load the saved stage-1 trainer and bandit state in place and return the loop state,
        or ``None`` when stage 1 starts afresh. Ctrl-C now waits for the end of a pull."""
        self._graceful = True
        self._stage1_start = time.perf_counter()
        saved = self.state.get("stage1") if self.resuming else None
        if not saved:
            return None

        trainer.load_state_dict(self._load_tensors(saved.get("trainer_file"), _TRAINER_FILE))
        bandit.load_state_dict(saved["bandit"])
        history = [_pull_from(d) for d in saved["history"]]
        log.info("resume: stage 1 continues after pull %d", len(history))
        return Stage1Progress(
            previous=float(saved["previous"]),
            initial=float(saved["initial"]),
            rewards={k: list(v) for k, v in saved["rewards"].items()},
            cosines={k: list(v) for k, v in saved["cosines"].items()},
            history=history,
            elapsed=float(saved.get("elapsed", 0.0)),
        )

    def save_stage1(
        self,
        progress: Stage1Progress,
        *,
        trainer: Any,
        bandit: Any,
        tracker: Any = None,
        last: bool = False,
    ) -> None:
        """Save after a pull: every ``every`` pulls, after the last, and on Ctrl-C (which
        then stops the run)."""
        pull = len(progress.history)
        stop = self._interrupt_requested
        if self.enabled and (pull % self.every == 0 or last or stop):
            _flush(tracker)
            name = f"stage1-{pull:06d}.pt"
            self._save_tensors(trainer.state_dict(), name)
            self.state["stage"] = "stage1"
            self.state["stage1"] = {
                "trainer_file": name,
                "bandit": bandit.state_dict(),
                "previous": progress.previous,
                "initial": progress.initial,
                "rewards": progress.rewards,
                "cosines": progress.cosines,
                "history": [dataclasses.asdict(r) for r in progress.history],
                "elapsed": progress.elapsed + time.perf_counter() - self._stage1_start,
            }
            self._write_state()
            _remove_others(self.folder, "stage1-*.pt", keep=name)
        if stop:
            raise KeyboardInterrupt

    @_restoring
    def restore_race(self, race: Any) -> tuple[list[PullRecord], float] | None:
        """Load a saved stage-1 race into ``race`` and return its episodes so far and the time
        spent, or ``None`` when the race starts afresh. A race is JSON only: each episode
        starts from the run's initial weights, so no trainer state is kept. Ctrl-C now waits
        for the end of an episode."""
        self._graceful = True
        self._stage1_start = time.perf_counter()
        saved = self.state.get("stage1") if self.resuming else None
        if not saved or saved.get("kind") != "race":
            return None
        race.load_state_dict(saved["bandit"])
        history = [_pull_from(d) for d in saved["history"]]
        log.info("resume: stage 1 continues after episode %d", len(history))
        return history, float(saved.get("elapsed", 0.0))

    def save_race(
        self,
        race: Any,
        history: Sequence[PullRecord],
        *,
        elapsed: float,
        tracker: Any = None,
        last: bool = False,
    ) -> None:
        """Save after an episode: every ``every`` episodes, after the last, and on Ctrl-C
        (which then stops the run)."""
        stop = self._interrupt_requested
        if self.enabled and (len(history) % self.every == 0 or last or stop):
            _flush(tracker)
            self.state["stage"] = "stage1"
            self.state["stage1"] = {
                "kind": "race",
                "bandit": race.state_dict(),
                "history": [dataclasses.asdict(r) for r in history],
                "elapsed": elapsed,
            }
            self._write_state()
        if stop:
            raise KeyboardInterrupt

    @_restoring
    def screen_result(self) -> AffinityResult | None:
        """The finished affinity screen of the interrupted run, if it finished."""
        saved = self.state.get("screen_result") if self.resuming else None
        return AffinityResult.from_dict(saved) if saved else None

    def finish_screen(self, result: AffinityResult) -> None:
        """The screen is over: keep its result (plain JSON values)."""
        if self.enabled:
            self.state["screen_result"] = result.to_dict()
            self._write_state()
        if self._interrupt_requested:
            raise KeyboardInterrupt

    @_restoring
    def stage1_result(self) -> SelectionResult | None:
        """The finished stage 1 of the interrupted run, if it finished."""
        saved = self.state.get("stage1_result") if self.resuming else None
        return _selection_from(saved) if saved else None

    def finish_stage1(self, result: SelectionResult) -> None:
        """Stage 1 is over: keep its result, drop the trainer checkpoint."""
        self._graceful = False
        if self.enabled:
            self.state["stage1_result"] = dataclasses.asdict(result)
            self.state["stage1"] = None
            self.state["stage"] = "stage2"
            self._write_state()
            _remove_others(self.folder, "stage1-*.pt", keep=None)
        if self._interrupt_requested:
            raise KeyboardInterrupt

    # ----- stage 2 ------------------------------------------------------------------------
    @_restoring
    def restore_stage2(self, search: Any) -> Stage2Progress | None:
        """Load the saved search state into ``search`` and return the trials so far, or
        ``None`` when stage 2 starts afresh."""
        self._stage2_start = time.perf_counter()
        saved = self.state.get("stage2") if self.resuming else None
        if not saved:
            return None
        if search is not None and saved.get("search") is not None:
            search.load_state_dict(saved["search"])
        trials = [_trial_from(d) for d in saved["trials"]]
        best = next((t for t in trials if t.number == saved.get("best")), None)
        best_state = None
        if saved.get("best_file"):
            best_state = self._load_tensors(saved["best_file"], _BEST_FILE)
        log.info("resume: stage 2 continues after trial %d", len(trials) - 1)
        return Stage2Progress(
            trials=trials,
            best=best,
            best_state=best_state,
            test_score=saved.get("test_score"),
            elapsed=float(saved.get("elapsed", 0.0)),
        )

    def save_stage2(self, progress: Stage2Progress, *, search: Any, tracker: Any = None) -> None:
        """Save after a trial."""
        if not self.enabled:
            return
        _flush(tracker)
        previous = self.state.get("stage2") or {}
        best = progress.best
        best_file = previous.get("best_file")
        if best is not None and previous.get("best") != best.number:
            best_file = f"best-trial-{best.number:04d}.pt"
            self._save_tensors(progress.best_state, best_file)
        self.state["stage"] = "stage2"
        self.state["stage2"] = {
            "search": search.state_dict() if search is not None else None,
            "trials": [dataclasses.asdict(t) for t in progress.trials],
            "best": best.number if best is not None else None,
            "best_file": best_file,
            "test_score": progress.test_score,
            "elapsed": progress.elapsed + time.perf_counter() - self._stage2_start,
        }
        self._write_state()
        _remove_others(self.folder, "best-trial-*.pt", keep=best_file)

    @_restoring
    def stage2_result(self) -> MixResult | None:
        """The finished stage 2 of the interrupted run, if it finished."""
        saved = self.state.get("stage2_result") if self.resuming else None
        if not saved:
            return None
        best_state = None
        best_file = (self.state.get("stage2") or {}).get("best_file")
        if best_file:
            best_state = self._load_tensors(best_file, _BEST_FILE)
        return _mix_from(saved, best_state)

    def finish_stage2(self, result: MixResult) -> None:
        if not self.enabled:
            return
        data = dataclasses.asdict(dataclasses.replace(result, best_state=None))
        data.pop("best_state", None)
        self.state["stage2_result"] = data
        if self.state.get("stage2"):
            self.state["stage2"] = {
                "best_file": self.state["stage2"].get("best_file"),
                "trials": [],
            }
        self.state["stage"] = "baselines"
        self._write_state()

    # ----- baselines and the end -----------------------------------------------------------
    @_restoring
    def baselines(self) -> dict[str, BaselineScore]:
        """The baselines the interrupted run finished."""
        if not self.resuming:
            return {}
        return {name: _baseline_from(d) for name, d in self.state.get("baselines", {}).items()}

    def save_baseline(self, name: str, score: BaselineScore, *, tracker: Any = None) -> None:
        if not self.enabled:
            return
        _flush(tracker)
        self.state.setdefault("baselines", {})[name] = dataclasses.asdict(score)
        self._write_state()

    def finish(self) -> None:
        """The run is over (result written): the checkpoint keeps only its summary."""
        if not self.enabled:
            return
        self.state["status"] = "finished"
        self.state["stage"] = "done"
        self._write_state()
        for pattern in ("stage1-*.pt", "best-trial-*.pt"):
            _remove_others(self.folder, pattern, keep=None)

    def mark_interrupted(self) -> None:
        if self.enabled and self.state.get("status") == "running":
            self.state["status"] = "interrupted"
            with contextlib.suppress(OSError):
                self._write_state()

    # ----- Ctrl-C -------------------------------------------------------------------------
    @contextlib.contextmanager
    def interrupts(self) -> Iterator[None]:
        """While the run is inside: a first Ctrl-C during stage 1 lets the pull finish and be
        saved (then stops); elsewhere, or a second Ctrl-C, stops at once."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: Any) -> None:
            if self._graceful and not self._interrupt_requested:
                self._interrupt_requested = True
                log.warning("Ctrl-C: finishing the current pull and saving the checkpoint")
                return
            raise KeyboardInterrupt

        try:
            previous = signal.signal(signal.SIGINT, handler)
        except ValueError:  # pragma: no cover - not the main thread of the interpreter
            yield
            return
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    # ----- files --------------------------------------------------------------------------
    def _save_tensors(self, obj: Any, name: str) -> None:
        """Write ``obj`` (tensors and plain values) as ``name``; record its sha256."""
        digest = _atomic_torch_save(obj, self.folder / name)
        files = self.state.setdefault("files", {})
        files[name] = digest
        for old in [n for n in files if n != name and not (self.folder / n).exists()]:
            del files[old]

    def _load_tensors(self, name: Any, pattern: re.Pattern[str]) -> Any:
        """The ``.pt`` file ``name`` of ``state.json``, checked (see the module docstring)."""
        import torch

        if not isinstance(name, str) or not pattern.fullmatch(name):
            raise CheckpointError(
                f"{self.folder / STATE_FILE}: checkpoint file name {str(name)[:80]!r} is not "
                f"a plain name matching {pattern.pattern!r}; resume refused"
            )
        path = self.folder / name
        expected = self.state.get("files", {}).get(name)
        if path.is_symlink() or not path.is_file():
            raise CheckpointError(f"{path}: missing or not a plain file; resume refused")
        digest = _sha256(path)
        if digest != expected:
            raise CheckpointError(
                f"{path}: sha256 {digest[:12]}... does not match the {str(expected)[:12]}... "
                "recorded in state.json (the file changed after it was written); resume refused"
            )
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:
            reason = " ".join(str(error).split())[:160]
            raise CheckpointError(
                f"{path}: unreadable checkpoint file (tensors only are accepted: {reason}); "
                "resume refused"
            ) from None

    def _write_state(self) -> None:
        if not self.enabled:
            return
        # plain JSON values first, so that the digest is the one a reader recomputes
        body = json.loads(json.dumps(self.state, allow_nan=True, default=_jsonable))
        body.pop(DIGEST_KEY, None)
        body[DIGEST_KEY] = state_digest(body)
        path = self.folder / STATE_FILE
        text = json.dumps(body, allow_nan=True)
        write_text(path, text, mode=0o600, prefix=_temp_prefix(path), sync_folder=True)


def _flush(tracker: Any) -> None:
    flush = getattr(tracker, "flush", None)
    if callable(flush):
        flush()


def _malformed(error: BaseException) -> str:
    """A one-line reason for a malformed part of the state."""
    if isinstance(error, KeyError):
        return f"malformed state (no {error.args[0]!r} entry)"
    reason = " ".join(str(error).split())[:200] or type(error).__name__
    return f"malformed state ({reason})"
