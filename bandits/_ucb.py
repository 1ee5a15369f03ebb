"""Upper-confidence-bound policies for non-stationary problems (Garivier & Moulines 2011)."""

from __future__ import annotations

import math
import operator
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._base import TINY_COUNT, Bandit, check_int, check_number, first_unpulled, load_array

__all__ = ["DiscountedUCB", "SlidingWindowUCB"]


class DiscountedUCB(Bandit):
    """Discounted UCB (D-UCB; Garivier & Moulines, "On upper-confidence bound policies for
    switching bandit problems", ALT 2011).

    Statistics are discounted by ``gamma`` on every update, so a pull made ``s`` updates ago
    weighs ``gamma ** s``. Per arm ``i`` (arrays of shape ``(n_arms,)``)::

        N[i] <- gamma * N[i] + 1{i pulled}          (discounted pull count)
        S[i] <- gamma * S[i] + r * 1{i pulled}      (discounted reward sum)

    *Select*: first each arm once (in index order), then::

        n        = sum_i N[i]
        index[i] = S[i] / N[i] + sqrt(exploration * log(n) / N[i])
        arm      = argmax(index)          (the lowest index among ties)

    The paper writes the bonus ``2 * B * sqrt(xi * log(n) / N[i])`` for rewards bounded by
    ``B``, i.e. ``exploration = 4 * B**2 * xi`` (its experiments use ``xi = 0.6``, ``B = 1``, so
    2.4). That setting explores heavily over the few hundred pulls of a selection run; the
    default 0.6 exploits sooner. The effective memory is about ``1 / (1 - gamma)`` updates; the
    paper tunes ``gamma = 1 - sqrt(changes / T) / 4`` for ``T`` updates with ``changes``
    breakpoints. ``gamma = 1`` gives ordinary UCB (``exploration = 2`` is UCB1).

    :meth:`utilities` returns the discounted means ``S / N`` (``nan`` where never pulled).

    Args:
        n_arms: number of arms (>= 1).
        gamma: discount factor in (0, 1].
        exploration: the width of the confidence bonus, > 0.
        seed: seed of the policy's own random generator (D-UCB itself is deterministic).
    """

    name = "discounted-ucb"

    def __init__(
        self,
        n_arms: int,
        *,
        gamma: float = 0.98,
        exploration: float = 0.6,
        seed: int | None = None,
    ) -> None:
        super().__init__(n_arms, seed=seed)
        self._gamma = check_number("gamma", gamma, low=0.0, high=1.0, low_open=True)
        self._exploration = check_number(
            "exploration", exploration, low=0.0, high=math.inf, low_open=True, high_open=True
        )
        self._dcounts = np.zeros(self.n_arms)
        self._dsums = np.zeros(self.n_arms)
        self._index = np.empty(self.n_arms)
        self._bonus = np.empty(self.n_arms)
        self._all_pulled = False

    @property
    def gamma(self) -> float:
        """The discount factor."""
        return self._gamma

    def select(self) -> int:
        if not self._all_pulled:
            arm = first_unpulled(self._counts)
            if arm is not None:
                return arm
            self._all_pulled = True
        counts, bonus, index = self._dcounts, self._bonus, self._index
        np.maximum(counts, TINY_COUNT, out=bonus)  # reuse as floored counts
        np.divide(self._dsums, bonus, out=index)
        np.divide(self._exploration * math.log(float(counts.sum())), bonus, out=bonus)
        np.sqrt(bonus, out=bonus)
        index += bonus
        return int(index.argmax())

    def utilities(self) -> np.ndarray:
        """Discounted mean rewards ``S / N``, shape ``(n_arms,)``; ``nan`` where never pulled."""
        means = np.full(self.n_arms, np.nan)
        np.divide(
            self._dsums, np.maximum(self._dcounts, TINY_COUNT), out=means, where=self._counts > 0
        )
        return means

    def _update(self, arm: int, reward: float) -> None:
        if self._gamma != 1.0:
            self._dcounts *= self._gamma
            self._dsums *= self._gamma
        self._dcounts[arm] += 1.0
        self._dsums[arm] += reward

    def _options(self) -> dict[str, Any]:
        return {"gamma": self._gamma, "exploration": self._exploration}

    def _policy_state(self) -> dict[str, Any]:
        return {
            "discounted_counts": self._dcounts.tolist(),
            "discounted_sums": self._dsums.tolist(),
        }

    def _load_policy_state(self, state: Mapping[str, Any]) -> None:
        dcounts = load_array(state, "discounted_counts", self.n_arms, np.float64)
        dsums = load_array(state, "discounted_sums", self.n_arms, np.float64)
        self._dcounts, self._dsums = dcounts, dsums
        self._all_pulled = False


