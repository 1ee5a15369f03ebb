"""Configuration: frozen, validated dataclasses built once from TOML or API arguments.

:mod:`autoaux.config.run` holds the run configuration and TOML entry points, and re-exports the
sections, one private module per group: ``_model``, ``_tasks`` (main, auxiliary, ``[[task]]``),
``_stage1`` (with its presets), ``_stage1_methods`` (the keys the race and the in-run bandit
each read), ``_screen``, ``_stage2`` (with the baselines), ``_training`` (protocol, trainer),
``_tracking`` (tracking, checkpoint); ``_loading`` reads TOML and builds the sections from
their tables; ``_checks`` holds the field checks, ``_vocab`` the accepted
words of each choice-valued setting, ``_memory`` the memory estimate;
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
    BanditSettings,
    BaselinesConfig,
    CheckpointConfig,
    MainConfig,
    ModelConfig,
    ProtocolConfig,
    RaceSettings,
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
    "BanditSettings",
    "BaselinesConfig",
    "CheckpointConfig",
    "MainConfig",
    "ModelConfig",
    "ProtocolConfig",
    "RaceSettings",
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
