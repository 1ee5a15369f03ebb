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
explicitly in ``[stage1]`` override the preset's values. The default, ``preset = "autoaux"``,
races every candidate against the main task alone in paired training episodes
(:mod:`autoaux.stages.race`); ``preset = "bandit"`` selects with an in-run bandit that rewards
each pull by a mix of the dev-score change and the gradient cosine
(:mod:`autoaux.stages.stage1`); ``preset = "autosem"`` reproduces the literal AutoSem settings
(Guo et al., 2019). The measurements behind these choices are in
``benchmarks/results/RESULTS.md``.

This module holds :class:`RunConfig`, :func:`load_config` and :func:`config_from_dict`, and
re-exports the sections, each defined in a private module of :mod:`autoaux.config`:
``_model`` (``[model]``), ``_tasks`` (``[main]``, ``[auxiliary]``, ``[[task]]``), ``_stage1``
(``[stage1]`` and its presets), ``_screen``, ``_stage2`` (``[stage2]``, ``[baselines]``),
``_training`` (``[protocol]``, ``[trainer]``), ``_tracking`` (``[tracking]``,
``[checkpoint]``); ``_loading`` reads TOML files and builds the sections from their tables.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoaux._secrets import redact_uri
from autoaux.config._checks import MAX_SEED, _check_int, _check_str, _set
from autoaux.config._loading import (
    _SECTIONS,
    _TOP_LEVEL,
    _describe_required,
    _reject_unknown,
    read_toml,
    run_arguments,
)
from autoaux.config._memory import check_memory
from autoaux.config._model import ModelConfig
from autoaux.config._screen import ScreenConfig
from autoaux.config._stage1 import _PRESET_KEYS, STAGE1_PRESETS, Stage1Config
from autoaux.config._stage1_methods import BanditSettings, RaceSettings
from autoaux.config._stage2 import BaselinesConfig, Stage2Config
from autoaux.config._tasks import (
    AuxiliaryConfig,
    MainConfig,
    TaskFileConfig,
    _accepted_names,
    _builtin_names,
)
from autoaux.config._tracking import CheckpointConfig, TrackingConfig
from autoaux.config._training import ProtocolConfig, TrainerConfig
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
from autoaux.errors import ConfigError

log = logging.getLogger(__name__)
#: ``(name, path)`` of the [[task]] entries already reported as shadowing a built-in task.
_SHADOW_WARNED: set[tuple[str, str]] = set()

# The sections are defined in private modules and re-exported here.
__all__ = [
    "ACQUISITIONS",
    "BASELINES",
    "BUDGETS",
    "CACHED_PREFIX",
    "ENCODERS",
    "EVIDENCE",
    "EXECUTORS",
    "GATINGS",
    "KINDS",
    "METRICS",
    "POLICIES",
    "REWARDS",
    "SCREEN_WHEN",
    "SEARCHES",
    "SELECTIONS",
    "SHUFFLED_PREFIX",
    "STAGE1_PRESETS",
    "UTILITIES",
    "AuxiliaryConfig",
    "BanditSettings",
    "BaselinesConfig",
    "CheckpointConfig",
    "MainConfig",
    "ModelConfig",
    "ProtocolConfig",
    "RaceSettings",
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
        return tuple(t for t in self.auxiliary_tasks() if t != self.main.task and t not in controls)

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
# Loading (the TOML reading and the sections' tables: autoaux.config._loading)
# --------------------------------------------------------------------------------------------
def load_config(path: str | Path) -> RunConfig:
    """Read and validate a TOML run configuration.

    Raises:
        ConfigError: the file is missing, is not valid TOML, or has a bad key or value.
    """
    path = Path(path)
    data = read_toml(path)
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
    folder = Path(base_dir) if base_dir is not None else None
    names = tuple(user_tasks)
    try:
        kwargs = run_arguments(data, base_dir=folder)
        return RunConfig(**kwargs, source=source, user_tasks=names)
    except ConfigError as error:
        raise error.with_source(source) from None


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


def _is_cuda_index(device: object) -> bool:
    return (
        isinstance(device, str)
        and device.startswith("cuda:")
        and device.removeprefix("cuda:").isdigit()
    )
