"""Stage 1 by racing: paired training episodes, each candidate against the main task alone.

Each *episode* trains a fresh copy of the model (the run's initial weights) under the run's
training protocol (:class:`autoaux.config.ProtocolConfig`) and scores the main task's best dev
metric on the whole dev split. The *reference* episode trains the main task alone; a
candidate's episode trains the main task with that task added at ratio 1 (with the default
protocol the main task takes the same main-task steps, on the same batches, in both, and stops
on the same early-stopping rule). Episodes of one *round* share a seed, so the paired
difference of a candidate's and the reference's scores measures what adding the candidate
does to the main task, with the round-to-round noise cancelled::

    while not race.done and episodes < budget:
        arm   = race.select()                      # main alone and every open candidate
        score = episode(arm, seed=round)           # best main dev metric of the episode
        race.update(arm, score)                    # pairs it with main alone, same round

:class:`bandits.Racing` turns the paired differences into an anytime-valid confidence sequence
per candidate (error rate ``alpha`` shared by all candidates) and a verdict: ``helps`` (the
interval lies above 0), ``hurts`` (below 0), ``negligible`` (below the practical ``margin``,
neither of the others) or ``undecided`` (the budget ended first). The selected tasks are
those that help. The null control (a ``shuffled:`` task) is raced like a candidate, as a
calibration check: it is never selected, its effect against main alone says how much of a
gain is regularisation rather than content, and each candidate's effect against it is
reported beside its effect against main alone. The race stops once no candidate other than
the control is open. Why episodes: per-pull rewards inside one training run (AutoSem's stage
1, kept as ``evidence = "pulls"``) did not separate helpful tasks from the control on real
text (``benchmarks/evidence.py``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from autoaux._seeding import derive_seed
from autoaux.config import SHUFFLED_PREFIX, ProtocolConfig, RaceSettings
from autoaux.runs.result import PullRecord, SelectionResult, TaskVerdict, decision_of
from autoaux.stages._stage_run import StageRun, stage_run
from autoaux.stages.trials import train_mixture
from autoaux.stages.workers import WorkerPlan, Workers, open_workers
from autoaux.tracking import Tracker
from autoaux.training._factories import EpisodeTrainerFactory
from autoaux.training.mixture import Mixture
from bandits import Racing, make_bandit

if TYPE_CHECKING:
    from autoaux.runs.checkpoint import RunCheckpoint

__all__ = ["EpisodeTrainerFactory", "run_episode", "run_race"]

log = logging.getLogger("autoaux")


def run_episode(
    make_trainer: EpisodeTrainerFactory,
    *,
    main: str,
    task: str,
    steps: int,
    round_: int,
    protocol: ProtocolConfig | None = None,
) -> tuple[float, float, int]:
    """One episode from the initial weights with the seed of ``round_``: the main task alone
    when ``task == main``, else main + ``task`` at 1:1. With the default protocol the main task
    trains until its dev metric stops improving or it has taken ``steps`` steps (auxiliary
    steps on top); with ``budget = "total"`` (or no protocol) ``steps`` steps in all. Returns
    the best main dev metric (whole dev split), the mean main loss and the number of optimiser
    steps taken."""
    weights = Mixture(main, {task: 1.0}).weights()  # main alone when task == main
    key = f"stage1-round-{round_}"
    _, report = train_mixture(
        lambda total_steps: make_trainer(total_steps, key),
        weights,
        steps=steps,
        eval_every=steps,
        eval_batches=None,
        protocol=protocol,
    )
    taken = int(sum(report.steps_per_task.values()))
    return float(report.best_dev), float(report.mean_loss.get(main, math.nan)), taken


def run_race(
    make_trainer: EpisodeTrainerFactory,
    *,
    main: str,
    pool: Sequence[str],
    settings: RaceSettings,
    seed: int,
    controls: Sequence[str] = (),
    tracker: Tracker | None = None,
    progress: bool = False,
    checkpoint: RunCheckpoint | None = None,
    protocol: ProtocolConfig | None = None,
    workers: WorkerPlan | None = None,
) -> SelectionResult:
    """Race the candidates of ``pool`` against the main task alone (see the module docstring).

    ``workers`` says where episodes run (default: one after another in this process). The
    episodes of a round run side by side and their scores are told to the race in the round's
    order, one by one, exactly as a sequential race would; when the race ends inside a round,
    the round's remaining scores are discarded (:mod:`autoaux.stages.workers`).

    ``pool`` holds the auxiliary tasks, controls included; ``controls`` names the control arms
    (default: the ``shuffled:`` tasks of the pool), raced as calibration candidates that are
    never selected. The main task alone is the reference arm (the first arm, named after the
    main task). ``settings`` are the race's keys of ``[stage1]`` (``config.stage1.race()``);
    ``settings.pulls`` caps the number of episodes. One MLflow step per episode on a
    ``stage1`` run; verdicts as metrics and tags at the end.
    """
    controls = tuple(controls) or tuple(t for t in pool if t.startswith(SHUFFLED_PREFIX))
    arms = [main, *(t for t in pool if t != main)]
    watch = [arms.index(c) for c in controls if c in arms]
    race = make_bandit(
        settings.policy,
        len(arms),
        control=0,
        watch=watch,
        alpha=settings.alpha,
        margin=settings.margin,
        **settings.bandit_options(seed=derive_seed(seed, "bandit")),
    )
    assert isinstance(race, Racing)
    params = _stage_params(settings, arms, controls, protocol)
    with stage_run(
        "stage1", tracker, params=params, checkpoint=checkpoint, progress=progress
    ) as stage:
        history: list[PullRecord] = []
        if checkpoint is not None and (saved := checkpoint.restore_race(race)) is not None:
            history, elapsed = saved
            stage.rewind(elapsed)
        bar = stage.bar(settings.pulls, initial=len(history), desc="stage 1", unit="episode")
        with open_workers(make_trainer, workers) as runner:
            while not race.done and len(history) < settings.pulls:
                _play_round(
                    race, runner, arms, main, settings, protocol, history, stage, bar, checkpoint
                )
        bar.close()
        result = _result(race, arms, main, controls, history, stage, pulls=settings.pulls)
        stage.tracker.log_metrics(_final_metrics(result), step=len(history))
        stage.tracker.set_tags(_final_tags(result))
    log.info(
        "stage 1: %d episodes in %.1fs; %s",
        len(history),
        result.seconds,
        result.decision,
    )
    return result


def _play_round(
    race: Racing,
    runner: Workers,
    arms: Sequence[str],
    main: str,
    settings: RaceSettings,
    protocol: ProtocolConfig | None,
    history: list[PullRecord],
    stage: StageRun,
    bar: Any,
    checkpoint: RunCheckpoint | None,
) -> None:
    """One round (a round once drawn is played out: its arms are known when it starts): its
    episodes run, their scores told to the race in the round's order and appended to
    ``history``; stops early when the race ends or the budget is spent."""
    first = race.select()
    round_arms = [first, *race.queued()][: settings.pulls - len(history)]
    jobs = [
        _Episode(main, arms[a], settings.episode_steps, int(race.counts()[a]), protocol)
        for a in round_arms
    ]
    with contextlib.closing(runner.imap(_run_job, jobs)) as results:
        for i, (job, outcome) in enumerate(zip(jobs, results, strict=False)):
            arm = first if i == 0 else race.select()
            assert arms[arm] == job.task, "the round changed while it was played"
            race.update(arm, outcome[0])
            history.append(_record(race, job, outcome, len(history) + 1))
            record = history[-1]
            stage.tracker.log_metrics(_episode_metrics(record, arm, arms), step=record.pull)
            bar.update(1)
            bar.set_postfix_str(
                f"round {job.round_} {job.task} dev={record.dev_score:.3f}", refresh=False
            )
            ended = race.done or len(history) >= settings.pulls
            if checkpoint is not None:
                checkpoint.save_race(
                    race, history, elapsed=stage.seconds, tracker=stage.tracker, last=ended
                )
            if ended:
                return


@dataclass(frozen=True)
class _Episode:
    """One episode of the race, as plain values (it travels to a worker)."""

    main: str
    task: str
    steps: int
    round_: int
    protocol: ProtocolConfig | None


def _run_job(make_trainer: EpisodeTrainerFactory, job: _Episode) -> tuple[float, float, int]:
    """A worker's job: :func:`run_episode` of ``job``."""
    return run_episode(
        make_trainer,
        main=job.main,
        task=job.task,
        steps=job.steps,
        round_=job.round_,
        protocol=job.protocol,
    )


