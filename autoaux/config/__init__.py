"""Configuration: frozen, validated dataclasses built once from TOML or API arguments.

:mod:`autoaux.config.run` holds the sections and the run configuration (and re-exports every
name it held before the split); ``autoaux.config._checks`` the field checks;
``autoaux.config._vocab`` the accepted words of each choice-valued setting;
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
    "ProtocolConfig",
    "RunConfig",
    "ScreenConfig",
    "Stage1Config",
    "Stage2Config",
    "TaskFileConfig",
    "TrackingConfig",
    "TrainerConfig",
    "config_from_dict",
    "default_config_dict",
    "default_encoder",
    "load_config",
]
