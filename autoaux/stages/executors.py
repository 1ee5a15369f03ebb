"""Trial executors: how a batch of stage-2 trials is run, one after another or side by side.

Stage 2 (:mod:`autoaux.stages.stage2`) works in *batches* of ``b = [stage2] parallel`` trials::

    while trials remain:
        k       = min(b, trials left)
        points  = optimizer.ask() if k == 1 else optimizer.ask(k)   # constant liar for k > 1
        specs   = [TrialSpec(number, ratios, ...) for each point]     # plain, picklable values
        results = executor.run_batch(specs)                          # in trial-number order
        for r in results: optimizer.tell(r.ratios, r.score)          # in trial-number order

The optimiser never sees a result before the whole batch is back, and always in trial-number
order, whatever order the trials finished in. So with a fixed seed the points asked depend on
the batch size ``b`` only, never on the executor or on timing: a Ray run with ``parallel = 4``
asks (and, trials being deterministic, scores) exactly what a local run with ``parallel = 4``
does. ``parallel = 1`` is the plain sequential loop (``ask()`` then ``tell``). A larger batch
gives the GP fewer observations per decision (the constant liar spreads a batch out), so it is
a trade of search efficiency for wall time.

Executors:

- :class:`LocalExecutor` (``executor = "local"``, the default): runs a batch's trials one after
  another in this process, on the driver's own model and tracker.
- :class:`RayExecutor` (``executor = "ray"``): every trial is a Ray task asking for one GPU
  when the cluster has GPUs (``num_gpus_per_trial``), one CPU otherwise, so Ray runs as many
  side by side as the resources allow. The trainer factory (the tokenised data, cached
  features, the model and its initial weights) is put in Ray's object store **once** and every
  trial reads it from there: nothing is downloaded, tokenised or encoded again on a worker.
  Each worker logs its trial's own MLflow run to the driver's tracking URI, as a child of the
  stage-2 run (the parent run id travels in the :class:`TrialSpec`). A remote cluster must be
  able to reach that URI (an MLflow server, or an SQLite file on a shared filesystem).

Faults: a trial that raises (non-finite loss, out of memory...) is recorded FAILED by the trial
code itself, exactly as in a sequential run. A worker that *dies* (killed process, lost node)
is a system failure: Ray runs the trial once more (``max_retries = 1``) and, should that die
too, the trial is recorded FAILED with the reason, its orphaned MLflow runs are closed FAILED,
and the search goes on. Of a trial that was retried, the MLflow run of the dead attempt is
closed FAILED (tag ``autoaux.failure``) by the attempt that replaced it, and the outcome's
``attempts`` counts both.

Only the trials whose score beats the best score known when the batch was asked compute their
main *test* score and return their weights (the best trial's model is what stage 2 keeps), so
a batch returns at most a few models through the object store.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

from autoaux.config import EXECUTORS as _EXECUTORS
from autoaux.errors import ConfigError
from autoaux.runs.result import TrialRecord
from autoaux.stages.trials import TrainerFactory, run_trial
from autoaux.tracking import (
    FAILURE_TAG,
    MlflowTracker,
    NullTracker,
    Tracker,
    close_runs,
    experiment_name,
)
from bayesopt import TrialState

if TYPE_CHECKING:
    from autoaux.config import ProtocolConfig, Stage2Config

__all__ = [
    "EXECUTORS",
    "LocalExecutor",
    "RayExecutor",
    "TrialExecutor",
    "TrialOutcome",
    "TrialProgress",
    "TrialSpec",
    "execute_trial",
    "make_executor",
]

log = logging.getLogger(__name__)

EXECUTORS: tuple[str, ...] = _EXECUTORS

SpecCallback = Callable[["TrialSpec"], object]
OutcomeCallback = Callable[["TrialOutcome"], object]


@dataclass(frozen=True)
class TrialSpec:
    """Everything one trial needs besides the trainer factory; plain picklable values.

    Attributes:
        number: 0-based trial number (the order results are told to the optimiser).
        ratios: auxiliary task -> mixing ratio (main task at 1, not listed).
        probabilities: task -> sampling probability, main task included.
        main: the main task.
        settings: the ``[stage2]`` settings (steps, eval_every, eval_batches).
        best_before: best score of the trials told before this batch (``nan``: none). A trial
            that beats it evaluates its model on the main test split and returns its weights.
        device_name: where the trial runs, for the trial run's tag.
        parent_run_id: the stage-2 MLflow run; trial runs are its children.
        tracking_uri: the MLflow store (``None``: no tracking).
        experiment: the MLflow experiment's name.
        protocol: the training protocol (``[protocol]``; ``None``: the fixed total of
            ``settings.steps``).
    """

    number: int
    ratios: dict[str, float]
    probabilities: dict[str, float]
    main: str
    settings: Stage2Config
    best_before: float = math.nan
    device_name: str = ""
    parent_run_id: str | None = None
    tracking_uri: str | None = None
    experiment: str | None = None
    protocol: ProtocolConfig | None = None


@dataclass(frozen=True)
class TrialOutcome:
    """One finished trial.

    Attributes:
        record: the trial's record (score ``None`` and state FAILED when it failed).
        test_score: main test score of the trial's best checkpoint, when it beat
            ``best_before`` (else ``None``).
        state: the trial model's weights (CPU tensors), when it beat ``best_before``.
        attempts: how many times the trial was started (2 after a dead worker was replaced).
    """

    record: TrialRecord
    test_score: float | None = None
    state: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    attempts: int = 1

    @property
    def number(self) -> int:
        """The trial number."""
        return self.record.number

    @property
    def failed(self) -> bool:
        """Whether the trial failed."""
        return self.record.score is None


class TrialExecutor(ABC):
    """Runs batches of trials; see the module docstring for the batch semantics.

    Use as a context manager, or call :meth:`close` when done.
    """

    name: ClassVar[str]

    def __init__(self, *, parallel: int = 1) -> None:
        if isinstance(parallel, bool) or not isinstance(parallel, int) or parallel < 1:
            raise ValueError(f"parallel must be an int >= 1, got {parallel!r}")
        self.parallel = parallel

    @abstractmethod
    def run_batch(
        self,
        specs: Sequence[TrialSpec],
        *,
        on_start: SpecCallback | None = None,
        on_result: OutcomeCallback | None = None,
    ) -> list[TrialOutcome]:
        """Run every trial of ``specs``; return their outcomes in trial-number order.

        ``on_start(spec)`` is called when a trial is started (submitted, for Ray),
        ``on_result(outcome)`` when it finishes, in completion order. A failing trial never
        raises here; ``KeyboardInterrupt`` stops the batch (and cancels trials in flight).
        """

    def close(self) -> None:  # noqa: B027 (nothing to release by default)
        """Release the executor's resources."""

    def __enter__(self) -> TrialExecutor:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def execute_trial(spec: TrialSpec, make_trainer: TrainerFactory, tracker: Tracker) -> TrialOutcome:
    """Run one trial (a nested run on ``tracker``); never raises except on Ctrl-C.

    The training, logging and failure handling are stage 2's own (one code path for every
    executor); a trial that beats ``spec.best_before`` also scores its best checkpoint on the
    main test split and returns its weights.
    """
    record, trainer = run_trial(
        make_trainer,
        spec.number,
        spec.ratios,
        spec.probabilities,
        spec.main,
        spec.settings,
        tracker,
        spec.device_name,
        protocol=spec.protocol,
    )
    if trainer is None or record.score is None:
        return TrialOutcome(record)
    if not math.isnan(spec.best_before) and not record.score > spec.best_before:
        return TrialOutcome(record)
    test_score = float(trainer.evaluate(spec.main, "test"))
    return TrialOutcome(record, test_score=test_score, state=trainer.model.snapshot())


