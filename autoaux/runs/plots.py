"""The two result plots, drawn with matplotlib's Agg canvas (no display, no global backend).

- :func:`plot_utilities`: every stage-1 arm's utility after each pull; the main task dotted,
  control arms dashed, selected tasks drawn thick. A race (``evidence = "episodes"``) draws
  each task's effect estimate over the episodes, and beside it each task's final effect with
  its confidence interval, coloured by verdict.
- :func:`plot_trials`: each stage-2 trial's best main dev score (failed trials as red crosses
  on the lower edge) and the best score so far.
- :func:`plot_affinity`: the affinity screen's heatmap, target tasks (rows) by trained tasks
  (columns), in percent of the control's dev loss; the control column and the screen's
  decisions marked.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autoaux.runs._files import atomic_write
from autoaux.runs.affinity import AffinityResult
from autoaux.runs.result import MixResult, SelectionResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "AFFINITY_PLOT",
    "STAGE1_PLOT",
    "STAGE2_PLOT",
    "plot_affinity",
    "plot_trials",
    "plot_utilities",
]

STAGE1_PLOT = "stage1_utilities.png"
STAGE2_PLOT = "stage2_trials.png"
AFFINITY_PLOT = "affinity.png"


def _save(figure: Figure, path: Path) -> None:
    """Save ``figure`` as PNG at ``path``: a temporary file renamed over it, never through a
    symbolic link (see :mod:`autoaux.runs._files`)."""
    atomic_write(path, lambda handle: figure.savefig(handle, format="png"))


def _figure(width: float = 7.0, height: float = 4.0) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def plot_utilities(selection: SelectionResult, path: str | Path) -> Path:
    """Draw stage-1 utilities over pulls (and, for a race, the verdicts) to ``path`` (PNG);
    return the path."""
    path = Path(path)
    racing = bool(selection.verdicts)
    figure = _figure(width=11.0 if racing else 7.0)
    ax = figure.add_subplot(1, 2 if racing else 1, 1)
    pulls = [record.pull for record in selection.history]
    for i, arm in enumerate(selection.arms):
        values = [record.utilities[i] for record in selection.history]
        style = ":" if arm == selection.main_task else "--" if arm in selection.controls else "-"
        width = 2.5 if arm in selection.selected else 1.2
        label = arm + (" (selected)" if arm in selection.selected else "")
        label += " (main)" if arm == selection.main_task else ""
        label += " (control)" if arm in selection.controls else ""
        ax.plot(pulls, [math.nan if v is None else v for v in values], style, lw=width, label=label)
    ax.set_xlabel("episode" if racing else "pull")
    ax.set_ylabel("effect vs main alone (main dev metric)" if racing else "utility")
    ax.set_title(f"stage 1: task utilities for main task {selection.main_task}")
    ax.grid(alpha=0.3)
    if selection.arms:
        ax.legend(fontsize="small", loc="best")
    if racing:
        _plot_verdicts(figure.add_subplot(1, 2, 2), selection)
    figure.tight_layout()
    _save(figure, path)
    return path


_VERDICT_COLOURS = {
    "helps": "tab:green",
    "hurts": "tab:red",
    "negligible": "tab:olive",
    "undecided": "tab:gray",
}


def _plot_verdicts(ax: Any, selection: SelectionResult) -> None:
    """Each raced task's effect against the main task alone with its confidence interval
    (infinite ends drawn to the edge of the other intervals), coloured by verdict, and its
    effect against the null control as a hollow diamond; main alone's zero as a line."""
    names = list(selection.verdicts)
    finite = [
        x
        for v in selection.verdicts.values()
        for x in (v.low, v.high, v.effect, v.vs_control)
        if math.isfinite(x)
    ]
    span = (max(finite) - min(finite)) if finite else 1.0
    span = span or max(abs(finite[0]), 0.01) if finite else span
    left = (min(finite) if finite else -0.5) - 0.1 * span
    right = (max(finite) if finite else 0.5) + 0.1 * span
    for y, name in enumerate(names):
        v = selection.verdicts[name]
        low = v.low if math.isfinite(v.low) else left
        high = v.high if math.isfinite(v.high) else right
        colour = _VERDICT_COLOURS.get(v.verdict, "black")
        ax.plot([low, high], [y, y], "-", color=colour, lw=2.5)
        if math.isfinite(v.effect):
            ax.plot([v.effect], [y], "o", color=colour)
        if math.isfinite(v.vs_control):
            ax.plot([v.vs_control], [y], "D", mfc="none", color=colour, ms=6)
    ax.axvline(0.0, color="black", lw=1, ls="--")
    ax.set_yticks(range(len(names)))
    labels = [
        f"{n} ({selection.verdicts[n].verdict}"
        + (", control" if n in selection.controls else "")
        + ")"
        for n in names
    ]
    ax.set_yticklabels(labels, fontsize="small")
    ax.set_xlim(left, right)
    ax.set_xlabel("effect vs main alone (dot); vs the control (diamond)")
    ax.set_title("verdicts")
    ax.grid(alpha=0.3, axis="x")


