"""Wall time of stage 2 with 1, 2 and 4 trials at a time (``[stage2] executor``, ``parallel``).

One workbench (the planted pool: a main task and one helpful auxiliary task, the ``"tiny"``
encoder) is built once; then stage 2 (:func:`autoaux.stages.run_stage2`, GP search, every trial
logging its MLflow run to a temporary SQLite store) runs with:

* ``local``, ``parallel = 1``: the sequential loop in this process (one torch thread);
* ``ray``, ``parallel = 1, 2, 4``: a local Ray instance with one CPU per trial (one torch
  thread each), so at most ``nproc`` trials run at once; ``parallel = 4`` on a 2-core machine
  submits 4 trials and Ray runs 2 at a time.

Before the timed runs, one untimed warm-up trial runs in this process and one warm-up batch
starts the Ray worker processes (importing torch, transformers and MLflow in a fresh process
takes seconds); the Ray start-up and the warm-up are reported apart. Each setting runs
``--repeats`` times (the median is reported). Figures: wall seconds of stage 2, seconds per
trial, trials per hour and the speed-up over the sequential local run. There is no speed-up
beyond the machine's CPU cores (or GPUs), and on a shared, loaded machine less than that: read
the load average printed with the figures.

Usage::

    python -m benchmarks.parallel                          # 8 trials of 200 steps, 2 repeats
    python -m benchmarks.parallel --smoke                  # 4 trials of 20 steps (CI size)
    python -m benchmarks.parallel --json out.json          # also write the figures as JSON
    python -m benchmarks.parallel --trials 12 --steps 300  # other budgets
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import _common  # noqa: F401  (sets the environment first)
from benchmarks._common import log, machine, md_table, setup, write_json

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def build(folder: Path, *, steps: int, trials: int, seed: int) -> tuple[Any, Any]:
    """The workbench (model, data, initial weights) and the run configuration."""
    from autoaux.config import config_from_dict
    from autoaux.training import Workbench
    from tasks.planted import make_planted_suite

    suite = make_planted_suite(
        n_helpful=1, n_neutral=0, n_harmful=0, main_train=100, aux_train=1000, dev=200,
        test=200, seed=seed,
    )  # fmt: skip
    main, helpful = suite.main, suite.auxiliary[0]
    data = {
        "seed": seed,
        "device": "cpu",
        "model": {"max_length": 32},
        "main": {"task": main.name},
        "auxiliary": {"tasks": [helpful.name]},
        "stage2": {
            "trials": trials,
            "initial_points": 2,
            "steps": steps,
            "eval_every": max(1, steps // 4),
        },
        "tracking": {"uri": f"sqlite:///{folder / 'mlflow.db'}", "experiment": "parallel"},
        "output_dir": str(folder / "out"),
    }
    config = config_from_dict(data, source="benchmark", user_tasks=(main.name, helpful.name))
    bench = Workbench.build(config, [main.name, helpful.name], [main, helpful])
    return bench, config


def stage2_seconds(bench: Any, config: Any, kind: str, parallel: int) -> tuple[float, int, int]:
    """Wall seconds of one stage 2 (``kind`` executor, ``parallel`` trials at a time); the
    trials done and failed. Building the Ray executor (one ``ray.put``) is timed too."""
    from autoaux.stages.executors import LocalExecutor, RayExecutor, TrialExecutor
    from autoaux.stages.stage2 import run_stage2
    from autoaux.tracking import MlflowTracker, tracked_run

    tracker = MlflowTracker(config.tracking.uri, config.tracking.experiment)
    with tracked_run(tracker, f"{kind}-{parallel}"):
        start = time.perf_counter()
        executor: TrialExecutor
        if kind == "ray":
            executor = RayExecutor(bench.factory("stage2"), tracker=tracker, parallel=parallel)
        else:
            executor = LocalExecutor(bench.factory("stage2"), tracker=tracker, parallel=parallel)
        with executor:
            result = run_stage2(
                bench.factory("stage2"),
                main=config.main.task,
                tasks=config.auxiliary.tasks,
                settings=config.stage2,
                seed=config.seed,
                tracker=tracker,
                device_name="cpu",
                executor=executor,
            )
        seconds = time.perf_counter() - start
    failed = sum(t.state == "FAILED" for t in result.trials)
    return seconds, len(result.trials), failed


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="4 trials of 20 steps")
    parser.add_argument("--trials", type=int, help="trials per setting (default 8; smoke 4)")
    parser.add_argument("--steps", type=int, help="steps per trial (default 200; smoke 20)")
    parser.add_argument("--parallel", default="1,2,4", help="Ray batch sizes (default 1,2,4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, help="timed runs per setting, median (default 2)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    return parser


def _measure(
    ray: Any, trials: int, steps: int, sizes: list[int], repeats: int, seed: int
) -> tuple[list[dict[str, Any]], float, float, int]:
    """Stage 2 timed locally and on Ray at each batch size: the rows, Ray's start-up and
    worker warm-up seconds, and the CPUs Ray saw."""
    from autoaux.stages.executors import LocalExecutor, RayExecutor

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        bench, config = build(folder, steps=steps, trials=trials, seed=seed)
        log(f"workbench built in {time.perf_counter() - t0:.1f}s; {trials} trials x {steps} steps")

        _warm_up(LocalExecutor(bench.factory("stage2")), config, n=1)  # first-call costs
        seconds, done, failed = _median(repeats, lambda: stage2_seconds(bench, config, "local", 1))
        rows.append(_row("local", 1, seconds, done, failed))
        log(f"local, 1 at a time: {seconds:.1f}s")

        t0 = time.perf_counter()
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
        ray_start = time.perf_counter() - t0
        cpus = int(ray.cluster_resources().get("CPU", 0))
        try:
            warm = RayExecutor(bench.factory("stage2"), parallel=max(sizes))
            t0 = time.perf_counter()
            _warm_up(warm, config, n=max(1, min(max(sizes), cpus)))
            warm_up = time.perf_counter() - t0
            warm.close()
            log(f"ray start-up {ray_start:.1f}s, worker warm-up {warm_up:.1f}s")
            for size in sizes:
                seconds, done, failed = _median(
                    repeats, lambda size=size: stage2_seconds(bench, config, "ray", size)
                )
                rows.append(_row("ray", size, seconds, done, failed))
                log(f"ray, {size} at a time: {seconds:.1f}s")
        finally:
            ray.shutdown()
    return rows, ray_start, warm_up, cpus


def _table(rows: list[dict[str, Any]]) -> str:
    header = (
        "executor",
        "parallel",
        "trials",
        "failed",
        "wall s",
        "s/trial",
        "trials/h",
        "speed-up",
    )
    return md_table(
        header,
        [
            (
                r["executor"],
                r["parallel"],
                r["trials"],
                r["failed"],
                f"{r['seconds']:.1f}",
                f"{r['seconds_per_trial']:.2f}",
                f"{r['trials_per_hour']:.0f}",
                f"{r['speedup']:.2f}x",
            )
            for r in rows
        ],
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    trials = args.trials or (4 if args.smoke else 8)
    steps = args.steps or (20 if args.smoke else 200)
    sizes = [int(x) for x in args.parallel.split(",") if x.strip()]
    repeats = args.repeats or (1 if args.smoke else 2)
    info = setup(threads=1)
    try:
        import ray
    except ImportError:
        print("Ray is not installed (pip install 'autoaux[ray]'): nothing to measure")
        return 0
    rows, ray_start, warm_up, cpus = _measure(ray, trials, steps, sizes, repeats, args.seed)
    base = rows[0]["seconds"]
    for row in rows:
        row["speedup"] = base / row["seconds"] if row["seconds"] > 0 else float("nan")
    table = _table(rows)
    load = machine().get("load_average")
    print(
        f"\nstage 2 wall time, {trials} trials of {steps} steps (tiny encoder, planted pool), "
        f"median of {repeats}, {os.cpu_count()} CPUs, load average {load}; Ray: one CPU and "
        f"one torch thread per trial, start-up {ray_start:.1f}s and worker warm-up "
        f"{warm_up:.1f}s not included\n"
    )
    print(table)
    print(
        f"\nAt most {cpus} trials run at once on this machine ({cpus} CPUs, no GPU): parallel "
        f"beyond {cpus} gives no further speed-up, and the machine is shared, so the figures "
        "move with its load."
    )
    if args.json is not None:
        write_json(
            args.json,
            {
                "machine": info,
                "load_average_at_end": load,
                "trials": trials,
                "steps": steps,
                "repeats": repeats,
                "ray_start_seconds": ray_start,
                "worker_warm_up_seconds": warm_up,
                "ray_cpus": cpus,
                "rows": rows,
                "command": " ".join([Path(sys.executable).name, *sys.argv]),
            },
        )
        print(f"\nfigures written to {args.json}")
    return 0


def _median(repeats: int, measure: Any) -> tuple[float, int, int]:
    """The run with the median wall time of ``repeats`` runs of ``measure()``."""
    runs = sorted((measure() for _ in range(max(1, repeats))), key=lambda r: r[0])
    return runs[(len(runs) - 1) // 2]


def _warm_up(executor: Any, config: Any, *, n: int) -> None:
    """One untimed batch of ``n`` very short trials: starts the worker processes."""
    from dataclasses import replace

    from autoaux.stages.executors import TrialSpec

    settings = replace(config.stage2, steps=1, eval_every=1, eval_batches=1)
    main = config.main.task
    specs = [TrialSpec(i, {}, {main: 1.0}, main, settings) for i in range(n)]
    executor.run_batch(specs)


def _row(executor: str, parallel: int, seconds: float, done: int, failed: int) -> dict[str, Any]:
    return {
        "executor": executor,
        "parallel": parallel,
        "trials": done,
        "failed": failed,
        "seconds": seconds,
        "seconds_per_trial": seconds / max(1, done),
        "trials_per_hour": 3600.0 * done / seconds if seconds > 0 else float("nan"),
    }


if __name__ == "__main__":
    sys.exit(main())
