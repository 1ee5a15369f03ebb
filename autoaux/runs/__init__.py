"""What a run leaves behind: the result records and ``result.json``, the checkpoint a stopped
run continues from, and the two plots."""

from __future__ import annotations

from autoaux.runs._files import UnsafeOutput, atomic_write, plain_folder, refuse_link, write_json
from autoaux.runs.checkpoint import (
    CHECKPOINT_DIR,
    CheckpointError,
    RunCheckpoint,
    RunInterrupted,
    Stage1Progress,
    Stage2Progress,
)
from autoaux.runs.plots import STAGE1_PLOT, STAGE2_PLOT, plot_trials, plot_utilities
from autoaux.runs.result import (
    BaselineScore,
    MixResult,
    PullRecord,
    RunResult,
    SelectionResult,
    TaskVerdict,
    TrialRecord,
)

__all__ = [
    "CHECKPOINT_DIR",
    "STAGE1_PLOT",
    "STAGE2_PLOT",
    "BaselineScore",
    "CheckpointError",
    "MixResult",
    "PullRecord",
    "RunCheckpoint",
    "RunInterrupted",
    "RunResult",
    "SelectionResult",
    "Stage1Progress",
    "Stage2Progress",
    "TaskVerdict",
    "TrialRecord",
    "UnsafeOutput",
    "atomic_write",
    "plain_folder",
    "plot_trials",
    "plot_utilities",
    "refuse_link",
    "write_json",
]
