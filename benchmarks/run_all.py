"""Run every autoaux benchmark and write ``results/*.json`` and ``results/RESULTS.md``.

One command::

    python -m benchmarks.run_all --quick     # about 30 minutes on 2 loaded CPU cores
    python -m benchmarks.run_all --full      # about an hour; the README's table
    python -m benchmarks.run_all --smoke     # CI-size check of the whole chain (a minute)

runs, each in its own process (one torch thread each):

* ``benchmarks/planted/``: the planted suite (selection precision / recall, main test accuracy
  of every method, cost against exhaustive search, scale, stage-1 settings sweep, gating);
* ``benchmarks/real.py``: rt-sentiment with the built-in pool (every method, the exhaustive
  oracle over 16 subsets, random ratio search);
* ``benchmarks/overheads.py``: the figures of the package benchmarks (bandits, bayesopt, engine);

then renders ``RESULTS.md``: the machine and command, a headline table ready for the README's
"Results" section, the paired comparisons (stated plainly where autoaux does not win), and the
detailed tables of each benchmark. ``--render-only`` rebuilds ``RESULTS.md`` from the JSON files.

Output goes to ``benchmarks/results/`` (``--out`` to change it); ``--smoke`` writes to a temporary
folder unless ``--out`` is given, so that it never replaces real results.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks import _common
from benchmarks._common import RESULTS, ROOT, SCRIPT, fmt, load_script, log, machine, md_table

SCRIPTS = ("planted", "real", "overheads")
EXTRA_ARGS: dict[str, dict[str, list[str]]] = {
    # The smoke run must work offline and in seconds: the tiny encoder (the cached MiniLM mode
    # would first encode every text with MiniLM).
    "smoke": {"real": ["--encoder", "tiny"]},
    "quick": {},
    "full": {},
}


def run_script(name: str, budget: str, out: Path, extra: Sequence[str]) -> dict[str, Any]:
    module = f"benchmarks.{SCRIPT.get(name, name)}"
    command = [
        sys.executable,
        "-m",
        module,
        "--budget",
        budget,
        *extra,
        "--json",
        str(out / f"{name}.json"),
    ]
    shown = f"python -m {module} --budget {budget} {' '.join(extra)}".strip()
    log(f"run_all: {shown}")
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"run_all: {shown} failed with exit code {proc.returncode}")
    log(f"run_all: {name} done in {seconds:.0f}s")
    return {"command": shown, "seconds": seconds}


# ------------------------------------------------------------------------------ rendering


def _load(out: Path, name: str) -> dict[str, Any] | None:
    path = out / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _ci(value: Any) -> str:
    """``± x.xxx`` for a finite 95% CI half-width, else ``n/a`` (one seed)."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"± {value:.3f}"


def _stat(d: Mapping[str, Any] | None) -> dict[str, Any]:
    """A summary read back from JSON (None -> nan)."""
    if not d:
        return {"mean": math.nan, "sd": math.nan, "ci95": math.nan}
    return {k: (math.nan if v is None else v) for k, v in d.items()}


def headline(
    planted: Mapping[str, Any] | None,
    real: Mapping[str, Any] | None,
    candidates: Sequence[Mapping[str, Any]] = (),
) -> str:
    columns = [
        ("main-only", "main only"),
        ("uniform", "uniform (all candidates)"),
        ("temperature", "temperature T=2"),
        ("oracle", "planted oracle subset"),
        ("exhaustive-oracle", "exhaustive oracle (all subsets)"),
        ("stage1-only", "stage 1 only"),
        ("random-search", "stage 1 + random search"),
        ("autoaux", "autoaux"),
    ]
    rows = []
    for data in [planted, *candidates]:
        if not data or "main" not in data:
            continue
        methods = data["main"]["summary"]["methods"]
        alias = {"uniform": "uniform-all"}
        n = len(data["main"]["runs"])
        comp = data["main"]["runs"][0]["n_candidates"]
        changed = ", ".join(f"{k} {v}" for k, v in (data.get("stage1_overrides") or {}).items())
        label = f"planted, {comp} candidates ({n} seeds)"
        if changed:
            label += f", stage 1 {changed}"
        row = [label]
        for key, _ in columns:
            m = methods.get(alias.get(key, key))
            row.append(fmt(_stat(m["test"])) if m else "—")
        rows.append(row)
    if real and "summary" in real:
        methods = real["summary"]["methods"]
        n = len(real["runs"])
        row = [f"rt-sentiment, {real['encoder']} ({n} seeds)"]
        for key, _ in columns:
            m = methods.get(key)
            row.append(fmt(_stat(m["test"])) if m else "—")
        rows.append(row)
    if not rows:
        return ""
    return md_table(["main test accuracy", *(label for _, label in columns)], rows)


