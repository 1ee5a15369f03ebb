"""EXP3, the exponential-weight policy for adversarial bandits (Auer et al. 2002)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ._base import Bandit, check_number, load_array

__all__ = ["EXP3"]


class EXP3(Bandit):
    """EXP3 (Auer, Cesa-Bianchi, Freund & Schapire, "The nonstochastic multiarmed bandit
    problem", SIAM J. Computing 2002).

    Each arm ``i`` carries an importance-weighted cumulative gain estimate ``G[i]`` (shape
    ``(n_arms,)``, starting at 0); its weight is ``w[i] = exp(gamma * G[i] / K)`` for ``K`` arms.

    *Select*: draw the arm from::

        p[i] = (1 - gamma) * w[i] / sum_j w[j] + gamma / K

    *Update* with reward ``r`` for arm ``a``: ``G[a] <- G[a] + r / p[a]`` (an unbiased
    estimate of the reward every arm would have earned), other arms unchanged.

    Weights are computed from ``G`` minus its maximum, so nothing overflows however long the run.
    ``gamma`` in (0, 1] mixes in uniform exploration; it also sets how fast the weights move.

    :meth:`utilities` returns ``G / t`` after ``t`` updates, an unbiased estimate of each arm's
    average reward over the run (``nan`` before the first update). :meth:`probabilities` gives
    the current ``p``.

    Args:
        n_arms: number of arms (>= 1).
        gamma: exploration rate in (0, 1].
        seed: seed of the policy's own random generator.
    """

    name = "exp3"

    def __init__(self, n_arms: int, *, gamma: float = 0.1, seed: int | None = None) -> None:
        super().__init__(n_arms, seed=seed)
        self._gamma = check_number("gamma", gamma, low=0.0, high=1.0, low_open=True)
        self._eta = self._gamma / self.n_arms  # both the weight rate and the uniform share
        self._gains = np.zeros(self.n_arms)
        self._t = 0
        self._probs = np.empty(self.n_arms)
        self._cdf = np.empty(self.n_arms)
        self._probs_valid = False

    @property
    def gamma(self) -> float:
        """The exploration rate."""
        return self._gamma

    def probabilities(self) -> np.ndarray:
        """The current selection probabilities ``p``, shape ``(n_arms,)``, summing to 1."""
        return self._current_probabilities().copy()

    def select(self) -> int:
        cdf = np.cumsum(self._current_probabilities(), out=self._cdf)
        arm = int(cdf.searchsorted(self._rng.random() * cdf[-1], side="right"))
        return min(arm, self.n_arms - 1)

    def utilities(self) -> np.ndarray:
        """Estimated average reward per arm ``G / t``, shape ``(n_arms,)``; ``nan`` if ``t = 0``."""
        if self._t == 0:
            return np.full(self.n_arms, np.nan)
        return self._gains / self._t

    def _current_probabilities(self) -> np.ndarray:
        probs = self._probs
        if not self._probs_valid:
            np.multiply(self._gains, self._eta, out=probs)
            probs -= probs.max()
            np.exp(probs, out=probs)
            probs *= (1.0 - self._gamma) / probs.sum()
            probs += self._eta
            self._probs_valid = True
        return probs

    def _update(self, arm: int, reward: float) -> None:
        if reward:
            self._gains[arm] += reward / self._current_probabilities()[arm]
            self._probs_valid = False
        self._t += 1

    def _options(self) -> dict[str, Any]:
        return {"gamma": self._gamma}

    def _policy_state(self) -> dict[str, Any]:
        return {"gains": self._gains.tolist(), "t": self._t}

    def _load_policy_state(self, state: Mapping[str, Any]) -> None:
        gains = load_array(state, "gains", self.n_arms, np.float64)
        t = state.get("t")
        if not isinstance(t, int) or t < 0 or not np.all(np.isfinite(gains)):
            raise ValueError(
                f"state['t']={t!r} or state['gains'] is invalid; "
                "accepted: an integer >= 0 and finite gains"
            )
        self._gains, self._t, self._probs_valid = gains, t, False
