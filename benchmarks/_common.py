"""Shared helpers of the autoaux benchmark scripts (planted/, real.py, overheads.py, run_all.py).

- :func:`setup` fixes the process for benchmarking: ``torch.set_num_threads(threads)`` (1 by
  default: the machines are shared, and one thread per process makes timings comparable),
  MLflow telemetry off, tokenizers' own threads off. Every figure these scripts write names the
  thread count it ran with.
- :func:`machine` describes where the figures come from (``nproc``, the CPU model from
  ``/proc/cpuinfo``, torch threads, the load average at the start).
- :func:`summary` gives the mean, the sample standard deviation and a 95% confidence interval
  (Student t) of per-seed values; ``nan`` values are left out and counted.
- :func:`write_json` writes JSON with ``nan``/``inf`` as ``null`` (strict JSON).
- :func:`md_table` renders a markdown table.
- :func:`seeds_of` reads a ``--seeds`` argument: a range ``"0-2"``, a list ``"0,3"`` or both.
- :func:`screen_summary` is the JSON record of an affinity screen that the benchmarks keep.

The scripts run as modules from the repository root (``python -m benchmarks.planted``); the
package benchmarks are ``bench_bandits``, ``bench_bayesopt`` and ``bench_tasks``, so that no
script is named like the package it measures. :data:`SCRIPT` maps a benchmark's name to its
module.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"

# benchmark name -> module under benchmarks/
SCRIPT = {"bandits": "bench_bandits", "bayesopt": "bench_bayesopt", "tasks": "bench_tasks"}

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Budgets named on every script's command line.
BUDGETS = ("smoke", "quick", "full")

# t quantiles (two-sided 95%) for small samples; normal beyond.
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
        9: 2.262, 10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}  # fmt: skip


def setup(threads: int = 1) -> dict[str, Any]:
    """Set torch's intra-op threads (and quiet the libraries); return :func:`machine`."""
    import logging
    import warnings

    import torch

    torch.set_num_threads(threads)
    logging.getLogger("autoaux").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    return machine()


def machine() -> dict[str, Any]:
    """``nproc``, CPU model, torch threads and versions, load average, date."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        info["load_average"] = None
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.is_available()
    except ImportError:  # overheads gathers figures from subprocesses only
        pass
    return info


def t95(n: int) -> float:
    """Two-sided 95% Student-t quantile with ``n`` degrees of freedom."""
    if n <= 0:
        return math.nan
    keys = sorted(_T95)
    for k in keys:
        if n <= k:
            return _T95[k]
    return 1.96


def summary(values: Iterable[float | None]) -> dict[str, Any]:
    """Mean, sample sd, 95% CI half-width, min, max, n (finite values) and n_missing."""
    raw = list(values)
    finite = [float(v) for v in raw if v is not None and math.isfinite(float(v))]
    missing = len(raw) - len(finite)
    n = len(finite)
    out: dict[str, Any] = {"n": n, "n_missing": missing}
    if n == 0:
        out.update(mean=math.nan, sd=math.nan, ci95=math.nan, min=math.nan, max=math.nan)
        return out
    mean = statistics.fmean(finite)
    sd = statistics.stdev(finite) if n > 1 else math.nan
    out.update(
        mean=mean,
        sd=sd,
        ci95=t95(n - 1) * sd / math.sqrt(n) if n > 1 else math.nan,
        min=min(finite),
        max=max(finite),
    )
    return out


def paired(a: Sequence[float | None], b: Sequence[float | None]) -> dict[str, Any]:
    """Summary of the per-seed differences ``a - b`` (seeds where both are finite), with the
    number of seeds where ``a`` wins, ties and loses."""
    diffs = [
        float(x) - float(y)
        for x, y in zip(a, b, strict=True)
        if x is not None and y is not None and math.isfinite(x) and math.isfinite(y)
    ]
    out = summary(diffs)
    out["wins"] = sum(d > 1e-12 for d in diffs)
    out["ties"] = sum(abs(d) <= 1e-12 for d in diffs)
    out["losses"] = sum(d < -1e-12 for d in diffs)
    return out


def fmt(stats: Mapping[str, Any], digits: int = 3, *, ci: bool = False) -> str:
    """``mean ± sd`` (or ``± ci95``) of a :func:`summary`, ``n/a`` when empty."""
    mean = stats.get("mean", math.nan)
    if mean is None or not math.isfinite(mean):
        return "n/a"
    spread = stats.get("ci95" if ci else "sd")
    if spread is None or not math.isfinite(spread):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {spread:.{digits}f}"


def clean(value: Any) -> Any:
    """JSON-safe copy: non-finite floats become ``None``, tuples/sets lists, keys strings."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value) if isinstance(value, set | frozenset) else value
        return [clean(v) for v in items]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return clean(value.item())
    return value


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(clean(data), indent=2, allow_nan=False) + "\n")
    return path


