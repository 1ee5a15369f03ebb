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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from autoaux._seeding import derive_seed
from autoaux.config import BanditSettings
from autoaux.runs.result import PullRecord, SelectionResult
from autoaux.stages._stage_run import StageRun, stage_run
from autoaux.tracking import Tracker
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


def make_gate(settings: BanditSettings) -> CosineGate | None:
    """The gradient gate for stage 1: ``None`` (no cosine measured, cheapest) when gating is
    off and the reward does not use the cosine; otherwise a :class:`CosineGate` (mode ``"off"``
    still measures the cosine for the reward)."""
    if settings.gating == "off" and not settings.needs_cosine():
        return None
    return CosineGate(
        settings.gating, refresh_every=settings.refresh_every, smoothing=settings.smoothing
    )


def pull_reward(
    settings: BanditSettings,
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
    settings: BanditSettings,
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
    settings: BanditSettings,
    seed: int,
    controls: Sequence[str] = (),
    tracker: Tracker | None = None,
    progress: bool = False,
    checkpoint: RunCheckpoint | None = None,
) -> SelectionResult:
    """Run the stage-1 bandit loop on ``trainer`` (whose data holds ``main`` and ``pool``).

    ``pool`` lists the auxiliary tasks, control arms included; ``controls`` names the control
    arms among them (default: the ``shuffled:`` tasks of the pool). ``settings`` are the in-run
    bandit's keys of ``[stage1]`` (``config.stage1.bandit()``). The trainer should carry the
    gate from :func:`make_gate`. Logs one MLflow step per pull on a ``stage1`` run (nested
    under the tracker's open run, if any). Returns the :class:`SelectionResult`.
    ``checkpoint``: save the loop state after the pulls and continue a saved one
    (:mod:`autoaux.runs.checkpoint`).
    """
    controls = tuple(controls) or tuple(t for t in pool if t.startswith("shuffled:"))
    arms = ([main] if settings.include_main_arm else []) + [t for t in pool if t != main]
    bandit = make_bandit(
        settings.policy, len(arms), **settings.bandit_options(seed=derive_seed(seed, "bandit"))
    )
    params = _stage_params(settings, arms, controls)
    with stage_run(
        "stage1", tracker, params=params, checkpoint=checkpoint, progress=progress
    ) as stage:
        state = _start(trainer, bandit, arms, main, settings, stage, checkpoint)
        first = len(state.history) + 1
        pulls = range(first, settings.pulls + 1)
        bar = stage.bar(
            settings.pulls, initial=first - 1, desc="stage 1", unit="pull", iterable=pulls
        )
        for pull in bar:  # pulls are numbered from 1; step 0 is the score before any pull
            arm, record = _pull(trainer, bandit, arms, main, settings, state, pull)
            stage.tracker.log_metrics(_pull_metrics(record, arm, arms), step=pull)
            bar.set_postfix_str(
                f"{record.task} dev={record.dev_score:.3f} r={record.reward:.2f}", refresh=False
            )
            if checkpoint is not None:
                from autoaux.runs.checkpoint import Stage1Progress

                checkpoint.save_stage1(
                    Stage1Progress(
                        state.previous, state.initial, state.rewards, state.cosines, state.history
                    ),
                    trainer=trainer,
                    bandit=bandit,
                    tracker=stage.tracker,
                    last=pull == settings.pulls,
                )
        bar.close()
        result = _result(bandit, arms, main, controls, settings, state, stage)
        stage.tracker.log_metrics(_final_metrics(result), step=settings.pulls)
        stage.tracker.set_tags(
            {"autoaux.selected": ",".join(result.selected), "autoaux.rule": result.rule}
        )
    log.info(
        "stage 1: %d pulls in %.1fs; selected %s (rule %s)",
        settings.pulls,
        result.seconds,
        ", ".join(result.selected) or "nothing",
        result.rule,
    )
    return result


@dataclass
class _Loop:
    """The loop's state between pulls: the last dev score, the one before any pull, and the
    rewards, cosines and records so far."""

    previous: float
    initial: float
    rewards: dict[str, list[float]]
    cosines: dict[str, list[float]]
    history: list[PullRecord] = field(default_factory=list)


