"""Fine-tune the whole encoder on the mixture a selection run chose (``autoaux.finetune``).

Selection is cheap because it trains a small network on frozen, cached features
(:mod:`autoaux.model.cached`); the model worth keeping is the full pretrained encoder, unfrozen and
trained on the chosen mixture::

    w_main = 1, w_t = ratio_t (stage 2; 1 for every selected task after stage 1 only)
    each step: task t drawn with p_t = w_t / sum_s w_s (seeded)
               AdamW step on the whole encoder and head_t (no gating: the mixture is chosen)
    every eval_every steps: main dev score; the best checkpoint is kept and restored
    finally: main test score of that checkpoint

The learning rate warms up linearly over ``warmup`` (a fraction of ``steps``) and decays
linearly to 0. It runs on CUDA (bf16 autocast) when a GPU is present, else on the CPU.

Tracking: one MLflow run ``autoaux-finetune-<main>-<time>`` (tag ``autoaux.command =
finetune``, and ``autoaux.selection_run_id`` linking the selection run when known) with the
settings as params, the main dev curve (step-wise ``dev_score``), ``best_dev_score``,
``test_score`` and ``seconds``, and the final model as artifacts under ``model/``: the encoder
and its tokenizer saved with ``save_pretrained`` (``model/encoder/``, loadable with
``AutoModel.from_pretrained``), the task heads (``model/heads.pt``, a state dict) and
``model/finetune.json`` (the heads' tasks, kinds and labels, the mixture and the scores).

What comes from the result file and what from you: a result file (and the ``config.json``
beside ``mix.json`` / ``selection.json``) may have been made by someone else, so it only says
*what* to train (main task, mixture, model and trainer settings). It never chooses where
things go or what is read: the tracking store is ``tracking_uri``, else your ``config``'s,
else ``MLFLOW_TRACKING_URI``, else the default ``sqlite:///mlflow.db`` of the working folder
(the file's ``uri``, ``fallback_uri`` and ``artifact_location`` are ignored); the model goes to
``output_dir``, else your ``config``'s, else the folder holding the result file (never the
``output_dir`` the file records); ``[[task]]`` data files and a model folder that it names are
not read: such a run needs your ``config`` (the run's TOML file; or the tasks as Task
objects, the folder as ``encoder``), else :class:`FinetuneInputError` says so.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from autoaux._secrets import redact_uri
from autoaux._seeding import derive_seed
from autoaux.config import RunConfig, config_from_dict, load_config
from autoaux.config.run import ENCODERS
from autoaux.errors import AutoauxError, ConfigError
from autoaux.model import MultiTaskModel, build_encoder
from autoaux.model.cached import finetune_encoder_name
from autoaux.runs.result import write_json
from autoaux.tracking import (
    DEFAULT_TRACKING_URI,
    NullTracker,
    Tracker,
    make_tracker,
    tracked_run,
)
from autoaux.training.trainer import Trainer, prepare_tasks
from autoaux.training.workbench import load_tasks, model_spec, trainer_spec, training_texts
from tasks import Task

__all__ = [
    "DEFAULT_PRETRAINED_LR",
    "FinetuneInputError",
    "FinetuneResult",
    "finetune",
    "read_mixture",
]


class FinetuneInputError(AutoauxError, ValueError):
    """A result file or an argument that :func:`finetune` cannot use (the CLI: one line, exit
    2)."""


log = logging.getLogger(__name__)

DEFAULT_PRETRAINED_LR = 5e-5
"""Peak learning rate for fine-tuning a pretrained encoder (the usual BERT range, 2e-5 to
1e-4); a randomly initialised ``"tiny"`` encoder uses ``[trainer] lr`` instead."""


@dataclass(frozen=True)
class FinetuneResult:
    """What :func:`finetune` did.

    Attributes:
        main_task: the main task.
        ratios: auxiliary task -> mixing ratio used (main task at 1 implied).
        encoder: the encoder that was fine-tuned (``"minilm"``, a folder, or ``"tiny"``).
        steps: main-task steps taken (the auxiliary steps are in ``steps_per_task``).
        best_dev_score: best main dev score (the checkpoint kept).
        best_step: step of that checkpoint.
        test_score: main test score of that checkpoint.
        dev_curve: ``(step, main dev score)`` at each evaluation.
        steps_per_task: how many steps each task got.
        seconds: wall-clock time of the whole call (loading and saving included).
        train_seconds: time of the training loop alone (evaluations included).
        device: the device it ran on.
        model_dir: the saved model folder (``None`` with ``save=False``).
        mlflow: ``tracking_uri``, ``experiment_id``, ``run_id`` (``None`` values without
            tracking).
    """

    main_task: str
    ratios: dict[str, float]
    encoder: str
    steps: int
    best_dev_score: float
    best_step: int
    test_score: float
    dev_curve: tuple[tuple[int, float], ...]
    steps_per_task: dict[str, int]
    seconds: float
    train_seconds: float
    device: str
    model_dir: str | None = None
    mlflow: dict[str, str | None] = field(default_factory=dict)

    @property
    def run_id(self) -> str | None:
        """The MLflow run of the fine-tuning."""
        return self.mlflow.get("run_id")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able summary."""
        return {
            "main_task": self.main_task,
            "ratios": dict(self.ratios),
            "encoder": self.encoder,
            "steps": self.steps,
            "best_dev_score": self.best_dev_score,
            "best_step": self.best_step,
            "test_score": self.test_score,
            "dev_curve": [list(point) for point in self.dev_curve],
            "steps_per_task": dict(self.steps_per_task),
            "seconds": self.seconds,
            "train_seconds": self.train_seconds,
            "device": self.device,
            "model_dir": self.model_dir,
            "mlflow": dict(self.mlflow),
        }

    def to_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` to ``path`` (atomically); return the path."""
        return write_json(path, self.to_dict())


# --------------------------------------------------------------------------------------------
# Reading a selection result
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Selection:
    main_task: str
    ratios: dict[str, float]
    config: dict[str, Any] | None
    run_id: str | None
    origin: str = "the result"
    folder: Path | None = None  # the folder holding the result file


def _load_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"no result file at {path}") from None
    except json.JSONDecodeError as error:
        raise FinetuneInputError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise FinetuneInputError(f"{path}: expected a JSON object with 'main_task' and 'ratios'")
    return data


def read_mixture(result: Any) -> tuple[str, dict[str, float]]:
    """``(main task, auxiliary ratios)`` chosen by a selection run.

    ``result`` is a ``RunResult`` or ``MixResult`` (their ratios), a ``SelectionResult``
    (every selected task at ratio 1), a mapping shaped like ``result.json`` / ``mix.json`` /
    ``selection.json``, or the path of such a file. Tasks with ratio 0 are dropped.
    """
    selection = _read_selection(result)
    return selection.main_task, selection.ratios


def _read_selection(result: Any) -> _Selection:
    origin = type(result).__name__
    config: dict[str, Any] | None = None
    if isinstance(result, str | Path):
        path = Path(result)
        origin = str(path)
        data = _load_json(path)
        sibling = path.with_name("config.json")
        if not isinstance(data.get("config"), dict) and sibling.is_file():
            config = _load_json(sibling)  # mix.json / selection.json sit beside config.json
    elif isinstance(result, Mapping):
        data = dict(result)
    elif hasattr(result, "to_dict") and hasattr(result, "main_task"):
        data = result.to_dict()
        if isinstance(getattr(result, "config", None), dict) and result.config:
            data["config"] = result.config
    else:
        raise TypeError(
            "expected a RunResult, MixResult, SelectionResult, a mapping or the path of "
            f"result.json, got {type(result).__name__}"
        )
    main = data.get("main_task")
    if not isinstance(main, str) or not main:
        raise FinetuneInputError(f"{origin}: no 'main_task' in the result")
    ratios_in = data.get("ratios")
    if ratios_in:
        if not isinstance(ratios_in, Mapping):
            raise FinetuneInputError(f"{origin}: 'ratios' must map task names to numbers")
        ratios: dict[str, float] = {}
        for name, value in ratios_in.items():
            if value is None or not math.isfinite(float(value)) or float(value) < 0:
                raise FinetuneInputError(f"{origin}: task {name!r} has no usable ratio ({value!r})")
            if name != main and float(value) > 0:
                ratios[str(name)] = float(value)
    elif "selected" in data or "ratios" in data:
        ratios = dict.fromkeys((str(s) for s in data.get("selected") or ()), 1.0)
    else:
        raise FinetuneInputError(f"{origin}: the result has neither 'ratios' nor 'selected'")
    if isinstance(data.get("config"), dict):
        config = data["config"]
    run_id = None
    mlflow = data.get("mlflow")
    if isinstance(mlflow, Mapping):
        run_id = mlflow.get("run_id")
    elif isinstance(data.get("run_id"), str):
        run_id = data["run_id"]
    folder = Path(result).expanduser().parent if isinstance(result, str | Path) else None
    return _Selection(main, ratios, config, run_id, origin, folder)


def _resolve_config(
    config: RunConfig | str | Path | None,
    selection: _Selection,
    names: tuple[str, ...],
    encoder: str | None,
) -> RunConfig:
    if isinstance(config, RunConfig):
        return config
    if isinstance(config, str | Path):
        loaded = load_config(config)
        if names:
            return loaded.replace(user_tasks=names)
        return loaded
    if config is not None:
        raise TypeError(f"config must be a RunConfig or a TOML path, got {type(config).__name__}")
    if selection.config is None:
        return config_from_dict(
            {"main": {"task": selection.main_task}}, source="<finetune>", user_tasks=names
        )
    return config_from_dict(
        _what_to_train(selection, names, encoder), source="<result config>", user_tasks=names
    )


def _what_to_train(
    selection: _Selection, names: tuple[str, ...], encoder: str | None
) -> dict[str, Any]:
    """The configuration a result file records, less everything that says where things go or
    what is read: the tracking store and artifact location, the output folder, ``[[task]]``
    data files (refused unless Task objects stand for them) and a model folder (refused unless
    ``encoder`` replaces it)."""
    data = copy.deepcopy(dict(selection.config or {}))
    data.pop("output_dir", None)
    tracking = data.get("tracking")
    if isinstance(tracking, Mapping):
        data["tracking"] = {
            k: v
            for k, v in tracking.items()
            if k not in ("uri", "fallback_uri", "artifact_location")
        }
    entries = data.pop("task", None) or []
    files = [
        str(entry.get("name")) if isinstance(entry, Mapping) else str(entry)[:40]
        for entry in (entries if isinstance(entries, list) else [entries])
        if not (isinstance(entry, Mapping) and entry.get("name") in names)
    ]
    if files:
        raise FinetuneInputError(
            f"{selection.origin}: the run read tasks {', '.join(files)} from data files "
            "([[task]]); finetune reads data only from a configuration of yours, never from "
            "a result file: give the run's TOML file (--config FILE; in Python config=)"
        )
    model = data.get("model")
    if isinstance(model, Mapping):
        model = dict(model)
        if encoder is not None:
            model["encoder"] = encoder
        elif "encoder" in model and model["encoder"] not in ENCODERS:
            raise FinetuneInputError(
                f"{selection.origin}: the run's encoder is {str(model['encoder'])[:200]!r}, a "
                "model folder; finetune loads a folder only when you name it: give --encoder "
                "FOLDER or the run's TOML file (--config FILE; in Python encoder= or config=)"
            )
        data["model"] = model
    return data


# --------------------------------------------------------------------------------------------
# Fine-tuning
# --------------------------------------------------------------------------------------------


def finetune(
    result: Any,
    *,
    config: RunConfig | str | Path | None = None,
    encoder: str | None = None,
    num_layers: int | None = None,
    steps: int = 1000,
    lr: float | None = None,
    batch_size: int | None = None,
    warmup: float = 0.1,
    eval_every: int | None = None,
    eval_batches: int | None = None,
    device: str | None = None,
    seed: int | None = None,
    tracking: Tracker | bool | None = None,
    tracking_uri: str | None = None,
    output_dir: str | Path | None = None,
    save: bool = True,
    user_tasks: Iterable[Task] = (),
    progress: bool = True,
) -> FinetuneResult:
    """Train the full, unfrozen encoder on the mixture that ``result`` chose.

    Args:
        result: a ``RunResult``, ``MixResult`` or ``SelectionResult``, or ``result.json`` /
            ``mix.json`` / ``selection.json`` (or such a mapping).
        config: your configuration of the run (tasks, data caps, seed, tracking, output); a
            :class:`RunConfig` or a TOML path. Default: the settings stored in ``result``
            (``result.json`` carries them; ``mix.json`` and ``selection.json`` have
            ``config.json`` beside them), less where things go and what is read (see the
            module docstring).
        encoder: what to fine-tune; default: the selection encoder. A cached name stands for
            its full encoder (``"minilm-cached"`` -> ``"minilm"``, ``"cached:<folder>"`` -> the
            folder), so the whole encoder is trained, never only a cached top.
        num_layers: keep the first N layers (default: ``[model] num_layers``, usually all).
        steps: main-task training steps; the auxiliary batches come on top, ``ratio`` per main
            step (the learning rate decays over the expected total).
        lr: peak learning rate (default :data:`DEFAULT_PRETRAINED_LR` for a pretrained
            encoder, ``[trainer] lr`` for ``"tiny"``).
        batch_size: default ``[trainer] batch_size``.
        warmup: warm-up length as a fraction of ``steps``.
        eval_every: steps between main dev evaluations (default ``steps // 10``, at least 1).
        eval_batches: score the dev split on a fixed subsample of this many batches
            (default: the whole dev split).
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``; default: the config's.
        seed: default: the config's seed.
        tracking: a :class:`~autoaux.tracking.Tracker`; ``False`` for none; ``None`` or
            ``True`` for MLflow as the config's ``[tracking]`` section says (``True`` enables it
            even if the section disables it).
        tracking_uri: the MLflow store (default: your ``config``'s; else
            ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``; never the result file's).
        output_dir: where the model folder ``finetuned/`` goes (default: your ``config``'s
            ``output_dir``; else the folder holding the result file; else ``autoaux-output``;
            never the folder the result file records).
        save: save the model (and log it to MLflow).
        user_tasks: :class:`tasks.Task` objects the configuration names.
        progress: show a progress bar over the training steps.
    """
    start = time.perf_counter()
    if steps < 1:
        raise FinetuneInputError(f"steps must be >= 1, got {steps}")
    if not 0.0 <= warmup < 1.0:
        raise FinetuneInputError(f"warmup must be a fraction in [0, 1), got {warmup}")
    objects = list(user_tasks)
    selection = _read_selection(result)
    names = tuple(dict.fromkeys(t.name for t in objects))
    cfg = _resolve_config(config, selection, names, encoder)
    if cfg.main.task != selection.main_task:
        cfg = cfg.with_overrides({"main.task": selection.main_task})
    full = finetune_encoder_name(encoder if encoder is not None else cfg.model.encoder)
    run_seed = cfg.seed if seed is None else int(seed)
    yours = config is not None  # a configuration the user gave, not the result's
    tracking_uri, output_dir = _destinations(yours, cfg, selection, tracking_uri, output_dir)
    tracker = _tracker(tracking, cfg, tracking_uri)
    run_name = f"autoaux-finetune-{selection.main_task}-{time.strftime('%Y%m%d-%H%M%S')}"
    with tracked_run(tracker, run_name, tags=_run_tags(selection, run_seed)) as run_id:
        loaded = load_tasks(cfg, [selection.main_task, *selection.ratios], objects)
        model, tokenizer, data = _build(
            cfg, loaded, full, num_layers=num_layers, batch_size=batch_size, seed=run_seed
        )
        if lr is None:
            lr = cfg.trainer.lr if full == "tiny" else DEFAULT_PRETRAINED_LR
        every = eval_every if eval_every is not None else max(1, steps // 10)
        trainer = _trainer(
            cfg,
            model,
            data,
            main=selection.main_task,
            steps=round(steps * (1.0 + sum(selection.ratios.values()))),
            lr=lr,
            batch_size=batch_size,
            warmup=warmup,
            device=device if device is not None else cfg.device,
            seed=run_seed,
        )
        device_name = _device_name(trainer)
        tracker.log_params(
            {
                "encoder": full,
                "num_layers": num_layers if num_layers is not None else cfg.model.num_layers,
                "steps": steps,
                "lr": lr,
                "batch_size": trainer.spec.batch_size,
                "warmup": warmup,
                "eval_every": every,
                "eval_batches": eval_batches,
                "max_length": cfg.model.max_length,
                "seed": run_seed,
                "main_task": selection.main_task,
                "ratios": json.dumps(selection.ratios),
            }
        )
        tracker.set_tags({"autoaux.device": device_name})
        weights = {selection.main_task: 1.0, **selection.ratios}
        train_start = time.perf_counter()
        report = _train(trainer, weights, steps, every, eval_batches, tracker, progress)
        train_seconds = time.perf_counter() - train_start
        test = trainer.evaluate(selection.main_task, "test")
        folder = Path(output_dir)
        final = FinetuneResult(
            main_task=selection.main_task,
            ratios=dict(selection.ratios),
            encoder=full,
            steps=report.steps,
            best_dev_score=report.best_dev,
            best_step=report.best_step,
            test_score=test,
            dev_curve=report.dev_curve,
            steps_per_task=dict(report.steps_per_task),
            seconds=time.perf_counter() - start,
            train_seconds=train_seconds,
            device=device_name,
            model_dir=str(folder / "finetuned") if save else None,
            mlflow=_mlflow_record(tracker, run_id),
        )
        tracker.log_metrics(_final_metrics(final, train_seconds))
        if save:
            model_dir = _save(folder / "finetuned", model, tokenizer, final, loaded)
            _log_model_folder(tracker, model_dir)
    log.info(
        "finetune: %s on %s, %d steps in %.1fs; dev %.4f, test %.4f",
        full,
        device_name,
        final.steps,
        final.train_seconds,
        final.best_dev_score,
        final.test_score,
    )
    return final


def _destinations(
    yours: bool,
    cfg: RunConfig,
    selection: _Selection,
    tracking_uri: str | None,
    output_dir: str | Path | None,
) -> tuple[str, str | Path]:
    """The MLflow store and the output folder: as given; else from ``cfg`` when it is the
    user's configuration (``yours``); else ``MLFLOW_TRACKING_URI`` (or the default store) and
    the folder holding the result file, never what the result file records."""
    if tracking_uri is None:
        env = os.environ.get("MLFLOW_TRACKING_URI") or None
        tracking_uri = cfg.tracking.uri if yours else (env or DEFAULT_TRACKING_URI)
    if output_dir is None:
        output_dir = cfg.output_dir if yours else (selection.folder or cfg.output_dir)
    return tracking_uri, output_dir


def _run_tags(selection: _Selection, run_seed: int) -> dict[str, str]:
    """The tags of the fine-tuning run."""
    tags = {
        "autoaux.command": "finetune",
        "autoaux.main_task": selection.main_task,
        "autoaux.stage": "finetune",
        "autoaux.seed": str(run_seed),
    }
    if selection.run_id:
        tags["autoaux.selection_run_id"] = str(selection.run_id)
    return tags


def _mlflow_record(tracker: Tracker, run_id: str | None) -> dict[str, str | None]:
    """Where the run went: finetune.json and the caller see the store without its credentials."""
    return {
        "tracking_uri": (
            None if tracker.tracking_uri is None else redact_uri(tracker.tracking_uri)
        ),
        "experiment_id": tracker.experiment_id,
        "run_id": run_id if tracker.tracking_uri is not None else None,
    }


def _final_metrics(final: FinetuneResult, train_seconds: float) -> dict[str, float]:
    """The metrics logged at the end of the run."""
    return {
        "best_dev_score": final.best_dev_score,
        "test_score": final.test_score,
        "train_seconds": train_seconds,
        "seconds_per_step": train_seconds / max(1, final.steps),
        "seconds": final.seconds,
    }


def _log_model_folder(tracker: Tracker, model_dir: Path) -> None:
    """Log every file of the saved model folder as an artifact under ``model/``."""
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        parent = path.parent.relative_to(model_dir).as_posix()
        where = "model" if parent == "." else f"model/{parent}"
        tracker.log_artifact(path, artifact_path=where)


def _tracker(tracking: Tracker | bool | None, cfg: RunConfig, uri: str) -> Tracker:
    if tracking is False:
        return NullTracker()
    if tracking is None or tracking is True:
        t = cfg.tracking
        return make_tracker(
            uri,
            t.experiment,
            enabled=bool(tracking) or t.enabled,
            artifact_location=t.artifact_location,
        )
    return tracking


def _build(
    cfg: RunConfig,
    loaded: Mapping[str, Task],
    encoder_name: str,
    *,
    num_layers: int | None,
    batch_size: int | None,
    seed: int,
) -> tuple[Any, Any, dict[str, Any]]:
    m = cfg.model
    spec = model_spec(m, encoder=encoder_name, num_layers=num_layers)
    texts = training_texts(loaded.values())
    try:
        encoder, tokenizer = build_encoder(spec, texts=texts, seed=derive_seed(seed, "encoder"))
    except (ValueError, OSError) as error:
        reason = " ".join(str(error).split())
        raise ConfigError("model.encoder", encoder_name, f"a usable encoder ({reason})") from error
    model = MultiTaskModel(
        encoder,
        {name: task.num_labels for name, task in loaded.items()},
        dropout=m.dropout,
        seed=derive_seed(seed, "heads"),
    )
    data = prepare_tasks(
        loaded.values(),
        tokenizer,
        max_length=m.max_length,
        batch_size=batch_size or cfg.trainer.batch_size,
        seed=derive_seed(seed, "data"),
    )
    return model, tokenizer, data


def _trainer(
    cfg: RunConfig,
    model: Any,
    data: Mapping[str, Any],
    *,
    main: str,
    steps: int,
    lr: float,
    batch_size: int | None,
    warmup: float,
    device: str,
    seed: int,
) -> Any:
    spec = trainer_spec(
        cfg.trainer,
        device=device,
        warmup_steps=float(warmup),
        total_steps=steps,
        lr=lr,
        batch_size=batch_size,
    )
    return Trainer(model, data, main=main, spec=spec, gate=None, seed=derive_seed(seed, "finetune"))


def _device_name(trainer: Any) -> str:
    device = trainer.device
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


def _train(
    trainer: Any,
    weights: Mapping[str, float],
    steps: int,
    every: int,
    eval_batches: int | None,
    tracker: Tracker,
    progress: bool,
) -> Any:
    from tqdm.auto import tqdm

    bar = tqdm(total=steps, desc="finetune", unit="step", disable=not progress)
    seen = 0

    def callback(step: int, score: float) -> None:
        nonlocal seen
        bar.update(step - seen)
        bar.set_postfix(dev=f"{score:.4f}")
        seen = step
        tracker.log_metrics({"dev_score": score}, step=step)

    try:
        return trainer.train_mixture(
            weights,
            steps,
            eval_every=every,
            eval_max_batches=eval_batches,
            callback=callback,
            count="main",
        )
    finally:
        bar.close()


def _save(
    folder: Path, model: Any, tokenizer: Any, result: FinetuneResult, tasks: Mapping[str, Task]
) -> Path:
    """Save encoder + tokenizer (``save_pretrained``), heads and a description to ``folder``
    (never through a symbolic link there)."""
    from autoaux.runs import plain_folder, refuse_link

    encoder_dir = plain_folder(plain_folder(folder) / "encoder")
    for entry in (*encoder_dir.iterdir(), folder / "heads.pt"):
        refuse_link(entry)
    encoder = model.encoder
    if hasattr(encoder, "save_pretrained"):
        encoder.save_pretrained(encoder_dir)
    else:
        encoder_dir.mkdir(exist_ok=True)
        torch.save(encoder.state_dict(), encoder_dir / "encoder.pt")
    if hasattr(tokenizer, "save_pretrained"):
        tokenizer.save_pretrained(encoder_dir)
    heads = {k: v.detach().cpu() for k, v in model.heads.state_dict().items()}
    torch.save(heads, folder / "heads.pt")
    description = {
        **result.to_dict(),
        "heads": {
            name: {
                "kind": task.kind,
                "num_outputs": task.num_labels,
                "labels": list(task.labels),
                "metric": task.metric,
            }
            for name, task in tasks.items()
        },
        "pooling": "masked mean of the encoder's last hidden state",
        "dropout": float(model.dropout.p),
    }
    write_json(folder / "finetune.json", description)
    return folder
