"""Task specifications, loaders and the built-in suite of real text tasks.

A :class:`Task` is a frozen record of a labelled text task (name, kind, text fields, label
vocabulary, metric, and train / dev / test examples). Tasks come from files
(:func:`from_file`, :func:`from_glue`), data frames (:func:`from_dataframe`), Hugging Face
datasets (:func:`from_hf`), the built-in suite of real text (:func:`load_builtin`) or the planted
synthetic pool (:mod:`tasks.planted`). :mod:`tasks.encoding` turns them into token ids and batches.
:func:`guard` (the contamination guard) drops auxiliary training examples whose normalised text
(:func:`normalise`) is a main-task dev or test text, and reports what it found.
This package never imports torch, transformers or mlflow.
"""

from __future__ import annotations

from ._builtin import (
    SHUFFLED_PREFIX,
    BuiltinInfo,
    builtin_info,
    builtin_names,
    default_cache_dir,
    fetch_all,
    load_builtin,
)
from ._contamination import (
    ContaminationReport,
    TaskContamination,
    example_key,
    guard,
    normalise,
    split_keys,
)
from ._frames import from_dataframe, from_hf
from ._glue import GLUE_TASKS, from_glue
from ._loaders import from_file
from ._metrics import average_ranks, compute_metric
from ._registry import load_task
from ._splits import split_indices
from ._types import KINDS, METRICS, Example, Task, TaskDataError, shuffled
from .encoding import BatchIterator, EncodedSplit, encode_split, iter_batches
from .planted import PlantedSuite, make_planted_suite, write_task_csv

__all__ = [
    "GLUE_TASKS",
    "KINDS",
    "METRICS",
    "SHUFFLED_PREFIX",
    "BatchIterator",
    "BuiltinInfo",
    "ContaminationReport",
    "EncodedSplit",
    "Example",
    "PlantedSuite",
    "Task",
    "TaskContamination",
    "TaskDataError",
    "average_ranks",
    "builtin_info",
    "builtin_names",
    "compute_metric",
    "default_cache_dir",
    "encode_split",
    "example_key",
    "fetch_all",
    "from_dataframe",
    "from_file",
    "from_glue",
    "from_hf",
    "guard",
    "iter_batches",
    "load_builtin",
    "load_task",
    "make_planted_suite",
    "normalise",
    "shuffled",
    "split_indices",
    "split_keys",
    "write_task_csv",
]
