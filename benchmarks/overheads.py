"""Overheads of autoaux's machinery, gathered from the package benchmarks.

Runs, each in its own process with ``--json`` (one torch thread for the engine benchmark):

* ``benchmarks/bench_bandits.py``: microseconds per bandit ``select()`` + ``update()`` step;
* ``benchmarks/bench_bayesopt.py``: seconds per GP optimiser ``ask()`` + ``tell()`` trial (and the
  simple regret of GP-BO against random search on synthetic ratio surfaces);
* ``benchmarks/engine.py``: trainer throughput against a plain PyTorch loop on the same model and
  batches, gated against ungated auxiliary step, dev evaluation, MLflow logging per stage-1 pull;

and summarises their figures in one table. Timings depend on the machine and on its load.

Usage::

    python -m benchmarks.overheads --budget quick --json benchmarks/results/overheads.json
    python -m benchmarks.overheads --smoke --json /tmp/overheads.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmarks import _common  # noqa: F401  (sets the environment first)
from benchmarks._common import ROOT, SCRIPT, load_script, log, machine, md_table, publish

ARGS: dict[str, dict[str, list[str]]] = {
    "smoke": {
        "bandits": ["--smoke"],
        "bayesopt": ["<in-process>"],  # timing() only: the script's GP runs take too long
        "engine": ["--smoke", "--threads", "1"],
    },
    "quick": {
        "bandits": [],
        "bayesopt": ["--seeds", "3", "--trials", "20"],
        "engine": ["--threads", "1"],
    },
    "full": {
        "bandits": [],
        "bayesopt": [],
        "engine": ["--threads", "1"],
    },
}


def run_benchmark(name: str, args: list[str], *, timeout: float) -> dict[str, Any]:
    """Run ``benchmarks/<name>.py args --json tmp``; its figures, seconds and command.

    ``args == ["<in-process>"]`` (smoke, bayesopt only) calls the script's ``timing`` function
    for 8 ask + tell trials instead, without the regret runs.
    """
    if args == ["<in-process>"]:
        start = time.perf_counter()
        figures = {"timing": load_script(name).timing(8, 1), "surfaces": {}}
        return {
            "command": f"benchmarks.{SCRIPT.get(name, name)}: timing(8 trials, 1 seed)",
            "seconds": time.perf_counter() - start,
            "figures": figures,
        }
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{name}.json"
        module = f"benchmarks.{SCRIPT.get(name, name)}"
        command = [sys.executable, "-m", module, *args, "--json", str(out)]
        start = time.perf_counter()
        proc = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
        )
        seconds = time.perf_counter() - start
        shown = f"python -m {module} {' '.join(args)}".strip()
        if proc.returncode != 0 or not out.exists():
            tail = (proc.stderr or proc.stdout)[-2000:]
            raise RuntimeError(f"{shown} failed (exit {proc.returncode}):\n{tail}")
        return {"command": shown, "seconds": seconds, "figures": json.loads(out.read_text())}


def summarise(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The headline figures of the three benchmarks."""
    out: dict[str, Any] = {}
    bandits = raw["bandits"]["figures"]
    per_policy: dict[str, dict[str, float]] = {}
    for row in bandits["timing"]:
        per_policy.setdefault(row["policy"], {})[str(row["n_arms"])] = row["us_per_step"]
    out["bandit_us_per_select_update"] = per_policy
    bo = raw["bayesopt"]["figures"]
    out["optimizer_ask_tell"] = dict(bo["timing"])
    regret = {}
    for surface, entry in bo["surfaces"].items():
        methods = entry["methods"]
        regret[surface] = {
            m: statistics.median(v["final_regret_per_seed"]) for m, v in methods.items()
        }
    out["optimizer_final_median_regret"] = regret
    engine = raw["engine"]["figures"]
    out["engine_environment"] = engine["environment"]
    out["trainer_throughput"] = engine["throughput"]
    out["gating"] = engine["gating"]
    out["evaluation"] = engine["evaluation"]
    out["tracking"] = engine["tracking"]
    return out


def _f(x: Any, spec: str) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return format(x, spec)


