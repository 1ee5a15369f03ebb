"""Result records of the two stages, the baselines and a whole run, and ``result.json``.

All records are frozen dataclasses of plain values (task name -> number dictionaries, tuples),
except the best stage-2 model's weights, which :class:`MixResult` keeps out of comparisons and
out of JSON. ``nan`` values (an arm never pulled, a failed trial) become ``null`` in JSON.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autoaux.runs._files import clean_json, write_json

if TYPE_CHECKING:
    from autoaux.runs.affinity import AffinityResult
    from bayesopt import TrialState

__all__ = [
    "BaselineScore",
    "MixResult",
    "PullRecord",
    "RunResult",
    "SelectionResult",
    "TaskVerdict",
    "TrialRecord",
    "decision_of",
    "write_json",
]


@dataclass(frozen=True)
class PullRecord:
    """One stage-1 pull.

    Attributes:
        pull: pull number, from 1 (the MLflow step; step 0 holds the dev score before the
            first pull).
        task: the arm's task.
        reward: reward given to the bandit, in [0, 1].
        dev_score: main dev score (fixed subsample) after the pull.
        previous_score: main dev score before the pull.
        loss: mean training loss of the pull's steps.
        cosine: mean gradient cosine with the main task over the pull (``nan`` for the main arm
            or when not measured).
        scale: mean gate scale over the pull (``nan`` when not gated).
        utilities: every arm's utility after the update, in :attr:`SelectionResult.arms` order.
        round: the race round of an episode (``evidence = "episodes"``); 0 for in-run pulls.
        steps: optimiser steps of the pull or episode, every task counted (0 when not
            recorded).
    """

    pull: int
    task: str
    reward: float
    dev_score: float
    previous_score: float
    loss: float
    cosine: float
    scale: float
    utilities: tuple[float, ...]
    round: int = 0
    steps: int = 0


@dataclass(frozen=True)
class TaskVerdict:
    """The race's verdict on one auxiliary task, compared with the main task trained alone.

    Attributes:
        verdict: ``"helps"`` (its effect's interval lies above 0), ``"hurts"`` (below 0),
            ``"negligible"`` (below the practical margin ``stage1.margin``, neither of the
            others) or ``"undecided"`` (the budget ended before the evidence decided).
        effect: mean paired difference of the main dev metric, main + task minus main alone,
            over the rounds both played (``nan`` before the first pair).
        low, high: the anytime-valid confidence interval of the effect (infinite while the
            evidence cannot bound it; the error rate ``alpha`` is shared by all candidates).
        episodes: the number of paired episodes behind the estimate.
        vs_control: mean paired difference against the null control (main + task minus main +
            control, same rounds; ``nan`` without a control or a shared round): how much more
            the task adds than a task whose labels carry no signal.
        vs_control_rounds: the number of rounds behind ``vs_control``.
    """

    verdict: str
    effect: float
    low: float
    high: float
    episodes: int
    vs_control: float = math.nan
    vs_control_rounds: int = 0

    def to_dict(self) -> dict[str, Any]:
        return clean_json(
            {
                "verdict": self.verdict,
                "effect": self.effect,
                "low": self.low if math.isfinite(self.low) else None,
                "high": self.high if math.isfinite(self.high) else None,
                "episodes": self.episodes,
                "vs_control": self.vs_control,
                "vs_control_rounds": self.vs_control_rounds,
            }
        )


def decision_of(
    verdicts: Mapping[str, TaskVerdict],
    *,
    controls: Sequence[str],
    finished: bool,
    pulls: int | None = None,
) -> str:
    """One line that says what stage 1 decided, and whether "nothing" means "nothing helps"
    or "the budget could not tell" (then naming the setting that raises the budget, ``pulls``
    of ``[stage1]``, and its value in this run)."""
    real = {k: v for k, v in verdicts.items() if k not in controls}
    helps = [k for k, v in real.items() if v.verdict == "helps"]
    open_ = [k for k, v in real.items() if v.verdict == "undecided"]
    regularising = [k for k, v in verdicts.items() if k in controls and v.verdict == "helps"]
    note = (
        f"; the control {', '.join(regularising)} also beat the main task alone, so part of "
        "the gain is regularisation rather than the tasks' content"
        if regularising
        else ""
    )
    if not real:
        return "no auxiliary task to judge"
    if helps:
        text = f"selected {', '.join(helps)}: adding them beats the main task alone"
        if open_:
            text += f"; undecided when the budget ended: {', '.join(open_)}"
        return text + note
    if not open_:
        return (
            "nothing selected: no auxiliary task beats the main task alone "
            "(each was shown to hurt or to add less than the margin)" + note
        )
    if finished:
        return (
            f"nothing selected: none can be shown to help (undecided: {', '.join(open_)})" + note
        )
    return (
        "nothing selected: the budget ended before the evidence decided "
        f"({', '.join(open_)} undecided); raise pulls in the [stage1] section of the config "
        f"file{'' if pulls is None else f' (this run: pulls = {pulls})'}" + note
    )


@dataclass(frozen=True)
class SelectionResult:
    """Stage 1: which auxiliary tasks help the main task.

    Attributes:
        main_task: the main task.
        arms: the bandit's arms in order (the main task first when it is an arm).
        controls: the null control arms (``shuffled:`` tasks); never selected.
        utilities: arm -> utility used for selection (``stage1.utility``: ``"mean"`` is the
            undecayed mean reward, ``"posterior"`` the bandit's decayed estimate).
        posterior: arm -> the bandit's own (possibly decayed) estimate at the end.
        mean_rewards: arm -> undecayed mean reward (``nan`` if never pulled).
        pulls: arm -> number of pulls.
        rewards: arm -> every reward it received, in order.
        mean_cosines: arm -> mean over its pulls of the pull's mean gradient cosine.
        selected: the selected auxiliary tasks (pool order); never the main task or a control.
        rule: the selection rule that was applied ("default", "top-k", "threshold", "control").
        history: one :class:`PullRecord` per pull (per episode when racing).
        initial_dev_score: main dev score before the first pull.
        seconds: wall-clock time of the stage.
        run_id: the stage's MLflow run (``None`` without tracking).
        bandit_state: the bandit's ``state_dict()`` at the end.
        verdicts: task -> :class:`TaskVerdict` (racing; empty for in-run pulls).
        decision: one line on what stage 1 decided (racing; empty for in-run pulls).
        contamination: the contamination guard's report (``tasks.ContaminationReport.to_dict()``
            and its one-line ``summary``) when the run loaded the tasks.
    """

    main_task: str
    arms: tuple[str, ...]
    controls: tuple[str, ...]
    utilities: dict[str, float]
    posterior: dict[str, float]
    mean_rewards: dict[str, float]
    pulls: dict[str, int]
    rewards: dict[str, tuple[float, ...]]
    mean_cosines: dict[str, float]
    selected: tuple[str, ...]
    rule: str
    history: tuple[PullRecord, ...] = ()
    initial_dev_score: float = math.nan
    seconds: float = 0.0
    run_id: str | None = None
    bandit_state: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    verdicts: dict[str, TaskVerdict] = field(default_factory=dict)
    decision: str = ""
    contamination: dict[str, Any] | None = None

    @classmethod
    def empty(cls, main: str, *, decision: str) -> SelectionResult:
        """The stage 1 of a run with no auxiliary task to judge: nothing selected."""
        return cls(
            main_task=main,
            arms=(),
            controls=(),
            utilities={},
            posterior={},
            mean_rewards={},
            pulls={},
            rewards={},
            mean_cosines={},
            selected=(),
            rule="none",
            decision=decision,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able summary (without the per-pull history and the bandit state)."""
        return clean_json(
            {
                "verdicts": {k: v.to_dict() for k, v in self.verdicts.items()},
                "decision": self.decision,
                "main_task": self.main_task,
                "arms": list(self.arms),
                "controls": list(self.controls),
                "selected": list(self.selected),
                "rule": self.rule,
                "utilities": self.utilities,
                "posterior": self.posterior,
                "mean_rewards": self.mean_rewards,
                "pulls": self.pulls,
                "mean_cosines": self.mean_cosines,
                "initial_dev_score": self.initial_dev_score,
                "final_dev_score": self.history[-1].dev_score if self.history else None,
                "seconds": self.seconds,
                "run_id": self.run_id,
                "contamination": self.contamination,
            }
        )

    def to_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` to ``path`` (atomically); return the path."""
        return write_json(path, self.to_dict())


@dataclass(frozen=True)
class TrialRecord:
    """One stage-2 trial.

    Attributes:
        number: 0-based trial number.
        ratios: auxiliary task -> ratio (the main task's ratio is 1).
        score: best main dev score of the trial (``None`` if it failed).
        state: :class:`bayesopt.TrialState` (``COMPLETE`` or ``FAILED``; a string enum, so it
            equals and serialises as ``"COMPLETE"`` / ``"FAILED"``; strings are converted).
        seconds: wall-clock seconds.
        best_step: the step whose weights scored ``score``.
        dev_curve: ``(step, main dev score)`` at every evaluation.
        steps_per_task: task -> optimiser steps it got.
        error: why it failed (``""`` if it did not).
        run_id: the trial's MLflow run.
    """

    number: int
    ratios: dict[str, float]
    score: float | None
    state: TrialState
    seconds: float = 0.0
    best_step: int = 0
    dev_curve: tuple[tuple[int, float], ...] = ()
    steps_per_task: dict[str, int] = field(default_factory=dict)
    error: str = ""
    run_id: str | None = None

    def __post_init__(self) -> None:
        # bayesopt imports scikit-optimize: loaded here, not with ``import autoaux``
        from bayesopt import TrialState

        object.__setattr__(self, "state", TrialState(self.state))

    def to_dict(self) -> dict[str, Any]:
        return clean_json(
            {
                "number": self.number,
                "ratios": self.ratios,
                "score": self.score,
                "state": str(self.state),
                "seconds": self.seconds,
                "best_step": self.best_step,
                "steps_per_task": self.steps_per_task,
                "error": self.error,
                "run_id": self.run_id,
            }
        )


@dataclass(frozen=True)
class MixResult:
    """Stage 2: the mixing ratios of the chosen auxiliary tasks.

    Attributes:
        main_task: the main task.
        tasks: the auxiliary tasks searched (empty: the degenerate main-only stage 2).
        ratios: task -> ratio of the best trial, the main task included at 1.0.
        probabilities: task -> per-step sampling probability of the best trial.
        best_dev_score: the best trial's best main dev score (``nan`` if every trial failed).
        test_score: main test score of the best trial's model (``None`` if none completed).
        trials: every trial in order.
        best_trial: number of the best trial, or ``None``.
        initial_ratios: the warm-start points asked first.
        seconds: wall-clock time of the stage.
        run_id: the stage's MLflow run.
        best_state: the best trial's model weights (CPU tensors; not compared, not in JSON).
        main_only_dev: the main dev score of the trial with every ratio 0, the main task
            alone (``nan`` when none completed).
        contamination: the contamination guard's report (as in :class:`SelectionResult`) when
            ``autoaux.mix`` loaded the tasks.
        stopped: why the search ended before its trial budget (``[stage2] adaptive``), or
            ``""`` when it ran every trial.
    """

    main_task: str
    tasks: tuple[str, ...]
    ratios: dict[str, float]
    probabilities: dict[str, float]
    best_dev_score: float
    test_score: float | None
    trials: tuple[TrialRecord, ...]
    best_trial: int | None
    initial_ratios: tuple[dict[str, float], ...] = ()
    seconds: float = 0.0
    run_id: str | None = None
    best_state: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    main_only_dev: float = math.nan
    contamination: dict[str, Any] | None = None
    stopped: str = ""

    @property
    def main_alone(self) -> bool:
        """Whether the recommendation is the main task alone: no auxiliary task has a ratio
        above 0 in the best trial (no mixture beat the main task alone on dev)."""
        return self.best_trial is not None and not any(
            float(r) > 0.0 for t, r in self.ratios.items() if t != self.main_task
        )

    @property
    def recommendation(self) -> str:
        """One line: what to train."""
        if self.best_trial is None:
            return "no trial completed: nothing to recommend"
        if self.main_alone:
            if self.tasks:
                return "train the main task alone: no mixture beat it on dev"
            return "train the main task alone: no auxiliary task was selected"
        mix = ", ".join(f"{t} {r:.2f}" for t, r in self.ratios.items() if t != self.main_task)
        return f"train the main task with {mix} (ratios to the main task's 1)"

    def to_dict(self) -> dict[str, Any]:
        return clean_json(
            {
                "main_task": self.main_task,
                "tasks": list(self.tasks),
                "ratios": self.ratios,
                "probabilities": self.probabilities,
                "recommendation": self.recommendation,
                "main_alone": self.main_alone,
                "main_only_dev": self.main_only_dev,
                "best_dev_score": self.best_dev_score,
                "test_score": self.test_score,
                "best_trial": self.best_trial,
                "trials": [t.to_dict() for t in self.trials],
                "initial_ratios": list(self.initial_ratios),
                "seconds": self.seconds,
                "run_id": self.run_id,
                "contamination": self.contamination,
                "stopped": self.stopped,
            }
        )

    def to_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` to ``path`` (atomically); return the path."""
        return write_json(path, self.to_dict())


@dataclass(frozen=True)
class BaselineScore:
    """A reference mixture trained with the stage-2 budget from the same initial weights.

    Attributes:
        name: ``"main-only"``, ``"uniform"``, ``"proportional"``, ``"temperature"`` or
            ``"stage1-only"``.
        probabilities: task -> per-step sampling probability.
        dev: best main dev score over the run's evaluations (``nan`` if it failed).
        test: main test score of the best checkpoint (``None`` if it failed).
        steps: optimiser steps.
        seconds: wall-clock seconds.
        error: why it failed (``""`` if it did not).
        run_id: its MLflow run.
    """

    name: str
    probabilities: dict[str, float]
    dev: float
    test: float | None
    steps: int
    seconds: float = 0.0
    error: str = ""
    run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return clean_json(
            {
                "dev": self.dev,
                "test": self.test,
                "probabilities": self.probabilities,
                "steps": self.steps,
                "seconds": self.seconds,
                "error": self.error,
            }
        )


@dataclass(frozen=True)
class RunResult:
    """A whole autoaux run: stage 1, stage 2 and the baselines.

    ``result.json`` (:meth:`to_json`) holds ``main_task``, ``selected``, ``utilities``,
    ``pulls``, ``ratios``, ``best_dev_score``, ``test_score``, ``trials`` (``number``, ``ratios``,
    ``score``, ``state``, ...), ``mlflow`` (``tracking_uri``, ``experiment_id``, ``run_id``) and
    ``baselines`` (name -> ``{dev, test, ...}``), plus ``controls``, ``seconds``, ``seed``,
    ``device``, ``config``, ``screen`` (the affinity screen's record, or ``null`` when the
    pool was not screened) and ``contamination`` (the contamination guard's counts: ``drop``,
    ``found``, ``dropped``, ``main`` and per ``auxiliary`` task ``train``, ``in_dev``,
    ``in_test``, ``found``, ``dropped``, plus a one-line ``summary``).
    """

    main_task: str
    selected: tuple[str, ...]
    utilities: dict[str, float]
    pulls: dict[str, int]
    ratios: dict[str, float]
    best_dev_score: float
    test_score: float | None
    trials: tuple[TrialRecord, ...]
    baselines: dict[str, BaselineScore]
    mlflow: dict[str, str | None]
    selection: SelectionResult
    mixture: MixResult
    output_dir: str | None = None
    seconds: float = 0.0
    seed: int = 0
    device: str = ""
    config: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    screen: AffinityResult | None = None
    contamination: dict[str, Any] | None = None

    @property
    def run_id(self) -> str | None:
        """The parent MLflow run."""
        return self.mlflow.get("run_id")

    def to_dict(self) -> dict[str, Any]:
        return clean_json(
            {
                "main_task": self.main_task,
                "selected": list(self.selected),
                "decision": self.selection.decision,
                "verdicts": {k: v.to_dict() for k, v in self.selection.verdicts.items()},
                "controls": list(self.selection.controls),
                "utilities": self.utilities,
                "pulls": self.pulls,
                "ratios": self.ratios,
                "recommendation": self.mixture.recommendation,
                "main_alone": self.mixture.main_alone,
                "main_only_dev": self.mixture.main_only_dev,
                "best_dev_score": self.best_dev_score,
                "test_score": self.test_score,
                "trials": [t.to_dict() for t in self.trials],
                "baselines": {name: b.to_dict() for name, b in self.baselines.items()},
                "mlflow": self.mlflow,
                "seconds": self.seconds,
                "seed": self.seed,
                "device": self.device,
                "config": self.config,
                "screen": None if self.screen is None else self.screen.to_dict(),
                "contamination": self.contamination,
            }
        )

    def to_json(self, path: str | Path) -> Path:
        """Write ``result.json`` (atomically: temporary file, fsync, rename); return the path."""
        return write_json(path, self.to_dict())
