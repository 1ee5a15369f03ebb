"""The real-suite benchmark's definition: main task, candidates, control, methods and budgets.

Used by :mod:`benchmarks.real`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAIN = "rt-sentiment"
CANDIDATES = ("rt-subjectivity", "tweet-sentiment", "bbc-topic", "political-party")
CONTROL = "shuffled:tweet-sentiment"


@dataclass(frozen=True)
class Budget:
    name: str
    seeds: tuple[int, ...]
    main_train: int
    aux_train: int
    max_length: int
    pulls: int
    steps_per_pull: int
    eval_batches: int
    trials: int
    initial_points: int
    steps: int
    eval_every: int
    exhaustive: bool
    random_search: bool
    candidates: tuple[str, ...] = CANDIDATES
    sweep: tuple[str, ...] = ()


# Stage-1 variants tried on the real suite (selection only; each selection is scored by looking
# it up among the exhaustive subsets of the same seed, which were trained identically).
SWEEP: dict[str, dict[str, Any]] = {
    "autoaux (default)": {},
    "eval_batches=20 (whole dev)": {"eval_batches": 20},
    "reward=scaled": {"reward": "scaled"},
    "reward=scaled, eval_batches=20": {"reward": "scaled", "eval_batches": 20},
    "autosem preset": {"preset": "autosem"},
    "selection=default": {"selection": "default"},
    "reward=cosine": {"reward": "cosine"},
    "reward=cosine, selection=default": {"reward": "cosine", "selection": "default"},
}


BUDGETS: dict[str, Budget] = {
    # smoke: two candidates (4 subsets) so that it takes seconds, not minutes
    "smoke": Budget("smoke", (0,), 60, 120, 32, 6, 2, 1, 2, 1, 12, 6, True, True, CANDIDATES[:2]),
    "quick": Budget(
        "quick",
        (0, 1, 2),
        300,
        2000,
        64,
        120,
        10,
        4,
        6,
        3,
        300,
        50,
        True,
        True,
        CANDIDATES,
        tuple(SWEEP),
    ),
    "full": Budget(
        "full",
        (0, 1, 2),
        300,
        4000,
        64,
        150,
        10,
        4,
        8,
        3,
        400,
        50,
        True,
        True,
        CANDIDATES,
        tuple(SWEEP),
    ),
}

METHODS = (
    "main-only",
    "uniform",
    "temperature",
    "stage1-only",
    "autoaux",
    "random-search",
    "exhaustive-oracle",
)
