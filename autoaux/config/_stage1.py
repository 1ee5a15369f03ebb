"""``[stage1]``: the stage-1 settings (:class:`Stage1Config`) and their presets
(:data:`STAGE1_PRESETS`).

A preset fills the method keys (``evidence``, ``policy``, ``decay``, ``reward``, ``utility``,
``gating``, ``selection``, ``include_main_arm``) that ``[stage1]`` does not give explicitly:
``"autoaux"`` (the default) races every candidate against the main task alone in paired
training episodes (:mod:`autoaux.stages.race`); ``"bandit"`` is the in-run bandit
(:mod:`autoaux.stages.stage1`); ``"autosem"`` the literal AutoSem settings (Guo et al., 2019).
Each method takes only its own keys: :meth:`Stage1Config.race` (:class:`RaceSettings`) and
:meth:`Stage1Config.bandit` (:class:`BanditSettings`). The measurements behind the presets are
in ``benchmarks/results/RESULTS.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from autoaux.config._checks import (
    _check_bool,
    _check_choice,
    _check_float,
    _check_int,
    _set,
)
from autoaux.config._stage1_methods import BanditSettings, RaceSettings, _options
from autoaux.config._vocab import (
    EVIDENCE,
    GATINGS,
    POLICIES,
    REWARDS,
    SELECTIONS,
    UTILITIES,
)
from autoaux.errors import ConfigError

__all__ = ["STAGE1_PRESETS", "BanditSettings", "RaceSettings", "Stage1Config"]

# ---------------------------------------------------------------------------------------------
# The defaults table. Stage-1 method settings per preset; budgets are the field defaults of the
# section dataclasses. Re-tune these from the benchmarks (benchmarks/*.py), nowhere else.
# ---------------------------------------------------------------------------------------------
STAGE1_PRESETS: dict[str, dict[str, Any]] = {
    # autoaux's defaults: paired training episodes raced against the main task alone
    # (autoaux.stages.race). Why episodes rather than per-pull rewards inside one run:
    # benchmarks/results/RESULTS.md ("Stage 1 on real text").
    # The in-run keys below are unused by episodes and kept valid for a switch to "pulls".
    "autoaux": {
        "evidence": "episodes",
        "policy": "racing",
        "decay": 0.0,
        "reward": "scaled",
        "utility": "mean",
        "gating": "off",
        "selection": "auto",
        "include_main_arm": False,
    },
    # The in-run bandit: decayed Thompson sampling explores, the final ranking uses the
    # undecayed mean reward, the reward mixes dev gain and gradient cosine, and auxiliary
    # updates are not gated (benchmarks/results/RESULTS.md, "Planted suite").
    "bandit": {
        "evidence": "pulls",
        "policy": "thompson",
        "decay": 0.3,
        "reward": "mixed",
        "utility": "mean",
        "gating": "off",
        "selection": "auto",
        "include_main_arm": True,
    },
    # AutoSem's literal stage 1: binary "dev score did not fall" reward, decayed Beta posterior
    # means as utilities, per-batch unweighted gating (Du et al.), the main task as an arm.
    "autosem": {
        "evidence": "pulls",
        "policy": "thompson",
        "decay": 0.3,
        "reward": "gain",
        "utility": "posterior",
        "gating": "unweighted",
        "selection": "default",
        "include_main_arm": True,
    },
}

_PRESET_KEYS = tuple(STAGE1_PRESETS["autoaux"])
# A default of ``_FROM_PRESET`` means "take the value from the preset" (resolved in __post_init__).
_FROM_PRESET: Any = None


@dataclass(frozen=True)
class Stage1Config:
    """``[stage1]``: selection of auxiliary tasks (a race by default, or an in-run bandit).

    Method settings (``policy``, ``decay``, ``reward``, ``utility``, ``gating``, ``selection``,
    ``include_main_arm``) default to the row ``preset`` of :data:`STAGE1_PRESETS`; any given
    explicitly wins. (``dataclasses.replace(cfg, preset=...)`` keeps the old values; use
    :meth:`from_preset` or :meth:`RunConfig.with_overrides` to switch presets.)

    ``evidence = "episodes"`` (the ``autoaux`` preset) races every candidate against the main
    task alone with paired training episodes (:mod:`autoaux.stages.race`): an episode trains
    main alone or main + one candidate at 1:1 from the initial weights under ``[protocol]``
    (by default: the main task until its dev score stops improving, at most ``episode_steps``
    main-task steps, the candidate's steps on top), scored by the best main dev metric on the
    whole dev split; ``pulls`` caps the episodes; ``alpha`` is the error rate shared by all
    candidates and ``margin`` the practical margin in dev-metric units: a task whose interval
    lies below it is decided ``negligible`` (not worth its cost) and stops costing episodes.
    The default, 0.005, is half a point of accuracy, half the smallest effect worth finding
    here (real effects are 1 to 5 points). ``evidence = "pulls"`` is the in-run bandit below.

    Per pull: the bandit picks an arm, the trainer takes ``steps_per_pull`` steps on it
    (auxiliary steps gated by ``gating``), the main dev score is measured on the first
    ``eval_batches`` batches of a fixed dev order (``None``: whole dev split), and the reward is

    - ``"gain"``: 1 if the dev score did not fall by more than ``tolerance``, else 0 (AutoSem);
    - ``"scaled"``: ``clip(0.5 + delta / (2 * reward_scale), 0, 1)``;
    - ``"cosine"``: ``(mean gate cosine of the pull + 1) / 2``;
    - ``"mixed"``: ``reward_weight * scaled + (1 - reward_weight) * cosine``.

    The main task's arm has no cosine with itself; under ``"cosine"`` and ``"mixed"`` its reward
    is the scaled gain. ``utility`` ranks tasks at the end: ``"posterior"`` is the bandit's
    (decayed) estimate, ``"mean"`` the undecayed mean reward. ``selection``: ``"default"``
    (AutoSem: utility above the main arm's, or above the prior mean without a main arm),
    ``"top-k"``, ``"threshold"`` (utility > ``threshold``), ``"control"`` (mean reward beats the
    best control arm with one-sided ``confidence``; needs a control arm) or ``"auto"``
    (``"control"`` when the pool has a control arm, else ``"default"``). Control arms and the
    main task are never selected. ``policy_options`` are passed to ``bandits.make_bandit``.
    """

    _section: ClassVar[str] = "stage1"

    preset: str = "autoaux"
    evidence: str = _FROM_PRESET
    policy: str = _FROM_PRESET
    decay: float = _FROM_PRESET
    reward: str = _FROM_PRESET
    utility: str = _FROM_PRESET
    gating: str = _FROM_PRESET
    selection: str = _FROM_PRESET
    include_main_arm: bool = _FROM_PRESET
    pulls: int = 100
    steps_per_pull: int = 10
    eval_batches: int | None = 4
    refresh_every: int = 1
    smoothing: float = 0.9
    top_k: int = 2
    threshold: float = 0.5
    confidence: float = 0.9
    tolerance: float = 0.0
    reward_scale: float = 0.05
    reward_weight: float = 0.5
    episode_steps: int = 400
    alpha: float = 0.05
    margin: float = 0.005
    policy_options: Mapping[str, Any] = field(default_factory=dict)
    explicit: frozenset[str] = field(default=frozenset(), init=False, compare=False, repr=False)
    """The preset-controlled keys that were given explicitly (the rest came from the preset)."""

    def __post_init__(self) -> None:
        _check_choice(self, "preset", tuple(STAGE1_PRESETS))
        given = frozenset(k for k in _PRESET_KEYS if getattr(self, k) is not None)
        _set(self, "explicit", given)
        for key, value in STAGE1_PRESETS[self.preset].items():
            if key not in given:
                _set(self, key, value)
        _check_choice(self, "evidence", EVIDENCE)
        _check_choice(self, "policy", POLICIES)
        if (self.evidence == "episodes") != (self.policy == "racing"):
            raise ConfigError("stage1.policy", self.policy, self._policy_advice(given))
        _check_int(self, "episode_steps", minimum=1)
        _check_float(self, "alpha", above=0.0, maximum=0.5)
        _check_float(self, "margin", minimum=0.0, maximum=1.0)
        _check_float(self, "decay", minimum=0.0)
        if self.decay >= 1.0:
            raise ConfigError("stage1.decay", self.decay, "a number >= 0 and < 1")
        _check_choice(self, "reward", REWARDS)
        _check_choice(self, "utility", UTILITIES)
        _check_choice(self, "gating", GATINGS)
        _check_choice(self, "selection", SELECTIONS)
        _check_bool(self, "include_main_arm")
        _check_int(self, "pulls", minimum=1)
        _check_int(self, "steps_per_pull", minimum=1)
        _check_int(self, "eval_batches", minimum=1, optional=True)
        _check_int(self, "refresh_every", minimum=1)
        _check_float(self, "smoothing", minimum=0.0, maximum=0.999)
        _check_int(self, "top_k", minimum=1)
        _check_float(self, "threshold", minimum=0.0, maximum=1.0)
        _check_float(self, "confidence", above=0.5, maximum=0.9999)
        _check_float(self, "tolerance", minimum=0.0)
        _check_float(self, "reward_scale", above=0.0)
        _check_float(self, "reward_weight", minimum=0.0, maximum=1.0)
        if not isinstance(self.policy_options, Mapping) or not all(
            isinstance(k, str) for k in self.policy_options
        ):
            raise ConfigError(
                "stage1.policy_options", self.policy_options, "a table of option = value"
            )
        _set(self, "policy_options", dict(self.policy_options))
        _check_policy_options(self.policy, self.bandit_options(seed=0), self.policy_options)

    def _policy_advice(self, given: frozenset[str]) -> str:
        """What to change when ``policy`` and ``evidence`` do not go together."""
        if self.policy == "racing":
            return (
                f'an in-run bandit policy, as evidence is {self.evidence!r}; "racing" needs '
                'evidence = "episodes": set preset = "autoaux" for a race'
            )
        if "evidence" in given:
            return (
                f'"racing" with evidence = "episodes"; {self.policy!r} is an in-run bandit '
                'policy: set evidence = "pulls" or, simpler, preset = "bandit" (or "autosem")'
            )
        return (
            f'"racing" with preset = {self.preset!r}; {self.policy!r} is an in-run bandit policy: '
            'set preset = "bandit" (or "autosem") in [stage1] to use it'
        )

    def race(self) -> RaceSettings:
        """The keys the race reads (:mod:`autoaux.stages.race`), whatever ``evidence`` says."""
        return RaceSettings(**self._picked(RaceSettings))

    def bandit(self) -> BanditSettings:
        """The keys the in-run bandit reads (:mod:`autoaux.stages.stage1`), whatever
        ``evidence`` says."""
        return BanditSettings(**self._picked(BanditSettings))

    def _picked(self, kind: type[RaceSettings] | type[BanditSettings]) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in fields(kind)}
        values["policy_options"] = dict(self.policy_options)
        return values

    def bandit_options(self, *, seed: int | None) -> dict[str, Any]:
        """Keyword arguments for ``bandits.make_bandit(policy, n_arms, **options)``:
        ``decay`` (for the policies that take one), ``policy_options`` and ``seed``."""
        return _options(self.policy, self.decay, self.policy_options, seed)

    @classmethod
    def from_preset(cls, preset: str = "autoaux", **overrides: Any) -> Stage1Config:
        """The settings of ``preset`` with ``overrides`` applied (keys as in ``[stage1]``)."""
        return cls(preset=preset, **overrides)

    def needs_cosine(self) -> bool:
        """Whether the reward uses the gradient cosine (so it must be measured even when
        gating is off)."""
        return self.bandit().needs_cosine()


def _check_policy_options(
    policy: str, options: Mapping[str, Any], given: Mapping[str, Any]
) -> None:
    """Build a two-arm bandit with ``options`` so that bad options fail at load time."""
    from bandits import make_bandit

    try:
        make_bandit(policy, 2, **options)
    except (TypeError, ValueError) as error:
        reason = " ".join(str(error).split())
        raise ConfigError(
            "stage1.policy_options",
            dict(given),
            f"options that {policy!r} accepts ({reason})",
        ) from None