def _record(
    race: Racing, job: _Episode, outcome: tuple[float, float, int], pull: int
) -> PullRecord:
    score, loss, taken = outcome
    return PullRecord(
        pull=pull,
        task=job.task,
        reward=score,
        dev_score=score,
        previous_score=math.nan,
        loss=loss,
        cosine=math.nan,
        scale=math.nan,
        utilities=tuple(float(u) for u in race.utilities()),
        round=job.round_,
        steps=taken,
    )


def _result(
    race: Racing,
    arms: Sequence[str],
    main: str,
    controls: Sequence[str],
    history: Sequence[PullRecord],
    stage: StageRun,
    *,
    pulls: int,
) -> SelectionResult:
    by_round: dict[str, dict[int, float]] = {a: {} for a in arms}
    for record in history:
        by_round[record.task][record.round] = record.reward
    control = next((c for c in controls if c in arms), None)
    verdicts: dict[str, TaskVerdict] = {}
    for v in race.verdicts():
        name = arms[v.arm]
        vs_control, rounds = math.nan, 0
        if control is not None and name != control:
            shared = sorted(set(by_round[name]) & set(by_round[control]))
            if shared:
                diffs = [by_round[name][r] - by_round[control][r] for r in shared]
                vs_control, rounds = float(np.mean(diffs)), len(shared)
        verdicts[name] = TaskVerdict(
            verdict=v.verdict,
            effect=v.effect,
            low=v.low,
            high=v.high,
            episodes=v.n,
            vs_control=vs_control,
            vs_control_rounds=rounds,
        )
    selected = tuple(
        a
        for a in arms[1:]
        if a not in controls and a in verdicts and verdicts[a].verdict == "helps"
    )
    counts = race.counts()
    scores: dict[str, list[float]] = {a: [] for a in arms}
    for record in history:
        scores[record.task].append(record.reward)
    effects = race.utilities()
    utilities = {a: float(effects[i]) for i, a in enumerate(arms)}
    mean_scores = {a: float(np.mean(v)) if v else math.nan for a, v in scores.items()}
    return SelectionResult(
        main_task=main,
        arms=tuple(arms),
        controls=tuple(c for c in controls if c in arms),
        utilities=utilities,
        posterior=dict(utilities),
        mean_rewards=mean_scores,
        pulls={a: int(c) for a, c in zip(arms, counts, strict=True)},
        rewards={a: tuple(v) for a, v in scores.items()},
        mean_cosines=dict.fromkeys(arms, math.nan),
        selected=selected,
        rule="race",
        history=tuple(history),
        initial_dev_score=math.nan,
        seconds=stage.seconds,
        run_id=stage.public_run_id,
        bandit_state=race.state_dict(),
        verdicts=verdicts,
        decision=decision_of(verdicts, controls=controls, finished=race.done, pulls=pulls),
    )


