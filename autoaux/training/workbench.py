"""The workbench: the one builder from a :class:`~autoaux.config.RunConfig` to the tasks, the
encoder and tokenizer, the multi-task model (with a snapshot of its initial weights), the
tokenised data and the trainers of stage 1, stage 2 and the baselines."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from autoaux._device import resolve_device
from autoaux._seeding import derive_seed
from autoaux.config import SHUFFLED_PREFIX, ModelConfig, RunConfig, TrainerConfig
from autoaux.errors import ConfigError
from autoaux.model import ModelSpec, MultiTaskModel, build_encoder
from autoaux.model.cached import build_cached_encoder, precompute_features
from autoaux.training._factories import EpisodeTrainerFactory, TrainerFactory
from autoaux.training.gating import CosineGate
from autoaux.training.trainer import Trainer, TrainerSpec, prepare_tasks
from tasks import ContaminationReport, Task, TaskDataError, from_file, guard, load_task

__all__ = [
    "Workbench",
    "load_clean_tasks",
    "load_tasks",
    "model_spec",
    "trainer_spec",
    "training_texts",
]

log = logging.getLogger("autoaux")


# ---------------------------------------------------------------------------- set-up
@dataclass
class Workbench:
    """Tasks, tokenised data, the model and its initial weights; builds fresh trainers.

    ``contamination`` is the guard's report on the tasks (:func:`load_clean_tasks`).
    """

    config: RunConfig
    tasks: dict[str, Task]
    data: dict[str, Any]
    model: Any
    initial: dict[str, Any]
    device_name: str
    contamination: ContaminationReport | None = None

    @classmethod
    def build(
        cls,
        config: RunConfig,
        names: Sequence[str],
        objects: Iterable[Task],
        *,
        progress: bool = False,
    ) -> Workbench:
        device_name = device_name_of(config)
        loaded, report = load_clean_tasks(config, names, objects)
        texts = training_texts(loaded.values())
        m = config.model
        t0 = time.perf_counter()
        try:
            encoder, tokenizer = _build_encoder(config, texts, progress=progress)
        except (ValueError, OSError) as error:
            reason = " ".join(str(error).split())
            raise ConfigError(
                "model.encoder", m.encoder, f"a usable encoder ({reason})", source=config.source
            ) from error
        model = MultiTaskModel(
            encoder,
            {name: task.num_labels for name, task in loaded.items()},
            dropout=m.dropout,
            seed=derive_seed(config.seed, "heads"),
        )
        data = prepare_tasks(
            loaded.values(),
            tokenizer,
            max_length=m.max_length,
            batch_size=config.trainer.batch_size,
            seed=derive_seed(config.seed, "data"),
        )
        if m.cached:
            precompute_features(model, data, main=config.main.task)
        log.info(
            "model ready in %.1fs: encoder %s, %d tasks, device %s",
            time.perf_counter() - t0,
            m.encoder,
            len(loaded),
            device_name,
        )
        return cls(config, loaded, data, model, model.snapshot(), device_name, report)

    def trainer(
        self,
        steps: int | None,
        seed_key: str,
        *,
        tasks: Sequence[str] | None = None,
        main: str | None = None,
        gate: CosineGate | None = None,
        schedule_steps: int | None = None,
    ) -> Trainer:
        """A trainer over the model reset to its initial weights: the one way to get one.

        Args:
            steps: where the learning-rate schedule ends (``None``: no decay).
            seed_key: seeds the trainer's batches, task draws and dropout.
            tasks: the tasks it knows (default: every task of the workbench).
            main: the task it scores (default: the run's main task).
            gate: gradient gating of auxiliary steps (the in-run bandit).
            schedule_steps: the stage's planned length, for a fractional warm-up when
                ``steps`` is ``None``.
        """
        t = self.config.trainer
        warmup: int | float = t.warmup_steps
        if warmup >= 1:
            warmup = int(warmup)
        elif steps is None:  # a fraction needs a length: the stage's planned steps
            warmup = round(warmup * (schedule_steps or 0))
        self.model.restore(self.initial)
        spec = trainer_spec(t, device=self.config.device, warmup_steps=warmup, total_steps=steps)
        data = self.data if tasks is None else {name: self.data[name] for name in tasks}
        return Trainer(
            self.model,
            data,
            main=main if main is not None else self.config.main.task,
            spec=spec,
            gate=gate,
            seed=derive_seed(self.config.seed, seed_key),
        )

    def episode_factory(self) -> EpisodeTrainerFactory:
        """``make_trainer(steps, seed_key)`` for the stage-1 race (no gating)."""
        return lambda steps, seed_key: self.trainer(steps, seed_key)

    def probe_trainer(self, main: str, arm: str, steps: int, seed_key: str) -> Trainer:
        """The affinity screen's ``make_trainer(target, arm, steps, seed_key)``: a trainer that
        knows only ``main`` (the task it scores) and ``arm`` (no gating)."""
        return self.trainer(steps, seed_key, tasks=(main, arm), main=main)

    def factory(self, seed_key: str) -> TrainerFactory:
        """``make_trainer(total_steps)`` for stage 2 and the baselines (no gating)."""
        return lambda total_steps: self.trainer(total_steps, seed_key)


def _build_encoder(config: RunConfig, texts: Sequence[str], *, progress: bool) -> tuple[Any, Any]:
    """The encoder and tokenizer ``[model]`` describes (cached mode: ``autoaux.model.cached``)."""
    m = config.model
    seed = derive_seed(config.seed, "encoder")
    if m.cached:
        return build_cached_encoder(
            m.encoder,
            max_length=m.max_length,
            num_layers=m.num_layers,
            hidden=m.top_hidden,
            layers=m.top_layers,
            dropout=m.dropout,
            seed=seed,
            device=config.device,
            progress=progress,
        )
    return build_encoder(model_spec(m), texts=texts, seed=seed)


def model_spec(
    m: ModelConfig, *, encoder: str | None = None, num_layers: int | None = None
) -> ModelSpec:
    """The :class:`ModelSpec` that ``[model]`` describes (the one conversion); ``encoder`` and
    ``num_layers`` replace the configured ones when given."""
    return ModelSpec(
        encoder=m.encoder if encoder is None else encoder,
        max_length=m.max_length,
        num_layers=m.num_layers if num_layers is None else num_layers,
        hidden_size=m.hidden_size,
        tiny_layers=m.tiny_layers,
        vocab_size=m.vocab_size,
        dropout=m.dropout,
        top_hidden=m.top_hidden,
        top_layers=m.top_layers,
    )


def trainer_spec(
    t: TrainerConfig,
    *,
    device: str,
    warmup_steps: int | float,
    total_steps: int | None,
    lr: float | None = None,
    batch_size: int | None = None,
) -> TrainerSpec:
    """The :class:`TrainerSpec` that ``[trainer]`` describes (the one conversion); ``lr`` and
    ``batch_size`` replace the configured ones when given."""
    return TrainerSpec(
        batch_size=batch_size or t.batch_size,
        lr=t.lr if lr is None else lr,
        weight_decay=t.weight_decay,
        warmup_steps=warmup_steps,
        total_steps=total_steps,
        clip_norm=t.clip_norm,
        device=device,
        eval_batch_size=t.eval_batch_size,
    )


def training_texts(tasks: Iterable[Task]) -> list[str]:
    """Every training text of ``tasks``, both sides of pairs (what the tiny tokenizer learns)."""
    return [text for task in tasks for ex in task.train for text in (ex.text, ex.text_pair) if text]


def load_tasks(
    config: RunConfig, names: Sequence[str], objects: Iterable[Task] = ()
) -> dict[str, Task]:
    """The tasks of :func:`load_clean_tasks`, without the report."""
    return load_clean_tasks(config, names, objects)[0]


def load_clean_tasks(
    config: RunConfig, names: Sequence[str], objects: Iterable[Task] = ()
) -> tuple[dict[str, Task], ContaminationReport]:
    """The tasks ``names`` (main first) as the configuration describes them, passed through the
    contamination guard, and the guard's report.

    Names resolve, in order, to the given Task ``objects``, the ``[[task]]`` files and the
    built-in suite; ``shuffled:<name>`` is a copy with permuted training labels (seeded). Then
    :func:`tasks.guard` removes from every auxiliary task the training examples whose
    normalised text is a main dev or test text (``auxiliary.drop_contaminated``; with ``false``
    they stay, with a warning) and counts the main training examples that repeat a main dev or
    test text (removed with ``main.drop_eval_repeats``). Last, the first name (the main task)
    takes ``main.max_train_examples`` and the others ``auxiliary.max_train_examples``;
    subsamples are seeded by ``config.seed``.

    Raises:
        ConfigError: a name cannot be resolved, or the guard would leave a task empty.
        tasks.TaskDataError: a data file is unusable (names the file and line).
    """
    registry: dict[str, Task] = {task.name: task for task in objects}
    raw: dict[str, Task] = {}
    for i, name in enumerate(names):
        if name in raw:
            continue
        base = name.removeprefix(SHUFFLED_PREFIX)
        spec = config.task_file(base)
        if base not in registry and spec is not None:
            registry[base] = from_file(
                spec.path,
                name=spec.name,
                text=spec.text,
                label=spec.label,
                kind=spec.kind,
                metric=spec.metric,
                seed=config.seed,
                dev_fraction=spec.dev_fraction,
                test_fraction=spec.test_fraction,
                split_column=spec.split_column,
                encoding=spec.encoding,
            )
        try:
            raw[name] = load_task(name, seed=config.seed, tasks=registry)
        except ValueError as error:
            if isinstance(error, TaskDataError):
                raise
            key = "main.task" if i == 0 else "auxiliary.tasks"
            reason = " ".join(str(error).split())
            raise ConfigError(key, name, f"a known task ({reason})", source=config.source) from None
    main_name, *others = raw
    aux = config.auxiliary
    try:
        main, cleaned, report = guard(
            raw[main_name],
            {name: raw[name] for name in others},
            drop=aux.drop_contaminated,
            drop_main_repeats=config.main.drop_eval_repeats,
        )
    except ValueError as error:
        reason = " ".join(str(error).split())
        raise ConfigError(
            "auxiliary.drop_contaminated",
            aux.drop_contaminated,
            f"a pool the contamination guard leaves usable ({reason})",
            source=config.source,
        ) from None
    _log_contamination(report)
    loaded: dict[str, Task] = {main_name: main, **cleaned}
    for i, (name, task) in enumerate(loaded.items()):
        cap = config.main.max_train_examples if i == 0 else aux.max_train_examples
        if cap is not None:
            task = task.with_max_train(cap, seed=config.seed)
        loaded[name] = task
        sizes = (len(task.train), len(task.dev), len(task.test))
        log.info("task %s: %d train, %d dev, %d test", name, *sizes)
    return loaded, report


def _log_contamination(report: ContaminationReport) -> None:
    """One line per contaminated task, the summary, and a warning when nothing was dropped."""
    for name, found in report.contaminated().items():
        t = report.auxiliary[name]
        log.info(
            "contamination: %s: %d of %d training examples are %s dev/test texts "
            "(%d dev, %d test)%s",
            name,
            found,
            t.train,
            report.main_task,
            t.in_dev,
            t.in_test,
            ", dropped" if t.dropped else ", kept",
        )
    log.info("%s", report.summary())
    if not report.drop:
        log.warning(
            "auxiliary.drop_contaminated = false: auxiliary training examples that hold main "
            "dev/test texts are kept (%d found)",
            report.found,
        )


def device_name_of(config: RunConfig) -> str:
    try:
        device = resolve_device(config.device)
    except ValueError as error:
        raise ConfigError(
            "device",
            config.device,
            "'auto', 'cpu' or a CUDA device that is present",
            source=config.source,
        ) from error
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)
