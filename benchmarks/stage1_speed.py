"""Wall time of the default run's stage 1 (and of an affinity screen) in this process and on
worker processes or Ray (``workers``, ``[stage2] executor``; :mod:`autoaux.stages.workers`).

The workbench of the built-in default run (``nyt-polarity``, its pool of five, the control,
cached MiniLM features, default ``[protocol]``) is built once; then the stage-1 race
(:func:`autoaux.stages.race.run_race`, the default settings, seed ``--seed``) runs:

* ``in process, N threads``: the sequential race, torch on this machine's default thread count
  (what a run with ``workers = 1`` does);
* ``in process, 1 thread``: the sequential race on one torch thread (the numerics of a worker);
* ``2 processes`` (``workers = 2``, the default on 2 cores): each round's episodes side by side on
  forked workers, one torch thread each;
* ``ray``: a local Ray instance (``--ray``), one CPU per episode; its start-up (``ray.init``)
  is reported apart, putting the workbench in the object store is part of the race's time.

and the affinity screen (:func:`autoaux.stages.screen.run_screen`, default ``[screen]``: 3
rounds of 150-step probes of the five candidates and the control) in process and on 2
processes. Per setting: wall seconds, episodes (probes), optimiser steps, episodes per second,
the speed-up over the sequential race on the default thread count, and whether the selection
and every episode's score are those of the sequential race. Settings alternate over
``--repeats`` repeats; the median is reported. The numbers depend on the machine and its load:
the load average is printed with them.

Usage::

    python -m benchmarks.stage1_speed                      # 2 repeats, no Ray
    python -m benchmarks.stage1_speed --ray --repeats 1    # with a local Ray instance
    python -m benchmarks.stage1_speed --smoke              # a 6-episode race, tiny encoder
    python -m benchmarks.stage1_speed --json out.json
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import _common  # noqa: F401  (sets the environment first)
from benchmarks._common import Workspace, log, machine, md_table, setup, write_json

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def build(ws: Workspace, *, seed: int, smoke: bool) -> tuple[Any, Any]:
    """The default run's workbench and configuration."""
    from autoaux.config import config_from_dict
    from autoaux.config.defaults import default_config_dict
    from autoaux.training import Workbench

    data = default_config_dict(quick=smoke)
    data.update(seed=seed, output_dir=ws.folder(), device="cpu", tracking={"enabled": False})
    config = config_from_dict(data, source="benchmarks/stage1_speed.py")
    bench = Workbench.build(config, [config.main.task, *config.auxiliary_tasks()], ())
    return bench, config


def race(bench: Any, config: Any, workers: Any) -> tuple[float, Any]:
    from autoaux.stages import run_race

    start = time.perf_counter()
    result = run_race(
        bench.episode_factory(), main=config.main.task, pool=config.auxiliary_tasks(),
        controls=config.control_tasks(), settings=config.stage1.race(), seed=config.seed,
        protocol=config.protocol, workers=workers,
    )  # fmt: skip
    return time.perf_counter() - start, result