def findings(planted: Mapping[str, Any] | None, real: Mapping[str, Any] | None) -> str:
    """Plain statements of where autoaux wins and where it does not (paired by seed)."""
    lines = []
    suites = []
    if planted and "main" in planted:
        suites.append(("planted suite", planted["main"]["summary"]["paired_vs_autoaux"]))
    if real and "summary" in real:
        suites.append(("rt-sentiment", real["summary"]["paired_vs_autoaux"]))
    for suite, table in suites:
        for method, d in table.items():
            d = _stat(d)
            mean, ci = d["mean"], d["ci95"]
            if not math.isfinite(mean):
                continue
            record = f"{d.get('wins', 0)}/{d.get('ties', 0)}/{d.get('losses', 0)} W/T/L"
            ci_txt = f" (95% CI ± {ci:.3f})" if math.isfinite(ci) else ""
            if mean > 0 and math.isfinite(ci) and mean - ci > 0:
                verdict = "autoaux **beats**"
            elif mean > 0:
                verdict = "autoaux is ahead of, but not significantly above,"
            elif mean == 0:
                verdict = "autoaux **ties**"
            else:
                verdict = "autoaux **does not beat**"
            lines.append(
                f"- {suite}: {verdict} {method}: {mean:+.3f} main test accuracy{ci_txt}, {record}."
            )
    if real and "summary" in real:
        empty = sum(not sel for sel in real["summary"]["selections"])
        if empty:
            lines.append(
                f"- rt-sentiment: stage 1 selected no auxiliary task on {empty} of "
                f"{len(real['summary']['selections'])} seeds (nothing beat the shuffled control "
                "with the required confidence), so autoaux trained the main task alone there."
            )
    return "\n".join(lines)


def candidate_statements(
    planted: Mapping[str, Any] | None, candidates: Sequence[Mapping[str, Any]]
) -> str:
    """Candidate defaults against the current default, paired by seed (same suites)."""
    if not planted or "main" not in planted:
        return ""
    base = {r["seed"]: r for r in planted["main"]["runs"]}
    lines = []
    for data in candidates:
        runs = [r for r in data.get("main", {}).get("runs", []) if r["seed"] in base]
        if not runs:
            continue
        changed = ", ".join(f"`{k} = {v}`" for k, v in data.get("stage1_overrides", {}).items())
        for method in ("autoaux", "stage1-only"):
            d = _common.paired(
                [r["scores"][method]["test"] for r in runs],
                [base[r["seed"]]["scores"][method]["test"] for r in runs],
            )
            lines.append(
                f"- candidate default {changed}: {method} {d['mean']:+.3f} main test accuracy "
                f"against the current default (95% CI {_ci(d['ci95'])}, "
                f"{d['wins']}/{d['ties']}/{d['losses']} W/T/L over {len(runs)} seeds)."
            )
        for other in ("oracle", "main-only"):
            d = _common.paired(
                [r["scores"]["autoaux"]["test"] for r in runs],
                [r["scores"][other]["test"] for r in runs],
            )
            lines.append(
                f"- candidate default {changed}: autoaux − {other} {d['mean']:+.3f} "
                f"(95% CI {_ci(d['ci95'])}, {d['wins']}/{d['ties']}/{d['losses']} W/T/L)."
            )
        p = [r["selection"]["precision"] for r in runs]
        rec = [r["selection"]["recall"] for r in runs]
        lines.append(
            f"- candidate default {changed}: selection precision "
            f"{fmt(_common.summary(p), 2)}, recall {fmt(_common.summary(rec), 2)}."
        )
    return "\n".join(lines)


def sweep_statement(planted: Mapping[str, Any] | None) -> str:
    if not planted or "sweep" not in planted:
        return ""
    variants = planted["sweep"]["variants"]
    scored = []
    for name, v in variants.items():
        f1 = _stat(v["f1"])["mean"]
        test = _stat(v["stage1_only_test"])["mean"]
        scored.append((f1, test, name))
    scored.sort(reverse=True)
    best = scored[0]
    default = variants.get("autoaux preset (default)")
    text = (
        f"Stage-1 sweep: the best selection F1 is `{best[2]}` (F1 {best[0]:.2f}, stage-1-only "
        f"test {best[1]:.3f})"
    )
    if default and variants[best[2]].get("runs") and best[2] != "autoaux preset (default)":
        d = _common.paired(
            [r["stage1_only_test"] for r in variants[best[2]]["runs"]],
            [r["stage1_only_test"] for r in default["runs"]],
        )
        text += (
            f", {d['mean']:+.3f} stage-1-only test against the default, paired "
            f"({d['wins']}/{d['ties']}/{d['losses']} W/T/L; not significant unless the 95% CI "
            f"{_ci(d['ci95'])} excludes 0)"
        )
    if default:
        text += (
            f"; the current default preset has F1 {_stat(default['f1'])['mean']:.2f}, "
            f"stage-1-only test {_stat(default['stage1_only_test'])['mean']:.3f}"
        )
    return text + "."


