"""Configuration: frozen, validated dataclasses built once from TOML or API arguments.

:mod:`autoaux.config.run` holds the fields, the sections and the run configuration;
:mod:`autoaux.config.defaults` the built-in run (the preset ``autoaux run`` uses without
``--config``).
"""

from __future__ import annotations

from autoaux.config.defaults import (
    DEFAULT_MAIN,
    DEFAULT_POOL,
    default_config_dict,
    default_encoder,
)
from autoaux.config.run import (
    ACQUISITIONS,
    BASELINES,
    EXECUTORS,
    GATINGS,
    POLICIES,
    REWARDS,
    SELECTIONS,
    SHUFFLED_PREFIX,
    STAGE1_PRESETS,
    UTILITIES,
    AuxiliaryConfig,
    BaselinesConfig,
    CheckpointConfig,
    MainConfig,
    ModelConfig,
    RunConfig,
    ScreenConfig,
    Stage1Config,
    Stage2Config,
    TaskFileConfig,
    TrackingConfig,
    ProtocolConfig,
    TrainerConfig,
    config_from_dict,
    load_config,
)

__all__ = [
    "ACQUISITIONS",
    "BASELINES",
    "DEFAULT_MAIN",
    "DEFAULT_POOL",
    "EXECUTORS",
    "GATINGS",
    "POLICIES",
    "REWARDS",
    "SELECTIONS",
    "SHUFFLED_PREFIX",
    "STAGE1_PRESETS",
    "UTILITIES",
    "AuxiliaryConfig",
    "BaselinesConfig",
    "CheckpointConfig",
    "MainConfig",
    "ModelConfig",
    "RunConfig",
    "ScreenConfig",
    "Stage1Config",
    "Stage2Config",
    "TaskFileConfig",
    "TrackingConfig",
    "ProtocolConfig",
    "TrainerConfig",
    "config_from_dict",
    "default_config_dict",
    "default_encoder",
    "load_config",
]
