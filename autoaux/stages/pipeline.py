"""The stages as a run configures them: each reads its settings from the
:class:`~autoaux.config.RunConfig`, builds its trainers from the
:class:`~autoaux.training.Workbench`, resumes from and saves to the run's checkpoint, and calls
the stage itself (:func:`~autoaux.stages.race.run_race`, :func:`~autoaux.stages.screen.run_screen`,
:func:`~autoaux.stages.stage2.run_stage2`, :func:`~autoaux.stages.baselines.run_baselines`).
:mod:`autoaux.api` strings them together into its commands."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from autoaux.config import RunConfig
from autoaux.runs.affinity import AffinityResult
from autoaux.runs.result import BaselineScore, MixResult, SelectionResult
from autoaux.stages.baselines import run_baselines
from autoaux.stages.race import run_race
from autoaux.stages.screen import run_screen
from autoaux.stages.stage1 import make_gate, run_stage1
from autoaux.stages.stage2 import run_stage2, seed_noise
from autoaux.stages.workers import WorkerPlan
from autoaux.tracking import Tracker
from autoaux.training.workbench import Workbench

__all__ = [
    "baselines",
    "baselines_named",
    "screen",
    "screen_all",
    "seed_noise_of",
    "stage1",
    "stage2",
]

log = logging.getLogger("autoaux")


def stage1(
    bench: Workbench,
    config: RunConfig,
    tracker: Tracker,
    progress: bool,
    checkpoint: Any = None,
    *,
    screen: AffinityResult | None = None,
) -> SelectionResult:
    if checkpoint is not None and (done := checkpoint.stage1_result()) is not None:
        return done
    main, pool, controls = config.main.task, config.auxiliary_tasks(), config.control_tasks()
    if screen is not None:  # stage 1 judges the shortlist (and keeps every control)
        pool = tuple(t for t in pool if t in screen.shortlist or t in controls)
    if not [t for t in pool if t != main and t not in controls]:
        log.info("stage 1 skipped: the pool holds no auxiliary task; the main task trains alone")
        selection = SelectionResult.empty(main, decision="no auxiliary task to judge")
    elif config.stage1.evidence == "episodes":
        selection = run_race(
            bench.episode_factory(),
            main=main,
            pool=pool,
            controls=controls,
            settings=config.stage1.race(),
            seed=config.seed,
            tracker=tracker,
            progress=progress,
            checkpoint=checkpoint,
            protocol=config.protocol,
            workers=WorkerPlan.of(config),
        )
    else:
        settings = config.stage1.bandit()
        trainer = bench.trainer(
            None,
            "stage1",
            gate=make_gate(settings),
            schedule_steps=settings.pulls * settings.steps_per_pull,
        )
        selection = run_stage1(
            trainer,
            main=main,
            pool=pool,
            controls=controls,
            settings=settings,
            seed=config.seed,
            tracker=tracker,
            progress=progress,
            checkpoint=checkpoint,
        )
    if checkpoint is not None:
        checkpoint.finish_stage1(selection)
    return selection


def screen(
    bench: Workbench,
    config: RunConfig,
    tracker: Tracker,
    progress: bool,
    checkpoint: Any = None,
) -> AffinityResult | None:
    """The affinity screen when ``[screen]`` asks for it for this pool (and it has a control),
    else ``None``."""
    if not config.screen.applies(len(config.candidate_tasks())):
        return None
    if not config.control_tasks():
        log.warning("screen skipped: the pool has no control to measure the candidates against")
        return None
    if checkpoint is not None and (done := checkpoint.screen_result()) is not None:
        return done
    result = screen_all(bench, config, tracker, progress)
    if checkpoint is not None:
        checkpoint.finish_screen(result)
    return result


def screen_all(
    bench: Workbench, config: RunConfig, tracker: Tracker, progress: bool, *, pairwise: bool = False
) -> AffinityResult:
    return run_screen(
        bench.probe_trainer,
        main=config.main.task,
        candidates=list(config.candidate_tasks()),
        control=config.control_tasks()[0],
        settings=config.screen,
        pairwise=pairwise,
        tracker=tracker,
        progress=progress,
        workers=WorkerPlan.of(config),
    )


def stage2(
    bench: Workbench,
    config: RunConfig,
    tracker: Tracker,
    progress: bool,
    tasks: Sequence[str],
    utilities: Mapping[str, float] | None,
    checkpoint: Any = None,
    *,
    noise: float | None = None,
) -> MixResult:
    if checkpoint is not None and (done := checkpoint.stage2_result()) is not None:
        return done
    mixture = run_stage2(
        bench.factory("stage2"),
        main=config.main.task,
        tasks=tasks,
        settings=config.stage2,
        seed=config.seed,
        utilities=utilities,
        tracker=tracker,
        progress=progress,
        device_name=bench.device_name,
        checkpoint=checkpoint,
        protocol=config.protocol,
        noise=noise,
    )
    if checkpoint is not None:
        checkpoint.finish_stage2(mixture)
    return mixture


def seed_noise_of(selection: SelectionResult) -> float | None:
    """How much main alone's dev score moves from seed to seed, from the race's reference
    episodes (``None`` for the in-run bandit, whose rewards are not episode scores)."""
    if selection.rule != "race":
        return None
    return seed_noise(selection.rewards.get(selection.main_task, ()))


def baselines(
    bench: Workbench,
    config: RunConfig,
    tracker: Tracker,
    selected: Sequence[str],
    checkpoint: Any = None,
) -> dict[str, BaselineScore]:
    """The configured baselines, one at a time so that each is checkpointed when done."""
    scores: dict[str, BaselineScore] = checkpoint.baselines() if checkpoint is not None else {}
    for name in config.baselines.run:
        if name not in scores:
            scores.update(baselines_named([name], bench, config, tracker, selected))
            if checkpoint is not None:
                checkpoint.save_baseline(name, scores[name], tracker=tracker)
    return {name: scores[name] for name in config.baselines.run}


def baselines_named(
    names: Sequence[str],
    bench: Workbench,
    config: RunConfig,
    tracker: Tracker,
    selected: Sequence[str],
) -> dict[str, BaselineScore]:
    candidates = [t for t in config.auxiliary_tasks() if t not in config.control_tasks()]
    return run_baselines(
        names,
        bench.factory("stage2"),
        main=config.main.task,
        auxiliary=candidates,
        sizes={name: len(task.train) for name, task in bench.tasks.items()},
        selected=selected,
        temperature_t=config.baselines.temperature,
        steps=config.baselines.steps or config.stage2.steps,
        eval_every=config.stage2.eval_every,
        eval_batches=config.stage2.eval_batches,
        tracker=tracker,
        protocol=config.protocol,
    )
