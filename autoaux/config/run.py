"""Run configuration: frozen, validated dataclasses built once from TOML or from Python.

A run is described by one :class:`RunConfig`; the TOML file mirrors it section by section::

    seed = 0
    output_dir = "autoaux-output"
    device = "auto"                 # "auto" (CUDA when present), "cpu", "cuda", "cuda:N"
    workers = 0                     # processes for stage-1 episodes and screen probes (CPU):
                                    # 0 one per core, 1 in this process
    [model]      encoder, max_length, num_layers, hidden_size, tiny_layers, vocab_size, dropout,
                 top_hidden, top_layers
    [main]       task, max_train_examples, drop_eval_repeats
    [auxiliary]  tasks, add_control, max_train_examples, drop_contaminated
    [[task]]     name, path, text, label, kind, metric, dev_fraction, test_fraction,
                 split_column, encoding
    [stage1]     preset, policy, decay, reward, utility, gating, selection, include_main_arm,
                 pulls, steps_per_pull, eval_batches, refresh_every, smoothing, top_k, threshold,
                 confidence, tolerance, reward_scale, reward_weight, episode_steps, alpha,
                 margin, policy_options
    [screen]     when, min_candidates, probe_steps, rounds, alpha, shortlist
    [stage2]     trials, initial_points, max_ratio, steps, acquisition, eval_every,
                 eval_batches, warm_start, search, executor, parallel, ray_address,
                 adaptive, min_gain
    [trainer]    batch_size, lr, weight_decay, warmup_steps, clip_norm, eval_batch_size
    [tracking]   enabled, uri, experiment, run_name, artifact_location, fallback, fallback_uri
    [baselines]  run, temperature, steps
    [checkpoint] enabled, every

Every value is checked when the dataclass is built (from TOML or directly in Python); a bad key or
value raises :class:`~autoaux.errors.ConfigError` naming the file, the dotted key, the value and
what is accepted. Relative ``[[task]] path`` values are resolved against the folder of the TOML
file that names them (against the working folder for :func:`config_from_dict`).

Stage-1 method settings come from a *preset*, a row of :data:`STAGE1_PRESETS`; keys given
explicitly in ``[stage1]`` override the preset's values. ``preset = "autosem"`` reproduces the
literal AutoSem settings (Guo et al., 2019); the default ``"autoaux"`` preset changes what the
measurements in DESIGN.md ("Measured facts" 1 and 2) showed to be weak: it rewards a pull by a
mix of the dev-score change and the gradient cosine, ranks tasks by their undecayed mean reward
(the decay still drives exploration) and does not gate auxiliary updates (the cosine is still
measured, for the reward), since gating hid the effect it was measuring (see the table below).
"""

from __future__ import annotations

import codecs
import dataclasses
import difflib
import json
import logging
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from autoaux._secrets import redact_uri, register_uri
from autoaux.config._checks import (
    MAX_POSITIONS,
    MAX_SEED,
    _check_bool,
    _check_choice,
    _check_float,
    _check_int,
    _check_ray_address,
    _check_str,
    _check_str_tuple,
    _set,
)
from autoaux.config._memory import check_memory
from autoaux.config._vocab import (
    ACQUISITIONS,
    BASELINES,
    BUDGETS,
    CACHED_PREFIX,
    ENCODERS,
    EVIDENCE,
    EXECUTORS,
    GATINGS,
    KINDS,
    METRICS,
    POLICIES,
    REWARDS,
    SCREEN_WHEN,
    SEARCHES,
    SELECTIONS,
    SHUFFLED_PREFIX,
    UTILITIES,
)
from autoaux.config.defaults import default_encoder
from autoaux.errors import ConfigError

log = logging.getLogger(__name__)
#: ``(name, path)`` of the [[task]] entries already reported as shadowing a built-in task.
_SHADOW_WARNED: set[tuple[str, str]] = set()

__all__ = [
    "ACQUISITIONS",
    "BASELINES",
    "EXECUTORS",
    "GATINGS",
    "POLICIES",
    "REWARDS",
    "SCREEN_WHEN",
    "SELECTIONS",
    "STAGE1_PRESETS",
    "UTILITIES",
    "AuxiliaryConfig",
    "BaselinesConfig",
    "CheckpointConfig",
    "MainConfig",
    "ModelConfig",
    "RunConfig",
    "ScreenConfig",
    "Stage1Config",
    "Stage2Config",
    "TaskFileConfig",
    "TrackingConfig",
    "TrainerConfig",
    "config_from_dict",
    "load_config",
]

