"""Train with the chosen mixture inside a Hugging Face ``transformers`` pipeline.

A selection run (:func:`autoaux.run`) says which auxiliary tasks help the main task and with
what mixing ratios; this module trains *your* encoder with *your* ``transformers.Trainer``
set-up on that mixture::

    from transformers import AutoTokenizer, TrainingArguments
    from autoaux.hf import TaskColumns, build_mixture_trainer

    trainer = build_mixture_trainer(
        "autoaux-output/result.json",               # or the RunResult itself
        model_name_or_path="models/my-bert",        # a local folder (no hub access by default)
        tokenizer=AutoTokenizer.from_pretrained("models/my-bert"),
        datasets={"reviews": reviews, "tweets": tweets},   # DatasetDicts or lists of dicts
        columns={"reviews": TaskColumns(text="sentence"), "tweets": TaskColumns()},
        args=TrainingArguments("out", max_steps=1000, eval_strategy="steps", eval_steps=100),
    )
    trainer.train()            # logs eval_<metric> of the main task at every evaluation
    print(trainer.test())      # {"test_accuracy": ..., ...}

The pieces, usable on their own:

- :func:`task_from_dataset` / :func:`tasks_from_datasets`: user datasets (``datasets.Dataset``
  or lists of dicts) to :class:`tasks.Task` objects, which ``autoaux.select`` / ``mix`` /
  ``run`` accept directly, together with a local model folder as ``encoder``;
- :class:`Mixture`: the main task and the auxiliary ratios, read from a ``RunResult`` or
  ``result.json``; batch probabilities ``p_t = w_t / sum_s w_s`` with ``w_main = 1``;
- :class:`TaskDataset`, :class:`MultiTaskDataset`: tokenised splits, laid end to end;
- :class:`MixtureBatchSampler`: each batch's task drawn with probability ``p_t`` (seeded
  numpy generator), then ``batch_size`` indices of that task only;
- :class:`MixtureCollator`: pads one task's items and keeps the task name in the batch;
- :class:`MixtureModel`: any ``AutoModel`` encoder, masked-mean or CLS pooling, one
  classification or regression head per task; a batch runs (and trains) its own task's head only;
- :class:`MixtureTrainer`: the ``Trainer`` subclass that uses the sampler and reports the main
  task's metric (:class:`MainMetric`) as ``eval_<metric>``.

Importing this module imports ``transformers`` and ``torch``; ``import autoaux`` does not import
it. ``transformers.Trainer`` needs ``accelerate`` (``pip install 'autoaux[hf]'``).
"""

from __future__ import annotations

from autoaux.training.mixture import Mixture

from ._data import (
    MixtureBatchSampler,
    MixtureCollator,
    MultiTaskDataset,
    TaskColumns,
    TaskDataset,
    task_from_dataset,
    tasks_from_datasets,
)
from ._model import POOLINGS, HeadSpec, MixtureModel
from ._trainer import MainMetric, MixtureTrainer, build_mixture_trainer

__all__ = [
    "POOLINGS",
    "HeadSpec",
    "MainMetric",
    "Mixture",
    "MixtureBatchSampler",
    "MixtureCollator",
    "MixtureModel",
    "MixtureTrainer",
    "MultiTaskDataset",
    "TaskColumns",
    "TaskDataset",
    "build_mixture_trainer",
    "task_from_dataset",
    "tasks_from_datasets",
]
