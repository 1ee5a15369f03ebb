"""A ``transformers.Trainer`` that trains on the chosen mixture and reports the main metric."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from torch import nn
from torch.utils.data import DataLoader, Dataset
from transformers import EvalPrediction, Trainer, TrainingArguments

from autoaux.training.mixture import Mixture, MixtureSource
from tasks import METRICS, ContaminationReport, Task, compute_metric, guard

from ._data import (
    DataLike,
    MixtureBatchSampler,
    MixtureCollator,
    MultiTaskDataset,
    TaskColumns,
    TaskDataset,
    tasks_from_datasets,
)
from ._model import HeadSpec, MixtureModel

__all__ = ["MainMetric", "MixtureTrainer", "build_mixture_trainer"]

log = logging.getLogger("autoaux")


class MainMetric:
    """``compute_metrics`` for the ``Trainer``: the main task's metric as ``{metric: value}``.

    The ``Trainer`` adds its prefix, so evaluation logs ``eval_<metric>`` (e.g.
    ``eval_accuracy``) at every evaluation step, through its own logging and callbacks.
    Predictions are logits ``(N, C)`` (reduced with ``argmax``) or regression outputs
    ``(N, 1)``; the score is :func:`tasks.compute_metric`.
    """

    def __init__(self, metric: str) -> None:
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; choose one of {METRICS}")
        self.metric = metric

    def __call__(self, prediction: EvalPrediction) -> dict[str, float]:
        outputs = prediction.predictions
        if isinstance(outputs, tuple):
            outputs = outputs[0]
        labels = prediction.label_ids
        if isinstance(labels, tuple):
            labels = labels[0]
        return {self.metric: float(compute_metric(self.metric, outputs, labels))}


class MixtureTrainer(Trainer):
    """A ``transformers.Trainer`` whose training batches follow the chosen mixture.

    Every training batch comes from one task, drawn with probability proportional to its
    mixing ratio (:class:`MixtureBatchSampler`, seeded by ``sampler_seed``, default
    ``args.seed``); the model (:class:`MixtureModel`) computes that task's loss with that task's
    head only. Evaluation scores the main task's dev split (``eval_dataset``) with
    :class:`MainMetric`, logged as ``eval_<metric>`` through the Trainer's own logging, so
    MLflow or any other reporting callback records it as usual. Everything else (optimiser,
    schedule, checkpoints, ``load_best_model_at_end`` with ``metric_for_best_model=<metric>``,
    mixed precision, callbacks) is the plain ``Trainer``.

    Keep ``gradient_accumulation_steps=1`` for one task per optimiser step; with ``k > 1`` a
    step accumulates ``k`` one-task batches, which may come from different tasks.

    Args:
        model: usually a :class:`MixtureModel`; any module whose ``forward`` takes the
            collator's keys (``input_ids``, ``attention_mask``, ``labels``, ``task``) and
            returns a loss.
        args: the ``TrainingArguments``.
        mixture: the chosen mixture (a :class:`Mixture`, or anything
            :meth:`Mixture.from_result` reads).
        metric: the main task's metric name (:data:`tasks.METRICS`).
        train_dataset: a :class:`MultiTaskDataset` holding every task of the mixture.
        test_dataset: the main task's test split, scored by :meth:`test`.
        num_batches: batches per epoch (see :class:`MixtureBatchSampler`); set ``max_steps``
            in ``args`` to train by steps instead.
        sampler_seed: seed of the batch sampler (default ``args.seed``).
        **kwargs: passed to ``transformers.Trainer`` (``eval_dataset``, ``data_collator``,
            ``processing_class``, ``callbacks``, ``optimizers``...). The data collator
            defaults to a :class:`MixtureCollator` (padding id from ``processing_class``) and
            ``compute_metrics`` to :class:`MainMetric`.
    """

    def __init__(
        self,
        model: nn.Module | None = None,
        args: TrainingArguments | None = None,
        *,
        mixture: MixtureSource,
        metric: str = "accuracy",
        train_dataset: MultiTaskDataset | None = None,
        test_dataset: Dataset[Any] | None = None,
        num_batches: int | None = None,
        sampler_seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.mixture = Mixture.from_result(mixture)
        self.metric = metric
        self.test_dataset = test_dataset
        self.num_batches = num_batches
        self.sampler_seed = sampler_seed
        self.batch_sampler: MixtureBatchSampler | None = None
        self.tasks: dict[str, Task] = {}
        self.contamination: ContaminationReport | None = None
        if train_dataset is not None:
            _check_coverage(self.mixture, train_dataset)
        if kwargs.get("compute_metrics") is None:
            kwargs["compute_metrics"] = MainMetric(metric)
        if kwargs.get("data_collator") is None:
            processing = kwargs.get("processing_class")
            kwargs["data_collator"] = (
                MixtureCollator()
                if processing is None
                else MixtureCollator.for_tokenizer(processing)
            )
        super().__init__(model=model, args=args, train_dataset=train_dataset, **kwargs)

    def make_batch_sampler(self) -> MixtureBatchSampler:
        """The training batch sampler over :attr:`train_dataset` for :attr:`mixture`."""
        dataset = self.train_dataset
        if not isinstance(dataset, MultiTaskDataset):
            raise TypeError(
                "MixtureTrainer needs train_dataset to be an autoaux.hf.MultiTaskDataset, got "
                f"{type(dataset).__name__}"
            )
        _check_coverage(self.mixture, dataset)
        return MixtureBatchSampler(
            dataset.task_sizes,
            self.mixture.weights(),
            batch_size=self._train_batch_size,
            num_batches=self.num_batches,
            main=self.mixture.main_task,
            seed=self.args.seed if self.sampler_seed is None else self.sampler_seed,
        )

    def get_train_dataloader(self) -> DataLoader[Any]:
        """A loader whose batches each come from one task, drawn with the mixing ratios."""
        self.batch_sampler = self.make_batch_sampler()
        workers = self.args.dataloader_num_workers
        loader = DataLoader(
            self.train_dataset,  # type: ignore[arg-type]
            batch_sampler=self.batch_sampler,
            collate_fn=self.data_collator,
            num_workers=workers,
            pin_memory=self.args.dataloader_pin_memory,
            persistent_workers=self.args.dataloader_persistent_workers and workers > 0,
        )
        prepared: DataLoader[Any] = self.accelerator.prepare(loader)
        return prepared

    def test(self) -> dict[str, float]:
        """Score the main task's test split: ``{"test_<metric>": ..., "test_loss": ...}``.

        Logged through the Trainer's logging like any evaluation.
        """
        if self.test_dataset is None:
            raise ValueError("no test_dataset was given")
        return self.evaluate(self.test_dataset, metric_key_prefix="test")


def _check_coverage(mixture: Mixture, dataset: MultiTaskDataset) -> None:
    missing = [name for name in mixture.tasks if name not in dataset.task_sizes]
    if missing:
        raise ValueError(
            f"the mixture draws {missing} but train_dataset has no such task; "
            f"it has {list(dataset.task_sizes)}"
        )


def build_mixture_trainer(
    result: MixtureSource,
    *,
    tokenizer: Any,
    datasets: Mapping[str, DataLike],
    args: TrainingArguments,
    model_name_or_path: str | os.PathLike[str] | None = None,
    encoder: nn.Module | None = None,
    columns: TaskColumns | Mapping[str, TaskColumns] | None = None,
    pooling: str = "mean",
    dropout: float = 0.1,
    max_length: int = 128,
    num_batches: int | None = None,
    seed: int | None = None,
    split_seed: int = 0,
    local_files_only: bool = True,
    drop_contaminated: bool = True,
    **trainer_kwargs: Any,
) -> MixtureTrainer:
    """A :class:`MixtureTrainer` for the mixture a selection run chose, on the user's data.

    Args:
        result: the selection run's ``RunResult`` (or ``MixResult`` / ``SelectionResult``) or
            the path of its ``result.json``: the main task and the auxiliary ratios.
        tokenizer: the user's tokenizer (a Hugging Face fast tokenizer).
        datasets: task name -> that task's data (``datasets.DatasetDict``, a mapping of split
            name to a ``datasets.Dataset`` or a list of row dicts, or a :class:`tasks.Task`).
            Every task the mixture draws must be present; others are ignored. The main task
            needs a dev split (``validation`` / ``dev``) and a test split, or they are carved
            out of train (seeded by ``split_seed``, as :func:`task_from_dataset` does, so the
            same data converted the same way for the selection run gives the same splits).
        args: the user's ``TrainingArguments``.
        model_name_or_path: a model folder for ``AutoModel.from_pretrained`` (local only
            unless ``local_files_only=False``), or
        encoder: an encoder module already built (exactly one of the two).
        columns: text / label columns and kind, for all tasks or per task
            (:class:`TaskColumns`).
        pooling: ``"mean"`` or ``"cls"`` (:class:`MixtureModel`).
        dropout: dropout before each head.
        max_length: truncation length in tokens.
        num_batches: batches per epoch (:class:`MixtureBatchSampler`).
        seed: seeds the heads and the batch sampler (default ``args.seed``).
        split_seed: seed of dev / test splits carved out of train.
        local_files_only: see ``model_name_or_path``.
        drop_contaminated: remove every auxiliary training example whose normalised text is a
            main dev or test text (:func:`tasks.guard`), as a selection run does; ``False``
            keeps them with a warning. The report is ``trainer.contamination``.
        **trainer_kwargs: passed on to :class:`MixtureTrainer` (``callbacks``...).

    The trainer's ``eval_dataset`` is the main task's dev split, :meth:`MixtureTrainer.test`
    scores its test split, and ``trainer.tasks`` holds the converted tasks.
    """
    mixture = Mixture.from_result(result)
    missing = [name for name in mixture.tasks if name not in datasets]
    if missing:
        raise ValueError(
            f"the mixture draws {list(mixture.tasks)} but datasets has no data for {missing}; "
            f"it has {list(datasets)}"
        )
    if (model_name_or_path is None) == (encoder is None):
        raise ValueError("pass exactly one of model_name_or_path and encoder")
    tasks = tasks_from_datasets(
        {name: datasets[name] for name in mixture.tasks}, columns=columns, seed=split_seed
    )
    main_task, cleaned, contamination = guard(
        tasks[mixture.main_task],
        {name: task for name, task in tasks.items() if name != mixture.main_task},
        drop=drop_contaminated,
    )
    tasks = {name: main_task if name == mixture.main_task else cleaned[name] for name in tasks}
    log.info("%s", contamination.summary())
    if not drop_contaminated:
        log.warning(
            "drop_contaminated=False: auxiliary training examples that hold main dev/test "
            "texts are kept (%d found)",
            contamination.found,
        )
    heads = {name: HeadSpec(task.kind, task.num_labels) for name, task in tasks.items()}
    seed = args.seed if seed is None else seed
    if encoder is not None:
        model = MixtureModel(encoder, heads, pooling=pooling, dropout=dropout, seed=seed)
    else:
        assert model_name_or_path is not None
        model = MixtureModel.from_pretrained(
            model_name_or_path,
            heads,
            pooling=pooling,
            dropout=dropout,
            seed=seed,
            local_files_only=local_files_only,
        )
    positions = getattr(getattr(model.encoder, "config", None), "max_position_embeddings", None)
    if isinstance(positions, int) and max_length > positions:
        raise ValueError(f"max_length={max_length} exceeds the encoder's {positions} positions")
    main = tasks[mixture.main_task]
    train = MultiTaskDataset(
        {
            name: TaskDataset.from_task(task, "train", tokenizer, max_length=max_length)
            for name, task in tasks.items()
        }
    )
    trainer_kwargs.setdefault(
        "eval_dataset", TaskDataset.from_task(main, "dev", tokenizer, max_length=max_length)
    )
    trainer_kwargs.setdefault(
        "test_dataset", TaskDataset.from_task(main, "test", tokenizer, max_length=max_length)
    )
    trainer_kwargs.setdefault("processing_class", tokenizer)
    trainer = MixtureTrainer(
        model=model,
        args=args,
        mixture=mixture,
        metric=main.metric,
        train_dataset=train,
        num_batches=num_batches,
        sampler_seed=seed,
        **trainer_kwargs,
    )
    trainer.tasks = tasks
    trainer.contamination = contamination
    return trainer
