"""The interface every bandit policy shares, and the argument checks they use."""

from __future__ import annotations

import math
import operator
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

__all__ = ["Bandit"]

#: Floor for decayed pull counts: the count of a long-unpulled arm shrinks toward 0, and the
#: floor keeps means and confidence bonuses finite instead of dividing by zero.
TINY_COUNT = 1e-300


class Bandit(ABC):
    """A multi-armed bandit policy over ``n_arms`` arms numbered ``0 .. n_arms - 1``.

    The loop that drives a policy is::

        arm = bandit.select()           # which arm to pull next
        reward = ...                    # observe a reward in [0, 1]
        bandit.update(arm, reward)      # learn from it

    Every policy owns a :class:`numpy.random.Generator` built from the keyword-only ``seed``,
    so two policies built with the same seed and fed the same rewards make the same choices.

    Besides its own (possibly decayed or windowed) statistics, every policy keeps plain
    *undecayed* ones: :meth:`counts` (pulls per arm) and :meth:`mean_rewards` (the average of
    all rewards an arm ever received). A non-stationary policy forgets on purpose in order to
    track a moving best arm; the undecayed statistics are what to report at the end of a run.

    :meth:`state_dict` returns plain JSON types (including the generator's state), so
    ``bandit.load_state_dict(json.loads(json.dumps(other.state_dict())))`` makes ``bandit``
    continue exactly as ``other`` would.
    """

    #: The name under which :func:`bandits.make_bandit` builds the policy.
    name: ClassVar[str] = ""

    def __init__(self, n_arms: int, *, seed: int | None = None) -> None:
        self._n_arms = check_n_arms(n_arms)
        self._rng = np.random.default_rng(seed)
        self._counts = np.zeros(self._n_arms, dtype=np.int64)
        self._reward_sums = np.zeros(self._n_arms, dtype=np.float64)

    # ------------------------------------------------------------------ interface

    @property
    def n_arms(self) -> int:
        """The number of arms."""
        return self._n_arms

    @abstractmethod
    def select(self) -> int:
        """Return the arm to pull next, an integer in ``[0, n_arms)``."""

    def update(self, arm: int, reward: float) -> None:
        """Record ``reward`` for a pull of ``arm`` (in [0, 1] unless a policy says otherwise)."""
        arm = self._check_arm(arm)
        value = self._check_reward(reward)
        self._counts[arm] += 1
        self._reward_sums[arm] += value
        self._update(arm, value)

    @abstractmethod
    def utilities(self) -> np.ndarray:
        """The policy's current estimate of each arm's value, shape ``(n_arms,)``.

        Non-stationary policies return their decayed or windowed estimate; arms about which a
        policy has no estimate are ``nan`` (see each policy's docstring).
        """

    def mean_rewards(self) -> np.ndarray:
        """Undecayed mean reward per arm, shape ``(n_arms,)``; ``nan`` where never pulled."""
        means = np.full(self._n_arms, np.nan)
        np.divide(self._reward_sums, self._counts, out=means, where=self._counts > 0)
        return means

    def counts(self) -> np.ndarray:
        """Undecayed number of pulls per arm, integer array of shape ``(n_arms,)``."""
        return self._counts.copy()

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume the policy, as plain JSON types."""
        return {
            "policy": self.name,
            "n_arms": self._n_arms,
            "options": self._options(),
            "rng": self._rng.bit_generator.state,
            "counts": self._counts.tolist(),
            "reward_sums": self._reward_sums.tolist(),
            "state": self._policy_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a state from :meth:`state_dict` of a policy built with the same arguments.

        Raises ``ValueError`` when the state belongs to another policy, another number of arms
        or other options; nothing is changed in that case.
        """
        expected = {"policy": self.name, "n_arms": self._n_arms, "options": self._options()}
        for key, value in expected.items():
            if key not in state or _plain(state[key]) != value:
                got = state.get(key, "<missing>")
                raise ValueError(
                    f"state[{key!r}]={got!r} does not match this {type(self).__name__}; "
                    f"accepted: {value!r}"
                )
        counts = load_array(state, "counts", self._n_arms, np.int64)
        sums = load_array(state, "reward_sums", self._n_arms, np.float64)
        policy_state = state.get("state")
        if not isinstance(policy_state, Mapping) or not isinstance(state.get("rng"), Mapping):
            raise ValueError(
                "state lacks 'state' or 'rng'; accepted: a dictionary from state_dict()"
            )
        rng = np.random.default_rng()
        try:
            rng.bit_generator.state = dict(state["rng"])
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(
                f"state['rng'] is invalid ({error}); accepted: a PCG64 bit_generator.state"
            ) from error
        self._load_policy_state(policy_state)  # checks everything before assigning
        self._rng = rng
        self._counts = counts
        self._reward_sums = sums

    def __repr__(self) -> str:
        options = ", ".join(f"{key}={value!r}" for key, value in self._options().items())
        sep = ", " if options else ""
        return f"{type(self).__name__}({self._n_arms}{sep}{options})"

    # ------------------------------------------------------------ for subclasses

    @abstractmethod
    def _update(self, arm: int, reward: float) -> None:
        """Policy-specific learning from a checked ``(arm, reward)``."""

    @abstractmethod
    def _options(self) -> dict[str, Any]:
        """The constructor options (JSON types) that a loaded state must match."""

    @abstractmethod
    def _policy_state(self) -> dict[str, Any]:
        """The policy-specific state as JSON types."""

    @abstractmethod
    def _load_policy_state(self, state: Mapping[str, Any]) -> None:
        """Install a state from :meth:`_policy_state`; check all of it before assigning any."""

    def _check_reward(self, reward: float) -> float:
        """The reward as a ``float``, or ``ValueError``; a number in [0, 1] unless overridden."""
        return check_reward(reward)

    def _check_arm(self, arm: int) -> int:
        try:
            index = operator.index(arm)
        except TypeError:
            index = -1
        if not 0 <= index < self._n_arms or isinstance(arm, bool):
            raise ValueError(
                f"arm={arm!r} is out of range; accepted: an integer in [0, {self._n_arms - 1}]"
            )
        return index


