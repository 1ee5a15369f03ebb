"""The Python API: :func:`run` (both stages), :func:`select` (stage 1), :func:`mix` (stage 2).

Each call takes a :class:`~autoaux.config.RunConfig` (or a TOML path), or builds one from
keyword arguments; task arguments accept task names or :class:`tasks.Task` objects, and
``encoder`` a local Hugging Face model folder::

    import autoaux
    from tasks import load_task

    result = autoaux.run("run.toml")                       # both stages, result.json, plots
    chosen = autoaux.select(main=my_task, auxiliary=["tweet-sentiment", other_task],
                            encoder="models/my-bert", pulls=100)
    mixture = autoaux.mix(main=my_task, tasks=chosen.selected, trials=8)

What one call does:

1. validate the configuration and open the tracker (an unreachable store fails here, at once);
2. load the tasks (``shuffled:`` copies are the null controls), subsample the training splits
   (``max_train_examples``), train or load the tokenizer, build the encoder and one head per
   task, and keep a snapshot of these initial weights;
3. stage 1 trains that model under the bandit (:mod:`autoaux.stages.stage1`);
4. stage 2 restarts every trial from the snapshot (:mod:`autoaux.stages.stage2`);
5. the baselines (``[baselines] run``, default main-only) train like one stage-2 trial each;
6. writes ``result.json`` and the two plots to ``output_dir`` and logs them as artifacts of the
   parent MLflow run (runs: parent -> ``stage1``, ``stage2`` -> ``trial-N``, ``baseline-X``);
7. at the end, also after a failure, sends the tracking calls kept while the store was down,
   or says how to send them later (``autoaux tracking replay``).

Training schedules: stage 1 uses a constant learning rate after warm-up (rewards compare pulls,
so late pulls must move the model as much as early ones); each stage-2 trial and baseline decays
linearly to 0 over its ``steps``. Stage-2 trials and baselines share one seed, so they see the
same batches and differ only by their mixture.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from autoaux._secrets import redact_uri
from autoaux.config import RunConfig, config_from_dict, load_config
from autoaux.errors import ConfigError
from autoaux.runs.affinity import AFFINITY_FILE, AffinityResult
from autoaux.runs.checkpoint import CheckpointError, RunCheckpoint, RunInterrupted
from autoaux.runs.lock import folder_lock
from autoaux.runs.plots import (
    AFFINITY_PLOT,
    STAGE1_PLOT,
    STAGE2_PLOT,
    plot_affinity,
    plot_trials,
    plot_utilities,
)
from autoaux.runs.result import MixResult, RunResult, SelectionResult, write_json
from autoaux.stages import pipeline
from autoaux.tracking import Tracker, make_tracker, metric_key, tracked_run
from autoaux.tracking.journal import (
    JOURNAL_FILE,
    ReplayReport,
    fallback_uri,
    journal_file,
    replay_journal,
    settle_tracking,
)
from autoaux.training.workbench import Workbench
from tasks import Task

__all__ = ["affinity", "mix", "resume", "run", "select"]

log = logging.getLogger("autoaux")

ConfigLike = RunConfig | str | Path
TaskLike = Task | str


# ---------------------------------------------------------------------------- public API
def run(
    config: ConfigLike,
    *,
    user_tasks: Iterable[Task] = (),
    tracker: Tracker | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> RunResult:
    """Run both stages and the baselines; write ``result.json`` and the plots to
    ``config.output_dir``; return the :class:`~autoaux.runs.result.RunResult`.

    With ``[checkpoint] enabled`` (the default) the run's state is saved in
    ``output_dir/checkpoint/`` as it goes, and a run stopped by a kill or Ctrl-C (which raises
    :class:`~autoaux.runs.checkpoint.RunInterrupted`) is continued by :func:`resume`.
    One run at a time per output folder (:mod:`autoaux.runs.lock`); a folder that holds an
    unfinished run is refused unless ``overwrite``.

    Args:
        config: a :class:`RunConfig` or the path of a TOML file.
        user_tasks: :class:`tasks.Task` objects that the configuration names (by ``name``).
        tracker: a tracker to log to instead of the one ``[tracking]`` describes.
        progress: show progress bars for the pulls and the trials.
        overwrite: replace the unfinished run of ``output_dir`` instead of refusing.

    Raises:
        autoaux.runs.lock.FolderInUse: another process uses ``output_dir``.
        autoaux.runs.CheckpointError: ``output_dir`` holds an unfinished run.
    """
    config = _as_config(config, user_tasks)
    with folder_lock(config.output_dir):
        return _run(
            config,
            RunCheckpoint.create(config, overwrite=overwrite),
            user_tasks=user_tasks,
            tracker=tracker,
            progress=progress,
        )


def resume(
    output_dir: str | Path,
    *,
    user_tasks: Iterable[Task] = (),
    tracker: Tracker | None = None,
    progress: bool = True,
    tracking_uri: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    expected: RunConfig | None = None,
) -> RunResult:
    """Continue the interrupted :func:`run` whose output folder is ``output_dir``.

    The configuration, MLflow runs, stage-1 trainer and bandit, stage-2 search and trials and
    finished baselines come from ``output_dir/checkpoint/``; the pull or trial that was in
    flight is redone, so on the CPU the result equals that of an uninterrupted run
    (:mod:`autoaux.runs.checkpoint`). ``user_tasks``: the Task objects the run was given, if any.

    A resume is faithful or refuses. ``tracking_uri`` is the store to continue in (without it,
    see :meth:`RunCheckpoint.tracking_uri`). ``overrides`` (dotted keys, as the command line
    gives them) and ``expected`` (a whole configuration, ``--config``) must agree with the
    saved configuration, except ``tracking.fallback``, which is applied; ``output_dir`` must be
    the resumed folder; the ``[tracking]`` section of ``expected`` is not compared.

    Raises:
        autoaux.runs.CheckpointError: no checkpoint in ``output_dir``, the run finished, a file
            of the checkpoint or a data file changed, or an option differs from the saved run.
        autoaux.runs.lock.FolderInUse: another process uses ``output_dir``.
    """
    with folder_lock(output_dir):
        checkpoint = RunCheckpoint.load(output_dir)
        checkpoint.check_data()
        objects = list(user_tasks)
        uri = checkpoint.tracking_uri(tracking_uri) if tracker is None else None
        config = checkpoint.config(user_tasks=tuple(t.name for t in objects), tracking_uri=uri)
        config = _resume_options(config, overrides or {}, expected)
        log.info("resuming the run in %s", config.output_dir)
        return _run(config, checkpoint, user_tasks=objects, tracker=tracker, progress=progress)


def replay_tracking(
    output_dir: str | Path, *, tracking_uri: str | None = None, wait: float = 0.0
) -> ReplayReport:
    """Send the tracking calls that a run kept in ``output_dir/tracking-journal.jsonl`` (or the
    journal file ``output_dir``) while its store was down, holding the folder's lock.

    ``tracking_uri`` is the store, the user's: without it ``MLFLOW_TRACKING_URI`` or the default
    ``sqlite:///mlflow.db``; it must be the store the journal names
    (:func:`autoaux.tracking.journal.replay_store`), never taken from the journal alone.

    Raises:
        FileNotFoundError: no journal there.
        autoaux.errors.TrackingError: the store is not the journal's.
        autoaux.runs.lock.FolderInUse: a run or another replay uses the folder.
    """
    file = journal_file(output_dir)
    with folder_lock(file.parent):
        return replay_journal(file, uri=tracking_uri, wait=wait)


#: Options that a resume applies (they change where tracking goes or where episodes run, not
#: what is computed).
RESUME_APPLIES = frozenset({"tracking.fallback", "tracking.uri", "workers"})


def _resume_options(
    config: RunConfig, overrides: Mapping[str, Any], expected: RunConfig | None
) -> RunConfig:
    """``config`` (the saved one) with the options a resume applies; refuse the others when
    they differ from the saved values."""
    saved = config.to_dict()
    for key, value in overrides.items():
        if key in RESUME_APPLIES:
            continue
        if key == "output_dir":
            if Path(str(value)).expanduser().resolve() != Path(config.output_dir).resolve():
                raise CheckpointError(
                    f"--output {value}: a resume writes to the folder it resumes "
                    f"({config.output_dir}); omit --output"
                )
            continue
        current = _dotted(saved, key)
        if current != _dotted(config.with_overrides({key: value}).to_dict(), key):
            raise CheckpointError(
                f"{key} = {value!r}: the run being resumed has {current!r}; a resume continues "
                "the saved configuration (start afresh with --overwrite to change it)"
            )
    if expected is not None:
        wanted = expected.to_dict()
        changed = [
            key
            for key in sorted(set(saved) | set(wanted))
            if key not in ("output_dir", "tracking") and saved.get(key) != wanted.get(key)
        ]
        if changed:
            raise CheckpointError(
                f"--config {expected.source}: differs from the run being resumed in "
                f"{', '.join(changed)}; a resume continues the saved configuration (omit "
                "--config, or start afresh with --overwrite)"
            )
    applied = {k: v for k, v in overrides.items() if k in ("tracking.fallback", "workers")}
    return config.with_overrides(applied) if applied else config


def _dotted(data: Mapping[str, Any], key: str) -> Any:
    value: Any = data
    for part in key.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _run(
    config: RunConfig,
    checkpoint: Any,
    *,
    user_tasks: Iterable[Task],
    tracker: Tracker | None,
    progress: bool,
) -> RunResult:
    start = time.perf_counter()
    main, pool = config.main.task, config.auxiliary_tasks()
    with _command(
        config, "run", [main, *pool], user_tasks, tracker, progress, checkpoint=checkpoint
    ) as (tracker, bench, parent):
        screen = pipeline.screen(bench, config, tracker, progress, checkpoint)
        selection = pipeline.stage1(bench, config, tracker, progress, checkpoint, screen=screen)
        mixture = pipeline.stage2(
            bench, config, tracker, progress, selection.selected, selection.utilities,
            checkpoint, noise=pipeline.seed_noise_of(selection),
        )  # fmt: skip
        baselines = pipeline.baselines(bench, config, tracker, selection.selected, checkpoint)
        result = RunResult(
            main_task=main,
            selected=selection.selected,
            utilities=dict(selection.utilities),
            pulls=dict(selection.pulls),
            ratios=dict(mixture.ratios),
            best_dev_score=mixture.best_dev_score,
            test_score=mixture.test_score,
            trials=mixture.trials,
            baselines=baselines,
            mlflow=_mlflow_info(tracker, parent),
            selection=selection,
            mixture=mixture,
            output_dir=str(Path(config.output_dir)),
            seconds=time.perf_counter() - start,
            seed=config.seed,
            device=bench.device_name,
            config=config.to_dict(),
            screen=screen,
            contamination=_contamination(bench),
        )
        _final_metrics(tracker, result)
        _write_outputs(
            tracker, config, selection=selection, mixture=mixture, result=result, screen=screen
        )
    checkpoint.finish()
    log.info("autoaux run finished in %.1fs", result.seconds)
    return result


@contextlib.contextmanager
def _command(
    config: RunConfig,
    command: str,
    tasks: Sequence[str],
    user_tasks: Iterable[Task],
    tracker: Tracker | None,
    progress: bool,
    *,
    checkpoint: Any = None,
) -> Iterator[tuple[Tracker, Workbench, str]]:
    """What every command does around its stages: the tracker (``config``'s unless given),
    the parent MLflow run named after ``command`` (continued when ``checkpoint`` resumes a
    run), its params, the :class:`Workbench` over ``tasks``, the device and contamination
    tags; yields ``(tracker, bench, parent run id)``.

    At the end, whatever happened, the tracking journal is settled
    (:func:`autoaux.tracking.journal.settle_tracking`): calls kept while the store was down
    are sent, or the command that sends them later is printed. With a ``checkpoint``, Ctrl-C
    marks the run interrupted and becomes :class:`RunInterrupted` (when checkpointing is on).
    """
    tracker = tracker if tracker is not None else _make_tracker(config)
    name, tags = _run_name(config, command), _tags(config, command)
    try:
        with (
            checkpoint.interrupts() if checkpoint is not None else contextlib.nullcontext(),
            tracked_run(
                tracker,
                name,
                tags=tags,
                resume_id=checkpoint.run_id("parent") if checkpoint is not None else None,
            ) as parent,
        ):
            if checkpoint is not None:
                checkpoint.attach(tracker, parent)
            tracker.log_params(
                checkpoint.params(config) if checkpoint is not None else config.to_params()
            )
            bench = Workbench.build(config, list(tasks), user_tasks, progress=progress)
            tracker.set_tags({"autoaux.device": bench.device_name})
            _track_contamination(tracker, bench)
            yield tracker, bench, parent
    except KeyboardInterrupt as error:
        if checkpoint is None:
            raise
        checkpoint.mark_interrupted()
        if not checkpoint.enabled:
            raise
        interrupted = RunInterrupted(config.output_dir, tracker.tracking_uri)
        log.warning("%s", interrupted)
        raise interrupted from error
    finally:
        settle_tracking(tracker, config)


def select(
    config: ConfigLike | None = None,
    *,
    main: TaskLike | None = None,
    auxiliary: Sequence[TaskLike] | None = None,
    encoder: str | Path | None = None,
    seed: int | None = None,
    user_tasks: Iterable[Task] = (),
    overrides: Mapping[str, Any] | None = None,
    tracker: Tracker | None = None,
    progress: bool = True,
    **stage1: Any,
) -> SelectionResult:
    """Stage 1 only: which auxiliary tasks help the main task.

    Without ``config`` the run is described by the keywords (``main`` is then required).
    ``main``/``auxiliary`` accept names or Task objects, ``encoder`` ``"tiny"``, ``"minilm"``
    or a local model folder; extra keywords are ``[stage1]`` keys (``pulls=50``,
    ``preset="autosem"``...) and ``overrides`` any dotted keys (``{"tracking.enabled": False}``).
    Writes ``selection.json`` and the utilities plot to ``output_dir``.
    """
    config, objects = _configure(
        config,
        main=main,
        auxiliary=auxiliary,
        encoder=encoder,
        seed=seed,
        user_tasks=user_tasks,
        section="stage1",
        options=stage1,
        overrides=overrides,
    )
    with folder_lock(config.output_dir):
        return _select(config, objects, tracker, progress)


def _select(
    config: RunConfig, objects: list[Task], tracker: Tracker | None, progress: bool
) -> SelectionResult:
    tasks = [config.main.task, *config.auxiliary_tasks()]
    with _command(config, "select", tasks, objects, tracker, progress) as (tracker, bench, _):
        screen = pipeline.screen(bench, config, tracker, progress)
        selection = pipeline.stage1(bench, config, tracker, progress, screen=screen)
        selection = dataclasses.replace(selection, contamination=_contamination(bench))
        _write_outputs(tracker, config, selection=selection, screen=screen)
    return selection


def affinity(
    config: ConfigLike | None = None,
    *,
    main: TaskLike | None = None,
    auxiliary: Sequence[TaskLike] | None = None,
    encoder: str | Path | None = None,
    seed: int | None = None,
    pairwise: bool = False,
    user_tasks: Iterable[Task] = (),
    overrides: Mapping[str, Any] | None = None,
    tracker: Tracker | None = None,
    progress: bool = True,
    **screen: Any,
) -> AffinityResult:
    """The affinity screen alone: how much each auxiliary task lowers the main task's dev
    loss against the null control (with ``pairwise``, each candidate's too).

    Arguments as in :func:`select`; extra keywords are ``[screen]`` keys (``probe_steps=30``,
    ``rounds=3``...). The screen always runs here, whatever ``screen.when`` says. The pool
    needs a control (``auxiliary.add_control = true``, the default). Writes ``affinity.json``
    and ``affinity.png`` to ``output_dir`` and logs them as MLflow artifacts.
    """
    config, objects = _configure(
        config,
        main=main,
        auxiliary=auxiliary,
        encoder=encoder,
        seed=seed,
        user_tasks=user_tasks,
        section="screen",
        options=screen,
        overrides=overrides,
    )
    if not config.control_tasks():
        raise ConfigError(
            "auxiliary.add_control",
            config.auxiliary.add_control,
            "a pool with a control (true, or a 'shuffled:<task>' in auxiliary.tasks): the "
            "screen measures every task against it",
            source=config.source,
        )
    tasks = [config.main.task, *config.auxiliary_tasks()]
    with (
        folder_lock(config.output_dir),
        _command(config, "affinity", tasks, objects, tracker, progress) as (tracker, bench, _),
    ):
        result = pipeline.screen_all(bench, config, tracker, progress, pairwise=pairwise)
        _write_outputs(tracker, config, screen=result)
    return result


def mix(
    config: ConfigLike | None = None,
    *,
    tasks: Sequence[TaskLike],
    main: TaskLike | None = None,
    encoder: str | Path | None = None,
    seed: int | None = None,
    utilities: Mapping[str, float] | None = None,
    user_tasks: Iterable[Task] = (),
    overrides: Mapping[str, Any] | None = None,
    tracker: Tracker | None = None,
    progress: bool = True,
    **stage2: Any,
) -> MixResult:
    """Stage 2 only: the best mixing ratios of ``tasks`` (auxiliary tasks, main fixed at 1).

    ``utilities`` (task -> stage-1 utility, the main task's included) warm-start the search;
    without them every ratio starts at 1. Extra keywords are ``[stage2]`` keys
    (``trials=8``...). The configured baselines are not run. Writes ``mix.json`` and the trials
    plot to ``output_dir``.
    """
    config, objects = _configure(
        config,
        main=main,
        auxiliary=tasks,
        encoder=encoder,
        seed=seed,
        user_tasks=user_tasks,
        section="stage2",
        options=stage2,
        overrides=overrides,
    )
    with folder_lock(config.output_dir):
        return _mix(config, objects, tracker, progress, utilities)


def _mix(
    config: RunConfig,
    objects: list[Task],
    tracker: Tracker | None,
    progress: bool,
    utilities: Mapping[str, float] | None,
) -> MixResult:
    names = list(config.auxiliary.tasks)
    tasks = [config.main.task, *names]
    with _command(config, "mix", tasks, objects, tracker, progress) as (tracker, bench, _):
        mixture = pipeline.stage2(bench, config, tracker, progress, tuple(names), utilities)
        mixture = dataclasses.replace(mixture, contamination=_contamination(bench))
        _write_outputs(tracker, config, mixture=mixture)
    return mixture


# ---------------------------------------------------------------------------- config helpers
def _as_config(config: ConfigLike, user_tasks: Iterable[Task] = ()) -> RunConfig:
    names = tuple(t.name for t in user_tasks)
    if isinstance(config, RunConfig):
        if names and not set(names) <= set(config.user_tasks):
            return config.replace(user_tasks=tuple(dict.fromkeys((*config.user_tasks, *names))))
        return config
    if isinstance(config, str | Path):
        loaded = load_config(config)
        return _with_user(loaded, names) if names else loaded
    raise TypeError(f"config must be a RunConfig or a TOML path, got {type(config).__name__}")


def _with_user(config: RunConfig, names: Sequence[str]) -> RunConfig:
    return config.replace(user_tasks=tuple(names))


def _configure(
    config: ConfigLike | None,
    *,
    main: TaskLike | None,
    auxiliary: Sequence[TaskLike] | None,
    encoder: str | Path | None,
    seed: int | None,
    user_tasks: Iterable[Task],
    section: str,
    options: Mapping[str, Any],
    overrides: Mapping[str, Any] | None,
) -> tuple[RunConfig, list[Task]]:
    """A RunConfig from ``config`` (or defaults) and keyword arguments; the Task objects."""
    objects = list(user_tasks)

    def name_of(item: TaskLike) -> str:
        if isinstance(item, Task):
            objects.append(item)
            return item.name
        if isinstance(item, str):
            return item
        raise TypeError(f"a task must be a name or a tasks.Task, got {type(item).__name__}")

    changes: dict[str, Any] = {}
    if main is not None:
        changes["main.task"] = name_of(main)
    if auxiliary is not None:
        if isinstance(auxiliary, str | Task):
            auxiliary = [auxiliary]
        changes["auxiliary.tasks"] = [name_of(t) for t in auxiliary]
    if encoder is not None:
        changes["model.encoder"] = str(encoder)
    if seed is not None:
        changes["seed"] = seed
    changes.update({f"{section}.{k}": v for k, v in options.items()})
    changes.update(overrides or {})
    names = tuple(dict.fromkeys(t.name for t in objects))
    if config is None:
        if "main.task" not in changes:
            raise ConfigError("main.task", None, "a main task (main=...)", missing=True)
        data: dict[str, Any] = {"main": {"task": changes.pop("main.task")}}
        base = config_from_dict(data, source="<arguments>", user_tasks=names)
    else:
        base = _as_config(config, objects)
    if names and not set(names) <= set(base.user_tasks):
        base = _with_user(base, tuple(dict.fromkeys((*base.user_tasks, *names))))
    return (base.with_overrides(changes) if changes else base), objects


def _make_tracker(config: RunConfig) -> Tracker:
    """The tracker ``[tracking]`` describes, journaling to ``output_dir`` during an outage
    and, with ``fallback``, on the fallback store when the store is unreachable at start."""
    t = config.tracking
    folder = Path(config.output_dir).expanduser().resolve()
    return make_tracker(
        t.uri,
        t.experiment,
        enabled=t.enabled,
        artifact_location=t.artifact_location,
        fallback_uri=fallback_uri(config) if t.fallback else None,
        journal=folder / JOURNAL_FILE,
    )


def _run_name(config: RunConfig, command: str) -> str:
    if config.tracking.run_name:
        return config.tracking.run_name
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"autoaux-{command}-{config.main.task}-{stamp}"


def _tags(config: RunConfig, command: str) -> dict[str, str]:
    return {
        "autoaux.command": command,
        "autoaux.main_task": config.main.task,
        "autoaux.stage": "parent",
        "autoaux.seed": str(config.seed),
        "autoaux.config_source": config.source,
    }


def _mlflow_info(tracker: Tracker, run_id: str) -> dict[str, str | None]:
    real = tracker.tracking_uri is not None
    return {
        "tracking_uri": None if tracker.tracking_uri is None else redact_uri(tracker.tracking_uri),
        "experiment_id": tracker.experiment_id,
        "run_id": run_id if real else None,
    }


def _contamination(bench: Workbench) -> dict[str, Any] | None:
    """The guard's report as ``result.json`` keeps it (with its one-line ``summary``)."""
    report = bench.contamination
    return None if report is None else {**report.to_dict(), "summary": report.summary()}


def _track_contamination(tracker: Tracker, bench: Workbench) -> None:
    """The guard's counts as tags of the run: totals, and examples found per auxiliary task."""
    report = bench.contamination
    if report is None:
        return
    tags = {metric_key(f"autoaux.{key}"): value for key, value in report.params().items()}
    tracker.set_tags(tags)


def _final_metrics(tracker: Tracker, result: RunResult) -> None:
    metrics: dict[str, float] = {
        "best_dev_score": result.best_dev_score,
        "n_selected": float(len(result.selected)),
        "stage1_seconds": result.selection.seconds,
        "stage2_seconds": result.mixture.seconds,
    }
    if result.test_score is not None:
        metrics["test_score"] = result.test_score
    for name, score in result.baselines.items():
        metrics[f"baseline/{name}/dev_score"] = score.dev
        if score.test is not None:
            metrics[f"baseline/{name}/test_score"] = score.test
    tracker.log_metrics(metrics)
    tracker.set_tags(
        {
            "autoaux.selected": ",".join(result.selected),
            "autoaux.ratios": ", ".join(f"{k}={v:.3g}" for k, v in result.ratios.items()),
        }
    )


def _write_outputs(
    tracker: Tracker,
    config: RunConfig,
    *,
    selection: SelectionResult | None = None,
    mixture: MixResult | None = None,
    result: RunResult | None = None,
    screen: AffinityResult | None = None,
) -> None:
    """Write the plots and the JSON summary into ``output_dir``; log them as artifacts."""
    folder = Path(config.output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    if screen is not None:
        paths.append(screen.to_json(folder / AFFINITY_FILE))
        paths.append(plot_affinity(screen, folder / AFFINITY_PLOT))
    if selection is not None:
        paths.append(plot_utilities(selection, folder / STAGE1_PLOT))
    if mixture is not None:
        paths.append(plot_trials(mixture, folder / STAGE2_PLOT))
    if result is not None:
        paths.append(result.to_json(folder / "result.json"))
    elif selection is not None:
        paths.append(selection.to_json(folder / "selection.json"))
    elif mixture is not None:
        paths.append(mixture.to_json(folder / "mix.json"))
    write_json(folder / "config.json", config.to_dict())
    for path in paths:
        tracker.log_artifact(path)
    log.info("outputs written to %s", folder)
