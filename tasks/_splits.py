"""Seeded, deterministic train / dev / test splits and building a Task from raw records."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ._types import CLASSIFICATION_METRICS, KINDS, REGRESSION_METRICS, Example, Task, TaskDataError

SPLIT_NAMES: dict[str, str] = {
    "train": "train",
    "training": "train",
    "dev": "dev",
    "validation": "dev",
    "valid": "dev",
    "val": "dev",
    "test": "test",
    "testing": "test",
}


@dataclass(frozen=True, slots=True)
class Record:
    """One source row before labels are indexed: text, optional pair, raw label, origin."""

    text: str
    label: str | float
    text_pair: str | None
    path: str
    line: int
    unit: str = "line"


def split_indices(
    n: int,
    *,
    dev_fraction: float,
    test_fraction: float,
    seed: int,
    strata: Sequence[object] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices (train, dev, test) of a seeded split of ``n`` items.

    With ``strata`` (e.g. the labels) each stratum is split on its own, so every split keeps the
    label balance: a stratum of size ``m`` gives ``round(m * test_fraction)`` test and
    ``round(m * dev_fraction)`` dev items, the rest train. Within each split, items follow one
    seeded global permutation, so classes are interleaved. Same inputs, same split.
    """
    for label, value in (("dev_fraction", dev_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{label} must be in [0, 1), got {value}")
    if dev_fraction + test_fraction >= 1.0:
        raise ValueError("dev_fraction + test_fraction must be below 1")
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    if strata is None:
        groups = [order]
    else:
        keys = np.asarray([str(s) for s in strata])
        groups = [order[keys[order] == k] for k in sorted(set(keys.tolist()))]
    train: list[np.ndarray] = []
    dev: list[np.ndarray] = []
    test: list[np.ndarray] = []
    for members in groups:
        m = len(members)
        n_test = round(m * test_fraction)
        n_dev = round(m * dev_fraction)
        if n_test + n_dev >= m:  # keep at least one training item per stratum
            n_test = min(n_test, max(m - 1, 0))
            n_dev = min(n_dev, max(m - 1 - n_test, 0))
        test.append(members[:n_test])
        dev.append(members[n_test : n_test + n_dev])
        train.append(members[n_test + n_dev :])

    def ordered(parts: list[np.ndarray]) -> np.ndarray:
        joined = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
        return joined[np.argsort(rank[joined], kind="stable")].astype(np.int64)

    return ordered(train), ordered(dev), ordered(test)


def _label_sort_key(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def _check_number_spellings(records: Iterable[Record]) -> None:
    """Refuse class labels that are one number written two ways (``1`` and ``1.0``, ``1`` and
    ``01``): each spelling would silently become a class of its own."""
    seen: dict[float, Record] = {}
    for r in records:
        label = str(r.label)
        try:
            value = float(label)
        except ValueError:
            continue
        if not math.isfinite(value):
            continue
        first = seen.setdefault(value, r)
        if str(first.label) != label:
            raise TaskDataError(
                f"class labels {str(first.label)!r} and {label!r} are the same number written "
                "two ways and would become two classes; write each class one way",
                path=r.path,
                line=r.line,
                unit=r.unit,
            )


def build_task(
    name: str,
    *,
    kind: str,
    train: Sequence[Record],
    dev: Sequence[Record] | None,
    test: Sequence[Record] | None,
    metric: str | None,
    labels: Sequence[str] | None,
    seed: int,
    dev_fraction: float,
    test_fraction: float,
    text_fields: Sequence[str],
    label_field: str,
    source: str,
    skipped: int,
    origin: str,
) -> Task:
    """Make a :class:`Task` from parsed records, carving missing splits out of ``train``.

    ``dev`` / ``test`` are ``None`` when the source has no such split: they are then cut from the
    training records with :func:`split_indices` (stratified by label for classification).
    Classification labels become indices into ``labels`` (given, or the training labels sorted,
    numerically when they are numbers); a dev or test label never seen in training is an error
    naming its file and line.
    """
    metric = _checked_metric(kind, metric, origin)
    if not train:
        raise TaskDataError("empty split: no usable training rows", path=origin)
    for split_name, given in (("dev", dev), ("test", test)):
        if given is not None and not given:
            raise TaskDataError(f"empty split: no usable {split_name} rows", path=origin)
    need = [s for s, given in (("dev", dev), ("test", test)) if given is None]
    train_list = list(train)
    if kind == "classification" and labels is None:
        _check_number_spellings((*train_list, *(dev or ()), *(test or ())))
    if need:
        train_list, dev, test = _carve_splits(
            train_list,
            dev,
            test,
            need,
            kind=kind,
            seed=seed,
            dev_fraction=dev_fraction,
            test_fraction=test_fraction,
            origin=origin,
        )
    assert dev is not None and test is not None
    if kind == "classification":
        vocab = _label_vocabulary(labels, train_list, dev, test, origin)
        index = {label: i for i, label in enumerate(vocab)}

        def convert(records: Sequence[Record]) -> tuple[Example, ...]:
            return tuple(Example(r.text, index[str(r.label)], r.text_pair) for r in records)

    else:
        vocab = ()

        def convert(records: Sequence[Record]) -> tuple[Example, ...]:
            return tuple(Example(r.text, float(r.label), r.text_pair) for r in records)

    return Task(
        name=name,
        kind="classification" if kind == "classification" else "regression",
        train=convert(train_list),
        dev=convert(dev),
        test=convert(test),
        labels=vocab,
        metric=metric,
        text_fields=tuple(text_fields),
        label_field=label_field,
        source=source,
        skipped=skipped,
    )


def _checked_metric(kind: str, metric: str | None, origin: str) -> str:
    """The task's metric (the kind's default when ``None``), refused when it does not suit it."""
    if kind not in KINDS:
        raise TaskDataError(f"kind must be one of {KINDS}, got {kind!r}", path=origin)
    if metric is None:
        metric = "accuracy" if kind == "classification" else "pearson"
    allowed = CLASSIFICATION_METRICS if kind == "classification" else REGRESSION_METRICS
    if metric not in allowed:
        raise TaskDataError(
            f"metric {metric!r} does not suit a {kind} task; use one of {allowed}", path=origin
        )
    return metric


def _carve_splits(
    train_list: list[Record],
    dev: Sequence[Record] | None,
    test: Sequence[Record] | None,
    need: Sequence[str],
    *,
    kind: str,
    seed: int,
    dev_fraction: float,
    test_fraction: float,
    origin: str,
) -> tuple[list[Record], Sequence[Record], Sequence[Record]]:
    """Cut the splits named in ``need`` (those that are ``None``) out of the training records."""
    fractions = {"dev": dev_fraction, "test": test_fraction}
    for s in need:
        if fractions[s] <= 0:
            raise TaskDataError(
                f"the source has no {s} split and {s}_fraction is {fractions[s]}; "
                f"give a {s} split or a positive {s}_fraction",
                path=origin,
            )
    strata = [r.label for r in train_list] if kind == "classification" else None
    tr, dv, te = split_indices(
        len(train_list),
        dev_fraction=dev_fraction if dev is None else 0.0,
        test_fraction=test_fraction if test is None else 0.0,
        seed=seed,
        strata=strata,
    )
    if dev is None:
        dev = [train_list[int(i)] for i in dv]
    if test is None:
        test = [train_list[int(i)] for i in te]
    train_list = [train_list[int(i)] for i in tr]
    for s, records in (("dev", dev), ("test", test)):
        if not records:
            raise TaskDataError(
                f"empty split: {len(train_list)} training rows are too few to carve a {s} "
                "split from",
                path=origin,
            )
    return train_list, dev, test


def _label_vocabulary(
    labels: Sequence[str] | None,
    train_list: Sequence[Record],
    dev: Sequence[Record],
    test: Sequence[Record],
    origin: str,
) -> tuple[str, ...]:
    """The class names (``labels``, or the training labels sorted), refusing a label outside
    them (given ``labels``) or a dev / test label never seen in training."""
    vocab = (
        tuple(labels)
        if labels is not None
        else tuple(sorted({str(r.label) for r in train_list}, key=_label_sort_key))
    )
    index = {label: i for i, label in enumerate(vocab)}
    if labels is not None:
        for r in (*train_list, *dev, *test):
            if str(r.label) not in index:
                raise TaskDataError(
                    f"label {r.label!r} is not one of the labels {list(vocab)}",
                    path=r.path,
                    line=r.line,
                    unit=r.unit,
                )
    else:
        for split_name, records in (("dev", dev), ("test", test)):
            for r in records:
                if str(r.label) not in index:
                    raise TaskDataError(
                        f"{split_name} label {r.label!r} never occurs in the training split "
                        f"(training labels: {list(vocab)})",
                        path=r.path,
                        line=r.line,
                        unit=r.unit,
                    )
    if len(vocab) < 2:
        raise TaskDataError(
            f"a classification task needs at least two labels; training has only {list(vocab)}",
            path=origin,
        )
    return vocab