# ---------------------------------------------------------------------------- local
class LocalExecutor(TrialExecutor):
    """Runs a batch's trials one after another in this process (today's behaviour).

    Args:
        make_trainer: the trainer factory.
        tracker: the driver's tracker, with the stage-2 run open (trial runs nest under it).
        parallel: the batch size stage 2 asks for (trials still run one at a time); a local run
            with ``parallel = b`` asks the same points as a Ray run with ``parallel = b``.
    """

    name = "local"

    def __init__(
        self,
        make_trainer: TrainerFactory,
        *,
        tracker: Tracker | None = None,
        parallel: int = 1,
    ) -> None:
        super().__init__(parallel=parallel)
        self._make_trainer = make_trainer
        # a trial nests under the open run; with none open (a bare executor) it is top-level
        self._tracker = _ChildTracker(tracker if tracker is not None else NullTracker(), None)

    def run_batch(
        self,
        specs: Sequence[TrialSpec],
        *,
        on_start: SpecCallback | None = None,
        on_result: OutcomeCallback | None = None,
    ) -> list[TrialOutcome]:
        outcomes = []
        for spec in sorted(specs, key=lambda s: s.number):
            if on_start is not None:
                on_start(spec)
            outcome = execute_trial(spec, self._make_trainer, self._tracker)
            if on_result is not None:
                on_result(outcome)
            outcomes.append(outcome)
        return outcomes


