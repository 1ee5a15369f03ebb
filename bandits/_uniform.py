"""The round-robin baseline."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._base import Bandit

__all__ = ["UniformBandit"]


class UniformBandit(Bandit):
    """Round-robin baseline: pulls arms ``0, 1, ..., n_arms - 1, 0, 1, ...`` ignoring rewards.

    Every arm gets the same share of pulls (within one), which is what uniform mixing of all
    candidate tasks does; learning policies are measured against it. :meth:`select` advances the
    cycle, :meth:`update` only records the reward. :meth:`utilities` returns the sample means
    (``nan`` where never pulled), the same as :meth:`mean_rewards`.

    Args:
        n_arms: number of arms (>= 1).
        seed: accepted for a uniform interface; the policy draws no random numbers.
    """

    name = "uniform"

    def __init__(self, n_arms: int, *, seed: int | None = None) -> None:
        super().__init__(n_arms, seed=seed)
        self._next = 0

    def select(self) -> int:
        arm = self._next
        self._next = arm + 1 if arm + 1 < self.n_arms else 0
        return arm

    def utilities(self) -> np.ndarray:
        """Sample mean reward per arm, shape ``(n_arms,)``; ``nan`` where never pulled."""
        return self.mean_rewards()

    def _update(self, arm: int, reward: float) -> None:
        pass

    def _options(self) -> dict[str, Any]:
        return {}

    def _policy_state(self) -> dict[str, Any]:
        return {"next": self._next}

    def _load_policy_state(self, state: Mapping[str, Any]) -> None:
        try:
            arm = operator.index(state["next"])
        except (KeyError, TypeError) as error:
            raise ValueError("state['next'] is invalid; accepted: an arm index") from error
        if not 0 <= arm < self.n_arms:
            raise ValueError(
                f"state['next']={arm!r} is invalid; accepted: an integer in [0, {self.n_arms - 1}]"
            )
        self._next = arm
