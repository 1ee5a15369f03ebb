"""Planted-suite benchmark: does autoaux pick the tasks that are helpful by construction?

The pool comes from :func:`tasks.make_planted_suite`: a low-resource main task (label 1 iff the
sentence holds more "positive" than "negative" cue words; 100 training examples), helpful tasks
(the same rule, more data), neutral ones (an unrelated rule on other words) and harmful ones
(shuffled labels; a rule that competes for the same cue words). autoaux adds a ``shuffled:``
null control arm (``auxiliary.add_control = true``). Everything runs through the public API
(:func:`autoaux.run`, :func:`autoaux.select`, :func:`autoaux.mix`) with tracking disabled
(:class:`autoaux.NullTracker`), the ``"tiny"`` encoder, on the CPU with one torch thread.

Sections (``--sections``, default all):

* ``main``: over seeds, stage-1 precision / recall of the planted helpful set, and the main test
  accuracy of main-only, uniform over all candidates, the oracle subset (the planted helpful set,
  ratio 1), stage 1 only (the selection, ratio 1) and full autoaux (stage 1 + GP stage 2); plus
  two checks of the planting (the neutral set alone, the harmful set alone). Cost in training
  steps and seconds, against exhaustive subset search (``2^n`` subsets x the steps of one run).
* ``scale``: 10, 50 and 100 candidates (quality and wall time; 50 and 100 with a reduced budget,
  stated in the output).
* ``sweep``: stage-1 settings over the same seeds and suites as ``main``: the ``"autosem"``
  preset, the default ``"autoaux"`` preset, and one-setting variants of it (reward, utility,
  gating, selection); precision / recall and the stage-1-only main test accuracy.
* ``gating``: does per-batch gradient gating throw away good updates? On the real trainer, the
  main task mixed 1:1 with one helpful task (4,000 examples), trained under each gating mode;
  main test accuracy, fraction of the helpful task's updates let through and its mean gradient
  cosine.

Comparisons are paired: per seed, every method trains from the same initial weights on the same
tokenizer (the same pool is loaded for every method; a method's unused tasks get ratio 0) with
the same stage-2 seed, so they differ only by their mixture.

Usage::

    python -m benchmarks.planted --budget quick            # ~15 min on 2 loaded cores
    python -m benchmarks.planted --budget full --json benchmarks/results/planted.json
    python -m benchmarks.planted --smoke --json /tmp/planted.json   # seconds; CI-size
"""

from __future__ import annotations

from benchmarks import _common  # noqa: F401  (sets the environment first)

from ._cli import main
from ._gating import section_facts, section_gating
from ._report import markdown
from ._rules import section_rules
from ._running import (
    aggregate,
    run_seed,
    score_subset,
    section_main,
    section_scale,
    selection_summary,
)
from ._suites import (
    ALL_VARIANTS,
    BASELINES,
    BUDGETS,
    CATEGORIES,
    DEFAULT_VARIANT,
    METHODS,
    STAGE1_OVERRIDES,
    VARIANTS,
    Budget,
    category,
    composition,
    make_config,
    make_suite,
    parse_overrides,
    resolved,
)
from ._sweep import section_sweep

__all__ = [
    "ALL_VARIANTS",
    "BASELINES",
    "BUDGETS",
    "CATEGORIES",
    "DEFAULT_VARIANT",
    "METHODS",
    "STAGE1_OVERRIDES",
    "VARIANTS",
    "Budget",
    "aggregate",
    "category",
    "composition",
    "main",
    "make_config",
    "make_suite",
    "markdown",
    "parse_overrides",
    "resolved",
    "run_seed",
    "score_subset",
    "section_facts",
    "section_gating",
    "section_main",
    "section_rules",
    "section_scale",
    "section_sweep",
    "selection_summary",
]
