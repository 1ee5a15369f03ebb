"""The task specification: frozen examples, frozen tasks, one error class."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Kind = Literal["classification", "regression"]
KINDS: tuple[str, ...] = ("classification", "regression")
METRICS: tuple[str, ...] = ("accuracy", "macro_f1", "matthews", "pearson", "spearman")
CLASSIFICATION_METRICS: tuple[str, ...] = ("accuracy", "macro_f1", "matthews")
REGRESSION_METRICS: tuple[str, ...] = ("pearson", "spearman")


class TaskDataError(ValueError):
    """Bad task data: the message names the file (or source), the line (or row) and the problem.

    ``path`` and ``line`` are kept as attributes (``None`` where they do not apply) so callers
    can point at the offending input without parsing the message. ``unit`` names what ``line``
    counts ("line" in files, "row" in data frames and datasets).
    """

    def __init__(
        self,
        problem: str,
        *,
        path: object | None = None,
        line: int | None = None,
        unit: str = "line",
    ) -> None:
        self.problem = problem
        self.path = None if path is None else str(path)
        self.line = line
        where = ""
        if self.path is not None:
            where = self.path + (f", {unit} {line}" if line is not None else "") + ": "
        elif line is not None:
            where = f"{unit} {line}: "
        super().__init__(where + problem)


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled example.

    ``label`` is an index into :attr:`Task.labels` for classification and a float for
    regression; ``text_pair`` is the second sentence of a sentence-pair task (else ``None``).
    """

    text: str
    label: int | float
    text_pair: str | None = None


@dataclass(frozen=True)
class Task:
    """A labelled text task with fixed train / dev / test splits.

    Classification labels are stored as integer indices into ``labels`` (the label vocabulary,
    in a fixed order); regression targets as floats with ``labels == ()``. ``text_fields`` names
    the one or two source columns the text came from (two for sentence pairs), ``label_field`` the
    label column; ``source`` says where the data came from and ``skipped`` counts source rows that
    were left out on purpose (empty text), so no row is ever dropped silently.
    """

    name: str
    kind: Kind
    train: tuple[Example, ...]
    dev: tuple[Example, ...]
    test: tuple[Example, ...]
    labels: tuple[str, ...] = ()
    metric: str = "accuracy"
    text_fields: tuple[str, ...] = ("text",)
    label_field: str = "label"
    source: str = ""
    skipped: int = 0

    def __post_init__(self) -> None:
        for split in ("train", "dev", "test"):
            value = getattr(self, split)
            if not isinstance(value, tuple):
                object.__setattr__(self, split, tuple(value))
        if not isinstance(self.labels, tuple):
            object.__setattr__(self, "labels", tuple(self.labels))
        if not isinstance(self.text_fields, tuple):
            object.__setattr__(self, "text_fields", tuple(self.text_fields))
        if not self.name:
            raise ValueError("Task.name must be a non-empty string")
        if self.kind not in KINDS:
            raise ValueError(f"Task {self.name!r}: kind {self.kind!r} is not one of {KINDS}")
        if self.metric not in METRICS:
            raise ValueError(f"Task {self.name!r}: metric {self.metric!r} is not one of {METRICS}")
        if self.kind == "classification":
            if self.metric not in CLASSIFICATION_METRICS:
                raise ValueError(
                    f"Task {self.name!r}: metric {self.metric!r} does not suit classification; "
                    f"use one of {CLASSIFICATION_METRICS}"
                )
            if len(self.labels) < 2:
                raise ValueError(
                    f"Task {self.name!r}: classification needs at least two labels, "
                    f"got {self.labels!r}"
                )
            if len(set(self.labels)) != len(self.labels):
                raise ValueError(f"Task {self.name!r}: duplicate labels in {self.labels!r}")
        else:
            if self.metric not in REGRESSION_METRICS:
                raise ValueError(
                    f"Task {self.name!r}: metric {self.metric!r} does not suit regression; "
                    f"use one of {REGRESSION_METRICS}"
                )
            if self.labels:
                raise ValueError(f"Task {self.name!r}: a regression task has no label vocabulary")
        if not 1 <= len(self.text_fields) <= 2:
            raise ValueError(f"Task {self.name!r}: text_fields must name one or two fields")
        if self.skipped < 0:
            raise ValueError(f"Task {self.name!r}: skipped must be >= 0")
        n = len(self.labels)
        for split in ("train", "dev", "test"):
            for i, ex in enumerate(getattr(self, split)):
                if self.kind == "classification":
                    if isinstance(ex.label, bool) or not isinstance(ex.label, int | np.integer):
                        raise ValueError(
                            f"Task {self.name!r}: {split}[{i}] label {ex.label!r} "
                            "is not a class index"
                        )
                    if not 0 <= ex.label < n:
                        raise ValueError(
                            f"Task {self.name!r}: {split}[{i}] label {ex.label} is outside "
                            f"0..{n - 1}"
                        )
                elif not math.isfinite(float(ex.label)):
                    raise ValueError(f"Task {self.name!r}: {split}[{i}] target is not finite")

    @property
    def num_labels(self) -> int:
        """Number of outputs a model head needs: ``len(labels)``, or 1 for regression."""
        return len(self.labels) if self.kind == "classification" else 1

    @property
    def is_pair(self) -> bool:
        """True for sentence-pair tasks (two text fields)."""
        return len(self.text_fields) == 2

    def split(self, name: str) -> tuple[Example, ...]:
        """The examples of split ``name`` ("train", "dev" or "test")."""
        if name not in ("train", "dev", "test"):
            raise ValueError(f"split must be 'train', 'dev' or 'test', got {name!r}")
        result: tuple[Example, ...] = getattr(self, name)
        return result

    def label_counts(self, split: str = "train") -> dict[str, int]:
        """Examples per label name in ``split`` (classification only)."""
        if self.kind != "classification":
            raise ValueError(f"Task {self.name!r} is a regression task: it has no label counts")
        counts = np.bincount(
            np.asarray([int(ex.label) for ex in self.split(split)], dtype=np.int64),
            minlength=len(self.labels),
        )
        return {label: int(c) for label, c in zip(self.labels, counts, strict=True)}

    def with_max_train(self, n: int, *, seed: int = 0) -> Task:
        """This task with at most ``n`` training examples (dev and test untouched).

        Classification subsamples are stratified: each label keeps its share of ``n``
        (largest-remainder rounding, at least one example per label present when ``n`` allows);
        regression subsamples are uniform. Selected examples keep their original order.
        The same ``seed`` always selects the same examples.
        """
        if n < 1:
            raise ValueError(f"with_max_train needs n >= 1, got {n}")
        if n >= len(self.train):
            return self
        rng = np.random.default_rng(seed)
        if self.kind == "classification":
            labels = np.asarray([int(ex.label) for ex in self.train], dtype=np.int64)
            chosen = _stratified_indices(labels, n, rng)
        else:
            chosen = np.sort(rng.choice(len(self.train), size=n, replace=False))
        train = tuple(self.train[int(i)] for i in chosen)
        source = f"{self.source} ({n} of {len(self.train)} training examples, seed {seed})"
        return dataclasses.replace(self, train=train, source=source.strip())


