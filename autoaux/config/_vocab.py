"""The words a configuration accepts: one tuple per choice-valued setting, and the task-name
prefixes. Imported by the section modules (and re-exported from :mod:`autoaux.config.run` and
:mod:`autoaux.config`)."""

from __future__ import annotations

__all__ = [
    "ACQUISITIONS",
    "BASELINES",
    "BUDGETS",
    "CACHED_PREFIX",
    "ENCODERS",
    "EVIDENCE",
    "EXECUTORS",
    "GATINGS",
    "KINDS",
    "METRICS",
    "POLICIES",
    "REWARDS",
    "SCREEN_WHEN",
    "SEARCHES",
    "SELECTIONS",
    "SHUFFLED_PREFIX",
    "UTILITIES",
]

EVIDENCE = ("episodes", "pulls")
POLICIES = (
    "racing",
    "thompson",
    "discounted-ucb",
    "sliding-window-ucb",
    "exp3",
    "epsilon-greedy",
    "uniform",
)
GATINGS = ("off", "unweighted", "weighted", "smoothed")
REWARDS = ("gain", "scaled", "cosine", "mixed")
UTILITIES = ("posterior", "mean")
SELECTIONS = ("auto", "default", "top-k", "threshold", "control")
ACQUISITIONS = ("gp_hedge", "EI", "PI", "LCB")
SEARCHES = ("gp", "random")
BUDGETS = ("main", "total")
SCREEN_WHEN = ("auto", "always", "never")
EXECUTORS = ("local", "ray")
BASELINES = ("main-only", "uniform", "proportional", "temperature", "stage1-only")
ENCODERS = ("tiny", "minilm", "minilm-cached")
CACHED_PREFIX = "cached:"
KINDS = ("classification", "regression")
METRICS = ("accuracy", "macro_f1", "matthews", "pearson", "spearman")
SHUFFLED_PREFIX = "shuffled:"
