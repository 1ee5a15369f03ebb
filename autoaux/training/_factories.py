"""The trainer factories the stages are handed (one home for their types).

Each builds a fresh :class:`~autoaux.training.trainer.Trainer` over the model reset to the run's
initial weights, with its batches, task draws and dropout seeded by a key; every one of them is
:meth:`autoaux.training.Workbench.trainer` with some arguments fixed.
"""

from __future__ import annotations

from collections.abc import Callable

from autoaux.training.trainer import Trainer

__all__ = ["EpisodeTrainerFactory", "ProbeTrainerFactory", "TrainerFactory"]

TrainerFactory = Callable[[int | None], Trainer]
"""``make_trainer(total_steps)``: stage 2's trials and the baselines, seeded identically every
call, the learning-rate schedule ending at ``total_steps`` (``None``: no decay)."""

EpisodeTrainerFactory = Callable[[int | None, str], Trainer]
"""``make_trainer(steps, seed_key)``: the race's episodes, seeded by ``seed_key`` (one key a
round); ``steps`` ends the learning-rate schedule (``None``: no decay)."""

ProbeTrainerFactory = Callable[[str, str, int, str], Trainer]
"""``make_trainer(target, arm, steps, seed_key)``: the screen's probes, a trainer that scores
``target`` and trains ``target`` + ``arm``, seeded by ``seed_key``."""
