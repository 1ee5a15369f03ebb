"""Data frames and Hugging Face datasets as tasks (both duck-typed: neither library is imported
here): :func:`from_dataframe` and :func:`from_hf`."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from os import PathLike
from pathlib import Path
from typing import Any

from ._loaders import TextSpec, _assemble, _Table, _text_columns
from ._types import Task, TaskDataError


def _frame_table(df: Any, origin: str) -> _Table:
    columns = [str(c) for c in df.columns]
    values = {str(c): list(df[c].tolist()) for c in df.columns}
    n = len(df)
    rows = [(i, {c: values[c][i] for c in columns}) for i in range(n)]
    return _Table(origin, columns, rows, unit="row")


def from_dataframe(
    df: Any,
    *,
    name: str,
    text: TextSpec = "text",
    label: str = "label",
    kind: str = "classification",
    metric: str | None = None,
    seed: int = 0,
    dev_fraction: float = 0.1,
    test_fraction: float = 0.1,
    labels: Sequence[str] | None = None,
    split_column: str | None = None,
    dev: Any | None = None,
    test: Any | None = None,
) -> Task:
    """Load a task from a pandas DataFrame (any object with ``columns``, ``df[col].tolist()``).

    Same column mapping and split rules as :func:`from_file`; ``dev`` / ``test`` may be further
    data frames. Errors name the frame and the row position (0-based). Missing values (None,
    NaN) in a text column count as empty text and the row is skipped (and counted).
    """
    text_columns = _text_columns(text)
    origin = f"DataFrame {name!r}"
    tables: dict[str, _Table | None] = {
        "train": _frame_table(df, origin),
        "dev": None if dev is None else _frame_table(dev, f"{origin} (dev)"),
        "test": None if test is None else _frame_table(test, f"{origin} (test)"),
    }
    return _assemble(
        tables,
        name=name,
        text_columns=text_columns,
        label=label,
        kind=kind,
        metric=metric,
        labels=labels,
        seed=seed,
        dev_fraction=dev_fraction,
        test_fraction=test_fraction,
        split_column=split_column,
        source=origin,
    )


_HF_SPLITS = {
    "train": ("train",),
    "dev": ("validation", "dev", "valid", "validation_matched"),
    "test": ("test", "test_matched"),
}


def _hf_table(dataset: Any, origin: str, label: str) -> tuple[_Table, tuple[str, ...] | None, int]:
    """Rows of one dataset split, its ClassLabel names (if any) and the unlabelled-row count."""
    columns = [str(c) for c in dataset.column_names]
    names: tuple[str, ...] | None = None
    features = getattr(dataset, "features", None)
    if features is not None and label in features:
        class_names = getattr(features[label], "names", None)
        if class_names:
            names = tuple(str(n) for n in class_names)
    values = {c: list(dataset[c]) for c in columns}
    rows: list[tuple[int, dict[str, Any]]] = []
    unlabelled = 0
    for i in range(len(dataset)):
        row = {c: values[c][i] for c in columns}
        if names is not None and label in row:
            y = row[label]
            if isinstance(y, int) and y < 0:  # datasets marks hidden labels with -1
                unlabelled += 1
                continue
            if isinstance(y, int) and y < len(names):
                row[label] = names[y]
        rows.append((i, row))
    return _Table(origin, columns, rows, unit="row"), names, unlabelled


def from_hf(
    dataset_or_path: Any,
    *,
    name: str,
    text: TextSpec = "text",
    label: str = "label",
    kind: str = "classification",
    metric: str | None = None,
    seed: int = 0,
    dev_fraction: float = 0.1,
    test_fraction: float = 0.1,
    labels: Sequence[str] | None = None,
) -> Task:
    """Load a task from a Hugging Face ``Dataset`` / ``DatasetDict`` or a ``save_to_disk`` folder.

    Loading a folder needs the optional ``datasets`` package (``pip install 'autoaux[datasets]'``);
    dataset objects are read duck-typed. Splits named train, validation (or dev) and test are
    used; missing ones are carved out of train as in :func:`from_file`. ``ClassLabel`` names
    become the label vocabulary; rows labelled -1 (hidden labels, e.g. GLUE test sets) are
    counted in ``skipped``, and a split with no labelled rows is treated as absent.
    """
    data = dataset_or_path
    if isinstance(data, str | PathLike):
        try:
            datasets = importlib.import_module("datasets")
        except ImportError:
            raise TaskDataError(
                "loading a saved Hugging Face dataset needs the optional 'datasets' package; "
                "install it with: pip install 'autoaux[datasets]'",
                path=data,
            ) from None
        if not Path(data).exists():
            raise TaskDataError("dataset folder not found", path=data)
        data = datasets.load_from_disk(str(data))
    if hasattr(data, "column_names") and not isinstance(data.column_names, Mapping):
        split_data: dict[str, Any] = {"train": data}
    elif hasattr(data, "keys"):
        split_data = {}
        available = list(data.keys())
        for split_name, aliases in _HF_SPLITS.items():
            for alias in aliases:
                if alias in available:
                    split_data[split_name] = data[alias]
                    break
        if "train" not in split_data:
            raise TaskDataError(
                f"no 'train' split; splits found: {available}", path=f"dataset {name!r}"
            )
    else:
        raise TypeError(
            f"from_hf expects a datasets.Dataset, DatasetDict or a folder path, got {type(data)}"
        )
    text_columns = _text_columns(text)
    tables: dict[str, _Table | None] = {"train": None, "dev": None, "test": None}
    class_names: tuple[str, ...] | None = None
    hidden = 0
    for split_name, ds in split_data.items():
        table, names, unlabelled = _hf_table(ds, f"dataset {name!r} split {split_name!r}", label)
        hidden += unlabelled
        class_names = class_names or names
        if split_name != "train" and not table.rows and unlabelled:
            continue  # an unlabelled split (hidden test labels): carve one from train instead
        tables[split_name] = table
    if labels is None and class_names is not None and kind == "classification":
        labels = class_names
    task = _assemble(
        tables,
        name=name,
        text_columns=text_columns,
        label=label,
        kind=kind,
        metric=metric,
        labels=labels,
        seed=seed,
        dev_fraction=dev_fraction,
        test_fraction=test_fraction,
        split_column=None,
        source=f"Hugging Face dataset {name!r}",
    )
    if hidden:
        task = replace(task, skipped=task.skipped + hidden)
    return task
