"""Side-by-side episodes: stage 1's race episodes and the screen's probes on the cores there are.

An episode or a probe is a pure function of the run's trainer factory (initial weights, data,
cached features) and a few plain values (the task, the round): it trains a fresh model and
returns a number. So the episodes of one race round, or the probes of one screen row, can run
in any order on any worker and come back the same. A :class:`Workers` runs such *jobs*::

    with open_workers(make_trainer, plan) as workers:
        for result in workers.imap(job, items):      # in the order of ``items``
            ...                                      # job(make_trainer, item) on a worker

The caller consumes the results in the order it would have computed them one by one, and may
stop early (the rest are discarded), so a parallel race or screen takes exactly the decisions of
a sequential one: the same verdicts, the same selection, the same checkpoints.

Kinds (:func:`open_workers` picks one from a :class:`WorkerPlan`):

- :class:`InProcess`: one job after another in this process, computed only when asked for
  (``workers = 1``, a single core, or a CUDA device: one GPU runs one episode at a time).
- :class:`LocalProcesses`: a pool of worker processes *forked* from this one once the workbench
  is built, so each worker starts with the model, data and features in memory (copy-on-write:
  nothing is pickled, encoded or loaded again). Each worker runs torch on one thread: a forked
  process cannot use its parent's OpenMP thread pool (a worker that asks for two threads after
  the parent ran torch on two hangs in its first parallel region), and one thread is the
  fastest way to run these small models anyway. The default (``workers = 0``) is one worker
  per core, on the CPU only. POSIX only (fork); elsewhere the jobs run in this process.
- :class:`RayWorkers` (``[stage2] executor = "ray"``): every job is a Ray task, one CPU each (one
  GPU when the cluster has GPUs); the factory is put in Ray's object store once per stage.

Numerics: a job on a worker runs torch on one thread; a float reduction split over a different
number of threads can differ in its last bits, so a parallel run is guaranteed to reproduce a
sequential run made on one torch thread (``torch.set_num_threads(1)``); against a sequential
run on more threads the scores agree to float precision (``benchmarks/stage1_speed.py`` prints
whether they came out equal).

When it pays: a worker process costs one fork per stage (tens of milliseconds) and the results
come back through a pipe (a few numbers per job); jobs are whole training runs (hundreds of
milliseconds and more), so two workers on two cores run a round of several episodes in about
half the time. A round of one reference and one candidate has two jobs: no gain beyond two
workers. On a GPU the jobs stay in this process.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from autoaux._device import resolve_device

if TYPE_CHECKING:
    from autoaux.config import RunConfig

__all__ = [
    "InProcess",
    "LocalProcesses",
    "RayWorkers",
    "WorkerPlan",
    "Workers",
    "available_cores",
    "open_workers",
]

log = logging.getLogger("autoaux")

#: ``job(factory, item) -> result``: a module-level function (it travels to the workers by name).
Job = Callable[[Any, Any], Any]


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class WorkerPlan:
    """Where a stage's jobs run.

    Attributes:
        workers: worker processes on the CPU; ``0``: one per core; ``1``: in this process.
        executor: ``"local"`` (this machine) or ``"ray"`` (Ray tasks at ``ray_address``).
        ray_address: as ``[stage2] ray_address`` (``""``: start a local Ray instance).
        device: the run's device (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``); jobs on a
            CUDA device run in this process.
    """

    workers: int = 1
    executor: str = "local"
    ray_address: str = ""
    device: str = "cpu"

    @classmethod
    def of(cls, config: RunConfig) -> WorkerPlan:
        """The plan a :class:`~autoaux.config.RunConfig` describes (``workers``,
        ``[stage2] executor`` and ``ray_address``, ``device``)."""
        return cls(
            workers=int(config.workers),
            executor=str(config.stage2.executor),
            ray_address=str(config.stage2.ray_address),
            device=str(config.device),
        )

    def processes(self) -> int:
        """How many local worker processes this plan asks for (1: run in this process)."""
        if resolve_device(self.device).type != "cpu" or not _can_fork():
            return 1
        return self.workers if self.workers >= 1 else available_cores()


class Workers(ABC):
    """Runs jobs over a fixed trainer factory; results in the order of the items."""

    #: how many jobs run at once
    size: int = 1

    @abstractmethod
    def imap(self, job: Job, items: Sequence[Any]) -> Generator[Any, None, None]:
        """``job(factory, item)`` for each item, yielded in the order of ``items``. Stopping
        early (closing the iterator) discards the results not yet read."""

    def close(self) -> None:  # noqa: B027 (nothing to release by default)
        """Release the workers."""

    def __enter__(self) -> Workers:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class InProcess(Workers):
    """Each job in this process, computed when its result is asked for."""

    def __init__(self, factory: Any) -> None:
        self._factory = factory

    def imap(self, job: Job, items: Sequence[Any]) -> Generator[Any, None, None]:
        for item in items:
            yield job(self._factory, item)


# ------------------------------------------------------------------------------ processes
_WORKER: dict[str, Any] = {}


def _start_worker(factory: Any, threads: int) -> None:
    """Initialiser of a forked worker: its torch threads and the factory it inherited."""
    import torch

    torch.set_num_threads(threads)
    _WORKER["factory"] = factory


def _call(job: Job, item: Any) -> Any:
    return job(_WORKER["factory"], item)


class LocalProcesses(Workers):
    """A pool of ``processes`` workers forked from this process (see the module docstring).

    Args:
        factory: the trainer factory the jobs are given (inherited by the forked workers).
        processes: worker processes (>= 2), each running torch on one thread.
    """

    #: torch threads per worker (see the module docstring: a forked worker must keep to one)
    threads = 1

    def __init__(self, factory: Any, *, processes: int) -> None:
        if processes < 2:
            raise ValueError(f"processes must be >= 2, got {processes}")
        self.size = int(processes)
        self._pool: ProcessPoolExecutor | None = ProcessPoolExecutor(
            max_workers=self.size,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_start_worker,
            initargs=(factory, self.threads),
        )

    def imap(self, job: Job, items: Sequence[Any]) -> Generator[Any, None, None]:
        if self._pool is None:
            raise RuntimeError("the workers are closed")
        futures: list[Future[Any]] = [self._pool.submit(_call, job, item) for item in items]
        try:
            for future in futures:
                yield future.result()
        finally:
            for future in futures:
                future.cancel()  # a no-op for the jobs done or running

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


# ------------------------------------------------------------------------------ ray
def _ray_call(job: Job, factory: Any, item: Any, threads: int) -> Any:
    import torch

    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)
    return job(factory, item)


class RayWorkers(Workers):
    """Each job a Ray task (one CPU, or one GPU when the cluster has GPUs); the factory is put
    in Ray's object store once. ``address`` as :class:`~autoaux.stages.executors.RayExecutor`'s;
    a Ray instance this class starts is shut down by :meth:`close`."""

    def __init__(self, factory: Any, *, address: str = "") -> None:
        from autoaux.stages.executors import _import_ray

        ray = _import_ray()
        self._started = False
        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False}
            ray.init(address=address, **options) if address else ray.init(**options)
            self._started = True
        resources = ray.cluster_resources()
        gpus = float(resources.get("GPU", 0.0))
        task_options: dict[str, Any] = {"num_cpus": 1, "max_retries": 1}
        if gpus >= 1:
            task_options["num_gpus"] = 1
        self.size = max(1, int(gpus if gpus >= 1 else resources.get("CPU", 1)))
        self._remote = ray.remote(_ray_call).options(**task_options)
        self._factory: Any = ray.put(factory)

    def imap(self, job: Job, items: Sequence[Any]) -> Generator[Any, None, None]:
        from autoaux.stages.executors import _import_ray

        ray = _import_ray()
        refs = [self._remote.remote(job, self._factory, item, 1) for item in items]
        read = 0
        try:
            for ref in refs:
                yield ray.get(ref)
                read += 1
        finally:
            for ref in refs[read + 1 :]:  # stopped early: the jobs not read, never a done one
                with contextlib.suppress(Exception):
                    ray.cancel(ref)

    def close(self) -> None:
        from autoaux.stages.executors import _import_ray

        ray = _import_ray()
        self._factory = None
        if self._started and ray.is_initialized():
            ray.shutdown()
        self._started = False


# ------------------------------------------------------------------------------ choosing
def _can_fork() -> bool:
    return sys.platform != "win32" and "fork" in multiprocessing.get_all_start_methods()


def open_workers(factory: Any, plan: WorkerPlan | None = None) -> Workers:
    """The workers ``plan`` describes over ``factory`` (default: in this process)."""
    plan = plan if plan is not None else WorkerPlan()
    if plan.executor == "ray":
        return RayWorkers(factory, address=plan.ray_address)
    processes = plan.processes()
    if processes <= 1:
        return InProcess(factory)
    workers = LocalProcesses(factory, processes=processes)
    log.debug("%d worker processes, one torch thread each", workers.size)
    return workers