def screen(bench: Any, config: Any, workers: Any) -> tuple[float, Any]:
    from autoaux.stages.screen import run_screen

    start = time.perf_counter()
    result = run_screen(
        bench.probe_trainer, main=config.main.task, candidates=list(config.candidate_tasks()),
        control=config.control_tasks()[0], settings=config.screen, workers=workers,
    )  # fmt: skip
    return time.perf_counter() - start, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--ray", action="store_true", help="also a local Ray instance")
    parser.add_argument("--no-screen", action="store_true", help="the race only")
    parser.add_argument("--smoke", action="store_true", help="the quick preset, one repeat")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    import torch

    from autoaux.stages.workers import WorkerPlan

    default_threads = torch.get_num_threads()
    setup(threads=default_threads)
    repeats = 1 if args.smoke else args.repeats
    ws = Workspace()
    try:
        start = time.perf_counter()
        bench, config = build(ws, seed=args.seed, smoke=args.smoke)
        log(f"workbench built in {time.perf_counter() - start:.1f}s "
            f"({os.cpu_count()} CPUs, torch {default_threads} threads by default)")  # fmt: skip
        settings: list[tuple[str, int, WorkerPlan]] = [
            (f"in process, {default_threads} threads", default_threads, WorkerPlan(workers=1)),
            ("in process, 1 thread", 1, WorkerPlan(workers=1)),
            ("2 processes, 1 thread each", default_threads, WorkerPlan(workers=2)),
        ]
        ray_start = None
        if args.ray:
            settings.append(("ray (local instance)", default_threads, WorkerPlan(executor="ray")))
        times: dict[str, list[float]] = {name: [] for name, _, _ in settings}
        results: dict[str, Any] = {}
        for r in range(repeats):
            for name, threads, plan in settings:
                torch.set_num_threads(threads)
                if plan.executor == "ray" and ray_start is None:
                    import ray

                    t0 = time.perf_counter()
                    ray.init(include_dashboard=False)  # kept for the timed races
                    ray_start = time.perf_counter() - t0
                seconds, result = race(bench, config, plan)
                times[name].append(seconds)
                results[name] = result
                log(f"  race, {name}, repeat {r}: {seconds:.1f}s, {len(result.history)} "
                    f"episodes, selected {list(result.selected)}")  # fmt: skip
        torch.set_num_threads(default_threads)
        reference = results[settings[0][0]]
        base = statistics.median(times[settings[0][0]])
        rows, figures = [], {}
        for name, _, _ in settings:
            res, sec = results[name], statistics.median(times[name])
            steps = sum(p.steps for p in res.history)
            same_scores = [p.reward for p in res.history] == [p.reward for p in reference.history]
            figures[name] = {
                "seconds": sec, "episodes": len(res.history), "steps": steps,
                "episodes_per_s": len(res.history) / sec, "speedup": base / sec,
                "selected": list(res.selected), "same_scores": same_scores,
                "same_selection": res.selected == reference.selected,
            }  # fmt: skip
            rows.append((name, f"{sec:.1f}", len(res.history), steps,
                         f"{len(res.history) / sec:.2f}", f"{base / sec:.2f}x",
                         ", ".join(res.selected), "yes" if same_scores else "no"))  # fmt: skip
        print("\n## Stage 1: the default run's race\n")
        print(md_table(("setting", "seconds", "episodes", "steps", "episodes/s",
                        "speed-up", "selected", "same scores as row 1"), rows))  # fmt: skip
        if ray_start is not None:
            print(f"\nRay start-up (ray.init, not in the race's seconds; putting the workbench in "
                  f"the object store is): {ray_start:.1f}s")
        out: dict[str, Any] = {"race": figures, "ray_startup_s": ray_start}
        if not args.no_screen:
            rows, sfig = [], {}
            screen_runs: dict[str, Any] = {}
            plans = [("in process", WorkerPlan(workers=1)), ("2 processes", WorkerPlan(workers=2))]
            stimes: dict[str, list[float]] = {n: [] for n, _ in plans}
            for _ in range(repeats):
                for name, plan in plans:
                    seconds, res = screen(bench, config, plan)
                    stimes[name].append(seconds)
                    screen_runs[name] = res
            sbase = statistics.median(stimes["in process"])
            for name, _ in plans:
                res, sec = screen_runs[name], statistics.median(stimes[name])
                same = res.losses == screen_runs["in process"].losses
                sfig[name] = {"seconds": sec, "probes": res.steps // res.probe_steps,
                              "steps": res.steps, "speedup": sbase / sec, "same_losses": same}
                rows.append((name, f"{sec:.1f}", res.steps // res.probe_steps, res.steps,
                             f"{sbase / sec:.2f}x", "yes" if same else "no"))  # fmt: skip
            print("\n## The affinity screen on the default pool\n")
            print(md_table(("setting", "seconds", "probes", "steps", "speed-up",
                            "same losses"), rows))  # fmt: skip
            out["screen"] = sfig
        out["machine"] = machine()
        out["command"] = "python -m benchmarks.stage1_speed " + " ".join(argv or sys.argv[1:])
        print(f"\nmachine: {out['machine']}")
        if args.json:
            write_json(args.json, out)
    finally:
        ws.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