def publish(
    data: Mapping[str, Any], text: str, *, json_path: Path | None, markdown_path: Path | None
) -> None:
    """Print a benchmark's markdown and write its JSON and markdown files when asked."""
    print(text)
    if json_path:
        write_json(json_path, data)
    if markdown_path:
        markdown_path.parent.mkdir(parents=True, exist_ok=True)
        markdown_path.write_text(text)


class Workspace:
    """Temporary output folders for the API calls (plots, JSON), removed at the end."""

    def __init__(self, prefix: str = "autoaux-bench-") -> None:
        self.root = Path(tempfile.mkdtemp(prefix=prefix))
        self.count = 0

    def folder(self) -> str:
        self.count += 1
        return str(self.root / f"call-{self.count}")

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def md_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(map(str, header)) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(lines)


def method_summaries(
    runs: Sequence[Mapping[str, Any]], methods: Iterable[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per method of a suite's runs (each run's ``scores[method]`` has ``test``, ``steps`` and
    ``seconds``): the summaries and per-seed test scores, and autoaux minus each other method,
    paired by seed."""
    auto = [r["scores"]["autoaux"]["test"] for r in runs]
    figures: dict[str, Any] = {}
    versus: dict[str, Any] = {}
    for m in methods:
        tests = [r["scores"][m]["test"] for r in runs]
        figures[m] = {
            "test": summary(tests),
            "per_seed": tests,
            "steps": summary([r["scores"][m]["steps"] for r in runs]),
            "seconds": summary([r["scores"][m]["seconds"] for r in runs]),
        }
        if m != "autoaux":
            versus[m] = paired(auto, tests)
    return figures, versus


def method_table(summary: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    """Markdown: one row per method of ``labels`` (key -> row label) found in
    ``summary["methods"]``: main test accuracy, autoaux minus the method paired by seed
    (wins/ties/losses), mean training steps and seconds."""
    rows = []
    for method, label in labels.items():
        if method not in summary["methods"]:
            continue
        figures = summary["methods"][method]
        vs = summary["paired_vs_autoaux"].get(method)
        vs_txt = f"{fmt(vs)} ({vs['wins']}/{vs['ties']}/{vs['losses']})" if vs else "—"
        rows.append(
            [label, fmt(figures["test"]), vs_txt, f"{figures['steps']['mean']:.0f}",
             f"{figures['seconds']['mean']:.0f}"]
        )  # fmt: skip
    header = ["method", "main test accuracy", "autoaux − method (W/T/L)", "steps", "seconds"]
    return md_table(header, rows)


def log(message: str) -> None:
    """Progress line on stderr (timestamped)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def precision_recall(selected: Iterable[str], relevant: Iterable[str]) -> tuple[float, float]:
    """Precision and recall of ``selected`` against ``relevant``; precision is ``nan`` for an
    empty selection (no claim made), recall ``nan`` for an empty relevant set."""
    sel, rel = set(selected), set(relevant)
    hit = len(sel & rel)
    precision = hit / len(sel) if sel else math.nan
    recall = hit / len(rel) if rel else math.nan
    return precision, recall


def f1(precision: float, recall: float) -> float:
    """F1; an empty selection (``precision`` nan) scores 0."""
    if math.isnan(recall):
        return math.nan
    if math.isnan(precision) or precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def seeds_of(text: str) -> list[int]:
    """``"0-2"`` -> [0, 1, 2]; ``"0,3"`` -> [0, 3]; ``"0-2,5"`` -> [0, 1, 2, 5]."""
    out: list[int] = []
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-")
            out.extend(range(int(a), int(b) + 1))
        elif part.strip():
            out.append(int(part))
    return out


def screen_summary(
    screen: Any, *, seconds: float, intervals: Sequence[str] | None = None
) -> dict[str, Any]:
    """What a benchmark records of an affinity screen (a ``ScreenResult``): the affinity row,
    the decisions, the shortlist, the steps and ``seconds``; with ``intervals`` (candidate
    names) also each one's interval bounds, as ``low`` and ``high``."""
    out: dict[str, Any] = {"affinity": screen.row()}
    if intervals is not None:
        out["low"] = {c: screen.interval(c)[0] for c in intervals}
        out["high"] = {c: screen.interval(c)[1] for c in intervals}
    out["decisions"] = screen.decisions
    out["shortlist"] = list(screen.shortlist)
    out["steps"] = screen.steps
    out["seconds"] = seconds
    return out


def load_script(name: str) -> Any:
    """Import the benchmark ``name`` (``benchmarks/<module>.py``, see :data:`SCRIPT`)."""
    import importlib

    return importlib.import_module(f"benchmarks.{SCRIPT.get(name, name)}")