# ---------------------------------------------------------------------------- ray
class RayExecutor(TrialExecutor):
    """Runs a batch's trials side by side as Ray tasks (see the module docstring).

    Args:
        make_trainer: the trainer factory; put in Ray's object store once, here.
        tracker: the driver's tracker, with the stage-2 run open when batches are run.
        address: ``""`` starts a local Ray instance (all of this machine's CPUs and GPUs),
            ``"auto"`` joins the running cluster, ``"ray://host:port"`` connects as a Ray
            client, ``"host:port"`` joins the cluster with that head. When Ray is already
            initialised in this process it is used as it is.
        parallel: the batch size (how many trials are submitted at once).
        num_gpus_per_trial: GPUs each trial asks for; ``None``: 1 when the cluster has a GPU,
            else 0 (the trial asks for CPUs only). Fractions share a GPU between trials.
        num_cpus_per_trial: CPUs each trial asks for (and the torch threads it uses).
        max_retries: how many times a trial whose worker died is run again.

    Raises:
        ImportError: Ray is not installed (``pip install 'autoaux[ray]'``).
    """

    name = "ray"

    def __init__(
        self,
        make_trainer: TrainerFactory,
        *,
        tracker: Tracker | None = None,
        address: str = "",
        parallel: int = 2,
        num_gpus_per_trial: float | None = None,
        num_cpus_per_trial: float = 1.0,
        max_retries: int = 1,
    ) -> None:
        super().__init__(parallel=parallel)
        ray = _import_ray()
        self._tracker = tracker if tracker is not None else NullTracker()
        self._started = False
        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False}
            if address:
                ray.init(address=address, **options)
            else:
                ray.init(**options)
            self._started = True
        gpus = float(ray.cluster_resources().get("GPU", 0.0))
        if num_gpus_per_trial is None:
            num_gpus_per_trial = 1.0 if gpus >= 1 else 0.0
        if num_gpus_per_trial < 0 or num_cpus_per_trial < 0:
            raise ValueError("num_gpus_per_trial and num_cpus_per_trial must be >= 0")
        self.num_gpus_per_trial = float(num_gpus_per_trial)
        self.num_cpus_per_trial = float(num_cpus_per_trial)
        self.max_retries = int(max_retries)
        task_options: dict[str, Any] = {
            "num_cpus": self.num_cpus_per_trial,
            "max_retries": self.max_retries,
            "retry_exceptions": False,
        }
        if self.num_gpus_per_trial > 0:
            task_options["num_gpus"] = self.num_gpus_per_trial
        self._remote = ray.remote(_ray_trial).options(**task_options)
        start = time.perf_counter()
        self._factory = ray.put(make_trainer)
        log.info(
            "ray executor: %d trial(s) at a time, %g GPU and %g CPU each (cluster: %s); "
            "trial data in the object store (%.1fs)",
            parallel,
            self.num_gpus_per_trial,
            self.num_cpus_per_trial,
            ", ".join(
                f"{k} {v:g}"
                for k, v in sorted(ray.cluster_resources().items())
                if k in ("CPU", "GPU")
            ),
            time.perf_counter() - start,
        )

    def run_batch(
        self,
        specs: Sequence[TrialSpec],
        *,
        on_start: SpecCallback | None = None,
        on_result: OutcomeCallback | None = None,
    ) -> list[TrialOutcome]:
        ray = _import_ray()
        tracking = _tracking_fields(self._tracker)
        threads = max(1, round(self.num_cpus_per_trial))
        pending: dict[Any, TrialSpec] = {}
        outcomes: dict[int, TrialOutcome] = {}
        try:
            for spec in sorted(specs, key=lambda s: s.number):
                spec = replace(spec, **tracking)
                pending[self._remote.remote(spec, self._factory, threads)] = spec
                if on_start is not None:
                    on_start(spec)
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    spec = pending.pop(ref)
                    try:
                        outcome = ray.get(ref)
                    except ray.exceptions.RayError as error:
                        outcome = self._lost(spec, error)
                    outcomes[spec.number] = outcome
                    if on_result is not None:
                        on_result(outcome)
        except KeyboardInterrupt:
            # Ctrl-C: the running trials get a KeyboardInterrupt (their runs close KILLED),
            # the queued ones never start; the driver does not wait for them
            for ref in pending:
                with contextlib.suppress(Exception):
                    ray.cancel(ref)
            # the whole batch is redone on resume: let the cancelled trials end, then close
            # every run of this batch (finished ones too, their results were never told)
            # KILLED, so that no trial appears twice among the non-KILLED runs
            with contextlib.suppress(Exception):
                ray.wait(list(pending), num_returns=len(pending), timeout=15)
            _discard_batch_runs(self._tracker, [replace(s, **tracking) for s in specs])
            raise
        return [outcomes[n] for n in sorted(outcomes)]

    def _lost(self, spec: TrialSpec, error: BaseException) -> TrialOutcome:
        """A trial whose task raised outside the trial code or whose worker died (twice)."""
        reason = f"{type(error).__name__}: {' '.join(str(error).split())}"[:500]
        dead = not _is_task_error(error)
        attempts = 1 + self.max_retries if dead else 1
        log.warning("stage 2: trial %d lost (%s)", spec.number, reason)
        closed = _close_attempts(self._tracker, spec, reason=reason)
        if closed:  # the last attempt's run becomes the trial's run
            run_id: str | None = closed[-1]
        else:
            run_id = _record_lost_trial(self._tracker, spec, reason=reason)
        record = TrialRecord(
            spec.number,
            dict(spec.ratios),
            None,
            TrialState.FAILED,
            0.0,
            error=("worker died: " if dead else "") + reason,
            run_id=run_id,
        )
        return TrialOutcome(record, attempts=max(attempts, len(closed)))

    def close(self) -> None:
        ray = _import_ray()
        self._factory = None
        if self._started and ray.is_initialized():
            ray.shutdown()
        self._started = False