# ---------------------------------------------------------------------- argument checks


def check_n_arms(n_arms: int) -> int:
    """Return ``n_arms`` as an ``int`` or raise ``ValueError``."""
    return check_int("n_arms", n_arms, low=1)


def check_int(name: str, value: int, *, low: int) -> int:
    """Return ``value`` as an ``int`` >= ``low`` or raise ``ValueError`` naming ``name``."""
    try:
        number = operator.index(value)
    except TypeError:
        number = low - 1
    if number < low or isinstance(value, bool):
        raise ValueError(f"{name}={value!r} is invalid; accepted: an integer >= {low}")
    return number


def first_unpulled(counts: np.ndarray) -> int | None:
    """The lowest-numbered arm with no pull yet (``counts == 0``), or ``None``."""
    arm = int(counts.argmin())
    return arm if counts[arm] == 0 else None


def check_finite_reward(reward: float) -> float:
    """Return ``reward`` as a finite ``float`` or raise ``ValueError`` (NaN and inf included)."""
    try:
        value = float(reward)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f"reward={reward!r} is invalid; accepted: a finite number")
    return value


def check_reward(reward: float) -> float:
    """Return ``reward`` as a ``float`` in [0, 1] or raise ``ValueError`` (NaN included)."""
    try:
        value = float(reward)
    except (TypeError, ValueError):
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"reward={reward!r} is invalid; accepted: a number in [0, 1] (not NaN)")
    return value


def check_number(
    name: str,
    value: float,
    *,
    low: float,
    high: float,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a ``float`` inside the stated interval or raise ``ValueError``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    above = number > low if low_open else number >= low
    below = number < high if high_open else number <= high
    if isinstance(value, bool) or not (above and below):
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{name}={value!r} is invalid; accepted: a number in {interval}")
    return number


def _plain(value: Any) -> Any:
    """Tuples become lists, as after a JSON round trip, so options compare equal."""
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    return value


def load_array(state: Mapping[str, Any], key: str, n_arms: int, dtype: type) -> np.ndarray:
    """Read ``state[key]`` as an array of shape ``(n_arms,)`` or raise ``ValueError``."""
    if key not in state:
        raise ValueError(f"state[{key!r}] is missing; accepted: a list of {n_arms} numbers")
    array: np.ndarray = np.array(state[key], dtype=dtype)
    if array.shape != (n_arms,):
        raise ValueError(
            f"state[{key!r}] has shape {array.shape}; accepted: a list of {n_arms} numbers"
        )
    return array
