"""Epsilon-greedy with optional exponential forgetting."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ._base import TINY_COUNT, Bandit, check_number, first_unpulled, load_array

__all__ = ["EpsilonGreedy"]


class EpsilonGreedy(Bandit):
    """Epsilon-greedy: explore uniformly with probability ``epsilon``, else exploit.

    Per arm ``i`` (arrays of shape ``(n_arms,)``) the policy keeps a weighted pull count ``N[i]``
    and reward sum ``S[i]``. On every update all arms decay, then the pulled arm ``a`` adds its
    reward::

        N[i] <- (1 - decay) * N[i],   S[i] <- (1 - decay) * S[i]
        N[a] <- N[a] + 1,             S[a] <- S[a] + r

    ``decay = 0`` gives plain sample means; ``decay > 0`` remembers about ``1 / decay`` updates.

    *Select*: with probability ``epsilon`` a uniformly random arm; otherwise an arm never pulled
    yet (the lowest index) if there is one, else ``argmax(S / N)`` with ties broken at random.

    :meth:`utilities` returns ``S / N`` (``nan`` where never pulled).

    Args:
        n_arms: number of arms (>= 1).
        epsilon: exploration probability in [0, 1].
        decay: forgetting rate in [0, 1).
        seed: seed of the policy's own random generator.
    """

    name = "epsilon-greedy"

    def __init__(
        self,
        n_arms: int,
        *,
        epsilon: float = 0.1,
        decay: float = 0.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(n_arms, seed=seed)
        self._epsilon = check_number("epsilon", epsilon, low=0.0, high=1.0)
        self._decay = check_number("decay", decay, low=0.0, high=1.0, high_open=True)
        self._keep = 1.0 - self._decay
        self._wcounts = np.zeros(self.n_arms)
        self._wsums = np.zeros(self.n_arms)
        self._means = np.empty(self.n_arms)
        self._all_pulled = False

    @property
    def epsilon(self) -> float:
        """The exploration probability."""
        return self._epsilon

    @property
    def decay(self) -> float:
        """The forgetting rate."""
        return self._decay

    def select(self) -> int:
        rng = self._rng
        if rng.random() < self._epsilon:
            return int(rng.integers(self.n_arms))
        if not self._all_pulled:
            arm = first_unpulled(self._counts)
            if arm is not None:
                return arm
            self._all_pulled = True
        means = self._means
        np.maximum(self._wcounts, TINY_COUNT, out=means)
        np.divide(self._wsums, means, out=means)
        arm = int(means.argmax())
        best = means[arm]
        if np.count_nonzero(means == best) == 1:
            return arm
        ties = np.flatnonzero(means == best)
        return int(ties[rng.integers(ties.size)])

    def utilities(self) -> np.ndarray:
        """Weighted mean rewards ``S / N``, shape ``(n_arms,)``; ``nan`` where never pulled."""
        means = np.full(self.n_arms, np.nan)
        np.divide(
            self._wsums, np.maximum(self._wcounts, TINY_COUNT), out=means, where=self._counts > 0
        )
        return means

    def _update(self, arm: int, reward: float) -> None:
        if self._decay:
            self._wcounts *= self._keep
            self._wsums *= self._keep
        self._wcounts[arm] += 1.0
        self._wsums[arm] += reward

    def _options(self) -> dict[str, Any]:
        return {"epsilon": self._epsilon, "decay": self._decay}

    def _policy_state(self) -> dict[str, Any]:
        return {"weighted_counts": self._wcounts.tolist(), "weighted_sums": self._wsums.tolist()}

    def _load_policy_state(self, state: Mapping[str, Any]) -> None:
        wcounts = load_array(state, "weighted_counts", self.n_arms, np.float64)
        wsums = load_array(state, "weighted_sums", self.n_arms, np.float64)
        self._wcounts, self._wsums, self._all_pulled = wcounts, wsums, False
