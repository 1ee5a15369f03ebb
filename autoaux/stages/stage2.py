"""Stage 2: Bayesian optimisation of the mixing ratios of the selected auxiliary tasks.

The main task's ratio is fixed at 1 and auxiliary task ``i`` gets ``r_i`` in ``[0, max_ratio]``
(``bayesopt.MixingRatioSpace``); a trial trains a *fresh* model, from the same initial weights
every time, on the mixture ``p = [1, r_1, ..., r_n] / (1 + sum r)`` under the run's training
protocol (:class:`autoaux.config.ProtocolConfig`: by default the main task trains until its
dev score stops improving and the auxiliary batches come on top, ``r_i`` per main step) and
is scored by its best main dev score::

    for trial in range(trials):
        ratios  = optimizer.ask()                      # trial 0: every ratio 0 (main alone)
        trainer = make_trainer()                       # same initial weights, same seed
        report  = train(trainer, p(ratios), protocol)
        optimizer.tell(ratios, report.best_dev)        # failed=True on any exception

The first point is the main task alone (every ratio 0), so the answer is never worse on dev
than training without auxiliary tasks: when no mixture beats it, stage 2 recommends the main
task alone and says so (:attr:`autoaux.runs.MixResult.main_alone`).

A trial that fails (non-finite loss, out of memory, any exception) is told to the optimiser as
failed, its MLflow run is closed FAILED with the reason, and the search goes on. The best
trial's model is scored on the main test split and its weights are kept.

Warm start: the second trial uses ratios proportional to the stage-1 utilities, with the main
task at 1, i.e. ``r_i = u_i / u_main`` (``u_i / max u`` when the main task was not an arm or
its utility is not positive, as in the race, where utilities are effects against main alone),
clipped into ``[0, max_ratio]``; without utilities every ratio starts at 1.

With no auxiliary task (an empty selection) stage 2 degenerates to one main-only trial.

Parallel trials (``[stage2] parallel = b``, ``executor = "local" | "ray"``): the loop above runs
in batches, ``ask(b)`` (constant liar) then the ``b`` trials (side by side with Ray), then the
``b`` tells **in trial-number order**; with a fixed seed the points asked depend on ``b`` only,
not on the executor or on which trial finished first (details in :mod:`autoaux.stages.executors`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from autoaux._seeding import derive_seed
from autoaux.config import ProtocolConfig, Stage2Config
from autoaux.runs.result import MixResult, TrialRecord
from autoaux.stages._stage_run import StageRun, stage_run
from autoaux.stages.executors import (
    TrialExecutor,
    TrialOutcome,
    TrialProgress,
    TrialSpec,
    make_executor,
)
from autoaux.stages.trials import TrainerFactory
from autoaux.tracking import Tracker
from autoaux.training.mixture import Mixture
from bayesopt import MixingRatioOptimizer, MixingRatioSpace, RandomRatioSearch, TrialState

if TYPE_CHECKING:
    from autoaux.runs.checkpoint import RunCheckpoint

__all__ = ["run_stage2", "seed_noise", "warm_start_ratios"]

log = logging.getLogger(__name__)


def warm_start_ratios(
    tasks: Sequence[str],
    utilities: Mapping[str, float] | None,
    *,
    main: str,
    max_ratio: float,
) -> dict[str, float]:
    """Ratios proportional to stage-1 utilities, the main task at 1 (see the module docstring).

    Missing or ``nan`` utilities count as 0.5 (the prior mean); no utilities: every ratio 1.
    When the main task's own utility is not positive (the race's reference, main alone, has
    utility 0: a candidate's utility is its effect against it), the best task gets ratio 1 and
    the others a ratio proportional to their utilities.
    """
    if not utilities:
        return {t: min(1.0, max_ratio) for t in tasks}

    def value(name: str) -> float:
        u = utilities.get(name, math.nan)
        return 0.5 if u is None or math.isnan(u) else max(0.0, float(u))

    reference = value(main) if main in utilities else 0.0
    if reference <= 0:
        reference = max(value(t) for t in tasks)
    if reference <= 0:
        reference = 1.0
    return {t: float(np.clip(value(t) / reference, 0.0, max_ratio)) for t in tasks}


def run_stage2(
    make_trainer: TrainerFactory,
    *,
    main: str,
    tasks: Sequence[str],
    settings: Stage2Config,
    seed: int,
    utilities: Mapping[str, float] | None = None,
    tracker: Tracker | None = None,
    progress: bool = False,
    device_name: str = "",
    executor: TrialExecutor | None = None,
    checkpoint: RunCheckpoint | None = None,
    protocol: ProtocolConfig | None = None,
    noise: float | None = None,
) -> MixResult:
    """Search the mixing ratios of ``tasks`` (auxiliary, main excluded); see the module doc.

    ``noise``: the seed-to-seed standard deviation of a trial's main dev score, as stage 1
    measured it (:func:`seed_noise`); with ``settings.adaptive`` the search stops once its
    largest expected improvement is below ``settings.min_gain`` or, when that is 0, this noise
    (without either it runs every trial).

    Trials run on ``executor`` (default: the one ``settings.executor`` names, closed at the
    end), ``settings.parallel`` at a time (see :mod:`autoaux.stages.executors` for the batch rules).

    Logs a ``stage2`` run (nested under the tracker's open run, if any) with one nested run per
    trial: ratios and probabilities as params, the dev-score curve, ``best_dev_score``,
    ``seconds``, tags with the final state, the device and, for a failure, the reason.
    ``checkpoint``: save the search after every batch of trials and continue a saved one
    (:mod:`autoaux.runs.checkpoint`).
    """
    tasks = tuple(t for t in tasks if t != main)
    params = _stage_params(tasks, settings, protocol)
    with stage_run(
        "stage2", tracker, params=params, checkpoint=checkpoint, progress=progress
    ) as stage:
        if tasks:
            search = _ratio_search(tasks, settings, seed=seed, main=main, utilities=utilities)
            n_trials = settings.trials
        else:
            log.info("stage 2: no auxiliary task selected; one main-only trial")
            search, n_trials = None, 1
        state = _Search()
        if checkpoint is not None and (saved := checkpoint.restore_stage2(search)) is not None:
            state = _Search(saved.trials, saved.best, saved.best_state, saved.test_score)
            stage.rewind(saved.elapsed)
        # batches of `parallel` trials, told in trial-number order (autoaux.stages.executors)
        own = executor is None
        runner = make_executor(settings, make_trainer, tracker=stage.tracker) if own else executor
        assert runner is not None
        bar = stage.bar(n_trials, initial=len(state.trials), desc="stage 2", unit="trial")
        shown = TrialProgress(bar, done=state.trials, best=_score(state.best))
        stopped = ""
        try:
            while len(state.trials) < n_trials:
                stopped = _stop_reason(search, len(state.trials), settings, noise)
                if stopped:
                    log.info("stage 2: %s", stopped)
                    break
                size = min(runner.parallel, n_trials - len(state.trials))
                specs = [
                    TrialSpec(number, ratios, _probabilities(main, tasks, ratios, search), main,
                              settings, best_before=_score(state.best), device_name=device_name,
                              protocol=protocol)
                    for number, ratios in enumerate(_ask(search, size), start=len(state.trials))
                ]  # fmt: skip
                outcomes = runner.run_batch(specs, on_start=shown.started, on_result=shown.finished)
                _tell(search, outcomes, state, stage.tracker)
                if checkpoint is not None:
                    _save(checkpoint, search, state, stage.tracker)
        finally:
            bar.close()
            if own:
                runner.close()
        result = _result(main, tasks, search, state, stage, stopped)
        _log_result(stage.tracker, result)
    log.info(
        "stage 2: %d trials in %.1fs; best dev %.4f with ratios %s",
        len(state.trials),
        result.seconds,
        result.best_dev_score,
        result.ratios,
    )
    return result


@dataclass
class _Search:
    """The search so far: the trials, the best of them, its weights and its test score."""

    trials: list[TrialRecord] = field(default_factory=list)
    best: TrialRecord | None = None
    best_state: dict[str, Any] | None = None
    test_score: float | None = None


def _stage_params(
    tasks: Sequence[str], settings: Stage2Config, protocol: ProtocolConfig | None
) -> dict[str, Any]:
    return {
        "tasks": ",".join(tasks),
        "trials": settings.trials if tasks else 1,
        "steps": settings.steps,
        "search": settings.search,
        "acquisition": settings.acquisition,
        "max_ratio": settings.max_ratio,
        "executor": settings.executor,
        "parallel": settings.parallel,
        "budget": protocol.budget if protocol is not None else "total",
    }


def _save(
    checkpoint: RunCheckpoint,
    search: MixingRatioOptimizer | RandomRatioSearch | None,
    state: _Search,
    tracker: Tracker,
) -> None:
    from autoaux.runs.checkpoint import Stage2Progress

    progress = Stage2Progress(state.trials, state.best, state.best_state, state.test_score)
    checkpoint.save_stage2(progress, search=search, tracker=tracker)


def _tell(
    search: MixingRatioOptimizer | RandomRatioSearch | None,
    outcomes: Sequence[TrialOutcome],
    state: _Search,
    tracker: Tracker,
) -> None:
    """Tell the search a batch's outcomes in trial-number order; keep the best trial (its
    weights and test score) in ``state``; log each trial's score and the best so far."""
    for outcome in outcomes:
        record, number = outcome.record, outcome.number
        if search is not None:
            told = search.tell(
                record.ratios, record.score, failed=record.score is None, seconds=record.seconds
            )
            assert told.number == number
        state.trials.append(record)
        if record.score is not None and (state.best is None or record.score > _score(state.best)):
            assert outcome.state is not None
            state.best = record
            state.test_score, state.best_state = outcome.test_score, outcome.state
        score = record.score if record.score is not None else math.nan
        tracker.log_metrics({"score": score, "best_score": _score(state.best)}, step=number)


