"""The tasks of a run: ``[main]``, ``[auxiliary]`` and ``[[task]]`` (:class:`MainConfig`,
:class:`AuxiliaryConfig`, :class:`TaskFileConfig`), and the task names a run accepts."""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from autoaux.config._checks import (
    _check_bool,
    _check_choice,
    _check_float,
    _check_int,
    _check_str,
    _check_str_tuple,
    _set,
)
from autoaux.config._vocab import KINDS, METRICS, SHUFFLED_PREFIX
from autoaux.errors import ConfigError

__all__ = ["AuxiliaryConfig", "MainConfig", "TaskFileConfig"]

_DATA_SUFFIXES = (".csv", ".tsv", ".tab", ".jsonl", ".ndjson")


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
