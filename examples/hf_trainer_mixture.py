"""From CSV files to a selection run to a ``transformers.Trainer`` fine-tune on the chosen mixture.

What it does, all offline on the CPU:

1. writes four small CSV files (columns ``text``, ``label``, ``split``) of the planted synthetic
   pool (:mod:`tasks.planted`): a low-resource main task, a helpful task (the main task's own
   labelling rule, more data), a neutral task (an unrelated rule) and a harmful one (main-task
   text with shuffled labels), then reads them back as lists of row dicts, the way a user's
   data arrives (``datasets.Dataset`` objects work the same way);
2. builds "your" model: a tiny BERT (``BertConfig``) with a WordPiece tokenizer trained on the
   training text, saved to a local model folder and loaded back with ``AutoModel`` /
   ``AutoTokenizer`` (no hub access);
3. runs autoaux on those datasets and that model folder through the Python API
   (``autoaux.hf.tasks_from_datasets`` + ``autoaux.run``): stage 1 picks the auxiliary tasks,
   stage 2 their mixing ratios, and ``result.json`` is written;
4. fine-tunes the model folder with a ``transformers.Trainer`` (``autoaux.hf.MixtureTrainer``)
   on the chosen mixture, reporting the main task's dev accuracy at every evaluation step, and
   the same budget on the main task alone for comparison;
5. prints the main task's test accuracy of both.

Run::

    python examples/hf_trainer_mixture.py            # about a minute on 2 CPU cores
    python examples/hf_trainer_mixture.py --tiny     # CI size, well under a minute

Outputs go to ``--output`` (default ``autoaux-hf-example/``): ``data/*.csv``, ``model/``,
``selection/result.json`` and plots, ``trainer/``, and the MLflow store ``mlflow.db``, which
holds the selection run and the Trainer's runs (``mlflow ui --backend-store-uri
sqlite:///autoaux-hf-example/mlflow.db``). ``--tiny`` turns tracking off.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@dataclass(frozen=True)
class Size:
    """Data sizes and budgets of one run of the example."""

    main_train: int
    aux_train: int
    dev: int
    test: int
    pulls: int
    steps_per_pull: int
    trials: int
    initial_points: int
    mix_steps: int
    finetune_steps: int
    eval_steps: int


FULL = Size(
    main_train=100,
    aux_train=2000,
    dev=200,
    test=400,
    pulls=60,
    steps_per_pull=5,
    trials=4,
    initial_points=2,
    mix_steps=200,
    finetune_steps=400,
    eval_steps=50,
)
TINY = Size(
    main_train=60,
    aux_train=200,
    dev=64,
    test=64,
    pulls=8,
    steps_per_pull=2,
    trials=2,
    initial_points=2,
    mix_steps=12,
    finetune_steps=16,
    eval_steps=8,
)
MAX_LENGTH = 32


def write_csvs(folder: Path, size: Size, *, seed: int) -> dict[str, Path]:
    """Write the planted pool as one CSV per task; return task name -> file."""
    from tasks import make_planted_suite, write_task_csv

    suite = make_planted_suite(
        n_helpful=1,
        n_neutral=1,
        n_harmful=1,
        main_train=size.main_train,
        aux_train=size.aux_train,
        dev=size.dev,
        test=size.test,
        seed=seed,
    )
    return {t.name: write_task_csv(t, folder / f"{t.name}.csv", split="all") for t in suite.tasks}


def read_csv_splits(path: Path) -> dict[str, list[dict[str, str]]]:
    """A CSV with a ``split`` column as ``{"train": rows, "validation": rows, "test": rows}``."""
    names = {"train": "train", "dev": "validation", "test": "test"}
    splits: dict[str, list[dict[str, str]]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            split = names[row.pop("split")]
            splits.setdefault(split, []).append(row)
    return splits


def build_model_folder(folder: Path, texts: Sequence[str], *, seed: int) -> Path:
    """A tiny random BERT and a WordPiece tokenizer trained on ``texts``, saved to ``folder``."""
    import torch
    from transformers import BertConfig, BertModel

    from autoaux.model.multitask import train_wordpiece_tokenizer

    tokenizer = train_wordpiece_tokenizer(texts, vocab_size=2000, cache_dir=folder / "cache")
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=MAX_LENGTH,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model_dir = folder / "model"
    BertModel(config).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    return model_dir


def run_selection(
    tasks: dict[str, Any], model_dir: Path, out: Path, size: Size, *, seed: int, tracking: bool
) -> Any:
    """Stage 1 and stage 2 on the user's tasks and model folder (``autoaux.run``)."""
    import autoaux

    main, *auxiliary = tasks
    config = autoaux.config_from_dict(
        {
            "seed": seed,
            "output_dir": str(out / "selection"),
            "model": {"encoder": str(model_dir), "max_length": MAX_LENGTH},
            "main": {"task": main},
            "auxiliary": {"tasks": auxiliary},
            # the in-run bandit keeps this walk-through at about a minute on a CPU with a full
            # encoder; without "preset", stage 1 is the default race of paired episodes
            # (README "Configuration"), which trains one short episode per task and round
            "stage1": {
                "preset": "bandit",
                "pulls": size.pulls,
                "steps_per_pull": size.steps_per_pull,
            },
            "stage2": {
                "trials": size.trials,
                "initial_points": size.initial_points,
                "steps": size.mix_steps,
                "eval_every": max(1, size.mix_steps // 4),
            },
            "trainer": {"batch_size": 16, "lr": 1e-3},
            "tracking": {
                "enabled": tracking,
                "uri": f"sqlite:///{out / 'mlflow.db'}",
                "experiment": "autoaux-hf-example",
            },
            "baselines": {"run": []},
        },
        source="examples/hf_trainer_mixture.py",
        user_tasks=list(tasks),
    )
    return autoaux.run(config, user_tasks=tasks.values(), progress=False)


def fine_tune(
    result: Any,
    datasets: dict[str, Any],
    model_dir: Path,
    out: Path,
    size: Size,
    *,
    seed: int,
    tracking: bool,
    run_name: str,
) -> tuple[str, float, list[tuple[int, float]]]:
    """Fine-tune ``model_dir`` on the mixture of ``result``.

    Returns the main task's metric name, its test score and its dev curve ``[(step, score)]``.
    """
    import contextlib

    import torch
    from transformers import AutoTokenizer, PrinterCallback, TrainingArguments

    from autoaux.hf import build_mixture_trainer

    args = TrainingArguments(
        output_dir=str(out / "trainer" / run_name),
        run_name=run_name,
        max_steps=size.finetune_steps,
        per_device_train_batch_size=16,
        per_device_eval_batch_size=64,
        learning_rate=1e-3,
        warmup_steps=0,
        eval_strategy="steps",
        eval_steps=size.eval_steps,
        logging_steps=size.eval_steps,
        save_strategy="no",
        report_to=["mlflow"] if tracking else "none",
        seed=seed,
        disable_tqdm=True,
        log_level="warning",
        dataloader_pin_memory=torch.cuda.is_available(),
    )
    trainer = build_mixture_trainer(
        result,
        model_name_or_path=model_dir,
        tokenizer=AutoTokenizer.from_pretrained(model_dir),
        datasets=datasets,
        args=args,
        max_length=MAX_LENGTH,
    )
    trainer.remove_callback(PrinterCallback)  # the curve is printed below instead
    # The Trainer's MLflow callback logs into the active run; opening it here keeps the test
    # score (logged after training) in the same run as the training curve.
    run: Any = contextlib.nullcontext()
    if tracking:
        import mlflow

        run = mlflow.start_run(run_name=f"trainer-{run_name}")
    with run:
        trainer.train()
        test = trainer.test()
    metric = f"eval_{trainer.metric}"
    curve = [(int(h["step"]), float(h[metric])) for h in trainer.state.log_history if metric in h]
    return trainer.metric, test[f"test_{trainer.metric}"], curve


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="CI size (well under a minute)")
    parser.add_argument("--output", type=Path, default=Path("autoaux-hf-example"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--tracking",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="log to the MLflow store in the output folder (default: on, off with --tiny)",
    )
    options = parser.parse_args(argv)
    size = TINY if options.tiny else FULL
    tracking = (not options.tiny) if options.tracking is None else options.tracking
    out: Path = options.output.resolve()
    out.mkdir(parents=True, exist_ok=True)
    if tracking:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{out / 'mlflow.db'}"
        os.environ["MLFLOW_EXPERIMENT_NAME"] = "autoaux-hf-example"
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    start = time.perf_counter()

    # 1. CSV files -> the user's datasets (split name -> list of row dicts).
    files = write_csvs(out / "data", size, seed=options.seed)
    datasets = {name: read_csv_splits(path) for name, path in files.items()}

    # 2. "Your" model folder.
    texts = [row["text"] for splits in datasets.values() for row in splits["train"]]
    model_dir = build_model_folder(out, texts, seed=options.seed)

    # 3. Selection run on those datasets and that folder.
    from autoaux.hf import Mixture, tasks_from_datasets

    tasks = tasks_from_datasets(datasets)
    result = run_selection(tasks, model_dir, out, size, seed=options.seed, tracking=tracking)
    mixture = Mixture.from_result(out / "selection" / "result.json")
    print(f"utilities: { {k: round(v, 3) for k, v in result.utilities.items()} }")
    ratios = {k: round(v, 2) for k, v in mixture.ratios.items()}
    print(f"selected: {list(result.selected)}; ratios (main task = 1): {ratios}")

    # 4. Trainer fine-tunes: the chosen mixture, then the main task alone.
    metric, chosen, curve = fine_tune(
        out / "selection" / "result.json",
        datasets,
        model_dir,
        out,
        size,
        seed=options.seed,
        tracking=tracking,
        run_name="mixture",
    )
    _, alone, _ = fine_tune(
        Mixture(mixture.main_task),
        datasets,
        model_dir,
        out,
        size,
        seed=options.seed,
        tracking=tracking,
        run_name="main-only",
    )
    steps = ", ".join(f"{step}: {score:.3f}" for step, score in curve)
    print(f"main dev {metric} during the mixture fine-tune (step: score): {steps}")
    print(
        f"main test {metric}: {chosen:.3f} with the chosen mixture, {alone:.3f} on the main "
        f"task alone ({time.perf_counter() - start:.0f}s in all)"
    )
    return {
        "result": result,
        "mixture": mixture,
        "test_score": chosen,
        "main_only_test_score": alone,
        "dev_curve": curve,
        "metric": metric,
    }


if __name__ == "__main__":
    main(sys.argv[1:])
