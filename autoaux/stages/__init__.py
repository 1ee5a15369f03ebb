"""The two stages and what runs beside them: stage 1 (bandit selection), stage 2 (GP search of
the mixing ratios), the trial path that stage 2, the baselines and Ray workers share, the
executors that run trials locally or on Ray, the baselines and the full fine-tune."""

from __future__ import annotations

from autoaux.stages.baselines import BASELINES, run_baselines
from autoaux.stages.executors import (
    LocalExecutor,
    RayExecutor,
    TrialExecutor,
    TrialSpec,
    make_executor,
)
from autoaux.stages.finetune import FinetuneResult, finetune, read_mixture
from autoaux.stages.race import run_episode, run_race
from autoaux.stages.stage1 import run_stage1, select_arms
from autoaux.stages.stage2 import run_stage2, warm_start_ratios

__all__ = [
    "BASELINES",
    "FinetuneResult",
    "LocalExecutor",
    "RayExecutor",
    "TrialExecutor",
    "TrialSpec",
    "finetune",
    "make_executor",
    "read_mixture",
    "run_baselines",
    "run_episode",
    "run_race",
    "run_stage1",
    "run_stage2",
    "select_arms",
    "warm_start_ratios",
]
