"""The affinity screen: one cheap pass that shortlists a large pool before stage 1.

A *probe* of task ``a`` for a target task ``t`` trains ``probe_steps`` steps of ``t`` + ``a``
(1:1) from the run's initial weights, then measures ``t``'s mean loss on its whole dev split.
In round ``r`` every column task is probed with the same seed, so ``t`` sees the same batches
at the same steps in each probe, and the paired, relative difference with the null control's
probe::

    a_r(t, a) = (L_r(t, control) - L_r(t, a)) / L_r(t, control)      # > 0: a beats the control

is a lookahead affinity in the sense of Fifty et al. (NeurIPS 2021, "Efficiently identifying
task groupings for multi-task learning"), measured over a short episode instead of one step.
Over ``R`` rounds a candidate's affinity is the mean ``A(t, a)``; the interval is a t interval
with the round-to-round variance pooled over the ``m`` candidates of the row (``m (R - 1)``
degrees of freedom)::

    A +- t_{1 - alpha, m (R - 1)} * s_pooled / sqrt(R)

For the main task, a candidate whose upper bound is below 0 is *dropped* (no better than the
control, at one-sided level ``alpha``); the ``shortlist`` best of the others by affinity go on
to stage 1 (the rest are *cut*). Dev loss rather than the dev metric: it is continuous, so a
probe's difference from the control does not hinge on a few dev examples changing class. How
well the affinity orders tasks by their effect alone, per probe length, is measured by
``python -m benchmarks.affinity --sections probes``. A probe shorter than ``probe_steps =
150`` (the race's episode) mostly measures how much a task disturbs the start of training: at
100 steps the rating (regression) tasks of the other sentiment domains fell below the control
although each helps alone by 1.5 to 4.5 points.

The cost is ``R * (m + 1) * probe_steps`` steps per row, linear in the number of candidates.
A pairwise screen adds a row for every candidate (its dev loss under each other task), which
is what a team with many tasks wants to see, at ``m + 1`` times the cost.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from autoaux.config import ScreenConfig
from autoaux.runs.affinity import AffinityResult
from autoaux.stages._stage_run import stage_run
from autoaux.stages.workers import WorkerPlan, Workers, open_workers
from autoaux.tracking import Tracker
from autoaux.training._factories import ProbeTrainerFactory

__all__ = ["ProbeTrainerFactory", "affinity_statistics", "run_screen"]

log = logging.getLogger("autoaux")



def probe(
    make_trainer: ProbeTrainerFactory, *, target: str, arm: str, steps: int, round_: int
) -> float:
    """``target``'s dev loss after ``steps`` steps of ``target`` + ``arm`` (1:1) from the
    initial weights, with the seed of round ``round_``."""
    trainer = make_trainer(target, arm, steps, f"screen-round-{round_}")
    trainer.train_mixture({target: 1.0, arm: 1.0}, steps, eval_every=steps)
    return float(trainer.evaluate_loss(target, "dev"))


def affinity_statistics(
    losses: np.ndarray, control: int, *, alpha: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean relative affinity and its interval from the per-round losses of one row.

    Args:
        losses: shape ``(n_arms, R)``, the target's dev loss after each arm's probe per round
            (``nan`` for an arm that is the target itself).
        control: the control's column.
        alpha: one-sided level of each bound.

    Returns:
        ``(affinity, low, high)``, each of shape ``(n_arms,)``; the control's affinity is 0
        with a zero-width interval.
    """
    reference = losses[control]
    rel = (reference[None, :] - losses) / reference[None, :]  # (n_arms, R)
    mean = rel.mean(axis=1)
    rounds = losses.shape[1]
    others = [i for i in range(losses.shape[0]) if i != control and np.all(np.isfinite(rel[i]))]
    residual = rel[others] - mean[others, None]
    dof = len(others) * (rounds - 1)
    if dof > 0:
        spread = math.sqrt(float(np.sum(residual**2)) / dof)
        half = float(stats.t.ppf(1.0 - alpha, dof)) * spread / math.sqrt(rounds)
    else:
        half = math.inf
    low, high = mean - half, mean + half
    low[control] = high[control] = mean[control] = 0.0
    return mean, low, high


