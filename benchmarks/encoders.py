"""Benchmark of the encoders for selection runs: tiny BERT, cached MiniLM, fully fine-tuned MiniLM.

Prints, on the real built-in suite (main task ``rt-sentiment`` with ``--main-train`` training
examples, default 500):

* **set-up**: seconds to build each encoder and prepare the data; for the cached mode this
  includes encoding every text the run uses (cold cache: a fresh private cache folder);
* **stage 1**: seconds per pull of :func:`autoaux.stages.stage1.run_stage1` with the default stage-1
  method (``steps_per_pull`` gated steps and one main dev evaluation on 4 batches; pool:
  ``tweet-sentiment`` capped at ``--aux-train`` and its ``shuffled:`` control);
* **main test score**: main task only, ``--steps`` steps (best main dev checkpoint), over
  ``--seeds`` seeds (mean and standard deviation). Fully fine-tuned MiniLM runs only
  ``--minilm-steps`` steps, to time it (about one second a step on 2 cores); its score is not
  a converged result;
* **encoding of the default pool** (``autoaux.config.defaults``: rt-sentiment main with 500 training
  examples; rt-subjectivity, tweet-sentiment, bbc-topic, political-party and the shuffled
  control with ``max_train_examples`` 4000), cold and warm (the second run reads the cache),
  with the cache size on disk; and the size of a cache of the whole built-in suite (every split
  of every task), computed from its number of distinct texts, with the encoding time
  extrapolated from the measured rate (``--full-suite`` encodes it for real);
* **default run** (``--default-run``): ``autoaux.run`` of the built-in default configuration
  (``autoaux.config.defaults.default_config_dict``) with each of ``--default-encoders``, cold cache,
  wall-clock time and main test score: the figures that choose the default encoder (the best
  test score within 10 minutes on 2 CPU cores, encoding included).

Timings depend on the machine and on what else runs on it; the load average is printed with
the figures, and every timing comes with the process's CPU seconds. On a shared machine run
with ``--threads 1`` and read the CPU seconds: with 2 threads, busy-waiting intra-op threads
inflate both wall and CPU time many times over when the cores are oversubscribed.

Usage::

    python -m benchmarks.encoders                  # stage-1 timing, scores, encoding (~15 min)
    python -m benchmarks.encoders --smoke          # tiny sizes, a couple of minutes
    python -m benchmarks.encoders --json out.json  # also write the figures as JSON
    python -m benchmarks.encoders --default-run    # add the full default runs (~5 min each)
    python -m benchmarks.encoders --threads 1 --default-run --json out.json   # as reported
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from autoaux.config import Stage1Config
from autoaux.config.defaults import DEFAULT_MAIN, DEFAULT_POOL, default_config_dict
from autoaux.model import ModelSpec, MultiTaskModel, build_encoder
from autoaux.model.cached import (
    CachedEncoder,
    FeatureStore,
    cached_model_path,
    precompute_features,
)
from autoaux.stages.stage1 import make_gate, run_stage1
from autoaux.training import derive_seed
from autoaux.training.trainer import TaskData, Trainer, TrainerSpec, prepare_tasks
from tasks import Task, builtin_names, load_task

MAIN = DEFAULT_MAIN
AUX = "tweet-sentiment"
CONTROL = "shuffled:tweet-sentiment"
FULL_LR = 5e-5  # fine-tuning a pretrained encoder (autoaux.finetune's default)


def _load(names: Iterable[str], *, main_train: int, aux_train: int, seed: int = 0) -> list[Task]:
    out = []
    for i, name in enumerate(names):
        task = load_task(name, seed=seed)
        out.append(task.with_max_train(main_train if i == 0 else aux_train, seed=seed))
    return out


def _texts(tasks: Iterable[Task]) -> list[str]:
    return [t for task in tasks for ex in task.train for t in (ex.text, ex.text_pair) if t]


def _build(
    encoder: str, tasks: list[Task], *, max_length: int, seed: int = 0
) -> tuple[MultiTaskModel, dict[str, TaskData], float, float]:
    """Model and data for ``encoder``; wall and CPU seconds taken (tokenizer training or
    encoding included)."""
    start = time.perf_counter()
    cpu = time.process_time()
    spec = ModelSpec(encoder=encoder, max_length=max_length)
    enc, tokenizer = build_encoder(spec, texts=_texts(tasks), seed=derive_seed(seed, "encoder"))
    model = MultiTaskModel(
        enc, {t.name: t.num_labels for t in tasks}, seed=derive_seed(seed, "heads")
    )
    data = prepare_tasks(tasks, tokenizer, max_length=max_length, batch_size=16, seed=seed)
    precompute_features(model, data, main=tasks[0].name)
    return model, data, time.perf_counter() - start, time.process_time() - cpu


def _lr(encoder: str) -> float:
    return FULL_LR if encoder == "minilm" else TrainerSpec().lr


def stage1_seconds_per_pull(
    encoder: str, model: MultiTaskModel, data: dict[str, TaskData], *, pulls: int
) -> dict[str, float]:
    settings = Stage1Config(pulls=pulls, steps_per_pull=10, eval_batches=4).bandit()
    trainer = Trainer(
        model,
        data,
        main=MAIN,
        spec=TrainerSpec(lr=_lr(encoder), device="cpu"),
        gate=make_gate(settings),
        seed=0,
    )
    trainer.evaluate(MAIN, "dev", max_batches=4)  # warm the evaluation batch cache
    start, cpu = time.perf_counter(), time.process_time()
    result = run_stage1(
        trainer, main=MAIN, pool=[AUX, CONTROL], controls=[CONTROL], settings=settings, seed=0
    )
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {
        "pulls": pulls,
        "seconds_per_pull": seconds / pulls,
        "cpu_seconds_per_pull": cpu / pulls,
        "seconds_per_step": seconds / (pulls * settings.steps_per_pull),
        "mean_cosine_aux": result.mean_cosines.get(AUX, float("nan")),
        "mean_cosine_control": result.mean_cosines.get(CONTROL, float("nan")),
    }


def main_only_score(
    encoder: str,
    model: MultiTaskModel,
    data: dict[str, TaskData],
    *,
    steps: int,
    seed: int,
) -> dict[str, float]:
    spec = TrainerSpec(lr=_lr(encoder), warmup_steps=0.1, total_steps=steps, device="cpu")
    trainer = Trainer(model, data, main=MAIN, spec=spec, seed=seed)
    start, cpu = time.perf_counter(), time.process_time()
    # Full MiniLM: one evaluation at the end (a dev pass costs as much as many steps).
    every = steps if encoder == "minilm" else max(1, steps // 15)
    report = trainer.train_mixture({MAIN: 1.0}, steps, eval_every=every)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {
        "steps": steps,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "best_dev": report.best_dev,
        "test": trainer.evaluate(MAIN, "test"),
    }


def bench_encoders(args: argparse.Namespace, cache: Path) -> dict[str, Any]:
    tasks = _load([MAIN, AUX, CONTROL], main_train=args.main_train, aux_train=args.aux_train)
    out: dict[str, Any] = {}
    for encoder in args.encoders:
        print(f"\n== {encoder} ==", flush=True)
        model, data, setup, setup_cpu = _build(encoder, tasks, max_length=args.max_length)
        initial = model.snapshot()
        full = encoder == "minilm"
        pulls = args.minilm_pulls if full else args.pulls
        timing = stage1_seconds_per_pull(encoder, model, data, pulls=pulls)
        print(
            f"set-up {setup:.1f}s ({setup_cpu:.1f}s CPU); stage 1: "
            f"{timing['seconds_per_pull']:.3f} s/pull ({timing['cpu_seconds_per_pull']:.3f}s CPU) "
            f"({timing['seconds_per_step'] * 1000:.1f} ms/step incl. eval), mean cosine "
            f"{AUX} {timing['mean_cosine_aux']:.3f}, control {timing['mean_cosine_control']:.3f}",
            flush=True,
        )
        scores = []
        for seed in range(1 if full else args.seeds):
            model.restore(initial)
            steps = args.minilm_steps if full else args.steps
            score = main_only_score(encoder, model, data, steps=steps, seed=seed)
            scores.append(score)
            print(
                f"  seed {seed}: {steps} steps in {score['seconds']:.1f}s "
                f"({score['cpu_seconds']:.1f}s CPU), best dev "
                f"{score['best_dev']:.4f}, test {score['test']:.4f}",
                flush=True,
            )
        tests = [s["test"] for s in scores]
        out[encoder] = {
            "setup_seconds": setup,
            "setup_cpu_seconds": setup_cpu,
            "stage1": timing,
            "main_only": scores,
            "test_mean": statistics.fmean(tests),
            "test_sd": statistics.stdev(tests) if len(tests) > 1 else 0.0,
            "converged": not full,
        }
        del model, data
    return out


def bench_encoding(args: argparse.Namespace, cache: Path) -> dict[str, Any]:
    """Cold and warm encoding of the default pool, and the size of the whole suite's cache."""
    defaults = default_config_dict(quick=args.smoke)
    main_train = defaults["main"]["max_train_examples"]
    aux_train = defaults["auxiliary"]["max_train_examples"]
    names = [MAIN, *DEFAULT_POOL]
    tasks = _load(names, main_train=main_train, aux_train=aux_train)
    encoder = "minilm-cached"
    os.environ["AUTOAUX_CACHE"] = str(cache / "pool")  # cold: nothing encoded there yet
    results: dict[str, Any] = {"main_train": main_train, "aux_train": aux_train}
    for label in ("cold", "warm"):
        model, data, seconds, cpu = _build(encoder, tasks, max_length=args.max_length)
        assert isinstance(model.encoder, CachedEncoder)
        store = model.encoder.table.store
        stats = store.stats
        results[label] = {
            "seconds": seconds,
            "cpu_seconds": cpu,
            "texts": stats.requested,
            "encoded": stats.encoded,
            "encoding_seconds": stats.seconds_encoding,
        }
        print(
            f"default pool, {label} cache: {seconds:.1f}s set-up ({cpu:.1f}s CPU), "
            f"{stats.requested} texts, "
            f"{stats.encoded} encoded in {stats.seconds_encoding:.1f}s",
            flush=True,
        )
        del model, data
    cold = results["cold"]
    rate = cold["encoding_seconds"] / max(1, cold["encoded"])
    results["seconds_per_text"] = rate
    results["cache_bytes"] = store.size_bytes()
    print(
        f"default pool cache: {results['cache_bytes'] / 1e6:.1f} MB; {rate * 1000:.1f} ms per text",
        flush=True,
    )

    # The whole built-in suite, every split: distinct texts, size, extrapolated time.
    distinct: set[str] = set()
    for name in builtin_names():
        task = load_task(name)
        for ex in (*task.train, *task.dev, *task.test):
            distinct.update(t for t in (ex.text, ex.text_pair) if t)
    per_text = 16 + 4 * store.dim
    suite: dict[str, Any] = {
        "distinct_texts": len(distinct),
        "bytes_estimate": len(distinct) * per_text,
        "seconds_estimate": len(distinct) * rate,
    }
    if args.full_suite:
        full = FeatureStore(
            cached_model_path(encoder), max_length=args.max_length, cache_dir=cache / "suite"
        )
        start = time.perf_counter()
        full.get(sorted(distinct))
        suite["seconds"] = time.perf_counter() - start
        suite["bytes"] = full.size_bytes()
    results["suite"] = suite
    os.environ["AUTOAUX_CACHE"] = str(cache)
    print(
        f"whole built-in suite: {len(distinct)} distinct texts -> "
        f"{suite['bytes_estimate'] / 1e6:.0f} MB of cache, about "
        f"{suite['seconds_estimate'] / 60:.0f} min to encode at this rate"
        + (f" (measured {suite['seconds'] / 60:.1f} min)" if "seconds" in suite else ""),
        flush=True,
    )
    return results