def render(out: Path, *, command: str, runs: Mapping[str, Any] | None = None) -> str:
    planted = _load(out, "planted")
    # separate `python -m benchmarks.planted --sections ... --json results/planted_extra*.json` runs
    for path in sorted(out.glob("planted_extra*.json")):
        extra = json.loads(path.read_text())
        if planted is None:
            break
        for key in ("facts", "gating"):
            if key in extra and key not in planted:
                planted[key] = extra[key]
        if "rules" in extra:
            rules = planted.get("rules") or []
            planted["rules"] = [*(rules if isinstance(rules, list) else [rules]), extra["rules"]]
    candidates = [json.loads(p.read_text()) for p in sorted(out.glob("planted_candidate*.json"))]
    real = _load(out, "real")
    overheads = _load(out, "overheads")
    meta = _load(out, "run_all") or {}
    info = meta.get("machine") or (planted or real or overheads or {}).get("machine", {})
    end = meta.get("machine_end", {})
    parts = ["# autoaux benchmark results", ""]
    parts.append(f"Command: `{meta.get('command', command)}`")
    parts.append("")
    threads = (planted or real or {}).get("machine", {}).get("torch_threads", 1)
    parts.append(
        f"Machine: {info.get('nproc')} CPUs (`nproc`), {info.get('cpu_model')} "
        f"(`/proc/cpuinfo`), no GPU used; torch {info.get('torch')}, "
        f"`torch.set_num_threads({threads})` in every benchmark process; Python "
        f"{info.get('python')}. Date: {info.get('date')}. Load average at the start "
        f"{info.get('load_average')}, at the end {end.get('load_average')}: the machine was "
        "shared with other work, so the seconds below are upper bounds (steps are exact)."
    )
    extra_commands = [
        d["command"]
        for d in (*(json.loads(p.read_text()) for p in sorted(out.glob("planted_extra*.json"))),
                  *candidates)
        if d.get("command")
    ] + list((real or {}).get("extra_commands", []))  # fmt: skip
    if extra_commands:
        parts.append("")
        parts.append(
            "Further runs merged into the tables below (same machine, after the main command): "
            + "; ".join(f"`{c}`" for c in extra_commands)
            + "."
        )
    if meta.get("scripts"):
        parts.append("")
        parts.append(
            "Wall time: "
            + ", ".join(f"{k} {v['seconds'] / 60:.1f} min" for k, v in meta["scripts"].items())
            + "."
        )
    table = headline(planted, real, candidates)
    if table:
        parts += ["", "## Headline", "", table, ""]
        text = findings(planted, real)
        if text:
            parts += ["Paired by seed (autoaux − method):", "", text, ""]
        text = candidate_statements(planted, candidates)
        if text:
            parts += [text, ""]
        sweep = sweep_statement(planted)
        if sweep:
            parts += [sweep, ""]
    if planted:
        parts += ["", "## Planted suite", "", load_script("planted").markdown(planted)]
    for data in candidates:
        changed = ", ".join(f"`{k} = {v}`" for k, v in data.get("stage1_overrides", {}).items())
        parts += [
            "",
            f"## Planted suite with a candidate default ({changed})",
            "",
            load_script("planted").markdown(data),
        ]
    if real:
        parts += ["", "## Real text: rt-sentiment", "", load_script("real").markdown(real)]
    if overheads:
        parts += ["", "## Overheads", "", load_script("overheads").markdown(overheads)]
    return "\n".join(parts).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--budget", choices=tuple(EXTRA_ARGS), default="quick")
    parser.add_argument("--smoke", action="store_const", const="smoke", dest="budget")
    parser.add_argument("--quick", action="store_const", const="quick", dest="budget")
    parser.add_argument("--full", action="store_const", const="full", dest="budget")
    parser.add_argument("--out", type=Path, default=None, help="results folder")
    parser.add_argument(
        "--only", default=",".join(SCRIPTS), help="comma-separated: planted, real, overheads"
    )
    parser.add_argument(
        "--render-only", action="store_true", help="rebuild RESULTS.md from the JSON files"
    )
    args = parser.parse_args(argv)
    argv_txt = " ".join(argv if argv is not None else sys.argv[1:])
    command = f"python -m benchmarks.run_all {argv_txt}".strip()
    out = args.out
    if out is None:
        out = Path(tempfile.mkdtemp(prefix="autoaux-smoke-")) if args.budget == "smoke" else RESULTS
    out.mkdir(parents=True, exist_ok=True)
    if not args.render_only:
        only = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = set(only) - set(SCRIPTS)
        if unknown:
            parser.error(f"unknown benchmarks {sorted(unknown)}")
        meta: dict[str, Any] = {
            "command": command,
            "budget": args.budget,
            "machine": machine(),
            "scripts": {},
        }
        start = time.perf_counter()
        for name in SCRIPTS:
            if name in only:
                extra = EXTRA_ARGS[args.budget].get(name, [])
                meta["scripts"][name] = run_script(name, args.budget, out, extra)
        meta["seconds"] = time.perf_counter() - start
        meta["machine_end"] = machine()
        _common.write_json(out / "run_all.json", meta)
    text = render(out, command=command)
    (out / "RESULTS.md").write_text(text)
    print(text)
    log(f"run_all: wrote {out / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