def _ray_trial(spec: TrialSpec, make_trainer: TrainerFactory, threads: int) -> TrialOutcome:
    """The Ray task: one trial on a worker, logged to the driver's MLflow store."""
    import torch

    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)
    spec = replace(spec, device_name=_worker_device())
    tracker: MlflowTracker | NullTracker
    if spec.tracking_uri is not None and spec.experiment is not None:
        tracker = MlflowTracker(spec.tracking_uri, spec.experiment)
    else:
        tracker = NullTracker()
    reason = "worker died or run interrupted; the trial was run again"
    earlier = len(_close_attempts(tracker, spec, reason=reason))
    child = _ChildTracker(tracker, spec.parent_run_id)
    try:
        outcome = execute_trial(spec, make_trainer, child)
    finally:
        tracker.close("FAILED")
    return replace(outcome, attempts=earlier + 1)


class _ChildTracker:
    """A tracker whose first nested run is a child of ``parent_run_id`` (a run of another
    process): a worker's trial run nests under the driver's stage-2 run."""

    def __init__(self, inner: Tracker, parent_run_id: str | None) -> None:
        self._inner = inner
        self._parent = parent_run_id

    @property
    def tracking_uri(self) -> str | None:
        return self._inner.tracking_uri

    @property
    def experiment_id(self) -> str | None:
        return self._inner.experiment_id

    @property
    def run_id(self) -> str | None:
        return self._inner.run_id if self._inner.run_id is not None else self._parent

    def start(
        self, run_name: str, *, nested: bool = False, tags: Mapping[str, str] | None = None
    ) -> str:
        if nested and self._inner.run_id is None:
            tags = dict(tags or {})
            if self._parent is not None and self._inner.tracking_uri is not None:
                tags["mlflow.parentRunId"] = self._parent
            return self._inner.start(run_name, nested=False, tags=tags)
        return self._inner.start(run_name, nested=nested, tags=tags)

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._inner.log_params(params)

    def log_metrics(self, metrics: Mapping[str, float], *, step: int | None = None) -> None:
        self._inner.log_metrics(metrics, step=step)

    def log_artifact(self, path: Any, *, artifact_path: str | None = None) -> None:
        self._inner.log_artifact(path, artifact_path=artifact_path)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self._inner.set_tags(tags)

    def finish(self, status: str = "FINISHED") -> None:
        self._inner.finish(status)