def run_screen(
    make_trainer: ProbeTrainerFactory,
    *,
    main: str,
    candidates: Sequence[str],
    control: str,
    settings: ScreenConfig,
    pairwise: bool = False,
    tracker: Tracker | None = None,
    progress: bool = False,
    workers: WorkerPlan | None = None,
) -> AffinityResult:
    """Screen ``candidates`` against ``control`` for ``main`` (and, with ``pairwise``, for each
    other) as the module docstring describes; one nested MLflow run ``screen``. ``workers``
    says where probes run (default: one after another in this process); the probes of a row
    run side by side and give the same losses (:mod:`autoaux.stages.workers`)."""
    candidates = [c for c in candidates if c not in (main, control)]
    arms = (*candidates, control)
    targets = (main, *candidates) if pairwise else (main,)
    rounds, steps = settings.rounds, settings.probe_steps
    n_probes = sum(1 for t in targets for a in arms if a != t) * rounds
    params = _params(settings, main, arms, control, pairwise)
    with stage_run("screen", tracker, params=params, progress=progress) as stage:
        bar = stage.bar(n_probes, desc="screen", unit="probe")
        rows = []
        with open_workers(make_trainer, workers) as pool:
            for target in targets:
                losses = _row_losses(pool, target, arms, settings, bar,
                                     stage.tracker if target == main else None)  # fmt: skip
                rows.append((losses, *affinity_statistics(losses, len(arms) - 1,
                                                           alpha=settings.alpha)))  # fmt: skip
        bar.close()
        decisions, shortlist = _decide(rows[0], candidates, settings.shortlist)
        result = AffinityResult(
            main_task=main,
            targets=targets,
            arms=arms,
            control=control,
            affinity=tuple(tuple(float(v) for v in row[1]) for row in rows),
            low=tuple(tuple(float(v) for v in row[2]) for row in rows),
            high=tuple(tuple(float(v) for v in row[3]) for row in rows),
            losses=tuple(tuple(tuple(float(v) for v in cell) for cell in row[0]) for row in rows),
            decisions=decisions,
            shortlist=shortlist,
            rounds=rounds,
            probe_steps=steps,
            alpha=settings.alpha,
            steps=n_probes * steps,
            seconds=stage.seconds,
            run_id=stage.public_run_id,
        )
        stage.tracker.log_metrics(_final_metrics(result), step=rounds)
        stage.tracker.set_tags(
            {"autoaux.shortlist": ",".join(shortlist)}
            | {f"autoaux.screen.{task}": d for task, d in decisions.items()}
        )
    log.info(
        "screen: %d probes (%d steps) in %.1fs; shortlist %s; dropped %d, cut %d",
        n_probes,
        result.steps,
        result.seconds,
        ", ".join(shortlist) or "(empty)",
        sum(d == "dropped" for d in decisions.values()),
        sum(d == "cut" for d in decisions.values()),
    )
    return result


def _row_losses(
    pool: Workers,
    target: str,
    arms: Sequence[str],
    settings: ScreenConfig,
    bar: Any,
    tracker: Tracker | None,
) -> np.ndarray:
    """``target``'s dev loss after each arm's probe in each round, shape ``(n_arms, rounds)``
    (``nan`` for the target itself); each round's losses logged to ``tracker`` when given."""
    losses = np.full((len(arms), settings.rounds), math.nan)
    cells = [(j, r) for r in range(settings.rounds) for j, arm in enumerate(arms) if arm != target]
    jobs = [_Probe(target, arms[j], settings.probe_steps, r) for j, r in cells]
    for (j, r), loss in zip(cells, pool.imap(_run_job, jobs), strict=True):
        losses[j, r] = loss
        bar.update(1)
        if tracker is not None and (j, r) == max(c for c in cells if c[1] == r):
            values = {f"dev_loss/{a}": float(v) for a, v in zip(arms, losses[:, r], strict=True)}
            tracker.log_metrics({k: v for k, v in values.items() if math.isfinite(v)}, step=r + 1)
    return losses


@dataclass(frozen=True)
class _Probe:
    """One probe, as plain values (it travels to a worker)."""

    target: str
    arm: str
    steps: int
    round_: int


def _run_job(make_trainer: ProbeTrainerFactory, job: _Probe) -> float:
    """A worker's job: :func:`probe` of ``job``."""
    return probe(make_trainer, target=job.target, arm=job.arm, steps=job.steps, round_=job.round_)


def _decide(
    row: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    candidates: Sequence[str],
    size: int,
) -> tuple[dict[str, str], tuple[str, ...]]:
    """Per candidate of the main row: failed (a probe's loss, or the control's, was not
    finite: nothing was measured), dropped (upper bound < 0), shortlisted (the ``size`` best of
    the others by affinity, ties by name) or cut."""
    _, affinity, _, high = row
    failed = {i for i in range(len(candidates)) if not math.isfinite(float(affinity[i]))}
    kept = [i for i in range(len(candidates)) if i not in failed and not high[i] < 0.0]
    kept.sort(key=lambda i: (-affinity[i], candidates[i]))
    chosen = set(kept[:size])
    decisions = {
        c: "shortlisted" if i in chosen
        else "failed" if i in failed
        else "dropped" if high[i] < 0.0
        else "cut"
        for i, c in enumerate(candidates)
    }  # fmt: skip
    return decisions, tuple(c for i, c in enumerate(candidates) if i in chosen)


def _params(
    settings: ScreenConfig, main: str, arms: Sequence[str], control: str, pairwise: bool
) -> dict[str, str]:
    return {
        "main": main,
        "arms": json.dumps(list(arms)),
        "control": control,
        "pairwise": str(pairwise),
        "probe_steps": str(settings.probe_steps),
        "rounds": str(settings.rounds),
        "alpha": str(settings.alpha),
        "shortlist": str(settings.shortlist),
    }


def _final_metrics(result: AffinityResult) -> dict[str, float]:
    metrics: dict[str, float] = {
        "screen_steps": float(result.steps),
        "shortlist_size": float(len(result.shortlist)),
    }
    for task, value in result.row().items():
        low, high = result.interval(task)
        for key, v in (("affinity", value), ("affinity_low", low), ("affinity_high", high)):
            if math.isfinite(v):
                metrics[f"{key}/{task}"] = v
    return metrics
