"""Building a policy from its name."""

from __future__ import annotations

from typing import Any

from ._base import Bandit
from ._epsilon_greedy import EpsilonGreedy
from ._exp3 import EXP3
from ._racing import Racing
from ._thompson import ThompsonSampling
from ._ucb import DiscountedUCB, SlidingWindowUCB
from ._uniform import UniformBandit

__all__ = ["POLICIES", "make_bandit"]

#: Policy name -> class; :func:`make_bandit` looks names up here.
POLICIES: dict[str, type[Bandit]] = {
    policy.name: policy
    for policy in (
        ThompsonSampling,
        DiscountedUCB,
        SlidingWindowUCB,
        EXP3,
        EpsilonGreedy,
        UniformBandit,
        Racing,
    )
}


def make_bandit(name: str, n_arms: int, **options: Any) -> Bandit:
    """Build the policy called ``name`` (a key of :data:`POLICIES`) over ``n_arms`` arms.

    ``options`` are the policy's keyword-only arguments, e.g.
    ``make_bandit("thompson", 4, decay=0.3, seed=0)``.
    """
    try:
        policy = POLICIES[name]
    except (KeyError, TypeError):
        known = ", ".join(repr(key) for key in POLICIES)
        raise ValueError(f"name={name!r} is not a known policy; accepted: {known}") from None
    return policy(n_arms, **options)
