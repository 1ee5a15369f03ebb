"""``[protocol]`` and ``[trainer]``: how every compared training run trains, and the
optimiser (:class:`ProtocolConfig`, :class:`TrainerConfig`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from autoaux.config._checks import _check_choice, _check_float, _check_int
from autoaux.config._vocab import BUDGETS
from autoaux.errors import ConfigError

__all__ = ["ProtocolConfig", "TrainerConfig"]


@dataclass(frozen=True)
class ProtocolConfig:
    """``[protocol]``: how every training run that autoaux compares trains the main task.

    A race episode, a stage-2 trial and a baseline each train a fresh model from the run's
    initial weights on the main task, alone or with auxiliary tasks, and are scored by the
    best main dev score. With ``budget = "main"`` (the default) auxiliary tasks are *added*,
    never substituted: the main task takes the same main-task steps, on the same batches,
    whatever the mixture, and auxiliary batches come on top in the proportions the ratios give
    (ratio ``r``: ``r`` auxiliary steps per main step in expectation). The main dev score is
    evaluated every ``eval_every`` main steps; training stops after ``patience`` evaluations
    in a row without a better score, or at the stage's cap of main steps
    (``stage1.episode_steps`` for a race episode, ``stage2.steps`` for a trial and a
    baseline), and the best checkpoint is kept. The learning rate stays at its peak after
    warm-up (the run's length is not known in advance). So a task *helps* when adding it beats
    training the main task without it under the same rule.

    ``budget = "total"`` is the earlier protocol, kept for comparison: a fixed total of
    ``stage1.episode_steps`` / ``stage2.steps`` optimiser steps split by the ratios (the main
    task gets fewer steps the more auxiliary weight there is), linear decay to 0, stage-2
    evaluations every ``stage2.eval_every`` steps, no early stopping.
    """

    _section: ClassVar[str] = "protocol"

    budget: str = "main"
    eval_every: int = 25
    patience: int = 4

    def __post_init__(self) -> None:
        _check_choice(self, "budget", BUDGETS)
        _check_int(self, "eval_every", minimum=1)
        _check_int(self, "patience", minimum=1, maximum=10_000)

    @property
    def added(self) -> bool:
        """Whether auxiliary tasks come on top of a fixed main-task budget."""
        return self.budget == "main"


@dataclass(frozen=True)
class TrainerConfig:
    """``[trainer]``: AdamW with linear warm-up and decay, gradient clipping.

    ``warmup_steps`` is a number of steps, or a fraction of the run when below 1.
    """

    _section: ClassVar[str] = "trainer"

    batch_size: int = 16
    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup_steps: float = 0.0
    clip_norm: float = 1.0
    eval_batch_size: int = 64

    def __post_init__(self) -> None:
        _check_int(self, "batch_size", minimum=1)
        _check_float(self, "lr", above=0.0, maximum=1.0)
        _check_float(self, "weight_decay", minimum=0.0)
        _check_float(self, "warmup_steps", minimum=0.0)
        if self.warmup_steps >= 1 and not float(self.warmup_steps).is_integer():
            raise ConfigError(
                "trainer.warmup_steps",
                self.warmup_steps,
                "a whole number of steps or a fraction below 1",
            )
        _check_float(self, "clip_norm", above=0.0)
        _check_int(self, "eval_batch_size", minimum=1)
