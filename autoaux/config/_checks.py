"""Field checks of the configuration dataclasses (the section modules and
:class:`~autoaux.config.run.RunConfig`)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

from autoaux.errors import ConfigError

# --------------------------------------------------------------------------------------------
# Field checks. Each reads ``obj.<name>``, checks it, stores the coerced value (lists become
# tuples, ints become floats for float fields) and raises ConfigError naming "<section>.<name>".
# --------------------------------------------------------------------------------------------
#: The default upper bound of an integer setting (steps, pulls, trials, sizes).
_MAX_INT = 10**8
#: Token positions of the BERT-family encoders (MiniLM's 512); a local model folder is also
#: checked against the ``max_position_embeddings`` of its ``config.json``.
MAX_POSITIONS = 512
#: Seeds are 32-bit (numpy and torch generators, Ray workers).
MAX_SEED = 2**32 - 1


def _key(obj: object, name: str) -> str:
    section = getattr(obj, "_section", "")
    return f"{section}.{name}" if section else name


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


def _check_int(
    obj: object,
    name: str,
    *,
    minimum: int | None = None,
    maximum: int | None = _MAX_INT,
    optional: bool = False,
) -> None:
    """An integer in ``[minimum, maximum]``; every integer has an upper bound (by default
    :data:`_MAX_INT`, beyond any budget a run can afford)."""
    value = getattr(obj, name)
    if value is None and optional:
        return
    bounds = [f">= {minimum}"] if minimum is not None else []
    if maximum is not None:
        bounds.append(f"<= {maximum}")
    what = "an integer" + (" " + " and ".join(bounds) if bounds else "")
    if optional:
        what += " (or leave it out)"
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(_key(obj, name), value, what)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ConfigError(_key(obj, name), value, what)


def _check_float(
    obj: object,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    optional: bool = False,
) -> None:
    value = getattr(obj, name)
    if value is None and optional:
        return
    bounds = []
    if above is not None:
        bounds.append(f"> {above:g}")
    if minimum is not None:
        bounds.append(f">= {minimum:g}")
    if maximum is not None:
        bounds.append(f"<= {maximum:g}")
    what = "a number" + (" " + " and ".join(bounds) if bounds else "")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(_key(obj, name), value, what)
    number = float(value)
    if (
        not math.isfinite(number)
        or (above is not None and number <= above)
        or (minimum is not None and number < minimum)
        or (maximum is not None and number > maximum)
    ):
        raise ConfigError(_key(obj, name), value, what)
    _set(obj, name, number)


def _check_bool(obj: object, name: str) -> None:
    value = getattr(obj, name)
    if not isinstance(value, bool):
        raise ConfigError(_key(obj, name), value, "true or false")


def _check_str(obj: object, name: str, *, optional: bool = False) -> None:
    value = getattr(obj, name)
    if value is None and optional:
        return
    if isinstance(value, Path):
        value = str(value)
        _set(obj, name, value)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(_key(obj, name), value, "a non-empty string")


def _check_choice(obj: object, name: str, choices: Sequence[str]) -> None:
    value = getattr(obj, name)
    if value not in choices:
        raise ConfigError(_key(obj, name), value, "one of " + ", ".join(map(repr, choices)))


_RAY_ADDRESS = re.compile(r"^(ray://)?[\w.\-\[\]:]+:\d+$")


def _check_ray_address(obj: object, name: str) -> None:
    value = getattr(obj, name)
    if not isinstance(value, str) or not (
        value in ("", "auto") or _RAY_ADDRESS.match(value.strip())
    ):
        raise ConfigError(
            _key(obj, name),
            value,
            "'' (start a local Ray instance), 'auto', 'ray://host:port' or 'host:port'",
        )
    _set(obj, name, value.strip())


def _check_str_tuple(
    obj: object, name: str, *, choices: Sequence[str] | None = None, unique: bool = True
) -> None:
    value = getattr(obj, name)
    what = "a list of strings"
    if choices is not None:
        what = "a list of " + ", ".join(map(repr, choices))
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ConfigError(_key(obj, name), value, what)
    items = tuple(value)
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ConfigError(_key(obj, name), value, what)
        if choices is not None and item not in choices:
            raise ConfigError(_key(obj, name), item, what)
    if unique:
        seen: set[str] = set()
        for item in items:
            if item in seen:
                raise ConfigError(_key(obj, name), item, "each name once (it is repeated)")
            seen.add(item)
    _set(obj, name, items)