def _start(
    trainer: Trainer,
    bandit: Bandit,
    arms: Sequence[str],
    main: str,
    settings: BanditSettings,
    stage: StageRun,
    checkpoint: RunCheckpoint | None,
) -> _Loop:
    """The saved loop when resuming (trainer and bandit restored, the timer rewound), else a
    new one from the main task's dev score before any pull (logged as step 0)."""
    saved = checkpoint.restore_stage1(trainer, bandit) if checkpoint is not None else None
    if saved is None:
        initial = trainer.evaluate(main, "dev", max_batches=settings.eval_batches)
        stage.tracker.log_metrics({"dev_score": initial}, step=0)
        return _Loop(initial, initial, {a: [] for a in arms}, {a: [] for a in arms})
    stage.rewind(saved.elapsed)
    return _Loop(saved.previous, saved.initial, saved.rewards, saved.cosines, saved.history)


def _pull(
    trainer: Trainer,
    bandit: Bandit,
    arms: Sequence[str],
    main: str,
    settings: BanditSettings,
    state: _Loop,
    pull: int,
) -> tuple[int, PullRecord]:
    """Pull ``pull``: train the arm the bandit selects, score the main task, reward the arm
    and record the pull in ``state``; returns the arm and the record."""
    arm = bandit.select()
    task = arms[arm]
    report = trainer.train_steps(task, settings.steps_per_pull)
    current = trainer.evaluate(main, "dev", max_batches=settings.eval_batches)
    cosine = report.mean_cosine if task != main else math.nan
    reward = pull_reward(
        settings, previous=state.previous, current=current, cosine=cosine, is_main=task == main
    )
    bandit.update(arm, reward)
    state.rewards[task].append(reward)
    if not math.isnan(cosine):
        state.cosines[task].append(cosine)
    record = PullRecord(
        pull=pull,
        task=task,
        reward=reward,
        dev_score=current,
        previous_score=state.previous,
        loss=report.mean_loss,
        cosine=cosine,
        scale=report.mean_scale if task != main else math.nan,
        utilities=tuple(float(u) for u in _utilities(bandit, settings.utility)),
    )
    state.history.append(record)
    state.previous = current
    return arm, record


def _result(
    bandit: Bandit,
    arms: Sequence[str],
    main: str,
    controls: Sequence[str],
    settings: BanditSettings,
    state: _Loop,
    stage: StageRun,
) -> SelectionResult:
    """The selection after the last pull: utilities, the selection rule applied, the record."""
    main_arm = 0 if settings.include_main_arm else None
    control_arms = [arms.index(c) for c in controls if c in arms]
    utilities = _utilities(bandit, settings.utility)
    histories = [state.rewards[a] for a in arms]
    chosen, rule = select_arms(
        settings, utilities, histories, main_arm=main_arm, control_arms=control_arms
    )
    return SelectionResult(
        main_task=main,
        arms=tuple(arms),
        controls=tuple(arms[i] for i in control_arms),
        utilities=_by_arm(arms, utilities),
        posterior=_by_arm(arms, np.asarray(bandit.utilities(), float)),
        mean_rewards=_by_arm(arms, bandit.mean_rewards()),
        pulls={a: int(c) for a, c in zip(arms, bandit.counts(), strict=True)},
        rewards={a: tuple(v) for a, v in state.rewards.items()},
        mean_cosines={a: float(np.mean(v)) if v else math.nan for a, v in state.cosines.items()},
        selected=tuple(arms[i] for i in sorted(chosen)),
        rule=rule,
        history=tuple(state.history),
        initial_dev_score=state.initial,
        seconds=stage.seconds,
        run_id=stage.public_run_id,
        bandit_state=bandit.state_dict(),
    )


def _by_arm(arms: Sequence[str], values: np.ndarray) -> dict[str, float]:
    return {a: float(v) for a, v in zip(arms, values, strict=True)}


def _stage_params(
    settings: BanditSettings, arms: Sequence[str], controls: Sequence[str]
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