# ---------------------------------------------------------------------------- progress
class TrialProgress:
    """Counts for a progress bar: trials running, done and failed, and the best score.

    ``bar`` is a tqdm bar (or ``None``); :meth:`started` / :meth:`finished` are the
    ``on_start`` / ``on_result`` callbacks of :meth:`TrialExecutor.run_batch`; ``done`` and
    ``best``: the trials and best score a resumed run starts from.
    """

    def __init__(
        self, bar: Any = None, *, done: Sequence[TrialRecord] = (), best: float = math.nan
    ) -> None:
        self.bar = bar
        self.running = 0
        self.done = len(done)  # trials finished before (a resumed run)
        self.failed = sum(t.score is None for t in done)
        self.best = best

    def started(self, spec: TrialSpec) -> None:
        self.running += 1
        self._show()

    def finished(self, outcome: TrialOutcome) -> None:
        self.running = max(0, self.running - 1)
        self.done += 1
        self.failed += outcome.failed
        if outcome.record.score is not None and not outcome.record.score <= self.best:
            self.best = outcome.record.score
        if self.bar is not None:
            self.bar.update(1)
        self._show()

    def postfix(self) -> str:
        """``"running 2, done 3, failed 0, best dev 0.812"``."""
        best = "-" if math.isnan(self.best) else f"{self.best:.3f}"
        return f"running {self.running}, done {self.done}, failed {self.failed}, best dev {best}"

    def _show(self) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(self.postfix())


