"""User data to tasks, tokenised per-task datasets, the mixture batch sampler and the collator.

Layout of a :class:`MultiTaskDataset` over tasks ``t_0, t_1, ...`` (in mapping order): the
examples of ``t_0`` hold global indices ``0 .. n_0 - 1``, those of ``t_1`` hold
``n_0 .. n_0 + n_1 - 1``, and so on. :class:`MixtureBatchSampler` yields lists of global indices
that all fall in one task's range, so every batch comes from exactly one task, and
:class:`MixtureCollator` pads such a list into tensors and keeps the task's name with them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from tasks import Example, Task, encode_split, from_hf

__all__ = [
    "MixtureBatchSampler",
    "MixtureCollator",
    "MultiTaskDataset",
    "TaskColumns",
    "TaskDataset",
    "task_from_dataset",
    "tasks_from_datasets",
]

DataLike = Any
"""One task's data: a :class:`tasks.Task`, a ``datasets.DatasetDict``, a mapping of split name
(``train``, ``validation`` / ``dev``, ``test``) to a ``datasets.Dataset`` or a list of row dicts,
a single ``datasets.Dataset`` or list of row dicts (the training split), or a ``save_to_disk``
folder."""


@dataclass(frozen=True)
class TaskColumns:
    """Where one task's text and label live in the user's rows, and what kind of task it is.

    Attributes:
        text: the text column, or two columns for a sentence pair.
        label: the label column.
        kind: ``"classification"`` or ``"regression"``.
        metric: the task's metric (default: accuracy for classification, pearson for
            regression); the main task's metric is what evaluation reports.
        labels: the label vocabulary, in order (default: ``ClassLabel`` names when the dataset
            has them, else the sorted training labels, numerically when they are numbers).
    """

    text: str | tuple[str, ...] = "text"
    label: str = "label"
    kind: str = "classification"
    metric: str | None = None
    labels: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("classification", "regression"):
            raise ValueError(
                f"TaskColumns.kind must be 'classification' or 'regression', got {self.kind!r}"
            )
        if not isinstance(self.text, str):
            object.__setattr__(self, "text", tuple(self.text))
        if self.labels is not None:
            object.__setattr__(self, "labels", tuple(str(x) for x in self.labels))


class _Rows:
    """A list of row dicts seen through the column interface ``tasks.from_hf`` reads."""

    def __init__(self, rows: Sequence[Mapping[str, Any]], origin: str) -> None:
        self.rows = list(rows)
        columns: dict[str, None] = {}
        for i, row in enumerate(self.rows):
            if not isinstance(row, Mapping):
                raise TypeError(f"{origin}: row {i} is a {type(row).__name__}, expected a dict")
            columns.update(dict.fromkeys(str(k) for k in row))
        self.column_names = list(columns)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, column: str) -> list[Any]:
        return [row.get(column) for row in self.rows]


def _is_row_list(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(r, Mapping) for r in value)


def task_from_dataset(
    name: str,
    dataset_splits: DataLike,
    *,
    text: str | Sequence[str] = "text",
    label: str = "label",
    kind: str = "classification",
    metric: str | None = None,
    labels: Sequence[str] | None = None,
    seed: int = 0,
    dev_fraction: float = 0.1,
    test_fraction: float = 0.1,
) -> Task:
    """A :class:`tasks.Task` from a user's Hugging Face dataset(s) or lists of row dicts.

    ``dataset_splits`` is a ``datasets.DatasetDict``, a mapping of split name to a
    ``datasets.Dataset`` or a list of dicts, a single dataset or list (the training split), or
    a ``save_to_disk`` folder. Splits named ``train``, ``validation`` (or ``dev``) and ``test``
    are used; missing dev / test splits are carved out of train (stratified, seeded by
    ``seed``), exactly as :func:`tasks.from_hf` does, which this wraps. The result can be
    handed to ``autoaux.select`` / ``autoaux.mix`` / ``autoaux.run(..., user_tasks=...)``
    together with a local model folder as ``encoder``::

        main = task_from_dataset("reviews", load_from_disk("data/reviews"), text="sentence")
        chosen = autoaux.select(main=main, auxiliary=[aux], encoder="models/my-bert")
    """
    if isinstance(dataset_splits, Task):
        return dataset_splits
    data: Any = dataset_splits
    if _is_row_list(data):
        data = {"train": _Rows(data, f"dataset {name!r}")}
    elif isinstance(data, Mapping) and not hasattr(data, "column_names"):
        data = {
            str(split): _Rows(rows, f"dataset {name!r} split {split!r}")
            if _is_row_list(rows)
            else rows
            for split, rows in data.items()
        }
    elif not (isinstance(data, str | os.PathLike) or hasattr(data, "column_names")):
        raise TypeError(
            f"task {name!r}: expected a datasets.Dataset / DatasetDict, a mapping of split name "
            f"to a dataset or a list of dicts, a list of dicts or a folder, got "
            f"{type(dataset_splits).__name__}"
        )
    return from_hf(
        data,
        name=name,
        text=text if isinstance(text, str) else tuple(text),
        label=label,
        kind=kind,
        metric=metric,
        seed=seed,
        dev_fraction=dev_fraction,
        test_fraction=test_fraction,
        labels=labels,
    )


def tasks_from_datasets(
    datasets: Mapping[str, DataLike],
    *,
    columns: TaskColumns | Mapping[str, TaskColumns] | None = None,
    seed: int = 0,
) -> dict[str, Task]:
    """:func:`task_from_dataset` for every entry of ``datasets`` (task name -> data).

    ``columns`` is one :class:`TaskColumns` for all tasks or a mapping task -> TaskColumns
    (tasks it does not name use the defaults). :class:`tasks.Task` values are kept as they are.
    The same ``datasets`` mapping can then drive the selection run and
    :func:`~autoaux.hf.build_mixture_trainer`, which converts it the same way.
    """
    out: dict[str, Task] = {}
    for name, data in datasets.items():
        spec = _columns_for(name, columns)
        out[name] = task_from_dataset(
            name,
            data,
            text=spec.text,
            label=spec.label,
            kind=spec.kind,
            metric=spec.metric,
            labels=spec.labels,
            seed=seed,
        )
    return out


def _columns_for(name: str, columns: TaskColumns | Mapping[str, TaskColumns] | None) -> TaskColumns:
    if columns is None:
        return TaskColumns()
    if isinstance(columns, TaskColumns):
        return columns
    spec = columns.get(name, TaskColumns())
    if not isinstance(spec, TaskColumns):
        raise TypeError(f"columns[{name!r}] must be a TaskColumns, got {type(spec).__name__}")
    return spec


class TaskDataset(Dataset[dict[str, Any]]):
    """One split of one task, tokenised once.

    Item ``i`` is ``{"input_ids": list[int], "labels": int | float, "task": name}``;
    ``labels`` holds class indices (classification) or float targets (regression).
    """

    def __init__(self, task: str, input_ids: Sequence[Sequence[int]], labels: np.ndarray) -> None:
        if len(input_ids) != len(labels):
            raise ValueError(f"task {task!r}: {len(input_ids)} token lists, {len(labels)} labels")
        self.task = task
        self.input_ids = [list(ids) for ids in input_ids]
        self.labels = np.asarray(labels)

    @classmethod
    def from_examples(
        cls,
        task: str,
        examples: Sequence[Example],
        tokenizer: Any,
        *,
        kind: str,
        max_length: int,
    ) -> TaskDataset:
        """Tokenise ``examples`` (pairs as ``[CLS] a [SEP] b [SEP]``), cut to ``max_length``."""
        encoded = encode_split(examples, tokenizer, max_length=max_length)
        dtype = np.int64 if kind == "classification" else np.float32
        labels = np.asarray([ex.label for ex in examples], dtype=dtype)
        return cls(task, encoded.input_ids, labels)

    @classmethod
    def from_task(cls, task: Task, split: str, tokenizer: Any, *, max_length: int) -> TaskDataset:
        """Split ``split`` ("train", "dev" or "test") of ``task``, tokenised."""
        return cls.from_examples(
            task.name, task.split(split), tokenizer, kind=task.kind, max_length=max_length
        )

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {
            "input_ids": self.input_ids[index],
            "labels": self.labels[index].item(),
            "task": self.task,
        }


class MultiTaskDataset(Dataset[dict[str, Any]]):
    """Several :class:`TaskDataset` laid end to end (see the module docstring for the layout)."""

    def __init__(self, parts: Mapping[str, TaskDataset]) -> None:
        if not parts:
            raise ValueError("MultiTaskDataset needs at least one task")
        self.parts = dict(parts)
        for name, part in self.parts.items():
            if len(part) == 0:
                raise ValueError(f"task {name!r} has no training examples")
        sizes = [len(p) for p in self.parts.values()]
        self.offsets = dict(
            zip(self.parts, np.concatenate([[0], np.cumsum(sizes)[:-1]]).tolist(), strict=True)
        )
        self._ends = np.cumsum(sizes)
        self._names = list(self.parts)

    @property
    def task_sizes(self) -> dict[str, int]:
        """Task -> number of examples, in layout order."""
        return {name: len(part) for name, part in self.parts.items()}

    def task_of(self, index: int) -> str:
        """The task whose range holds global ``index``."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range 0..{len(self) - 1}")
        return self._names[int(np.searchsorted(self._ends, index, side="right"))]

    def __len__(self) -> int:
        return int(self._ends[-1])

    def __getitem__(self, index: int) -> dict[str, Any]:
        task = self.task_of(index)
        return self.parts[task][index - self.offsets[task]]