# ---------------------------------------------------------------------------------------------
# The defaults table. Stage-1 method settings per preset; budgets are the field defaults of the
# dataclasses below. Re-tune these from the benchmarks (benchmarks/*.py), nowhere else.
# ---------------------------------------------------------------------------------------------
STAGE1_PRESETS: dict[str, dict[str, Any]] = {
    # autoaux's defaults: paired training episodes raced against the main task alone
    # (autoaux.stages.race). On the multi-domain sentiment suite, per-pull rewards inside one
    # run (every reward of the "bandit" and "autosem" rows) separated helpful tasks from the
    # shuffled control no better than chance (per-pull AUC 0.4-0.6), while the paired episode
    # difference of the main dev accuracy did (benchmarks/evidence.py, README "Results").
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
    # The in-run bandit that was autoaux's default before the race: decayed Thompson sampling
    # explores, the final ranking uses the undecayed mean reward, the reward mixes dev gain and
    # gradient cosine, and auxiliary updates are not gated: on the planted pool (tiny BERT, main
    # 100 examples, helpful task 1,000, shuffled control; 40 pulls of 5 steps, seeds 0-4) the
    # helpful-minus-control utility was +0.07 to +0.17 ungated against -0.03 to +0.20 with
    # "smoothed" and -0.08 to +0.13 with "weighted" gating.
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


_DATA_SUFFIXES = (".csv", ".tsv", ".tab", ".jsonl", ".ndjson")
_PRESET_KEYS = tuple(STAGE1_PRESETS["autoaux"])
# A default of ``_FROM_PRESET`` means "take the value from the preset" (resolved in __post_init__).
_FROM_PRESET: Any = None


# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelConfig:
    """``[model]``: the shared encoder (see :class:`autoaux.model.multitask.ModelSpec`).

    ``encoder`` is ``"tiny"`` (random-init BERT, WordPiece tokenizer trained on the tasks' text),
    ``"minilm"`` (all-MiniLM-L6-v2 from the ``minilm`` extra), a local Hugging Face model
    folder, or a *cached* frozen encoder (``"minilm-cached"``, ``"cached:<model folder>"``, see
    :mod:`autoaux.model.cached`) whose pooled outputs are computed once and feed a trainable shared
    top of ``top_layers`` layers of width ``top_hidden``. ``num_layers`` keeps only the first N
    layers of a pretrained encoder; ``hidden_size``, ``tiny_layers`` and ``vocab_size`` shape
    the tiny encoder. A config without ``encoder`` gets the measured default,
    :func:`autoaux.config.defaults.default_encoder` (``"minilm-cached"`` when MiniLM is
    installed, which it is with autoaux).
    """

    _section: ClassVar[str] = "model"

    encoder: str = field(default_factory=default_encoder)
    max_length: int = 64
    num_layers: int | None = None
    hidden_size: int = 64
    tiny_layers: int = 2
    vocab_size: int = 8000
    dropout: float = 0.1
    top_hidden: int = 256
    top_layers: int = 2

    def __post_init__(self) -> None:
        _check_str(self, "encoder")
        _check_int(self, "max_length", minimum=8, maximum=MAX_POSITIONS)
        _check_int(self, "num_layers", minimum=1, optional=True)
        _check_int(self, "hidden_size", minimum=2, maximum=4096)
        _check_int(self, "tiny_layers", minimum=1, maximum=48)
        _check_int(self, "vocab_size", minimum=100, maximum=1_000_000)
        _check_float(self, "dropout", minimum=0.0, maximum=0.9)
        _check_int(self, "top_hidden", minimum=1, maximum=65536)
        _check_int(self, "top_layers", minimum=1, maximum=64)
        folder = self.encoder.removeprefix(CACHED_PREFIX).strip()
        if self.encoder not in ENCODERS and not Path(folder).expanduser().is_dir():
            raise ConfigError(
                "model.encoder",
                self.encoder,
                "'tiny', 'minilm', 'minilm-cached', an existing local model folder "
                "or 'cached:<existing local model folder>'",
            )
        if self.encoder not in ENCODERS:  # a model folder, stored resolved
            prefix = CACHED_PREFIX if self.encoder.startswith(CACHED_PREFIX) else ""
            _set(self, "encoder", prefix + str(Path(folder).expanduser().resolve()))
            positions = _positions(Path(folder).expanduser())
            if positions is not None and self.max_length > positions:
                raise ConfigError(
                    "model.max_length", self.max_length,
                    f"at most {positions} (the positions of the encoder in {folder})",
                )  # fmt: skip

    @property
    def cached(self) -> bool:
        """Whether the encoder is a cached frozen one (``autoaux.model.cached``)."""
        return self.encoder == "minilm-cached" or self.encoder.startswith(CACHED_PREFIX)


@dataclass(frozen=True)
class MainConfig:
    """``[main]``: the task whose dev score is optimised; ``max_train_examples`` subsamples
    its training split (seeded) to make it low-resource.

    The contamination guard (:func:`tasks.guard`) counts the main training examples that repeat
    a main dev or test text (same normalised text); ``drop_eval_repeats = true`` also removes
    them (before the subsample). Default ``false``: they are reported, not removed.
    """

    _section: ClassVar[str] = "main"

    task: str
    max_train_examples: int | None = None
    drop_eval_repeats: bool = False

    def __post_init__(self) -> None:
        _check_str(self, "task")
        _check_int(self, "max_train_examples", minimum=1, optional=True)
        _check_bool(self, "drop_eval_repeats")


@dataclass(frozen=True)
class AuxiliaryConfig:
    """``[auxiliary]``: the candidate pool.

    Names are built-in tasks, ``[[task]]`` names or ``"shuffled:<task>"`` (labels permuted: a
    null *control* arm, never selected). ``add_control = true`` (the default) adds
    ``shuffled:<first auxiliary task>`` when the pool holds no control, so every run is
    calibrated against one (the stage-1 race needs it); a string names the task to copy and
    adds it in any case; ``false`` adds nothing.
    ``max_train_examples`` caps each auxiliary training split (seeded subsample).
    ``drop_contaminated = true`` (the default) removes, before anything trains and before the
    cap, every auxiliary training example whose normalised text is a main-task dev or test text
    (:func:`tasks.guard`: NFKC, case folded, punctuation removed, whitespace folded; pairs on
    both fields); ``false`` keeps them, with a warning, to measure what they do. The counts
    per task are reported either way (log, ``result.json``'s ``contamination``, MLflow params,
    the CLI summary).
    """

    _section: ClassVar[str] = "auxiliary"

    tasks: tuple[str, ...] = ()
    add_control: bool | str = True
    max_train_examples: int | None = None
    drop_contaminated: bool = True

    def __post_init__(self) -> None:
        _check_str_tuple(self, "tasks")
        control = self.add_control
        if not isinstance(control, bool) and (not isinstance(control, str) or not control.strip()):
            raise ConfigError("auxiliary.add_control", control, "true, false or a task name")
        _check_int(self, "max_train_examples", minimum=1, optional=True)
        _check_bool(self, "drop_contaminated")


@dataclass(frozen=True)
class TaskFileConfig:
    """``[[task]]``: a user task read from a .csv, .tsv or .jsonl file (``tasks.from_file``).

    ``text`` is one column or two (``["sentence1", "sentence2"]``, a sentence-pair task);
    ``metric`` defaults to accuracy (classification) or pearson (regression). Splits: a
    ``split_column`` with values train / dev / test, else (and for any split it lacks) seeded
    stratified ``dev_fraction`` / ``test_fraction`` cuts of the rows. ``encoding`` is the file's
    text encoding (default UTF-8; e.g. ``"latin-1"``, ``"cp1252"``).
    """

    _section: ClassVar[str] = "task"

    name: str
    path: str
    text: str | tuple[str, ...] = "text"
    label: str = "label"
    kind: str = "classification"
    metric: str | None = None
    dev_fraction: float = 0.1
    test_fraction: float = 0.1
    split_column: str | None = None
    encoding: str = "utf-8"

    def __post_init__(self) -> None:
        _check_str(self, "name")
        _check_str(self, "encoding")
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ConfigError(
                "task.encoding", self.encoding, "a text encoding Python knows (utf-8, latin-1...)"
            ) from None
        if self.name.startswith(SHUFFLED_PREFIX):
            raise ConfigError(
                "task.name", self.name, "a name without the 'shuffled:' prefix (it is reserved)"
            )
        _check_str(self, "path")
        if not isinstance(self.text, str):
            _check_str_tuple(self, "text")
            if len(self.text) not in (1, 2):
                raise ConfigError("task.text", list(self.text), "one column or a list of two")
            if len(self.text) == 1:
                _set(self, "text", self.text[0])
        else:
            _check_str(self, "text")
        _check_str(self, "label")
        _check_choice(self, "kind", KINDS)
        if self.metric is not None:
            _check_choice(self, "metric", METRICS)
        _check_float(self, "dev_fraction", above=0.0, maximum=0.5)
        _check_float(self, "test_fraction", above=0.0, maximum=0.5)
        _check_str(self, "split_column", optional=True)
        path = Path(self.path).expanduser()
        suffixes = [x.lower() for x in path.suffixes]
        if suffixes and suffixes[-1] in (".gz", ".bz2"):
            suffixes.pop()
        if not suffixes or suffixes[-1] not in _DATA_SUFFIXES:
            raise ConfigError(
                "task.path", self.path, "a .csv, .tsv or .jsonl file (optionally .gz or .bz2)"
            )
        if not path.is_file():
            raise ConfigError("task.path", self.path, "an existing data file (not found)")
        _set(self, "path", str(path.resolve()))  # stored resolved: a resume works from anywhere

    @property
    def text_fields(self) -> tuple[str, ...]:
        return (self.text,) if isinstance(self.text, str) else tuple(self.text)


@dataclass(frozen=True)
class Stage1Config:
    """``[stage1]``: bandit selection of auxiliary tasks.

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

    def bandit_options(self, *, seed: int | None) -> dict[str, Any]:
        """Keyword arguments for ``bandits.make_bandit(policy, n_arms, **options)``:
        ``decay`` (for the policies that take one), ``policy_options`` and ``seed``."""
        options: dict[str, Any] = {}
        if _accepts(self.policy, "decay"):
            options["decay"] = self.decay
        options.update(self.policy_options)
        options["seed"] = seed
        return options

    @classmethod
    def from_preset(cls, preset: str = "autoaux", **overrides: Any) -> Stage1Config:
        """The settings of ``preset`` with ``overrides`` applied (keys as in ``[stage1]``)."""
        return cls(preset=preset, **overrides)

    def needs_cosine(self) -> bool:
        """Whether the reward uses the gradient cosine (so it must be measured even when
        gating is off)."""
        return self.reward in ("cosine", "mixed")


@dataclass(frozen=True)
class ScreenConfig:
    """``[screen]``: the affinity screen that shortlists a large pool before stage 1.

    Each candidate and the null control get ``rounds`` *probes*: ``probe_steps`` steps of
    main + that task (1:1) from the run's initial weights, scored by the main task's dev loss
    on the whole dev split; the probes of one round share a seed. A candidate's affinity is
    the relative drop of that loss against the control's, averaged over rounds, with a
    one-sided interval at level ``alpha`` (:mod:`autoaux.stages.screen`). Candidates whose
    interval lies below 0 (no better than the control, with confidence) are dropped; the best
    ``shortlist`` of the rest by affinity go on to stage 1.

    ``when = "auto"`` screens a pool of more than ``min_candidates`` candidates (controls not
    counted), ``"always"`` every pool, ``"never"`` none. ``autoaux affinity`` always screens.
    """

    _section: ClassVar[str] = "screen"

    when: str = "auto"
    min_candidates: int = 8
    probe_steps: int = 150
    rounds: int = 3
    alpha: float = 0.05
    shortlist: int = 8

    def __post_init__(self) -> None:
        _check_choice(self, "when", SCREEN_WHEN)
        _check_int(self, "min_candidates", minimum=0)
        _check_int(self, "probe_steps", minimum=1)
        _check_int(self, "rounds", minimum=2, maximum=1000)
        _check_float(self, "alpha", above=0.0, maximum=0.5)
        _check_int(self, "shortlist", minimum=1)

    def applies(self, n_candidates: int) -> bool:
        """Whether a pool of ``n_candidates`` (controls not counted) is screened."""
        if self.when == "auto":
            return n_candidates > self.min_candidates
        return self.when == "always"


@dataclass(frozen=True)
class Stage2Config:
    """``[stage2]``: Bayesian optimisation of mixing ratios (main task fixed at 1).

    ``trials`` trials, every trial from the same initial weights, each trained under
    ``[protocol]`` (by default: the main task until its dev score stops improving, at most
    ``steps`` main-task steps, the auxiliary steps on top; with ``budget = "total"``: ``steps``
    steps in all, evaluated every ``eval_every``), scored by the best main dev score (on at
    most ``eval_batches`` dev batches; ``None``: all). The first trial is the main task alone
    (every ratio 0), so the answer is never worse on dev than training without auxiliary
    tasks; ``main_alone = false`` leaves that trial out (for scoring one fixed mixture, as
    the benchmarks do, never for a recommendation). Ratios lie in ``[0, max_ratio]``; the first
    ``initial_points`` trials are space-filling (with ``warm_start``, the first of them is the
    ratio vector proportional to the stage-1 utilities). ``search = "random"`` replaces the GP
    by random search (a baseline). ``acquisition`` defaults to ``"EI"``: on the surfaces of
    ``benchmarks/bench_bayesopt.py`` it matched or beat ``"gp_hedge"`` at a third to a quarter
    of the cost per trial.

    Trials are asked ``parallel`` at a time and told back in trial-number order (see
    :mod:`autoaux.stages.executors`); ``executor = "ray"`` runs each batch's trials side by side
    as Ray tasks on the cluster at ``ray_address`` (``""``: start a local Ray instance,
    ``"auto"``: the running cluster, ``"ray://host:port"``: Ray client, ``"host:port"``: a
    cluster's head).
    ``"local"`` runs them one after another in this process.

    ``adaptive`` (default on) ends the search before ``trials`` once the GP's largest expected
    improvement over the best dev score is below ``min_gain``: a gain a trial could not tell
    apart from seed noise is not worth a trial. ``min_gain = 0`` (the default) means the seed
    noise the run measured: the standard deviation of the main task's dev score over the
    race's rounds (main alone, one seed a round); without a race (``autoaux mix``, the in-run
    bandit) only a ``min_gain`` above 0 stops the search. It runs at least ``initial_points``
    trials; ``search = "random"`` and acquisitions other than ``"EI"`` never stop early.
    """

    _section: ClassVar[str] = "stage2"

    trials: int = 12
    initial_points: int = 4
    max_ratio: float = 5.0
    steps: int = 400
    acquisition: str = "EI"
    eval_every: int = 50
    eval_batches: int | None = None
    warm_start: bool = True
    main_alone: bool = True
    search: str = "gp"
    executor: str = "local"
    parallel: int = 1
    ray_address: str = ""
    adaptive: bool = True
    min_gain: float = 0.0

    def __post_init__(self) -> None:
        _check_int(self, "trials", minimum=1)
        _check_int(self, "initial_points", minimum=1)
        _check_float(self, "max_ratio", above=0.0, maximum=1000.0)
        _check_int(self, "steps", minimum=1)
        _check_choice(self, "acquisition", ACQUISITIONS)
        _check_int(self, "eval_every", minimum=1)
        _check_int(self, "eval_batches", minimum=1, optional=True)
        _check_bool(self, "warm_start")
        _check_bool(self, "main_alone")
        _check_choice(self, "search", SEARCHES)
        _check_choice(self, "executor", EXECUTORS)
        _check_int(self, "parallel", minimum=1, maximum=1024)
        _check_ray_address(self, "ray_address")
        _check_bool(self, "adaptive")
        _check_float(self, "min_gain", minimum=0.0, maximum=1e6)


@dataclass(frozen=True)
class ProtocolConfig:
    """``[protocol]``: how every training run that autoaux compares trains the main task.

    A race episode, a stage-2 trial and a baseline each train a fresh model from the run's
    initial weights on the main task, alone or with auxiliary tasks, and are scored by the
    best main dev score. With ``budget = "main"`` (the default) auxiliary tasks are *added*,
    never substituted: the main task takes the same main-task steps, on the same batches,
    whatever the mixture, and auxiliary batches come on top in the proportions the ratios give
    (ratio ``r``: ``r`` auxiliary steps per main step in expectation). The main dev score is
    evaluated every ``eval_every`` main steps; training stops after ``patience`` evaluations
    in a row without a better score, or at the stage's cap of main steps
    (``stage1.episode_steps`` for a race episode, ``stage2.steps`` for a trial and a
    baseline), and the best checkpoint is kept. The learning rate stays at its peak after
    warm-up (the run's length is not known in advance). So a task *helps* when adding it beats
    training the main task without it under the same rule.

    ``budget = "total"`` is the earlier protocol, kept for comparison: a fixed total of
    ``stage1.episode_steps`` / ``stage2.steps`` optimiser steps split by the ratios (the main
    task gets fewer steps the more auxiliary weight there is), linear decay to 0, stage-2
    evaluations every ``stage2.eval_every`` steps, no early stopping.
    """

    _section: ClassVar[str] = "protocol"

    budget: str = "main"
    eval_every: int = 25
    patience: int = 4

    def __post_init__(self) -> None:
        _check_choice(self, "budget", BUDGETS)
        _check_int(self, "eval_every", minimum=1)
        _check_int(self, "patience", minimum=1, maximum=10_000)

    @property
    def added(self) -> bool:
        """Whether auxiliary tasks come on top of a fixed main-task budget."""
        return self.budget == "main"


@dataclass(frozen=True)
class TrainerConfig:
    """``[trainer]``: AdamW with linear warm-up and decay, gradient clipping.

    ``warmup_steps`` is a number of steps, or a fraction of the run when below 1.
    """

    _section: ClassVar[str] = "trainer"

    batch_size: int = 16
    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup_steps: float = 0.0
    clip_norm: float = 1.0
    eval_batch_size: int = 64

    def __post_init__(self) -> None:
        _check_int(self, "batch_size", minimum=1)
        _check_float(self, "lr", above=0.0, maximum=1.0)
        _check_float(self, "weight_decay", minimum=0.0)
        _check_float(self, "warmup_steps", minimum=0.0)
        if self.warmup_steps >= 1 and not float(self.warmup_steps).is_integer():
            raise ConfigError(
                "trainer.warmup_steps",
                self.warmup_steps,
                "a whole number of steps or a fraction below 1",
            )
        _check_float(self, "clip_norm", above=0.0)
        _check_int(self, "eval_batch_size", minimum=1)


@dataclass(frozen=True)
class TrackingConfig:
    """``[tracking]``: MLflow. ``uri`` is any tracking URI (default: an SQLite file in the
    working folder); ``enabled = false`` runs without tracking. ``artifact_location`` applies
    when the experiment is created (default: ``mlruns/`` beside an SQLite store).

    An unreachable store fails the run at start, unless ``fallback = true``: the run then logs
    to ``fallback_uri`` (default: ``mlflow-fallback.db``, SQLite, in ``output_dir``) and says so.
    A store that goes away mid-run never stops the run: calls are retried with back-off, kept in
    ``output_dir/tracking-journal.jsonl`` while it is down and replayed when it returns
    (:mod:`autoaux.tracking.journal`)."""

    _section: ClassVar[str] = "tracking"

    enabled: bool = True
    uri: str = "sqlite:///mlflow.db"
    experiment: str = "autoaux"
    run_name: str | None = None
    artifact_location: str | None = None
    # --- reliability (autoaux.tracking.journal): see the TrackingConfig docstring
    fallback: bool = False
    fallback_uri: str | None = None

    def __post_init__(self) -> None:
        _check_bool(self, "enabled")
        _check_str(self, "uri")
        _check_str(self, "experiment")
        _check_str(self, "run_name", optional=True)
        _check_str(self, "artifact_location", optional=True)
        _check_bool(self, "fallback")
        _check_str(self, "fallback_uri", optional=True)
        for uri in (self.uri, self.fallback_uri, self.artifact_location):
            register_uri(uri)  # their secret values never leave the process


@dataclass(frozen=True)
class BaselinesConfig:
    """``[baselines]``: reference mixtures trained with the stage-2 budget (``steps``, default
    ``stage2.steps``) from the same initial weights as the trials: ``"main-only"``,
    ``"uniform"`` (every auxiliary task at ratio 1), ``"proportional"`` (p ∝ training-set
    size), ``"temperature"`` (p ∝ n^(1/temperature)), ``"stage1-only"`` (selected tasks at 1)."""

    _section: ClassVar[str] = "baselines"

    run: tuple[str, ...] = ("main-only",)
    temperature: float = 2.0
    steps: int | None = None

    def __post_init__(self) -> None:
        _check_str_tuple(self, "run", choices=BASELINES)
        _check_float(self, "temperature", above=0.0)
        _check_int(self, "steps", minimum=1, optional=True)


@dataclass(frozen=True)
class CheckpointConfig:
    """``[checkpoint]``: resumable runs (:mod:`autoaux.runs`). With ``enabled``, the run's
    state is written atomically to ``output_dir/checkpoint/`` after every ``every`` stage-1
    pulls, after every stage-2 trial and after every baseline; ``autoaux run --resume DIR``
    continues from it. A larger ``every`` saves time with large encoders (each checkpoint holds
    the model and its optimiser state) at the cost of redoing up to ``every`` pulls."""

    _section: ClassVar[str] = "checkpoint"

    enabled: bool = True
    every: int = 1

    def __post_init__(self) -> None:
        _check_bool(self, "enabled")
        _check_int(self, "every", minimum=1)


_SECTIONS: dict[str, type] = {
    "model": ModelConfig,
    "main": MainConfig,
    "auxiliary": AuxiliaryConfig,
    "stage1": Stage1Config,
    "screen": ScreenConfig,
    "stage2": Stage2Config,
    "trainer": TrainerConfig,
    "protocol": ProtocolConfig,
    "tracking": TrackingConfig,
    "baselines": BaselinesConfig,
    "checkpoint": CheckpointConfig,
}
_TOP_LEVEL = ("seed", "output_dir", "device", "workers", "task", *_SECTIONS)
_FIELD_DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "output_dir": "autoaux-output",
    "device": "auto",
    "workers": 0,
}


@dataclass(frozen=True)
class RunConfig:
    """One autoaux run: every section above plus ``seed``, ``output_dir``, ``device`` and
    ``workers``.

    Build it with :func:`load_config` (TOML), :func:`config_from_dict` or directly. Derived
    views: :meth:`auxiliary_tasks` (the pool with the automatic control added),
    :meth:`control_tasks`, :meth:`to_dict` / :meth:`to_params` (for logging).
    """

    main: MainConfig
    seed: int = 0
    model: ModelConfig = field(default_factory=ModelConfig)
    auxiliary: AuxiliaryConfig = field(default_factory=AuxiliaryConfig)
    task_files: tuple[TaskFileConfig, ...] = ()
    stage1: Stage1Config = field(default_factory=Stage1Config)
    screen: ScreenConfig = field(default_factory=ScreenConfig)
    stage2: Stage2Config = field(default_factory=Stage2Config)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    baselines: BaselinesConfig = field(default_factory=BaselinesConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    output_dir: str = "autoaux-output"
    device: str = "auto"
    workers: int = 0
    """Worker processes for stage-1 race episodes and affinity-screen probes on the CPU
    (:mod:`autoaux.stages.workers`): 0 one per core, 1 in this process. Where episodes run
    never changes what they compute; with ``[stage2] executor = "ray"`` they are Ray tasks."""
    source: str = field(default="<python>", compare=False)
    """Where the configuration came from (a file name), for error messages."""
    user_tasks: tuple[str, ...] = field(default=(), compare=False, repr=False)
    """Names of :class:`tasks.Task` objects handed to the Python API, accepted as task names
    (not a TOML key)."""

    def __post_init__(self) -> None:
        if isinstance(self.main, str):  # RunConfig(main="rt-sentiment") for convenience
            _set(self, "main", MainConfig(task=self.main))
        for name, cls in _SECTIONS.items():
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(name, getattr(self, name), f"a {cls.__name__}")
        _set(self, "task_files", tuple(self.task_files))
        for spec in self.task_files:
            if not isinstance(spec, TaskFileConfig):
                raise ConfigError("task", spec, "a TaskFileConfig")
        _check_int(self, "seed", minimum=0, maximum=MAX_SEED)
        _check_str(self, "output_dir")
        _check_int(self, "workers", minimum=0, maximum=1024)
        if not (self.device in ("auto", "cpu", "cuda") or _is_cuda_index(self.device)):
            raise ConfigError("device", self.device, "'auto', 'cpu', 'cuda' or 'cuda:N'")
        self._check_task_names()
        check_memory(self)
        if self.stage1.selection == "control" and not self.control_tasks():
            raise ConfigError(
                "stage1.selection",
                "control",
                "a pool with a control arm ('shuffled:<task>' in auxiliary.tasks, "
                "or auxiliary.add_control = true)",
            )

    # ----- task names --------------------------------------------------------------------
    def _check_task_names(self) -> None:
        names = [spec.name for spec in self.task_files]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ConfigError(f"task[{i}].name", name, "a name not used by another [[task]]")
        _set(self, "user_tasks", tuple(self.user_tasks))
        names = [*names, *(n for n in self.user_tasks if n not in names)]
        builtin = _builtin_names()
        for i, spec in enumerate(self.task_files):
            if builtin is not None and spec.name in builtin:
                if (spec.name, str(spec.path)) in _SHADOW_WARNED:
                    continue
                _SHADOW_WARNED.add((spec.name, str(spec.path)))
                log.warning(
                    "%s: task[%d].name = %r is also a built-in task; this run uses the "
                    "[[task]] file %s instead of the built-in one",
                    self.source, i, spec.name, spec.path,
                )  # fmt: skip
        known = set(names) | set(builtin or ())
        accepted = _accepted_names(names)

        def check(key: str, name: str) -> None:
            base = name.removeprefix(SHUFFLED_PREFIX)
            if builtin is not None and base not in known:
                raise ConfigError(key, name, accepted)

        check("main.task", self.main.task)
        if self.main.task.startswith(SHUFFLED_PREFIX):
            raise ConfigError("main.task", self.main.task, "a task without 'shuffled:'")
        for name in self.auxiliary.tasks:
            check("auxiliary.tasks", name)
            if name == self.main.task:
                raise ConfigError(
                    "auxiliary.tasks", name, "auxiliary tasks other than the main task"
                )
        if isinstance(self.auxiliary.add_control, str):
            check("auxiliary.add_control", self.auxiliary.add_control)

    def auxiliary_tasks(self) -> tuple[str, ...]:
        """The auxiliary pool, with the automatic control arm appended when asked for."""
        pool = list(self.auxiliary.tasks)
        control = self.auxiliary.add_control
        has_control = any(t.startswith(SHUFFLED_PREFIX) for t in pool)
        if control is True and has_control:
            return tuple(pool)
        if control is not False:
            if isinstance(control, str):
                base = control.removeprefix(SHUFFLED_PREFIX)
            else:
                real = [t for t in pool if not t.startswith(SHUFFLED_PREFIX)]
                base = real[0] if real else self.main.task
            name = SHUFFLED_PREFIX + base
            if name not in pool:
                pool.append(name)
        return tuple(pool)

    def control_tasks(self) -> tuple[str, ...]:
        """The null control arms of the pool (``shuffled:`` tasks): never selected."""
        return tuple(t for t in self.auxiliary_tasks() if t.startswith(SHUFFLED_PREFIX))

    def candidate_tasks(self) -> tuple[str, ...]:
        """The pool's auxiliary tasks, controls and the main task left out."""
        controls = self.control_tasks()
        return tuple(
            t for t in self.auxiliary_tasks() if t != self.main.task and t not in controls
        )

    def screens(self) -> bool:
        """Whether this run's pool goes through the affinity screen (``[screen]`` asks for it
        for this many candidates and the pool has a control to measure them against)."""
        return self.screen.applies(len(self.candidate_tasks())) and bool(self.control_tasks())

    def task_file(self, name: str) -> TaskFileConfig | None:
        """The ``[[task]]`` entry called ``name`` (without any ``shuffled:`` prefix)."""
        base = name.removeprefix(SHUFFLED_PREFIX)
        return next((spec for spec in self.task_files if spec.name == base), None)

    # ----- conversion --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The resolved configuration as plain TOML-shaped data (JSON-serialisable), with
        credentials in the tracking URIs replaced by ``***`` (:mod:`autoaux._secrets`): this is
        what ``config.json``, ``result.json``, the checkpoint and the MLflow params hold."""
        out: dict[str, Any] = {
            "seed": self.seed,
            "output_dir": self.output_dir,
            "device": self.device,
            "workers": self.workers,
        }
        for name in _SECTIONS:
            out[name] = _section_dict(getattr(self, name))
        out["task"] = [_section_dict(spec) for spec in self.task_files]
        return out

    def to_params(self) -> dict[str, str]:
        """Flat ``{"stage1.policy": "thompson", ...}`` strings for MLflow params."""
        flat: dict[str, str] = {}

        def visit(prefix: str, value: Any) -> None:
            if isinstance(value, dict) and not (prefix.endswith("policy_options")):
                for key, item in value.items():
                    visit(f"{prefix}.{key}" if prefix else key, item)
            elif isinstance(value, list | tuple | dict):
                flat[prefix] = json.dumps(value)
            else:
                flat[prefix] = "" if value is None else str(value)

        data = self.to_dict()
        tasks = data.pop("task")
        visit("", data)
        for i, spec in enumerate(tasks):
            visit(f"task.{i}", spec)
        return flat

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with top-level fields replaced (``seed=1``, ``output_dir=...``, sections as
        dataclasses); validated again. For dotted keys use :meth:`with_overrides`."""
        return dataclasses.replace(self, **changes)

    def with_overrides(self, overrides: Mapping[str, Any]) -> RunConfig:
        """A copy with dotted keys overridden, e.g. ``{"stage1.pulls": 20, "seed": 3}``.

        The changed sections are rebuilt from their fields (nothing is parsed again), so values
        are validated, and a changed ``stage1.preset`` re-applies the preset to the keys that
        were not set explicitly. ``None`` removes a key (back to its default).
        """
        top: dict[str, Any] = {}
        sections: dict[str, dict[str, Any]] = {}
        for dotted, value in overrides.items():
            parts = dotted.split(".")
            if len(parts) > 2 or (len(parts) == 2 and parts[0] not in _SECTIONS):
                raise ConfigError(dotted, value, "a key 'section.name' or a top-level key")
            if len(parts) == 2:
                sections.setdefault(parts[0], {})[parts[1]] = value
            else:
                _reject_unknown("", {dotted: value}, _TOP_LEVEL)
                if dotted in _SECTIONS or dotted == "task":
                    raise ConfigError(dotted, value, "a key 'section.name' or a top-level key")
                top[dotted] = _FIELD_DEFAULTS[dotted] if value is None else value
        try:
            for name, changes in sections.items():
                top[name] = _changed_section(name, getattr(self, name), changes)
            return dataclasses.replace(self, **top)
        except ConfigError as error:
            raise error.with_source(self.source) from None

    def _source_dict(self) -> dict[str, Any]:
        data = self.to_dict()
        for key in _PRESET_KEYS:
            if key not in self.stage1.explicit:
                data["stage1"].pop(key)
        return data


def _changed_section(name: str, section: Any, changes: Mapping[str, Any]) -> Any:
    """``section`` with ``changes`` (``None``: back to the default), validated again; for
    ``[stage1]`` the preset fills the method keys that were never given explicitly."""
    fields = {f.name: f for f in dataclasses.fields(section) if f.init}
    _reject_unknown(name, changes, list(fields))
    values = {key: getattr(section, key) for key in fields}
    if isinstance(section, Stage1Config):
        values.update({key: None for key in _PRESET_KEYS if key not in section.explicit})
    for key, value in changes.items():
        if value is None:
            f = fields[key]
            factory = f.default_factory
            value = factory() if factory is not dataclasses.MISSING else f.default
            if value is dataclasses.MISSING:
                raise ConfigError(f"{name}.{key}", None, _describe_required(key), missing=True)
        values[key] = list(value) if isinstance(value, tuple) else value
    return type(section)(**values)


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------
def load_config(path: str | Path) -> RunConfig:
    """Read and validate a TOML run configuration.

    Raises:
        ConfigError: the file is missing, is not valid TOML, or has a bad key or value.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError("config", str(path), "an existing TOML file (not found)") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError("config", str(path), f"valid TOML ({error})", source=str(path)) from None
    except UnicodeDecodeError as error:  # TOML files are UTF-8
        reason = f"UTF-8 text (byte {error.start} is not)"
        raise ConfigError("config", str(path), reason, source=str(path)) from None
    except OSError as error:  # a folder, no permission...
        reason = f"a readable TOML file ({error.strerror or error})"
        raise ConfigError("config", str(path), reason, source=str(path)) from None
    return config_from_dict(data, source=str(path), base_dir=path.parent)


def config_from_dict(
    data: Mapping[str, Any],
    *,
    source: str = "<dict>",
    base_dir: str | Path | None = None,
    user_tasks: Sequence[str] = (),
) -> RunConfig:
    """Validate TOML-shaped data (as :func:`tomllib.load` returns it) into a :class:`RunConfig`.

    Relative ``[[task]] path`` values are resolved against ``base_dir`` (default: the working
    folder). Errors are attributed to ``source``. ``user_tasks`` names task objects that the
    caller supplies itself (accepted as task names).
    """
    try:
        return _build(
            data,
            base_dir=Path(base_dir) if base_dir is not None else None,
            source=source,
            user_tasks=tuple(user_tasks),
        )
    except ConfigError as error:
        raise error.with_source(source) from None


def _build(
    data: Mapping[str, Any], *, base_dir: Path | None, source: str, user_tasks: tuple[str, ...]
) -> RunConfig:
    if not isinstance(data, Mapping):
        raise ConfigError("", data, "a table of settings")
    _reject_unknown("", data, _TOP_LEVEL)
    kwargs: dict[str, Any] = {}
    for name in ("seed", "output_dir", "device", "workers"):
        if name in data:
            kwargs[name] = data[name]
    for name, cls in _SECTIONS.items():
        if name == "main":
            continue
        if name in data:
            kwargs[name] = _build_section(name, cls, data[name])
    if "main" not in data or not isinstance(data["main"], Mapping) or "task" not in data["main"]:
        raise ConfigError("main.task", None, "the name of the main task", missing=True)
    kwargs["main"] = _build_section("main", MainConfig, data["main"])
    entries = data.get("task", [])
    if not isinstance(entries, list):
        raise ConfigError("task", entries, "an array of tables ([[task]] entries)")
    specs = []
    for i, entry in enumerate(entries):
        entry = dict(entry) if isinstance(entry, Mapping) else entry
        if isinstance(entry, dict) and isinstance(entry.get("path"), str) and base_dir:
            resolved = Path(entry["path"]).expanduser()
            if not resolved.is_absolute():
                entry["path"] = str(base_dir / resolved)
        try:
            specs.append(_build_section("task", TaskFileConfig, entry))
        except ConfigError as error:
            key = error.key.replace("task.", f"task[{i}].", 1)
            if not key.startswith("task["):
                key = f"task[{i}]"
            raise ConfigError(
                key, error.value, error.expected, missing=error.missing, unknown=error.unknown
            ) from None
    kwargs["task_files"] = tuple(specs)
    return RunConfig(**kwargs, source=source, user_tasks=user_tasks)


def _build_section(name: str, cls: type, values: Any) -> Any:
    if not isinstance(values, Mapping):
        raise ConfigError(name, values, f"a table [{name}]")
    fields = [f for f in dataclasses.fields(cls) if f.init]
    _reject_unknown(name, values, [f.name for f in fields])
    for f in fields:
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and f.name not in values:
            raise ConfigError(f"{name}.{f.name}", None, _describe_required(f.name), missing=True)
    return cls(**dict(values))


def _reject_unknown(section: str, values: Mapping[str, Any], allowed: Sequence[str]) -> None:
    for key in values:
        if key not in allowed:
            dotted = f"{section}.{key}" if section else str(key)
            close = difflib.get_close_matches(str(key), list(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                dotted, values[key], "one of " + ", ".join(allowed) + hint, unknown=True
            )


def _describe_required(name: str) -> str:
    return {"task": "a task name", "name": "a task name", "path": "a data file path"}.get(
        name, "a value"
    )


def _positions(folder: Path) -> int | None:
    """``max_position_embeddings`` of a local model folder's ``config.json``, if it says."""
    try:
        value = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        positions = value.get("max_position_embeddings")
    except (OSError, ValueError, AttributeError):
        return None
    return positions if isinstance(positions, int) and positions > 0 else None


def _section_dict(section: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(section):
        if not f.init:
            continue
        value = getattr(section, f.name)
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        out[f.name] = value
    if isinstance(section, TrackingConfig):  # credentials are never written out
        for key in _URI_KEYS:
            if isinstance(out.get(key), str):
                out[key] = redact_uri(out[key])
    return out


_URI_KEYS = ("uri", "fallback_uri", "artifact_location")


def _accepts(policy: str, option: str) -> bool:
    import inspect

    from bandits import POLICIES as classes

    return option in inspect.signature(classes[policy]).parameters


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


def _is_cuda_index(device: object) -> bool:
    return (
        isinstance(device, str)
        and device.startswith("cuda:")
        and device.removeprefix("cuda:").isdigit()
    )


def _builtin_names() -> list[str] | None:
    """Names of the built-in tasks, or None if the tasks package cannot list them."""
    try:
        from tasks import builtin_names
    except ImportError:  # pragma: no cover - the tasks package always ships builtin_names
        return None
    return list(builtin_names())


def _accepted_names(file_names: Sequence[str]) -> str:
    builtin = _builtin_names() or []
    parts = []
    if builtin:
        parts.append("a built-in task (" + ", ".join(builtin) + ")")
    if file_names:
        parts.append("a [[task]] name (" + ", ".join(file_names) + ")")
    else:
        parts.append("a [[task]] name")
    return " or ".join(parts) + ", optionally prefixed 'shuffled:'"