def _stratified_indices(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of a stratified sample of size ``n`` from integer ``labels``."""
    classes, counts = np.unique(labels, return_counts=True)
    share = counts / counts.sum() * n
    quota = np.floor(share).astype(np.int64)
    if n >= len(classes):
        quota = np.maximum(quota, 1)
    quota = np.minimum(quota, counts)
    # Hand out what is left by largest remainder (ties to the larger class, then by label).
    remainder = share - np.floor(share)
    order = np.lexsort((classes, -counts, -remainder))
    while quota.sum() < n:
        for j in order:
            if quota.sum() >= n:
                break
            if quota[j] < counts[j]:
                quota[j] += 1
    while quota.sum() > n:  # only when the one-per-class floor overshot
        j = int(np.argmax(quota))
        quota[j] -= 1
    picked: list[np.ndarray] = []
    for c, q in zip(classes, quota, strict=True):
        members = np.flatnonzero(labels == c)
        picked.append(rng.choice(members, size=int(q), replace=False))
    return np.sort(np.concatenate(picked))


def shuffled(task: Task, *, seed: int = 0) -> Task:
    """A control task: ``task`` with its training labels permuted (seeded).

    The text is real and the label marginal is unchanged, but the link between text and label
    is destroyed, so a correct auxiliary-task selector must never pick it. Dev and test are left
    untouched. The result is named ``"shuffled:<task.name>"``.
    """
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(task.train))
    train = tuple(
        dataclasses.replace(ex, label=task.train[int(j)].label)
        for ex, j in zip(task.train, perm, strict=True)
    )
    return dataclasses.replace(
        task,
        name=f"shuffled:{task.name}",
        train=train,
        source=f"{task.source} (training labels permuted, seed {seed})".strip(),
    )


def make_examples(
    texts: Iterable[str], labels: Iterable[int | float], pairs: Sequence[str] | None = None
) -> tuple[Example, ...]:
    """Zip texts, labels and optional second texts into examples."""
    if pairs is None:
        return tuple(Example(t, y) for t, y in zip(texts, labels, strict=True))
    return tuple(Example(t, y, p) for t, y, p in zip(texts, labels, pairs, strict=True))


__all__ = [
    "CLASSIFICATION_METRICS",
    "KINDS",
    "METRICS",
    "REGRESSION_METRICS",
    "Example",
    "Kind",
    "Task",
    "TaskDataError",
    "make_examples",
    "shuffled",
]