def plot_trials(mix: MixResult, path: str | Path) -> Path:
    """Draw stage-2 trial scores, the best score so far and, as a dashed reference line, the
    main task alone's dev score to ``path`` (PNG); return it."""
    path = Path(path)
    figure = _figure()
    ax = figure.add_subplot(1, 1, 1)
    numbers = [t.number for t in mix.trials]
    scores = [t.score if t.score is not None else math.nan for t in mix.trials]
    best: list[float] = []
    running = math.nan
    for score in scores:
        if not math.isnan(score) and (math.isnan(running) or score > running):
            running = score
        best.append(running)
    ax.plot(numbers, scores, "o", label="trial score (best main dev)")
    ax.plot(numbers, best, "-", lw=2, label="best so far")
    if math.isfinite(mix.main_only_dev):
        ax.axhline(
            mix.main_only_dev, color="grey", ls="--", lw=1, label="main task alone (trial 0)"
        )
    finite = [s for s in scores if not math.isnan(s)]
    failed = [t.number for t in mix.trials if t.score is None]
    if failed:
        low = min(finite) if finite else 0.0
        ax.plot(failed, [low] * len(failed), "x", color="red", ms=9, label="failed")
    ax.set_xlabel("trial")
    ax.set_ylabel("main dev score")
    tasks = ", ".join(mix.tasks) or "main task only"
    title = f"stage 2: mixing ratios of {tasks}"
    if mix.main_alone and mix.tasks:
        title += "\n(no mixture beat the main task alone on dev)"
    ax.set_title(title, fontsize="medium")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    if numbers:
        ax.set_xticks(numbers if len(numbers) <= 20 else numbers[:: max(1, len(numbers) // 10)])
    figure.tight_layout()
    _save(figure, path)
    return path


_DECISION_MARKS = {
    "shortlisted": "",
    "dropped": " (dropped)",
    "cut": " (cut)",
    "failed": " (failed)",
}


def plot_affinity(result: AffinityResult, path: str | Path) -> Path:
    """Draw the affinity heatmap to ``path`` (PNG); return the path.

    Cell ``(i, j)``: how much training ``arms[j]`` alongside ``targets[i]`` lowered
    ``targets[i]``'s dev loss against the control, in percent (green helps, red hurts, the
    colour scale symmetric about 0); ``*`` marks a cell whose interval excludes 0. Column
    labels carry the main task's screen decision; the control's column is labelled.
    """
    import numpy as np

    path = Path(path)
    values = 100.0 * np.asarray(result.affinity, dtype=float)
    low = np.asarray(result.low, dtype=float)
    high = np.asarray(result.high, dtype=float)
    n_rows, n_cols = values.shape
    finite = values[np.isfinite(values)]
    bound = float(np.max(np.abs(finite))) if finite.size and np.max(np.abs(finite)) > 0 else 1.0
    figure = _figure(width=min(4.0 + 0.55 * n_cols, 40.0), height=min(2.6 + 0.45 * n_rows, 40.0))
    ax = figure.add_subplot(1, 1, 1)
    image = ax.imshow(
        np.ma.masked_invalid(values), cmap="RdYlGn", vmin=-bound, vmax=bound, aspect="auto"
    )
    if n_rows * n_cols <= 400:
        for i in range(n_rows):
            for j in range(n_cols):
                if math.isfinite(values[i, j]) and result.arms[j] != result.control:
                    sure = low[i, j] > 0 or high[i, j] < 0
                    text = f"{values[i, j]:.1f}" + ("*" if sure else "")
                    ax.text(j, i, text, ha="center", va="center", fontsize="x-small")
    labels = []
    for arm in result.arms:
        mark = " (control)" if arm == result.control else _DECISION_MARKS.get(
            result.decisions.get(arm, ""), ""
        )
        labels.append(arm + mark)
    ax.set_xticks(range(n_cols))
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize="small")
    ax.set_yticks(range(n_rows))
    ax.set_yticklabels(
        [t + (" (main)" if t == result.main_task else "") for t in result.targets],
        fontsize="small",
    )
    ax.set_xlabel("task trained alongside (probe)")
    ax.set_ylabel("task whose dev loss is measured")
    ax.set_title(
        f"affinity: % drop of dev loss vs the control ({result.rounds} rounds x "
        f"{result.probe_steps} steps; * interval excludes 0)",
        fontsize="medium",
    )
    figure.colorbar(image, ax=ax, label="% of the control's dev loss")
    figure.tight_layout()
    _save(figure, path)
    return path
