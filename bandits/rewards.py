"""Rewards in [0, 1] for stage 1, computed from main-task scores or gradient cosines.

Every helper returns a plain ``float`` in [0, 1], ready for :meth:`bandits.Bandit.update`.
"""

from __future__ import annotations

import math

from ._base import check_number, check_reward

__all__ = ["binary_gain", "cosine_reward", "mixed_reward", "scaled_gain"]


def binary_gain(previous: float, current: float, *, tolerance: float = 0.0) -> float:
    """AutoSem's reward: 1 if the main dev score did not fall since the last evaluation, else 0.

    Returns ``1.0`` if ``current >= previous - tolerance`` else ``0.0``. A ``nan`` ``current``
    (a failed evaluation) counts as a fall. ``previous`` must not be ``nan``; ``tolerance`` >= 0.
    """
    _check_previous(previous)
    tol = check_number("tolerance", tolerance, low=0.0, high=math.inf)
    return 1.0 if current >= previous - tol else 0.0


def scaled_gain(previous: float, current: float, *, scale: float = 0.05) -> float:
    """A continuous gain: ``0.5 + (current - previous) / (2 * scale)`` clipped to [0, 1].

    No change gives 0.5, a rise of ``scale`` or more gives 1, a fall of ``scale`` or more gives 0.
    A ``nan`` ``current`` counts as the worst fall (0). ``scale`` > 0.
    """
    _check_previous(previous)
    width = check_number("scale", scale, low=0.0, high=math.inf, low_open=True, high_open=True)
    if math.isnan(current):
        return 0.0
    return min(1.0, max(0.0, 0.5 + (current - previous) / (2.0 * width)))


def cosine_reward(cos: float) -> float:
    """A reward from a gradient cosine: ``(cos + 1) / 2`` clipped to [0, 1].

    Orthogonal gradients (``cos = 0``) give 0.5; aligned ones 1; opposed ones 0. ``cos`` must not
    be ``nan``.
    """
    if math.isnan(cos):
        raise ValueError(f"cos={cos!r} is invalid; accepted: a number in [-1, 1] (not NaN)")
    return min(1.0, max(0.0, (cos + 1.0) / 2.0))


def mixed_reward(gain_reward: float, cos_reward: float, *, weight: float = 0.5) -> float:
    """``weight * gain_reward + (1 - weight) * cos_reward``; both rewards in [0, 1], weight too."""
    gain = _check_named_reward("gain_reward", gain_reward)
    cos = _check_named_reward("cos_reward", cos_reward)
    w = check_number("weight", weight, low=0.0, high=1.0)
    return min(1.0, max(0.0, w * gain + (1.0 - w) * cos))


def _check_previous(previous: float) -> None:
    if math.isnan(previous):
        raise ValueError(f"previous={previous!r} is invalid; accepted: a number (not NaN)")


def _check_named_reward(name: str, value: float) -> float:
    try:
        return check_reward(value)
    except ValueError:
        raise ValueError(
            f"{name}={value!r} is invalid; accepted: a number in [0, 1] (not NaN)"
        ) from None