class SlidingWindowUCB(Bandit):
    """Sliding-window UCB (SW-UCB; Garivier & Moulines, ALT 2011).

    Only the last ``window`` updates count. Per arm ``i`` (arrays of shape ``(n_arms,)``),
    ``N[i]`` is the number of pulls of ``i`` among the last ``window`` updates and ``S[i]`` the
    sum of their rewards; both are kept incrementally (add the new pull, drop the one that
    leaves the window).

    *Select*: an arm with no pull inside the window first (the lowest index), else::

        m        = min(t, window)       (t = number of updates so far)
        index[i] = S[i] / N[i] + sqrt(exploration * log(m) / N[i])
        arm      = argmax(index)        (the lowest index among ties)

    The paper writes the bonus ``B * sqrt(xi * log(m) / N[i])`` for rewards bounded by ``B``,
    i.e. ``exploration = B**2 * xi``; with ``B = 1`` and the paper's ``xi = 0.6`` that is the
    default. The paper tunes ``window = 2 * B * sqrt(T * log(T) / changes)`` for ``T`` updates
    with ``changes`` breakpoints.

    Keep ``window`` well above ``n_arms``: otherwise some arm always lacks a pull inside the
    window and the policy degenerates to replaying arms in turn.

    :meth:`utilities` returns the windowed means ``S / N`` (``nan`` for arms with no pull in the
    window).

    Args:
        n_arms: number of arms (>= 1).
        window: number of most recent updates remembered, an integer >= 1.
        exploration: the width of the confidence bonus, > 0.
        seed: seed of the policy's own random generator (SW-UCB itself is deterministic).
    """

    name = "sliding-window-ucb"

    def __init__(
        self,
        n_arms: int,
        *,
        window: int = 100,
        exploration: float = 0.6,
        seed: int | None = None,
    ) -> None:
        super().__init__(n_arms, seed=seed)
        self._window = check_int("window", window, low=1)
        self._exploration = check_number(
            "exploration", exploration, low=0.0, high=math.inf, low_open=True, high_open=True
        )
        self._history: deque[tuple[int, float]] = deque()
        self._wcounts = np.zeros(self.n_arms)
        self._wsums = np.zeros(self.n_arms)
        self._index = np.empty(self.n_arms)
        self._bonus = np.empty(self.n_arms)

    @property
    def window(self) -> int:
        """The number of most recent updates remembered."""
        return self._window

    def select(self) -> int:
        counts, bonus, index = self._wcounts, self._bonus, self._index
        arm = int(counts.argmin())
        if counts[arm] == 0.0:
            return arm
        np.divide(self._wsums, counts, out=index)
        np.divide(self._exploration * math.log(len(self._history)), counts, out=bonus)
        np.sqrt(bonus, out=bonus)
        index += bonus
        return int(index.argmax())

    def utilities(self) -> np.ndarray:
        """Windowed mean rewards, shape ``(n_arms,)``; ``nan`` for arms not pulled in the window."""
        means = np.full(self.n_arms, np.nan)
        np.divide(self._wsums, self._wcounts, out=means, where=self._wcounts > 0)
        return means

    def _update(self, arm: int, reward: float) -> None:
        history = self._history
        if len(history) == self._window:
            old_arm, old_reward = history.popleft()
            self._wcounts[old_arm] -= 1.0
            if self._wcounts[old_arm] == 0.0:
                self._wsums[old_arm] = 0.0  # no rounding residue for an empty window
            else:
                self._wsums[old_arm] -= old_reward
        history.append((arm, reward))
        self._wcounts[arm] += 1.0
        self._wsums[arm] += reward

    def _options(self) -> dict[str, Any]:
        return {"window": self._window, "exploration": self._exploration}

    def _policy_state(self) -> dict[str, Any]:
        return {
            "history": [[arm, reward] for arm, reward in self._history],
            "window_sums": self._wsums.tolist(),
        }

    def _load_policy_state(self, state: Mapping[str, Any]) -> None:
        wsums = load_array(state, "window_sums", self.n_arms, np.float64)
        try:
            history = deque(
                (operator.index(arm), float(reward)) for arm, reward in state["history"]
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(
                "state['history'] is invalid; accepted: a list of [arm, reward] pairs"
            ) from error
        if len(history) > self._window or any(not 0 <= a < self.n_arms for a, _ in history):
            raise ValueError(
                f"state['history'] is invalid; accepted: at most {self._window} pairs "
                f"[arm, reward] with arm in [0, {self.n_arms - 1}]"
            )
        arms = np.array([a for a, _ in history], dtype=np.int64)
        wcounts = np.bincount(arms, minlength=self.n_arms).astype(np.float64)
        self._history, self._wcounts, self._wsums = history, wcounts, wsums
