"""The settings each stage-1 method reads: :class:`RaceSettings` for the race
(:mod:`autoaux.stages.race`) and :class:`BanditSettings` for the in-run bandit
(:mod:`autoaux.stages.stage1`).

``[stage1]`` (:class:`~autoaux.config.Stage1Config`) holds the keys of both methods, as the
config file spells them; :meth:`Stage1Config.race` and :meth:`Stage1Config.bandit` pick out the
keys of one method, so that a method is never handed keys it ignores. Both objects are built
from a validated ``[stage1]`` section and check nothing themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["BanditSettings", "RaceSettings"]


@dataclass(frozen=True)
class RaceSettings:
    """What the race reads from ``[stage1]`` (see :class:`~autoaux.config.Stage1Config`).

    ``pulls`` caps the episodes, ``episode_steps`` caps an episode's main-task steps, ``alpha``
    is the error rate shared by all candidates and ``margin`` the practical margin in
    dev-metric units. ``preset``, ``evidence`` and ``policy`` are recorded with the stage;
    ``policy_options`` go to ``bandits.make_bandit``.
    """

    preset: str
    evidence: str
    policy: str
    pulls: int
    episode_steps: int
    alpha: float
    margin: float
    policy_options: Mapping[str, Any]

    def bandit_options(self, *, seed: int | None) -> dict[str, Any]:
        """Keyword arguments for ``bandits.make_bandit(policy, n_arms, **options)`` besides
        the race's own: ``policy_options`` and ``seed``."""
        return _options(self.policy, None, self.policy_options, seed)


@dataclass(frozen=True)
class BanditSettings:
    """What the in-run bandit reads from ``[stage1]`` (see
    :class:`~autoaux.config.Stage1Config` for the meaning of each key)."""

    preset: str
    policy: str
    decay: float
    reward: str
    utility: str
    gating: str
    selection: str
    include_main_arm: bool
    pulls: int
    steps_per_pull: int
    eval_batches: int | None
    refresh_every: int
    smoothing: float
    top_k: int
    threshold: float
    confidence: float
    tolerance: float
    reward_scale: float
    reward_weight: float
    policy_options: Mapping[str, Any]

    def bandit_options(self, *, seed: int | None) -> dict[str, Any]:
        """Keyword arguments for ``bandits.make_bandit(policy, n_arms, **options)``:
        ``decay`` (for the policies that take one), ``policy_options`` and ``seed``."""
        return _options(self.policy, self.decay, self.policy_options, seed)

    def needs_cosine(self) -> bool:
        """Whether the reward uses the gradient cosine (so it must be measured even when
        gating is off)."""
        return self.reward in ("cosine", "mixed")


def _options(
    policy: str, decay: float | None, policy_options: Mapping[str, Any], seed: int | None
) -> dict[str, Any]:
    """``decay`` when given and ``policy`` takes one, then ``policy_options``, then ``seed``."""
    options: dict[str, Any] = {}
    if decay is not None and _accepts(policy, "decay"):
        options["decay"] = decay
    options.update(policy_options)
    options["seed"] = seed
    return options


def _accepts(policy: str, option: str) -> bool:
    import inspect

    from bandits import POLICIES as classes

    return option in inspect.signature(classes[policy]).parameters
