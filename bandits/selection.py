"""Selection rules: turn per-arm utilities (or reward histories) into the selected set of arms.

Every rule returns the selected arm indices in ascending order. Arms listed in ``exclude``
are never selected, nor are arms whose utility is ``nan`` (no estimate).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Sequence

import numpy as np

from ._base import check_int, check_number

__all__ = ["select_above", "select_against_control", "select_default", "select_top_k"]


def select_top_k(
    utilities: Sequence[float] | np.ndarray, k: int, *, exclude: Iterable[int] = ()
) -> list[int]:
    """The ``k`` arms with the highest utility (fewer if fewer are eligible).

    Ties are resolved toward the lower arm index. ``utilities`` has shape ``(n_arms,)``;
    ``k`` >= 0.
    """
    values = _utilities(utilities)
    count = check_int("k", k, low=0)
    eligible = _eligible(values, exclude)
    ranked = sorted(eligible, key=lambda arm: (-values[arm], arm))
    return sorted(ranked[:count])


def select_above(
    utilities: Sequence[float] | np.ndarray, threshold: float, *, exclude: Iterable[int] = ()
) -> list[int]:
    """The arms whose utility is strictly greater than ``threshold``."""
    values = _utilities(utilities)
    bar = float(threshold)
    if math.isnan(bar):
        raise ValueError(f"threshold={threshold!r} is invalid; accepted: a number (not NaN)")
    return [arm for arm in _eligible(values, exclude) if values[arm] > bar]


def select_default(
    utilities: Sequence[float] | np.ndarray,
    *,
    main_arm: int | None = None,
    prior_mean: float = 0.5,
    exclude: Iterable[int] = (),
) -> list[int]:
    """The arms that beat a baseline: the main task's own arm, else the prior mean.

    When the main task is one of the arms (``main_arm``), an auxiliary arm is kept if its utility
    is strictly greater than the main arm's utility; the main arm itself is never selected. When
    there is no main arm, or its utility is ``nan``, the bar is ``prior_mean`` (0.5 is the mean
    of the uniform Beta(1, 1) prior, i.e. "better than a coin flip").
    """
    values = _utilities(utilities)
    bar = check_number("prior_mean", prior_mean, low=-math.inf, high=math.inf)
    excluded = set(_arms("exclude", exclude, values.size))
    if main_arm is not None:
        main = _arms("main_arm", (main_arm,), values.size)[0]
        excluded.add(main)
        if not math.isnan(values[main]):
            bar = float(values[main])
    return select_above(values, bar, exclude=excluded)


def select_against_control(
    histories: Sequence[Sequence[float]],
    control_arms: Sequence[int],
    *,
    confidence: float = 0.9,
    exclude: Iterable[int] = (),
) -> list[int]:
    """Arms whose mean reward beats the best control arm's with one-sided ``confidence``.

    ``histories[i]`` holds every reward arm ``i`` received (so ``len(histories)`` is the number
    of arms). Control arms are deliberately useless candidates (e.g. a task with shuffled labels);
    the best of them, by mean reward among those with at least 2 rewards, is the bar.

    For a candidate arm with ``n`` rewards of mean ``m`` and sample variance ``v`` (ddof 1) and
    the best control with ``n_c``, ``m_c``, ``v_c``, Welch's statistic is::

        z = (m - m_c) / sqrt(v / n + v_c / n_c)

    and the arm is selected when ``Phi(z) > confidence``, ``Phi`` being the standard normal
    distribution function (a normal approximation to Welch's t, fine for the tens of pulls a
    stage-1 run makes; it is somewhat liberal for very few rewards). When both variances are 0
    the arm is selected iff ``m > m_c``.

    Arms with fewer than 2 rewards are never selected, nor are control arms. ``ValueError`` if no
    control arm has at least 2 rewards (nothing to compare against).
    """
    n_arms = len(histories)
    if n_arms < 1:
        raise ValueError("histories is empty; accepted: one sequence of rewards per arm")
    controls = _arms("control_arms", control_arms, n_arms)
    if not controls:
        raise ValueError(f"control_arms={control_arms!r} is empty; accepted: at least one arm")
    level = check_number("confidence", confidence, low=0.0, high=1.0, low_open=True, high_open=True)
    excluded = set(_arms("exclude", exclude, n_arms)) | set(controls)

    stats: list[tuple[int, float, float] | None] = []
    for arm, history in enumerate(histories):
        rewards = np.asarray(history, dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(rewards)):
            raise ValueError(f"histories[{arm}] contains a non-finite value; accepted: numbers")
        n = rewards.size
        stats.append((n, float(rewards.mean()), float(rewards.var(ddof=1))) if n >= 2 else None)

    usable = [entry for entry in (stats[arm] for arm in controls) if entry is not None]
    if not usable:
        raise ValueError(
            f"control_arms={control_arms!r} have fewer than 2 rewards each; "
            "accepted: at least one control arm with 2 or more rewards"
        )
    n_c, m_c, v_c = max(usable, key=lambda entry: entry[1])

    selected = []
    for arm in range(n_arms):
        entry = stats[arm]
        if arm in excluded or entry is None:
            continue
        n, m, v = entry
        se = math.sqrt(v / n + v_c / n_c)
        if se == 0.0:
            if m > m_c:
                selected.append(arm)
        elif _normal_cdf((m - m_c) / se) > level:
            selected.append(arm)
    return selected


def _normal_cdf(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def _utilities(utilities: Sequence[float] | np.ndarray) -> np.ndarray:
    values = np.asarray(utilities, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(
            f"utilities has shape {values.shape}; accepted: a 1-D sequence of per-arm numbers"
        )
    return values


def _arms(name: str, arms: Iterable[int], n_arms: int) -> list[int]:
    result = []
    for arm in arms:
        try:
            index = operator.index(arm)
        except TypeError:
            index = -1
        if not 0 <= index < n_arms:
            raise ValueError(f"{name} contains {arm!r}; accepted: arm indices in [0, {n_arms - 1}]")
        result.append(index)
    return result


def _eligible(values: np.ndarray, exclude: Iterable[int]) -> list[int]:
    excluded = set(_arms("exclude", exclude, values.size))
    return [
        arm for arm in range(values.size) if arm not in excluded and not math.isnan(values[arm])
    ]
