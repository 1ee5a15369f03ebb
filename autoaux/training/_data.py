"""Task data for the trainer: every split of every task tokenised once (:class:`TaskData`,
:func:`prepare_tasks`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from autoaux._seeding import derive_seed
from tasks import Task
from tasks.encoding import BatchIterator, EncodedSplit, encode_split

__all__ = ["SPLITS", "TaskData", "prepare_tasks"]

SPLITS: tuple[str, ...] = ("train", "dev", "test")


@dataclass
class TaskData:
    """A task with its token ids per split and an endless, seeded training batch iterator.

    ``iterator`` is a convenience for code that wants raw training batches; a :class:`Trainer`
    draws from its own iterators over ``train`` (seeded from the trainer's seed), so several
    trainers over the same ``TaskData`` each see a reproducible stream.
    """

    task: Task
    train: EncodedSplit
    dev: EncodedSplit
    test: EncodedSplit
    iterator: BatchIterator
    pad_id: int = 0

    @property
    def name(self) -> str:
        """The task's name."""
        return self.task.name

    @cached_property
    def has_pairs(self) -> bool:
        """Whether any training example is a sentence pair (read once per task data, not by
        every trainer built over it)."""
        return any(ex.text_pair is not None for ex in self.task.train)

    @property
    def kind(self) -> str:
        """``"classification"`` or ``"regression"``."""
        return self.task.kind

    def split(self, name: str) -> EncodedSplit:
        """The encoded split ``name`` (``"train"``, ``"dev"`` or ``"test"``)."""
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {name!r}")
        result: EncodedSplit = getattr(self, name)
        return result


def prepare_tasks(
    tasks: Iterable[Task], tokenizer: Any, *, max_length: int, batch_size: int, seed: int
) -> dict[str, TaskData]:
    """Tokenise every split of every task once; name -> :class:`TaskData`.

    Each task's iterator is seeded from ``seed`` and the task's name. The padding id is the
    tokenizer's ``pad_token_id`` (0 when it has none).
    """
    pad = getattr(tokenizer, "pad_token_id", None)
    pad_id = int(pad) if pad is not None else 0
    out: dict[str, TaskData] = {}
    for task in tasks:
        if task.name in out:
            raise ValueError(f"prepare_tasks: task name {task.name!r} appears twice")
        if not task.train:
            raise ValueError(f"prepare_tasks: task {task.name!r} has no training examples")
        encoded = {
            split: encode_split(task.split(split), tokenizer, max_length=max_length)
            for split in SPLITS
        }
        iterator = BatchIterator(
            encoded["train"],
            batch_size=batch_size,
            seed=derive_seed(seed, "batches", task.name),
            pad_id=pad_id,
        )
        out[task.name] = TaskData(
            task=task,
            train=encoded["train"],
            dev=encoded["dev"],
            test=encoded["test"],
            iterator=iterator,
            pad_id=pad_id,
        )
    return out