def markdown(data: Mapping[str, Any]) -> str:
    s = data["summary"]
    env = s["engine_environment"]
    parts = [
        "**Overheads** (gathered from `benchmarks/bench_bandits.py`, "
        f"`benchmarks/bench_bayesopt.py`, `benchmarks/engine.py`; engine: tiny BERT, batch "
        f"{env['batch_size']} x "
        f"{env['max_length']} tokens, {env['threads']} torch thread(s), {env['device']}):"
    ]
    tp = s["trainer_throughput"]
    g = s["gating"]
    tr = s["tracking"]
    ask = s["optimizer_ask_tell"]
    bandit = s["bandit_us_per_select_update"]
    thompson = bandit.get("thompson decay=0.3") or next(iter(bandit.values()))
    tracking = tr.get("buffered") or next(iter(tr.values()))
    rows = [
        ["bandit select + update (Thompson, decay 0.3; 10 / 100 / 1000 arms)",
         " / ".join(f"{thompson.get(k, math.nan):.1f}" for k in ("10", "100", "1000"))
         + " µs"],
        ["GP optimiser ask + tell per trial (mean; last 10 of "
         f"{ask['trials']})",
         f"{_f(ask['mean_s_per_trial'], '.3f')} s; {_f(ask['mean_s_per_trial_last10'], '.3f')} s"],
        ["trainer throughput / plain PyTorch loop, both with fused AdamW",
         f"{_f(tp.get('trainer_examples_per_s'), '.0f')} / "
         f"{_f(tp.get('hand_loop_fused_examples_per_s'), '.0f')} examples/s = "
         f"{_f(tp.get('ratio_same_optimizer'), '.2f')}"],
        ["trainer (fused AdamW) / plain loop with PyTorch's default AdamW",
         f"{_f(tp.get('ratio'), '.2f')}"],
        ["gated aux step (weighted, g_m refreshed every step) / ungated",
         f"{_f(g['relative_to_ungated'].get('weighted_refresh_1'), '.2f')}x "
         f"({_f(g['seconds_per_step'].get('ungated', math.nan) * 1000, '.1f')} ms ungated)"],
        ["gated aux step, g_m refreshed every 5 steps / ungated",
         f"{_f(g['relative_to_ungated'].get('weighted_refresh_5'), '.2f')}x"],
        ["main dev evaluation (4 batches of 64)",
         f"{_f(s['evaluation']['seconds'] * 1000, '.1f')} ms"],
        ["MLflow logging per stage-1 pull (SQLite, local)",
         f"{_f(tracking['seconds_per_pull'] * 1000, '.1f')} ms = "
         f"{_f(tracking['fraction_of_pull'] * 100, '.1f')}% of the pull"],
    ]  # fmt: skip
    if "unbuffered" in tr and "buffered" in tr:
        u = tr["unbuffered"]
        rows.append(
            ["MLflow logging per pull, one call per metric batch (unbuffered)",
             f"{_f(u['seconds_per_pull'] * 1000, '.1f')} ms = "
             f"{_f(u['fraction_of_pull'] * 100, '.1f')}% of the pull"]
        )  # fmt: skip
    parts.append(md_table(["what", "figure"], rows))
    reg = s["optimizer_final_median_regret"]
    if not reg:
        return "\n\n".join(parts) + "\n"
    methods = list(next(iter(reg.values())))
    parts.append(
        "Stage-2 search on synthetic ratio surfaces (median simple regret after "
        f"{data['raw']['bayesopt']['figures']['trials']} trials, "
        f"{data['raw']['bayesopt']['figures']['seeds']} seeds; lower is better):"
    )
    parts.append(
        md_table(
            ["surface", *methods],
            [[surf, *(f"{v[m]:.4f}" for m in methods)] for surf, v in reg.items()],
        )
    )
    return "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--budget", choices=tuple(ARGS), default="quick")
    parser.add_argument("--smoke", action="store_const", const="smoke", dest="budget")
    parser.add_argument("--quick", action="store_const", const="quick", dest="budget")
    parser.add_argument("--full", action="store_const", const="full", dest="budget")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--markdown", type=Path, default=None)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per benchmark")
    args = parser.parse_args(argv)
    raw: dict[str, Any] = {}
    start = time.perf_counter()
    for name, extra in ARGS[args.budget].items():
        log(f"overheads: running benchmarks.{SCRIPT.get(name, name)} {' '.join(extra)}")
        raw[name] = run_benchmark(name, extra, timeout=args.timeout)
    data: dict[str, Any] = {
        "benchmark": "overheads",
        "budget": args.budget,
        "machine": machine(),
        "command": "python -m benchmarks.overheads " + " ".join(argv or []),
        "raw": raw,
        "summary": summarise(raw),
        "seconds": time.perf_counter() - start,
    }
    publish(data, markdown(data), json_path=args.json, markdown_path=args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
