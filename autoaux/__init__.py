"""autoaux: automatic auxiliary-task selection and mixing for multi-task NLP.

Two stages, after AutoSem (Guo et al., 2019): a multi-armed bandit picks the auxiliary tasks that
help a main task (:func:`select`), then Gaussian-process Bayesian optimisation finds their mixing
ratios (:func:`mix`); :func:`run` does both, compares with baselines and logs everything to
MLflow. :func:`affinity` measures how much each auxiliary task helps the main task (and each
other) in one cheap pass, the screen a large pool goes through before stage 1::

    import autoaux

    result = autoaux.run(autoaux.load_config("run.toml"))
    print(result.selected, result.ratios, result.test_score)

Importing the package is light: torch, transformers and mlflow are imported when first needed
(the names below that need them are loaded on first access).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from autoaux.config import (
    AuxiliaryConfig,
    BaselinesConfig,
    MainConfig,
    ModelConfig,
    ProtocolConfig,
    RunConfig,
    ScreenConfig,
    Stage1Config,
    Stage2Config,
    TaskFileConfig,
    TrackingConfig,
    TrainerConfig,
    config_from_dict,
    load_config,
)
from autoaux.errors import AutoauxError, ConfigError, TrackingError
from autoaux.runs.affinity import AffinityResult
from autoaux.runs.result import (
    BaselineScore,
    MixResult,
    PullRecord,
    RunResult,
    SelectionResult,
    TrialRecord,
)
from autoaux.tracking import MlflowTracker, NullTracker, Tracker

if TYPE_CHECKING:
    from autoaux.api import affinity, mix, resume, run, select
    from autoaux.model import ModelSpec, MultiTaskModel, build_encoder
    from autoaux.stages.finetune import FinetuneResult, finetune
    from autoaux.training.gating import CosineGate
    from autoaux.training.trainer import NonFiniteLossError, Trainer, TrainerSpec

__version__ = "0.1.0"

__all__ = [
    "AffinityResult",
    "AutoauxError",
    "AuxiliaryConfig",
    "BaselineScore",
    "BaselinesConfig",
    "ConfigError",
    "CosineGate",
    "FinetuneResult",
    "MainConfig",
    "MixResult",
    "MlflowTracker",
    "ModelConfig",
    "ModelSpec",
    "MultiTaskModel",
    "NonFiniteLossError",
    "NullTracker",
    "ProtocolConfig",
    "PullRecord",
    "RunConfig",
    "RunResult",
    "ScreenConfig",
    "SelectionResult",
    "Stage1Config",
    "Stage2Config",
    "TaskFileConfig",
    "Tracker",
    "TrackingConfig",
    "TrackingError",
    "Trainer",
    "TrainerConfig",
    "TrainerSpec",
    "TrialRecord",
    "__version__",
    "affinity",
    "build_encoder",
    "config_from_dict",
    "finetune",
    "load_config",
    "mix",
    "resume",
    "run",
    "select",
]

# Names whose modules import torch: loaded on first attribute access (PEP 562).
_LAZY = {
    "affinity": "api",
    "run": "api",
    "resume": "api",
    "select": "api",
    "mix": "api",
    "CosineGate": "training.gating",
    "ModelSpec": "model.multitask",
    "MultiTaskModel": "model.multitask",
    "build_encoder": "model.encoders",
    "NonFiniteLossError": "training.trainer",
    "Trainer": "training.trainer",
    "TrainerSpec": "training.trainer",
    "finetune": "stages.finetune",
    "FinetuneResult": "stages.finetune",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'autoaux' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