def _result(
    main: str,
    tasks: tuple[str, ...],
    search: MixingRatioOptimizer | RandomRatioSearch | None,
    state: _Search,
    stage: StageRun,
    stopped: str,
) -> MixResult:
    best = state.best
    best_ratios = dict(best.ratios) if best is not None else {}
    return MixResult(
        main_task=main,
        tasks=tasks,
        ratios={main: 1.0, **best_ratios},
        probabilities=_probabilities(main, tasks, best_ratios, search) if best else {},
        best_dev_score=_score(best),
        test_score=state.test_score,
        trials=tuple(state.trials),
        best_trial=best.number if best is not None else None,
        initial_ratios=search.initial_ratios if search is not None else (),
        seconds=stage.seconds,
        run_id=stage.public_run_id,
        best_state=state.best_state,
        main_only_dev=_main_alone_score(state.trials),
        stopped=stopped,
    )


def _log_result(tracker: Tracker, result: MixResult) -> None:
    """The stage's final metrics and tags."""
    final = {"best_dev_score": result.best_dev_score, "n_failed": _failed(result.trials)}
    if result.test_score is not None:
        final["test_score"] = result.test_score
    if math.isfinite(result.main_only_dev):
        final["main_only_dev_score"] = result.main_only_dev
    tracker.log_metrics(final)
    tracker.set_tags(
        {
            "autoaux.best_trial": str(result.best_trial),
            "autoaux.recommendation": result.recommendation,
        }
        | ({"autoaux.stage2.stopped": result.stopped} if result.stopped else {})
    )


