"""TOML loading: reading a run configuration file and building the sections from its tables.

:data:`_SECTIONS` maps each TOML table to its section dataclass; :func:`read_toml` reads a file
and :func:`run_arguments` turns TOML-shaped data into the keyword arguments of
:class:`~autoaux.config.run.RunConfig` (which :func:`autoaux.config.run.load_config` and
:func:`autoaux.config.run.config_from_dict` then build and validate).
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from autoaux.config._model import ModelConfig
from autoaux.config._screen import ScreenConfig
from autoaux.config._stage1 import Stage1Config
from autoaux.config._stage2 import BaselinesConfig, Stage2Config
from autoaux.config._tasks import AuxiliaryConfig, MainConfig, TaskFileConfig
from autoaux.config._tracking import CheckpointConfig, TrackingConfig
from autoaux.config._training import ProtocolConfig, TrainerConfig
from autoaux.errors import ConfigError

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


def read_toml(path: Path) -> dict[str, Any]:
    """The tables of the TOML file at ``path``.

    Raises:
        ConfigError: the file is missing, unreadable or not valid TOML.
    """
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
    return data


def run_arguments(data: Mapping[str, Any], *, base_dir: Path | None) -> dict[str, Any]:
    """The :class:`~autoaux.config.run.RunConfig` keyword arguments (sections built, ``[[task]]``
    paths resolved against ``base_dir``) of TOML-shaped ``data``."""
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
    return kwargs


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
