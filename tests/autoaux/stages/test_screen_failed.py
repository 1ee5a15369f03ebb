"""A probe whose dev loss is not finite measured nothing: its candidate is never shortlisted."""

from __future__ import annotations

import math
from typing import Any

from autoaux.config import ScreenConfig
from autoaux.stages.screen import run_screen

LEVELS = {"good": 0.40, "diverged": 0.30, "neutral": 0.50, "control": 0.50}


class _Trainer:
    def __init__(self, arm: str, seed_key: str) -> None:
        self.arm, self.round = arm, int(seed_key.rsplit("-", 1)[1])

    def train_mixture(self, probabilities: dict[str, float], steps: int, **_: Any) -> None:
        pass

    def evaluate_loss(self, task: str, split: str) -> float:
        if self.arm == "diverged" and self.round == 1:
            return math.nan  # one round's probe diverged
        return LEVELS[self.arm] + 0.01 * self.round


def test_a_probe_with_a_nan_loss_counts_as_failed() -> None:
    result = run_screen(
        lambda target, arm, steps, key: _Trainer(arm, key),
        main="main",
        candidates=["good", "diverged", "neutral"],
        control="control",
        settings=ScreenConfig(probe_steps=5, rounds=3, shortlist=2),
    )
    assert result.decisions["diverged"] == "failed"
    assert "diverged" not in result.shortlist
    assert result.shortlist == ("good", "neutral")