def seed_noise(rewards: Sequence[float]) -> float | None:
    """The standard deviation of the main task's dev score from one seed to the next: of the
    race's main-alone episodes (one seed a round), ``None`` with fewer than 3."""
    values = [float(r) for r in rewards if math.isfinite(float(r))]
    return float(np.std(values, ddof=1)) if len(values) >= 3 else None


def _stop_reason(
    search: MixingRatioOptimizer | RandomRatioSearch | None,
    done: int,
    settings: Stage2Config,
    noise: float | None,
) -> str:
    """Why the search ends before its budget (``""``: it goes on); see ``Stage2Config``."""
    if not settings.adaptive or not isinstance(search, MixingRatioOptimizer):
        return ""
    gain = search.expected_improvement
    if gain is None or done < settings.initial_points:
        return ""
    if settings.min_gain > 0:
        floor, what = settings.min_gain, "stage2.min_gain"
    elif noise is not None and noise > 0:
        floor, what = noise, "the seed noise of main alone's dev score (stage 1)"
    else:  # no measured noise: the GP's own estimate from a handful of trials is no floor
        return ""
    if gain >= floor:
        return ""
    return (
        f"stopped after {done} of {settings.trials} trials: the largest expected improvement "
        f"{gain:.4f} is below {what}, {floor:.4f}"
    )


def _ratio_search(
    tasks: Sequence[str],
    settings: Stage2Config,
    *,
    seed: int,
    main: str,
    utilities: Mapping[str, float] | None,
) -> MixingRatioOptimizer | RandomRatioSearch:
    space = MixingRatioSpace(tasks, low=0.0, high=settings.max_ratio)
    warm = [dict.fromkeys(tasks, 0.0)] if settings.main_alone else []
    if settings.warm_start:
        start = warm_start_ratios(tasks, utilities, main=main, max_ratio=settings.max_ratio)
        if start not in warm:  # all ratios 0 when no task has a positive utility
            warm.append(start)
    search_seed = derive_seed(seed, "stage2")
    if settings.search == "random":
        return RandomRatioSearch(space, seed=search_seed, initial_ratios=warm)
    return MixingRatioOptimizer(
        space,
        n_initial_points=settings.initial_points,
        acquisition=settings.acquisition,
        seed=search_seed,
        initial_ratios=warm,
    )


def _ask(
    search: MixingRatioOptimizer | RandomRatioSearch | None, size: int
) -> list[dict[str, float]]:
    """The next batch of points: ``ask()`` for one (the sequential loop), ``ask(size)`` else."""
    if search is None:
        return [{}]
    return [search.ask()] if size == 1 else search.ask(size)


def _probabilities(
    main: str,
    tasks: Sequence[str],
    ratios: Mapping[str, float],
    search: MixingRatioOptimizer | RandomRatioSearch | None,
) -> dict[str, float]:
    if search is None or not ratios:
        return {main: 1.0}
    return Mixture(main, {t: ratios[t] for t in tasks}).probabilities(keep_zero=True)


def _main_alone_score(trials: Sequence[TrialRecord]) -> float:
    """The main dev score of the trial with every ratio 0 (``nan`` when none completed)."""
    for trial in trials:
        if trial.score is not None and all(float(v) == 0.0 for v in trial.ratios.values()):
            return float(trial.score)
    return math.nan


def _score(trial: TrialRecord | None) -> float:
    return trial.score if trial is not None and trial.score is not None else math.nan


def _failed(trials: Sequence[TrialRecord]) -> float:
    return float(sum(t.state is TrialState.FAILED for t in trials))
