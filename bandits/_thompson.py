"""Thompson sampling with a Beta-Bernoulli model whose posterior can decay toward the prior."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._base import Bandit, check_number, load_array

__all__ = ["ThompsonSampling"]


class ThompsonSampling(Bandit):
    """Beta-Bernoulli Thompson sampling, optionally non-stationary through ``decay``.

    Each arm ``i`` has a Beta(``alpha[i]``, ``beta[i]``) belief about its success rate, starting
    at the prior ``(alpha0, beta0)``.

    *Select*: draw ``theta[i] ~ Beta(alpha[i], beta[i])`` for every arm and pull ``argmax(theta)``.

    *Update* with a reward ``r`` in [0, 1] (fractional rewards allowed) for arm ``a``:

    1. every arm decays toward the prior::

           alpha[i] <- (1 - decay) * alpha[i] + decay * alpha0
           beta[i]  <- (1 - decay) * beta[i]  + decay * beta0

    2. then the pulled arm absorbs the reward::

           alpha[a] <- alpha[a] + r
           beta[a]  <- beta[a] + (1 - r)

    With ``decay = 0`` this is ordinary stationary Thompson sampling. With ``decay > 0`` the
    posterior remembers roughly the last ``1 / decay`` updates, so the policy keeps exploring and
    follows a best arm that moves; this is AutoSem's non-stationary controller (Guo et al. 2019),
    whose published setting is ``decay = 0.3``. Note that every arm decays on every update, pulled
    or not.

    :meth:`utilities` returns the decayed posterior means ``alpha / (alpha + beta)``, shape
    ``(n_arms,)``. A decayed posterior reflects only the last few updates, so for a final verdict
    prefer the undecayed statistics: :meth:`mean_rewards` or ``posterior(decayed=False)``.

    Args:
        n_arms: number of arms (>= 1).
        prior: ``(alpha0, beta0)``, both positive.
        decay: in [0, 1); 0 means no forgetting.
        seed: seed of the policy's own random generator.
    """

    name = "thompson"

    def __init__(
        self,
        n_arms: int,
        *,
        prior: Sequence[float] = (1.0, 1.0),
        decay: float = 0.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(n_arms, seed=seed)
        self._alpha0, self._beta0 = _check_prior(prior)
        self._decay = check_number("decay", decay, low=0.0, high=1.0, high_open=True)
        self._keep = 1.0 - self._decay
        self._alpha_pull = self._decay * self._alpha0
        self._beta_pull = self._decay * self._beta0
        self._alpha = np.full(self.n_arms, self._alpha0)
        self._beta = np.full(self.n_arms, self._beta0)

    @property
    def prior(self) -> tuple[float, float]:
        """The prior ``(alpha0, beta0)``."""
        return (self._alpha0, self._beta0)

    @property
    def decay(self) -> float:
        """The decay toward the prior applied on every update."""
        return self._decay

    def select(self) -> int:
        return int(self._rng.beta(self._alpha, self._beta).argmax())

    def utilities(self) -> np.ndarray:
        """Decayed posterior means ``alpha / (alpha + beta)``, shape ``(n_arms,)``."""
        return self._alpha / (self._alpha + self._beta)

    def posterior(self, *, decayed: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """The Beta parameters ``(alpha, beta)``, each of shape ``(n_arms,)``.

        With ``decayed=False``, the stationary posterior from all rewards ever received:
        ``alpha0 + sum of rewards`` and ``beta0 + sum of (1 - reward)``.
        """
        if decayed:
            return self._alpha.copy(), self._beta.copy()
        return (
            self._alpha0 + self._reward_sums,
            self._beta0 + (self._counts - self._reward_sums),
        )

    def _update(self, arm: int, reward: float) -> None:
        alpha, beta = self._alpha, self._beta
        if self._decay:
            alpha *= self._keep
            alpha += self._alpha_pull
            beta *= self._keep
            beta += self._beta_pull
        alpha[arm] += reward
        beta[arm] += 1.0 - reward

    def _options(self) -> dict[str, Any]:
        return {"prior": [self._alpha0, self._beta0], "decay": self._decay}

    def _policy_state(self) -> dict[str, Any]:
        return {"alpha": self._alpha.tolist(), "beta": self._beta.tolist()}

    def _load_policy_state(self, state: Mapping[str, Any]) -> None:
        alpha = load_array(state, "alpha", self.n_arms, np.float64)
        beta = load_array(state, "beta", self.n_arms, np.float64)
        if not (np.all(alpha > 0) and np.all(beta > 0)):
            raise ValueError("state['alpha'] and state['beta'] must be positive numbers")
        self._alpha, self._beta = alpha, beta


def _check_prior(prior: Sequence[float]) -> tuple[float, float]:
    try:
        alpha0, beta0 = (float(value) for value in prior)
    except (TypeError, ValueError):
        alpha0 = beta0 = math.nan
    if not (0.0 < alpha0 < math.inf and 0.0 < beta0 < math.inf):
        raise ValueError(
            f"prior={prior!r} is invalid; accepted: a pair (alpha0, beta0) of positive numbers"
        )
    return alpha0, beta0
