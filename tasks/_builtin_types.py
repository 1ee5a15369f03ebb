"""The records of the built-in suite: a task's spec, a parser's output, what the CLI shows."""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from ._splits import Record


@dataclass
class _Parsed:
    """What a parser makes of a wheel for one task, before splitting."""

    records: list[Record]
    skipped: int = 0
    groups: list[str] | None = None  # split by group (e.g. speech) instead of by example
    splits: list[str] | None = None  # split already decided per record ("train" / "dev" / "test")


@dataclass(frozen=True)
class BuiltinSpec:
    """One built-in task: where its data lives and how it is read."""

    name: str
    wheel: str
    member: str
    kind: str
    metric: str
    description: str
    source: str
    licence: str
    text_fields: tuple[str, ...]
    label_field: str
    labels: tuple[str, ...]
    parse: Callable[[zipfile.ZipFile, BuiltinSpec], _Parsed] = field(repr=False)
    eval_rows: int | None = None  # dev and test size target (see eval_fraction); None: 10% each
    follows: tuple[str, ...] = ()  # tasks whose split a shared text keeps (see _follow_splits)


@dataclass(frozen=True)
class BuiltinInfo(Mapping[str, Any]):
    """What the CLI shows about a built-in task; sizes and balance once it is cached.

    Also a read-only mapping from field name to value (``info["kind"]``, ``info.get("sizes")``,
    ``dict(info)``), so it prints and serialises like a plain record.
    """

    name: str
    description: str
    kind: str
    metric: str
    package: str
    member: str
    source: str
    licence: str
    cached: bool
    labels: tuple[str, ...] = ()
    sizes: dict[str, int] | None = None
    balance: dict[str, float] | None = None
    skipped: int | None = None

    def __getitem__(self, key: str) -> Any:
        if key not in _INFO_FIELDS:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(_INFO_FIELDS)

    def __len__(self) -> int:
        return len(_INFO_FIELDS)


_INFO_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(BuiltinInfo))
