"""Stage 1: bandit selection of the auxiliary tasks that help the main task (AutoSem, stage 1).

The arms are the auxiliary tasks, the main task itself (``include_main_arm``, as AutoSem does)
and any null control arms (``shuffled:`` tasks). One shared model is trained throughout; each
*pull*::

    arm     = bandit.select()
    report  = trainer.train_steps(arms[arm], steps_per_pull)   # auxiliary steps gated
    current = trainer.evaluate(main, "dev", max_batches=eval_batches)   # fixed subsample
    reward  = pull_reward(previous, current, report.mean_cosine)        # see below
    bandit.update(arm, reward); previous = current

Rewards (``stage1.reward``), all in [0, 1]: ``"gain"`` = 1 if the dev score did not fall
(AutoSem); ``"scaled"`` = ``0.5 + delta / (2 * reward_scale)`` clipped; ``"cosine"`` =
``(c + 1) / 2`` with ``c`` the pull's mean gradient cosine with the main task; ``"mixed"`` =
``w * scaled + (1 - w) * cosine``. The main arm has no cosine with itself, so under ``"cosine"``
and ``"mixed"`` its reward is the scaled gain.

After the last pull each arm's utility is the bandit's (decayed) estimate (``utility =
"posterior"``) or its undecayed mean reward (``"mean"``), and the selection rule turns
utilities into the selected tasks (see :func:`select_arms`). Control arms and the main task are
never selected. The training itself lives in :class:`autoaux.training.trainer.Trainer`.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from tqdm.auto import tqdm

from autoaux._seeding import derive_seed
from autoaux.config import Stage1Config
from autoaux.runs.result import PullRecord, SelectionResult
from autoaux.tracking import NullTracker, Tracker, tracked_run
from autoaux.training.gating import CosineGate
from autoaux.training.trainer import Trainer
from bandits import (
    Bandit,
    binary_gain,
    cosine_reward,
    make_bandit,
    mixed_reward,
    scaled_gain,
    select_above,
    select_against_control,
    select_default,
    select_top_k,
)

if TYPE_CHECKING:
    from autoaux.runs.checkpoint import RunCheckpoint

__all__ = ["make_gate", "pull_reward", "run_stage1", "select_arms"]

log = logging.getLogger(__name__)


def make_gate(settings: Stage1Config) -> CosineGate | None:
    """The gradient gate for stage 1: ``None`` (no cosine measured, cheapest) when gating is
    off and the reward does not use the cosine; otherwise a :class:`CosineGate` (mode ``"off"``
    still measures the cosine for the reward)."""
    if settings.gating == "off" and not settings.needs_cosine():
        return None
    return CosineGate(
        settings.gating, refresh_every=settings.refresh_every, smoothing=settings.smoothing
    )


def pull_reward(
    settings: Stage1Config,
    *,
    previous: float,
    current: float,
    cosine: float,
    is_main: bool,
) -> float:
    """The reward of one pull (see the module docstring); ``cosine`` may be ``nan``."""
    if settings.reward == "gain":
        return binary_gain(previous, current, tolerance=settings.tolerance)
    gain = scaled_gain(previous, current, scale=settings.reward_scale)
    if settings.reward == "scaled" or is_main or math.isnan(cosine):
        return gain
    if settings.reward == "cosine":
        return cosine_reward(cosine)
    return mixed_reward(gain, cosine_reward(cosine), weight=settings.reward_weight)


def select_arms(
    settings: Stage1Config,
    utilities: np.ndarray,
    histories: Sequence[Sequence[float]],
    *,
    main_arm: int | None,
    control_arms: Sequence[int],
) -> tuple[list[int], str]:
    """Apply ``settings.selection``; return the selected arms and the rule applied.

    - ``"default"``: utility above the main arm's (AutoSem). With ``"cosine"`` or ``"mixed"``
      rewards the main arm's reward is of another kind, so the bar is then 0.5, the reward of a
      pull that changes nothing; without a main arm the bar is 0.5 too.
    - ``"top-k"``: the ``top_k`` highest utilities; ``"threshold"``: utility > ``threshold``.
    - ``"control"``: mean reward above the best control arm's with one-sided ``confidence``
      (Welch statistic; :func:`bandits.select_against_control`). If no control arm has two
      rewards to compare with, ``"default"`` is used instead (with a warning).
    - ``"auto"``: ``"control"`` when there is a control arm, else ``"default"``.
    """
    rule = settings.selection
    if rule == "auto":
        rule = "control" if control_arms else "default"
    exclude = [*control_arms, *([main_arm] if main_arm is not None else [])]
    if rule == "control":
        try:
            chosen = select_against_control(
                histories, control_arms, confidence=settings.confidence, exclude=exclude
            )
            return chosen, rule
        except ValueError as error:
            log.warning("selection against control impossible (%s); using 'default'", error)
            rule = "default"
    if rule == "top-k":
        return select_top_k(utilities, settings.top_k, exclude=exclude), rule
    if rule == "threshold":
        return select_above(utilities, settings.threshold, exclude=exclude), rule
    comparable = settings.reward in ("gain", "scaled")
    bar_arm = main_arm if comparable else None
    return select_default(utilities, main_arm=bar_arm, prior_mean=0.5, exclude=exclude), rule


def _utilities(bandit: Bandit, kind: str) -> np.ndarray:
    return bandit.mean_rewards() if kind == "mean" else np.asarray(bandit.utilities(), float)


def run_stage1(
    trainer: Trainer,
    *,
    main: str,
    pool: Sequence[str],
    settings: Stage1Config,
    seed: int,
    controls: Sequence[str] = (),
    tracker: Tracker | None = None,
    progress: bool = False,
    checkpoint: RunCheckpoint | None = None,
) -> SelectionResult:
    """Run the stage-1 bandit loop on ``trainer`` (whose data holds ``main`` and ``pool``).

    ``pool`` lists the auxiliary tasks, control arms included; ``controls`` names the control
    arms among them (default: the ``shuffled:`` tasks of the pool). The trainer should carry the
    gate from :func:`make_gate`. Logs one MLflow step per pull on a ``stage1`` run (nested
    under the tracker's open run, if any). Returns the :class:`SelectionResult`.
    ``checkpoint``: save the loop state after the pulls and continue a saved one
    (:mod:`autoaux.runs.checkpoint`).
    """
    tracker = tracker if tracker is not None else NullTracker()
    controls = tuple(controls) or tuple(t for t in pool if t.startswith("shuffled:"))
    arms = ([main] if settings.include_main_arm else []) + [t for t in pool if t != main]
    main_arm = 0 if settings.include_main_arm else None
    control_arms = [arms.index(c) for c in controls if c in arms]
    bandit = make_bandit(
        settings.policy, len(arms), **settings.bandit_options(seed=derive_seed(seed, "bandit"))
    )
    rewards: dict[str, list[float]] = {a: [] for a in arms}
    cosines: dict[str, list[float]] = {a: [] for a in arms}
    history: list[PullRecord] = []
    start = time.perf_counter()
    nested = tracker.run_id is not None
    resume_id = checkpoint.run_id("stage1") if checkpoint is not None else None
    tags = {"autoaux.stage": "stage1"}
    with tracked_run(tracker, "stage1", nested=nested, tags=tags, resume_id=resume_id) as run:
        tracker.log_params(_stage_params(settings, arms, controls))
        saved = None
        if checkpoint is not None:  # --- resumable runs (autoaux.runs.checkpoint)
            checkpoint.set_run_id("stage1", run)
            saved = checkpoint.restore_stage1(trainer, bandit)
        if saved is None:
            previous = initial = trainer.evaluate(main, "dev", max_batches=settings.eval_batches)
            tracker.log_metrics({"dev_score": initial}, step=0)
        else:
            previous, initial, history = saved.previous, saved.initial, saved.history
            rewards, cosines = saved.rewards, saved.cosines
            start -= saved.elapsed
        first = len(history) + 1
        bar = tqdm(
            range(first, settings.pulls + 1),
            initial=first - 1,
            total=settings.pulls,
            desc="stage 1",
            unit="pull",
            disable=not progress,
        )
        for pull in bar:  # pulls are numbered from 1; step 0 is the score before any pull
            arm = bandit.select()
            task = arms[arm]
            report = trainer.train_steps(task, settings.steps_per_pull)
            current = trainer.evaluate(main, "dev", max_batches=settings.eval_batches)
            cosine = report.mean_cosine if task != main else math.nan
            reward = pull_reward(
                settings, previous=previous, current=current, cosine=cosine, is_main=task == main
            )
            bandit.update(arm, reward)
            rewards[task].append(reward)
            if not math.isnan(cosine):
                cosines[task].append(cosine)
            record = PullRecord(
                pull=pull,
                task=task,
                reward=reward,
                dev_score=current,
                previous_score=previous,
                loss=report.mean_loss,
                cosine=cosine,
                scale=report.mean_scale if task != main else math.nan,
                utilities=tuple(float(u) for u in _utilities(bandit, settings.utility)),
            )
            history.append(record)
            tracker.log_metrics(_pull_metrics(record, arm, arms), step=pull)
            bar.set_postfix_str(f"{task} dev={current:.3f} r={reward:.2f}", refresh=False)
            previous = current
            if checkpoint is not None:
                from autoaux.runs.checkpoint import Stage1Progress

                checkpoint.save_stage1(
                    Stage1Progress(previous, initial, rewards, cosines, history),
                    trainer=trainer,
                    bandit=bandit,
                    tracker=tracker,
                    last=pull == settings.pulls,
                )
        bar.close()
        utilities = _utilities(bandit, settings.utility)
        histories = [rewards[a] for a in arms]
        chosen, rule = select_arms(
            settings, utilities, histories, main_arm=main_arm, control_arms=control_arms
        )
        selected = tuple(arms[i] for i in sorted(chosen))
        result = SelectionResult(
            main_task=main,
            arms=tuple(arms),
            controls=tuple(arms[i] for i in control_arms),
            utilities=_by_arm(arms, utilities),
            posterior=_by_arm(arms, np.asarray(bandit.utilities(), float)),
            mean_rewards=_by_arm(arms, bandit.mean_rewards()),
            pulls={a: int(c) for a, c in zip(arms, bandit.counts(), strict=True)},
            rewards={a: tuple(v) for a, v in rewards.items()},
            mean_cosines={a: float(np.mean(v)) if v else math.nan for a, v in cosines.items()},
            selected=selected,
            rule=rule,
            history=tuple(history),
            initial_dev_score=initial,
            seconds=time.perf_counter() - start,
            run_id=run if tracker.tracking_uri is not None else None,
            bandit_state=bandit.state_dict(),
        )
        tracker.log_metrics(_final_metrics(result), step=settings.pulls)
        tracker.set_tags({"autoaux.selected": ",".join(selected), "autoaux.rule": rule})
    log.info(
        "stage 1: %d pulls in %.1fs; selected %s (rule %s)",
        settings.pulls,
        result.seconds,
        ", ".join(selected) or "nothing",
        rule,
    )
    return result


def _by_arm(arms: Sequence[str], values: np.ndarray) -> dict[str, float]:
    return {a: float(v) for a, v in zip(arms, values, strict=True)}


def _stage_params(
    settings: Stage1Config, arms: Sequence[str], controls: Sequence[str]
) -> dict[str, str]:
    return {
        "arms": json.dumps(list(arms)),
        "controls": json.dumps(list(controls)),
        "preset": settings.preset,
        "policy": settings.policy,
        "decay": str(settings.decay),
        "reward": settings.reward,
        "utility": settings.utility,
        "gating": settings.gating,
        "selection": settings.selection,
        "pulls": str(settings.pulls),
        "steps_per_pull": str(settings.steps_per_pull),
    }


def _pull_metrics(record: PullRecord, arm: int, arms: Sequence[str]) -> dict[str, float]:
    metrics = {
        "arm": float(arm),
        "reward": record.reward,
        "dev_score": record.dev_score,
        "loss": record.loss,
        "cosine": record.cosine,  # nan (skipped) for the main arm or when not measured
        "gate_scale": record.scale,
        f"reward/{record.task}": record.reward,
    }
    if not math.isnan(record.cosine):
        metrics[f"cosine/{record.task}"] = record.cosine
    for name, utility in zip(arms, record.utilities, strict=True):
        metrics[f"utility/{name}"] = utility
    return metrics


def _final_metrics(result: SelectionResult) -> dict[str, float]:
    metrics: dict[str, float] = {"n_selected": float(len(result.selected))}
    for name in result.arms:
        metrics[f"final_utility/{name}"] = result.utilities[name]
        metrics[f"pulls/{name}"] = float(result.pulls[name])
        metrics[f"mean_cosine/{name}"] = result.mean_cosines[name]
    return metrics
