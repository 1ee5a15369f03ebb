"""Non-stationary multi-armed bandit controllers (numpy only).

Policies share one interface (:class:`Bandit`): ``select() -> arm``, ``update(arm, reward)``,
``utilities()``, ``mean_rewards()``, ``counts()`` and a JSON-serialisable ``state_dict()``.
Build one by name with :func:`make_bandit`::

    from bandits import make_bandit

    bandit = make_bandit("thompson", n_arms=4, decay=0.3, seed=0)
    for _ in range(100):
        arm = bandit.select()
        bandit.update(arm, reward=1.0 if arm == 2 else 0.0)

:class:`Racing` is not a reward maximiser: it races candidate arms against a reference arm
with anytime-valid confidence sequences and gives each a :class:`Verdict` (helps, negligible,
hurts, undecided).

:mod:`bandits.rewards` turns scores and gradient cosines into rewards in [0, 1];
:mod:`bandits.selection` turns utilities into the selected set of arms.
"""

from __future__ import annotations

from . import rewards, selection
from ._base import Bandit
from ._epsilon_greedy import EpsilonGreedy
from ._exp3 import EXP3
from ._racing import Racing, Verdict
from ._registry import POLICIES, make_bandit
from ._thompson import ThompsonSampling
from ._ucb import DiscountedUCB, SlidingWindowUCB
from ._uniform import UniformBandit
from .rewards import binary_gain, cosine_reward, mixed_reward, scaled_gain
from .selection import select_above, select_against_control, select_default, select_top_k

__all__ = [
    "EXP3",
    "POLICIES",
    "Bandit",
    "DiscountedUCB",
    "EpsilonGreedy",
    "Racing",
    "SlidingWindowUCB",
    "ThompsonSampling",
    "UniformBandit",
    "Verdict",
    "binary_gain",
    "cosine_reward",
    "make_bandit",
    "mixed_reward",
    "rewards",
    "scaled_gain",
    "select_above",
    "select_against_control",
    "select_default",
    "select_top_k",
    "selection",
]
