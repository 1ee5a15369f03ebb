"""Training: task data preparation, the trainer, the gradient-cosine gate, :class:`Mixture`
(mixing ratios -> sampling probabilities, in one place) and the workbench, the one builder
from a :class:`~autoaux.config.RunConfig` to tasks, encoder, model, data and trainers.

The trainer is :mod:`autoaux.training.trainer`; its settings, task data and reports live in
the private modules ``_spec``, ``_data`` and ``_reports`` and are re-exported there and here.

Also public here: the seed and device helpers the trainer uses (:func:`derive_seed`,
:func:`resolve_device`, :func:`autocast_context`)."""

from __future__ import annotations

from autoaux._device import autocast_context, resolve_device
from autoaux._seeding import derive_seed
from autoaux.training._factories import (
    EpisodeTrainerFactory,
    ProbeTrainerFactory,
    TrainerFactory,
)
from autoaux.training.gating import GATING_MODES, CosineGate, GateResult, gradient_cosine
from autoaux.training.mixture import Mixture, MixtureSource
from autoaux.training.trainer import (
    MixtureReport,
    NonFiniteLossError,
    StepReport,
    TaskData,
    Trainer,
    TrainerSpec,
    prepare_tasks,
)
from autoaux.training.workbench import Workbench, load_tasks

__all__ = [
    "GATING_MODES",
    "CosineGate",
    "EpisodeTrainerFactory",
    "GateResult",
    "Mixture",
    "MixtureReport",
    "MixtureSource",
    "NonFiniteLossError",
    "ProbeTrainerFactory",
    "StepReport",
    "TaskData",
    "Trainer",
    "TrainerFactory",
    "TrainerSpec",
    "Workbench",
    "autocast_context",
    "derive_seed",
    "gradient_cosine",
    "load_tasks",
    "prepare_tasks",
    "resolve_device",
]
