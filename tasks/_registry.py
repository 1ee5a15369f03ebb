"""Resolving task names: built-in names, user tasks, and ``shuffled:`` control prefixes."""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike

from ._builtin import SHUFFLED_PREFIX, SPECS, load_builtin
from ._types import Task, shuffled


def load_task(
    name_or_spec: str | Task,
    *,
    seed: int = 0,
    cache_dir: str | PathLike[str] | None = None,
    tasks: Mapping[str, Task] | None = None,
) -> Task:
    """Resolve a task name to a :class:`Task`.

    A ``"shuffled:"`` prefix (repeatable) wraps the rest in :func:`shuffled` seeded by ``seed``.
    The remaining name is looked up first in ``tasks`` (the user's own tasks, by name), then in
    the built-in suite. A :class:`Task` passes through unchanged.
    """
    if isinstance(name_or_spec, Task):
        return name_or_spec
    name = name_or_spec
    if name.startswith(SHUFFLED_PREFIX):
        inner = load_task(name[len(SHUFFLED_PREFIX) :], seed=seed, cache_dir=cache_dir, tasks=tasks)
        return shuffled(inner, seed=seed)
    if tasks is not None and name in tasks:
        return tasks[name]
    if name in SPECS:
        return load_builtin(name, cache_dir=cache_dir)
    known = sorted(tasks or ()) + list(SPECS)
    raise ValueError(
        f"unknown task {name!r}; known tasks: {', '.join(known)} "
        f"(each also as '{SHUFFLED_PREFIX}<name>')"
    )