def _stage_params(
    settings: RaceSettings,
    arms: Sequence[str],
    controls: Sequence[str],
    protocol: ProtocolConfig | None,
) -> dict[str, str]:
    return {
        "budget": protocol.budget if protocol is not None else "total",
        "arms": json.dumps(list(arms)),
        "controls": json.dumps(list(controls)),
        "preset": settings.preset,
        "evidence": settings.evidence,
        "policy": settings.policy,
        "alpha": str(settings.alpha),
        "margin": str(settings.margin),
        "episode_steps": str(settings.episode_steps),
        "max_episodes": str(settings.pulls),
        "reference": arms[0],
    }


def _episode_metrics(record: PullRecord, arm: int, arms: Sequence[str]) -> dict[str, float]:
    metrics = {
        "arm": float(arm),
        "round": float(record.round),
        "dev_score": record.dev_score,
        "loss": record.loss,
        "steps": float(record.steps),
        f"dev_score/{record.task}": record.dev_score,
    }
    for name, effect in zip(arms, record.utilities, strict=True):
        if not math.isnan(effect):
            metrics[f"effect/{name}"] = effect
    return metrics


def _final_metrics(result: SelectionResult) -> dict[str, float]:
    metrics: dict[str, float] = {"n_selected": float(len(result.selected))}
    for name, v in result.verdicts.items():
        metrics[f"effect/{name}"] = v.effect
        for key, value in (
            ("effect_low", v.low),
            ("effect_high", v.high),
            ("effect_vs_control", v.vs_control),
        ):
            if math.isfinite(value):
                metrics[f"{key}/{name}"] = value
        metrics[f"episodes/{name}"] = float(v.episodes)
    for name in result.arms:
        metrics[f"pulls/{name}"] = float(result.pulls[name])
    return metrics


def _final_tags(result: SelectionResult) -> Mapping[str, Any]:
    tags = {
        "autoaux.selected": ",".join(result.selected),
        "autoaux.rule": result.rule,
        "autoaux.decision": result.decision,
    }
    for name, v in result.verdicts.items():
        tags[f"autoaux.verdict.{name}"] = v.verdict
    return tags