# ---------------------------------------------------------------------------- factory
def make_executor(
    settings: Stage2Config, make_trainer: TrainerFactory, *, tracker: Tracker | None = None
) -> TrialExecutor:
    """The executor ``[stage2] executor`` names, with ``parallel`` and ``ray_address``.

    Raises:
        ConfigError: ``executor = "ray"`` and Ray is not installed.
    """
    if settings.executor == "local":
        return LocalExecutor(make_trainer, tracker=tracker, parallel=settings.parallel)
    if settings.executor == "ray":
        try:
            _import_ray()
        except ImportError:
            raise ConfigError(
                "stage2.executor", "ray", "'local', or install Ray: pip install 'autoaux[ray]'"
            ) from None
        return RayExecutor(
            make_trainer,
            tracker=tracker,
            address=settings.ray_address,
            parallel=settings.parallel,
        )
    raise ValueError(f"executor {settings.executor!r}: expected one of {EXECUTORS}")


# ---------------------------------------------------------------------------- helpers
def _import_ray() -> Any:
    try:
        import ray
    except ImportError as error:
        raise ImportError(
            "executor 'ray' needs Ray: pip install 'autoaux[ray]' (or pip install ray)"
        ) from error
    return ray


def _is_task_error(error: BaseException) -> bool:
    """Whether ``error`` is an exception raised by the task's code (not a lost worker)."""
    ray = _import_ray()
    return isinstance(error, ray.exceptions.RayTaskError)


def _worker_device() -> str:
    import torch

    if torch.cuda.is_available():
        return f"cuda:0 ({torch.cuda.get_device_name(0)})"
    return "cpu"


def _tracking_fields(tracker: Tracker) -> dict[str, Any]:
    """What a worker needs to log to the driver's store under its open (stage-2) run."""
    return {
        "parent_run_id": tracker.run_id,
        "tracking_uri": tracker.tracking_uri,
        "experiment": experiment_name(tracker),
    }


def _discard_batch_runs(tracker: Tracker, specs: Sequence[TrialSpec]) -> None:
    """Close KILLED every MLflow run of an interrupted batch's trials (redone on resume)."""
    tags = {FAILURE_TAG: "interrupted; redone after resume", "autoaux.state": "KILLED"}
    for spec in specs:
        if spec.parent_run_id is None:
            continue
        query = (
            f"tags.`mlflow.parentRunId` = '{spec.parent_run_id}' "
            f"and tags.`autoaux.trial` = '{spec.number}'"
        )
        try:
            if close_runs(tracker, query, status="KILLED", tags=tags, skip_status="KILLED") is None:
                return
        except Exception:  # bookkeeping only
            log.warning("could not close the runs of the interrupted batch", exc_info=True)


def _close_attempts(tracker: Tracker, spec: TrialSpec, *, reason: str) -> list[str]:
    """Close FAILED the still-running MLflow runs of earlier attempts of ``spec``'s trial
    (their worker died); return their ids, oldest first."""
    if spec.parent_run_id is None:
        return []
    query = (
        f"tags.`mlflow.parentRunId` = '{spec.parent_run_id}' "
        f"and tags.`autoaux.trial` = '{spec.number}' and attributes.status = 'RUNNING'"
    )
    tags = {FAILURE_TAG: reason, "autoaux.state": "FAILED"}
    try:
        return close_runs(tracker, query, status="FAILED", tags=tags) or []
    except Exception:  # bookkeeping only; never fail a trial over it
        log.warning("could not close the runs of earlier attempts", exc_info=True)
        return []


def _record_lost_trial(tracker: Tracker, spec: TrialSpec, *, reason: str) -> str | None:
    """A FAILED ``trial-N`` run under the open stage-2 run for a trial that has none left."""
    if tracker.run_id is None:
        return None
    tags = {
        "autoaux.stage": "trial",
        "autoaux.trial": str(spec.number),
        "autoaux.device": spec.device_name,
        "autoaux.state": "FAILED",
        FAILURE_TAG: reason,
    }
    run_id = tracker.start(f"trial-{spec.number}", nested=True, tags=tags)
    try:
        tracker.log_params({f"ratio/{k}": v for k, v in spec.ratios.items()})
    finally:
        tracker.finish("FAILED")
    return run_id if tracker.tracking_uri is not None else None