class MixtureBatchSampler(Sampler[list[int]]):
    """Yields batches of global indices, each from one task drawn with the mixing ratios.

    For every batch: draw task ``t`` with probability ``p_t = w_t / sum_s w_s`` (``weights``:
    main task 1, auxiliary tasks their ratio), then take the next ``batch_size`` indices of a
    stream of seeded permutations of ``t``'s range (a fresh permutation whenever one is used
    up, so a batch may straddle two passes and every batch is full; a task smaller than
    ``batch_size`` repeats examples within a batch).

    Randomness: pass ``e`` uses a ``numpy.random.Generator`` seeded by ``(seed, e)``; the pass
    number is set by :meth:`set_epoch` (the ``transformers.Trainer`` calls it every epoch) and
    moves on by one after each full iteration otherwise. So a run (and its resumption) is
    reproducible from ``seed``.

    Args:
        task_sizes: task -> number of examples, in the dataset's layout order
            (:attr:`MultiTaskDataset.task_sizes`).
        weights: task -> sampling weight ``>= 0`` (tasks of ``task_sizes`` not named get 0).
        batch_size: examples per batch.
        num_batches: batches per pass (``len(sampler)``). Default: enough batches to see
            ``main``'s training set once in expectation, ``ceil(n_main / batch_size / p_main)``,
            or, without ``main``, ``ceil(sum of drawn tasks' sizes / batch_size)``.
        main: the main task (for the default ``num_batches``).
        seed: seed of the sampler's generators.
    """

    def __init__(
        self,
        task_sizes: Mapping[str, int],
        weights: Mapping[str, float],
        *,
        batch_size: int,
        num_batches: int | None = None,
        main: str | None = None,
        seed: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        unknown = [name for name in weights if name not in task_sizes]
        if unknown:
            raise ValueError(f"weights name tasks that have no data: {unknown}")
        self.names = list(task_sizes)
        sizes = np.asarray([int(task_sizes[n]) for n in self.names], dtype=np.int64)
        w = np.asarray([float(weights.get(n, 0.0)) for n in self.names], dtype=np.float64)
        if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError(f"weights must be finite, >= 0 and not all 0, got {dict(weights)}")
        if np.any((w > 0) & (sizes < 1)):
            raise ValueError("a task with a positive weight has no examples")
        self.sizes = sizes
        self.offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self.probabilities = w / w.sum()
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        if num_batches is None:
            if main is not None:
                if main not in task_sizes:
                    raise ValueError(f"main task {main!r} has no data")
                j = self.names.index(main)
                if self.probabilities[j] <= 0:
                    raise ValueError(f"main task {main!r} has weight 0")
                num_batches = math.ceil(sizes[j] / batch_size / self.probabilities[j])
            else:
                num_batches = math.ceil(int(sizes[w > 0].sum()) / batch_size)
        if num_batches < 1:
            raise ValueError(f"num_batches must be >= 1, got {num_batches}")
        self.num_batches = int(num_batches)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use the random stream of pass ``epoch`` for the next iteration."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_batches

    def task_sequence(self, epoch: int | None = None) -> list[str]:
        """The tasks of the batches of pass ``epoch`` (default: the next pass), in order."""
        rng = np.random.default_rng([self.seed, self.epoch if epoch is None else epoch])
        draws = rng.choice(len(self.names), size=self.num_batches, p=self.probabilities)
        return [self.names[int(j)] for j in draws]

    def __iter__(self) -> Iterator[list[int]]:
        epoch = self.epoch
        self.epoch += 1
        rng = np.random.default_rng([self.seed, epoch])
        draws = rng.choice(len(self.names), size=self.num_batches, p=self.probabilities)
        streams: dict[int, tuple[np.ndarray, int]] = {}
        for j in draws.tolist():
            order, position = streams.get(j, (np.empty(0, dtype=np.int64), 0))
            batch: list[int] = []
            while len(batch) < self.batch_size:
                if position >= len(order):
                    order, position = rng.permutation(int(self.sizes[j])), 0
                take = min(self.batch_size - len(batch), len(order) - position)
                batch.extend((order[position : position + take] + self.offsets[j]).tolist())
                position += take
            streams[j] = (order, position)
            yield batch


class MixtureCollator:
    """Pads a list of items of one task into tensors and keeps the task's name.

    Output: ``input_ids`` and ``attention_mask`` (int64, ``(B, L)``, right-padded with
    ``pad_token_id``), ``labels`` (int64 class indices or float32 targets, ``(B,)``) and
    ``task`` (a string). A batch whose items come from different tasks is an error: use
    :class:`MixtureBatchSampler`, or evaluate one :class:`TaskDataset` at a time.
    """

    def __init__(self, pad_token_id: int = 0) -> None:
        self.pad_token_id = int(pad_token_id)

    @classmethod
    def for_tokenizer(cls, tokenizer: Any) -> MixtureCollator:
        """A collator padding with ``tokenizer.pad_token_id``."""
        pad = getattr(tokenizer, "pad_token_id", None)
        if pad is None:
            raise ValueError("the tokenizer has no padding token (pad_token_id is None)")
        return cls(int(pad))

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        if not features:
            raise ValueError("MixtureCollator got an empty batch")
        tasks = {f["task"] for f in features}
        if len(tasks) != 1:
            raise ValueError(
                f"a batch mixes tasks {sorted(tasks)}; every batch must come from one task"
            )
        width = max(len(f["input_ids"]) for f in features)
        input_ids = torch.full((len(features), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(features), width), dtype=torch.long)
        for k, f in enumerate(features):
            ids = f["input_ids"]
            input_ids[k, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
            mask[k, : len(ids)] = 1
        values = [f["labels"] for f in features]
        if all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in values):
            labels = torch.as_tensor(values, dtype=torch.long)
        else:
            labels = torch.as_tensor(values, dtype=torch.float32)
        return {
            "input_ids": input_ids,
            "attention_mask": mask,
            "labels": labels,
            "task": tasks.pop(),
        }
