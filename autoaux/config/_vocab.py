"""The words a configuration accepts: one tuple per choice-valued setting, and the task-name
prefixes. Imported by the section modules (and re-exported from :mod:`autoaux.config.run` and
:mod:`autoaux.config`).

Each vocabulary has one home. Those owned by a library are imported from it (the acquisitions
from ``bayesopt``, the policies from ``bandits``' registry, the task kinds, metrics and the
``shuffled:`` prefix from ``tasks``); the others live here and the code that implements them
imports them from here (the gating modes, the executors). ``ENCODERS`` and ``CACHED_PREFIX``
also exist in :mod:`autoaux.model`, which sits beside ``config`` in the layers and may not
import it; a test keeps the two equal, as it keeps ``BASELINES`` equal to the baseline
functions of :mod:`autoaux.stages.baselines`."""

from __future__ import annotations

from bandits import POLICIES as _BANDIT_POLICIES
from bayesopt import ACQUISITIONS
from tasks import KINDS, METRICS, SHUFFLED_PREFIX

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
#: the race first (the default preset's policy), then the in-run bandits in registry order
POLICIES = ("racing", *(name for name in _BANDIT_POLICIES if name != "racing"))
GATINGS = ("off", "unweighted", "weighted", "smoothed")
REWARDS = ("gain", "scaled", "cosine", "mixed")
UTILITIES = ("posterior", "mean")
SELECTIONS = ("auto", "default", "top-k", "threshold", "control")
SEARCHES = ("gp", "random")
BUDGETS = ("main", "total")
SCREEN_WHEN = ("auto", "always", "never")
EXECUTORS = ("local", "ray")
BASELINES = ("main-only", "uniform", "proportional", "temperature", "stage1-only")
ENCODERS = ("tiny", "minilm", "minilm-cached")
CACHED_PREFIX = "cached:"
