"""Benchmark of the training engine: trainer overhead, gating cost, evaluation and tracking cost.

Prints:

* **throughput**: training examples per second of :class:`autoaux.training.trainer.Trainer`
  (``train_steps`` on the main task, no gate) against a minimal hand-written PyTorch loop
  (``next(batches)``, forward, cross-entropy, backward, ``clip_grad_norm_``, ``AdamW.step``,
  ``zero_grad``) on the same tiny BERT, the same initial weights and the same batches; rounds
  alternate between the two and the median of the rounds is reported, with the ratio
  (target: at least 0.9);
* **gating**: seconds per auxiliary step without a gate, and with a ``weighted``
  :class:`~autoaux.training.gating.CosineGate` whose main gradient is refreshed every step
  (``refresh_every=1``, an extra forward and backward pass per step) or every 5 steps,
  each relative to the ungated step;
* **evaluation**: seconds per main-task dev evaluation on a fixed 4-batch subsample;
* **tracking**: seconds of MLflow logging per stage-1 pull (the pull's metrics to a local
  SQLite store through :class:`autoaux.tracking.MlflowTracker`) against the seconds the pull
  itself trains and evaluates (``steps_per_pull`` gated steps plus one evaluation).

The data is the planted synthetic pool (:mod:`tasks.planted`); the model the ``"tiny"`` encoder
(hidden 64, 2 layers). Timings depend on the machine and on what else runs on it.

Usage::

    python -m benchmarks.engine                  # full run (a few minutes on 2 CPU cores)
    python -m benchmarks.engine --smoke          # a tiny run, well under a minute
    python -m benchmarks.engine --json out.json  # also write the figures as JSON
    python -m benchmarks.engine --threads 1      # set torch's intra-op threads first
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch
import torch.nn.functional as F

from autoaux.model import ModelSpec, MultiTaskModel, build_encoder
from autoaux.training import autocast_context, derive_seed, resolve_device
from autoaux.training.gating import CosineGate
from autoaux.training.trainer import TaskData, Trainer, TrainerSpec, prepare_tasks
from tasks.encoding import BatchIterator
from tasks.planted import make_planted_suite

MAIN = "main"
AUX = "helpful-0"


@dataclass
class Bench:
    """The shared set-up: data, initial weights, and settings."""

    data: dict[str, TaskData]
    model: MultiTaskModel
    initial: dict[str, torch.Tensor]
    spec: TrainerSpec
    max_length: int


def build_bench(*, max_length: int, batch_size: int, device: str, smoke: bool) -> Bench:
    """Planted pool, tiny encoder, tokenised data."""
    suite = make_planted_suite(
        n_helpful=1,
        n_neutral=1,
        n_harmful=1,
        main_train=200 if smoke else 500,
        aux_train=500 if smoke else 2000,
        dev=256,
        test=256,
        seed=0,
    )
    texts = [ex.text for task in suite.tasks for ex in task.train]
    model_spec = ModelSpec(encoder="tiny", max_length=max_length, vocab_size=2000)
    with tempfile.TemporaryDirectory() as cache:
        previous = os.environ.get("AUTOAUX_CACHE")
        os.environ["AUTOAUX_CACHE"] = cache
        try:
            encoder, tokenizer = build_encoder(model_spec, texts=texts, seed=0)
        finally:
            if previous is None:
                del os.environ["AUTOAUX_CACHE"]
            else:
                os.environ["AUTOAUX_CACHE"] = previous
    model = MultiTaskModel(encoder, {t.name: t.num_labels for t in suite.tasks}, seed=0)
    data = prepare_tasks(
        suite.tasks, tokenizer, max_length=max_length, batch_size=batch_size, seed=0
    )
    spec = TrainerSpec(batch_size=batch_size, lr=5e-4, clip_norm=1.0, device=device)
    return Bench(data, model, model.snapshot(), spec, max_length)


def make_trainer(bench: Bench, *, gate: CosineGate | None = None, seed: int = 0) -> Trainer:
    """A trainer over an independent copy of the initial model."""
    model = copy.deepcopy(bench.model)
    model.restore(bench.initial)
    return Trainer(model, bench.data, main=MAIN, spec=bench.spec, gate=gate, seed=seed)


def make_hand_loop(bench: Bench, *, seed: int = 0, fused: bool = False) -> Callable[[int], None]:
    """A minimal PyTorch training loop over the same model, weights and batches.

    ``fused=False`` is the loop as one writes it (``AdamW(params)``, torch's default
    implementation); ``fused=True`` uses the fused AdamW kernel that the trainer uses, so the
    comparison isolates the trainer's own per-step overhead.
    """
    device = resolve_device(bench.spec.device)
    model = copy.deepcopy(bench.model)
    model.restore(bench.initial)
    model.to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        params, lr=bench.spec.lr, weight_decay=bench.spec.weight_decay, fused=fused or None
    )
    # The trainer's own batch stream for the main task uses this seed: identical batches.
    batches = BatchIterator(
        bench.data[MAIN].train,
        batch_size=bench.spec.batch_size,
        seed=derive_seed(seed, "batches", MAIN),
        pad_id=bench.data[MAIN].pad_id,
    )
    autocast = autocast_context(device)
    clip = bench.spec.clip_norm or 1.0

    def run(n: int) -> None:
        for _ in range(n):
            batch = next(batches)
            ids = torch.from_numpy(batch["input_ids"]).to(device)
            mask = torch.from_numpy(batch["attention_mask"]).to(device)
            labels = torch.from_numpy(batch["labels"]).to(device)
            if autocast is not None:
                with autocast:
                    logits = model(MAIN, ids, mask)
            else:
                logits = model(MAIN, ids, mask)
            loss = F.cross_entropy(logits.float(), labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return run


def _timed(fn: Callable[[], object], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def measure_throughput(bench: Bench, *, steps: int, repeats: int) -> dict[str, Any]:
    """Examples per second: trainer vs hand loops, rounds interleaved, medians."""
    device = resolve_device(bench.spec.device)
    trainer = make_trainer(bench)
    hand = make_hand_loop(bench)
    hand_fused = make_hand_loop(bench, fused=True)
    warm = max(5, steps // 5)
    trainer.train_steps(MAIN, warm)
    hand(warm)
    hand_fused(warm)
    rates: dict[str, list[float]] = {"trainer": [], "hand": [], "hand_fused": []}
    examples = steps * bench.spec.batch_size
    for _ in range(repeats):
        rates["trainer"].append(examples / _timed(lambda: trainer.train_steps(MAIN, steps), device))
        rates["hand"].append(examples / _timed(lambda: hand(steps), device))
        rates["hand_fused"].append(examples / _timed(lambda: hand_fused(steps), device))
    t = statistics.median(rates["trainer"])
    h = statistics.median(rates["hand"])
    hf = statistics.median(rates["hand_fused"])
    return {
        "steps_per_round": steps,
        "rounds": repeats,
        "trainer_examples_per_s": t,
        "hand_loop_examples_per_s": h,
        "hand_loop_fused_examples_per_s": hf,
        "ratio": t / h,
        "ratio_same_optimizer": t / hf,
        "round_ratios": [a / b for a, b in zip(rates["trainer"], rates["hand"], strict=True)],
        "round_ratios_same_optimizer": [
            a / b for a, b in zip(rates["trainer"], rates["hand_fused"], strict=True)
        ],
    }


def measure_gating(bench: Bench, *, steps: int, repeats: int) -> dict[str, Any]:
    """Seconds per auxiliary step: ungated, gated refresh 1, gated refresh 5."""
    device = resolve_device(bench.spec.device)
    variants: dict[str, CosineGate | None] = {
        "ungated": None,
        "weighted_refresh_1": CosineGate("weighted", refresh_every=1),
        "weighted_refresh_5": CosineGate("weighted", refresh_every=5),
    }
    trainers = {name: make_trainer(bench, gate=gate) for name, gate in variants.items()}
    for trainer in trainers.values():
        trainer.train_steps(AUX, max(5, steps // 5))
    times: dict[str, list[float]] = {name: [] for name in trainers}
    for _ in range(repeats):
        for name, trainer in trainers.items():
            seconds = _timed(partial(trainer.train_steps, AUX, steps), device)
            times[name].append(seconds / steps)
    per_step = {name: statistics.median(v) for name, v in times.items()}
    base = per_step["ungated"]
    return {
        "steps_per_round": steps,
        "rounds": repeats,
        "seconds_per_step": per_step,
        "relative_to_ungated": {name: v / base for name, v in per_step.items()},
    }


def measure_evaluation(bench: Bench, *, repeats: int, max_batches: int = 4) -> dict[str, Any]:
    """Seconds per main dev evaluation on a fixed subsample (after the first, cached, call)."""
    device = resolve_device(bench.spec.device)
    trainer = make_trainer(bench)
    trainer.evaluate(MAIN, "dev", max_batches=max_batches)
    times = [
        _timed(lambda: trainer.evaluate(MAIN, "dev", max_batches=max_batches), device)
        for _ in range(repeats)
    ]
    return {
        "max_batches": max_batches,
        "eval_batch_size": bench.spec.eval_batch_size,
        "seconds": statistics.median(times),
    }


# ---------------------------------------------------------------------------------------------
# Tracking overhead per pull. Uses the pipeline's tracker (autoaux.tracking.MlflowTracker)
# when present, else MLflow's client directly; either way a local SQLite store in a temp folder.
# ---------------------------------------------------------------------------------------------


def _pull_metrics(pull: int, arms: list[str]) -> dict[str, float]:
    """Metrics of the size stage 1 logs per pull: chosen arm, reward, scores, utilities."""
    arm = pull % len(arms)
    metrics = {
        "arm": float(arm),
        "reward": float(pull % 2),
        "dev_score": 0.5 + 0.001 * pull,
        "loss": 0.7,
        "cosine": 0.1,
        "gate_scale": 0.1,
        f"reward/{arms[arm]}": float(pull % 2),
        f"cosine/{arms[arm]}": 0.1,
    }
    for name in arms:
        metrics[f"utility/{name}"] = 0.5
    return metrics


def measure_tracking_overhead(
    *, pulls: int, arms: list[str], flush_seconds: float | None = None
) -> dict[str, Any]:
    """Seconds of MLflow logging per pull (parent + nested stage run, SQLite store).

    ``flush_seconds``: the tracker's metric buffering (``None``: its default; ``0``: one
    write per pull, the worst case).
    """
    with tempfile.TemporaryDirectory() as folder:
        uri = f"sqlite:///{Path(folder) / 'mlflow.db'}"
        try:
            from autoaux.tracking import MlflowTracker
        except ImportError:  # pragma: no cover - the pipeline module is part of the package
            return _tracking_with_client(uri, pulls, arms)
        options: dict[str, Any] = {"artifact_location": str(Path(folder) / "mlruns")}
        if flush_seconds is not None:
            options["flush_seconds"] = flush_seconds
        setup_start = time.perf_counter()
        tracker = MlflowTracker(uri, "engine-benchmark", **options)
        tracker.start("parent")
        tracker.start("stage1", nested=True)
        setup = time.perf_counter() - setup_start
        start = time.perf_counter()
        for pull in range(1, pulls + 1):
            tracker.log_metrics(_pull_metrics(pull, arms), step=pull)
        tracker.finish()  # flushes what is buffered
        seconds = time.perf_counter() - start
        tracker.finish()
    return {
        "pulls": pulls,
        "metrics_per_pull": len(_pull_metrics(1, arms)),
        "flush_seconds": flush_seconds,
        "setup_seconds": setup,
        "seconds_per_pull": seconds / pulls,
    }


def _tracking_with_client(uri: str, pulls: int, arms: list[str]) -> dict[str, Any]:
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("engine-benchmark")
    run = client.create_run(experiment)
    start = time.perf_counter()
    for pull in range(1, pulls + 1):
        now = int(time.time() * 1000)
        items = [Metric(k, v, now, pull) for k, v in _pull_metrics(pull, arms).items()]
        client.log_batch(run.info.run_id, metrics=items)
    client.set_terminated(run.info.run_id)
    return {
        "pulls": pulls,
        "metrics_per_pull": len(_pull_metrics(1, arms)),
        "flush_seconds": 0.0,
        "seconds_per_pull": (time.perf_counter() - start) / pulls,
    }


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a quick check")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write figures here")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads(N)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=None, help="steps per timed round")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds per variant")
    args = parser.parse_args(argv)

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    steps = args.steps or (10 if args.smoke else 100)
    repeats = args.repeats or (2 if args.smoke else 7)
    pulls = 20 if args.smoke else 200
    steps_per_pull = 10

    bench = build_bench(
        max_length=args.max_length,
        batch_size=args.batch_size,
        device=args.device,
        smoke=args.smoke,
    )
    device = resolve_device(args.device)
    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        "parameters": sum(p.numel() for p in bench.model.parameters()),
    }
    print(f"engine benchmark: {env}")

    throughput = measure_throughput(bench, steps=steps, repeats=repeats)
    print(
        f"throughput: trainer {throughput['trainer_examples_per_s']:.0f} ex/s; "
        f"minimal hand loop {throughput['hand_loop_examples_per_s']:.0f} ex/s "
        f"-> ratio {throughput['ratio']:.3f} (target >= 0.9; rounds "
        f"{min(throughput['round_ratios']):.3f}..{max(throughput['round_ratios']):.3f})"
    )
    print(
        f"throughput: hand loop with the trainer's fused AdamW "
        f"{throughput['hand_loop_fused_examples_per_s']:.0f} ex/s -> ratio "
        f"{throughput['ratio_same_optimizer']:.3f} (trainer overhead alone; rounds "
        f"{min(throughput['round_ratios_same_optimizer']):.3f}.."
        f"{max(throughput['round_ratios_same_optimizer']):.3f})"
    )
    gating = measure_gating(bench, steps=steps, repeats=repeats)
    for name, seconds in gating["seconds_per_step"].items():
        print(
            f"gating: {name:<20} {1000 * seconds:7.2f} ms/step  "
            f"x{gating['relative_to_ungated'][name]:.2f} of ungated"
        )
    evaluation = measure_evaluation(bench, repeats=repeats)
    print(
        f"evaluation: main dev, {evaluation['max_batches']} batches of "
        f"{evaluation['eval_batch_size']}: {1000 * evaluation['seconds']:.1f} ms"
    )
    pull_seconds = (
        steps_per_pull * gating["seconds_per_step"]["weighted_refresh_1"] + evaluation["seconds"]
    )
    arms = [name for name in bench.data]
    tracking = {
        "buffered": measure_tracking_overhead(pulls=pulls, arms=arms),
        "unbuffered": measure_tracking_overhead(pulls=pulls, arms=arms, flush_seconds=0.0),
    }
    for label, figures in tracking.items():
        figures["pull_seconds"] = pull_seconds
        figures["fraction_of_pull"] = figures["seconds_per_pull"] / pull_seconds
        print(
            f"tracking ({label}): {1000 * figures['seconds_per_pull']:.2f} ms/pull "
            f"({figures['metrics_per_pull']} metrics) = "
            f"{100 * figures['fraction_of_pull']:.1f}% of a {1000 * pull_seconds:.0f} ms pull "
            f"({steps_per_pull} gated steps + 1 evaluation)"
        )

    figures = {
        "environment": env,
        "smoke": args.smoke,
        "throughput": throughput,
        "gating": gating,
        "evaluation": evaluation,
        "tracking": tracking,
    }
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