def bench_default_run(args: argparse.Namespace, cache: Path) -> dict[str, Any]:
    """``autoaux.run`` of the default configuration per encoder, cold cache."""
    import autoaux
    from autoaux.config import config_from_dict

    out: dict[str, Any] = {}
    for encoder in args.default_encoders:
        private = cache / f"run-{encoder}"
        os.environ["AUTOAUX_CACHE"] = str(private)
        data = default_config_dict(quick=args.smoke)
        data["model"]["encoder"] = encoder
        data["tracking"] = {"enabled": False}
        data["output_dir"] = str(cache / f"out-{encoder}")
        config = config_from_dict(data, source="<benchmark>")
        start, cpu = time.perf_counter(), time.process_time()
        result = autoaux.run(config, progress=False)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        baselines = {name: score.test for name, score in result.baselines.items()}
        out[encoder] = {
            "seconds": seconds,
            "cpu_seconds": cpu,
            "test_score": result.test_score,
            "best_dev_score": result.best_dev_score,
            "selected": list(result.selected),
            "ratios": result.ratios,
            "stage1_seconds": result.selection.seconds,
            "stage2_seconds": result.mixture.seconds,
            "baselines_test": baselines,
        }
        print(
            f"default run, {encoder}: {seconds:.0f}s wall, {cpu:.0f}s CPU (stage 1 "
            f"{result.selection.seconds:.0f}s, "
            f"stage 2 {result.mixture.seconds:.0f}s), test {result.test_score}, selected "
            f"{list(result.selected)}, baselines test {baselines}",
            flush=True,
        )
    os.environ["AUTOAUX_CACHE"] = str(cache)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a quick check")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write figures here")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads(N)")
    parser.add_argument(
        "--encoders", nargs="+", default=["tiny", "minilm-cached", "minilm"], metavar="NAME"
    )
    parser.add_argument("--main-train", type=int, default=None)
    parser.add_argument("--aux-train", type=int, default=None)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--pulls", type=int, default=None, help="stage-1 pulls (tiny, cached)")
    parser.add_argument("--minilm-pulls", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None, help="main-only training steps")
    parser.add_argument("--minilm-steps", type=int, default=None)
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--skip-encoders", action="store_true", help="skip the encoder table")
    parser.add_argument("--skip-encoding", action="store_true", help="skip the encoding figures")
    parser.add_argument("--full-suite", action="store_true", help="encode the whole suite")
    parser.add_argument("--default-run", action="store_true", help="time full default runs")
    parser.add_argument(
        "--default-encoders", nargs="+", default=["tiny", "minilm-cached"], metavar="NAME"
    )
    parser.add_argument("--keep-cache", type=Path, default=None, help="cache folder to use/keep")
    args = parser.parse_args(argv)
    small = args.smoke
    args.main_train = args.main_train or (100 if small else 500)
    args.aux_train = args.aux_train or (300 if small else 2000)
    args.pulls = args.pulls or (5 if small else 40)
    args.minilm_pulls = args.minilm_pulls or (1 if small else 3)
    args.steps = args.steps or (60 if small else 1500)
    args.minilm_steps = args.minilm_steps or (5 if small else 30)
    args.seeds = args.seeds or (1 if small else 3)
    torch.set_num_threads(args.threads)

    cache = args.keep_cache or Path(tempfile.mkdtemp(prefix="autoaux-encoders-"))
    cache.mkdir(parents=True, exist_ok=True)
    os.environ["AUTOAUX_CACHE"] = str(cache)
    figures: dict[str, Any] = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "load_average_start": os.getloadavg(),
        },
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    start = time.perf_counter()
    try:
        if not args.skip_encoders:
            figures["encoders"] = bench_encoders(args, cache)
        if not args.skip_encoding:
            figures["encoding"] = bench_encoding(args, cache)
        if args.default_run:
            figures["default_run"] = bench_default_run(args, cache)
    finally:
        if args.keep_cache is None:
            shutil.rmtree(cache, ignore_errors=True)
    figures["machine"]["load_average_end"] = os.getloadavg()
    figures["seconds"] = time.perf_counter() - start

    print("\n== summary ==")
    for name, row in figures.get("encoders", {}).items():
        note = "" if row["converged"] else "  (a few steps only: timing, not a result)"
        print(
            f"{name:>14}: set-up {row['setup_seconds']:7.1f}s  stage 1 "
            f"{row['stage1']['seconds_per_pull']:7.3f} s/pull "
            f"({row['stage1']['cpu_seconds_per_pull']:.3f} CPU)  main test "
            f"{row['test_mean']:.4f} ± {row['test_sd']:.4f}{note}"
        )
    print(f"load average: {figures['machine']['load_average_start']} -> ", end="")
    print(f"{figures['machine']['load_average_end']}; total {figures['seconds']:.0f}s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n")
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
