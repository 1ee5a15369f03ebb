"""Reference mixtures to compare autoaux against, trained the same way as a stage-2 trial.

Every baseline is a fixed mixture (per-step task probabilities) trained by the one training path
of stage 2 (:func:`autoaux.stages.trials.train_mixture`): a fresh model from the same initial
weights, the same seed, the same training protocol (by default: the main task until its dev
score stops improving, auxiliary tasks on top; ``[protocol]``), the best checkpoint scored on
the main test split. So a baseline costs what one trial costs, and autoaux's full search costs
``stage1 + trials`` times that.

- ``main-only``: ``p = [1]``.
- ``uniform``: the main task and every auxiliary task equally often (all ratios 1).
- ``proportional``: ``p_i ∝ n_i``, the training-set sizes (main task included).
- ``temperature``: ``p_i ∝ n_i ** (1 / T)`` (``T = 1``: proportional; large ``T``: uniform).
- ``stage1-only``: the main task and the stage-1 selection, ratio 1 each.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence

from autoaux.config import ProtocolConfig
from autoaux.runs.result import BaselineScore
from autoaux.stages.trials import TrainerFactory, train_mixture
from autoaux.tracking import FAILURE_TAG, NullTracker, Tracker
from autoaux.training.mixture import Mixture

__all__ = [
    "BASELINES",
    "main_only",
    "proportional",
    "run_baseline",
    "run_baselines",
    "stage1_only",
    "temperature",
    "uniform",
]

log = logging.getLogger(__name__)


def main_only(main: str) -> dict[str, float]:
    """Mixture of the main task alone."""
    return Mixture(main).probabilities()


def uniform(main: str, auxiliary: Sequence[str]) -> dict[str, float]:
    """The main task and every auxiliary task with ratio 1 (each name counted once)."""
    return Mixture(main, dict.fromkeys(auxiliary, 1.0)).probabilities()


def temperature(
    main: str, auxiliary: Sequence[str], sizes: Mapping[str, int], *, t: float
) -> dict[str, float]:
    """``p_i ∝ n_i ** (1 / t)`` over the main and auxiliary tasks (``n_i``: training size)."""
    if not t > 0:
        raise ValueError(f"temperature must be > 0, got {t}")
    names = [main, *(x for x in auxiliary if x != main)]
    weights = [max(1, int(sizes[n])) ** (1.0 / t) for n in names]
    total = sum(weights)
    return {n: w / total for n, w in zip(names, weights, strict=True)}


def proportional(main: str, auxiliary: Sequence[str], sizes: Mapping[str, int]) -> dict[str, float]:
    """``p_i ∝ n_i``: examples-proportional mixing (temperature 1)."""
    return temperature(main, auxiliary, sizes, t=1.0)


def stage1_only(main: str, selected: Sequence[str]) -> dict[str, float]:
    """The main task and the selected tasks with ratio 1 each."""
    return uniform(main, selected)


BASELINES: dict[str, Callable[..., dict[str, float]]] = {
    "main-only": lambda main, auxiliary, selected, sizes, t: main_only(main),
    "uniform": lambda main, auxiliary, selected, sizes, t: uniform(main, auxiliary),
    "proportional": lambda main, auxiliary, selected, sizes, t: proportional(
        main, auxiliary, sizes
    ),
    "temperature": lambda main, auxiliary, selected, sizes, t: temperature(
        main, auxiliary, sizes, t=t
    ),
    "stage1-only": lambda main, auxiliary, selected, sizes, t: stage1_only(main, selected),
}
"""Name -> ``f(main, auxiliary, selected, sizes, t) -> probabilities``."""


def run_baseline(
    name: str,
    probabilities: Mapping[str, float],
    make_trainer: TrainerFactory,
    *,
    main: str,
    steps: int,
    eval_every: int,
    eval_batches: int | None = None,
    tracker: Tracker | None = None,
    protocol: ProtocolConfig | None = None,
) -> BaselineScore:
    """Train and score one mixture in a nested run ``baseline-<name>``; a failure is recorded
    in the score (``dev = nan``, ``error``), never raised (except Ctrl-C)."""
    tracker = tracker if tracker is not None else NullTracker()
    run_id = tracker.start(
        f"baseline-{name}",
        nested=tracker.run_id is not None,
        tags={"autoaux.stage": "baseline", "autoaux.baseline": name},
    )
    start = time.perf_counter()
    try:
        tracker.log_params({f"probability/{k}": round(v, 6) for k, v in probabilities.items()})
        trainer, report = train_mixture(
            make_trainer,
            probabilities,
            steps=steps,
            eval_every=eval_every,
            eval_batches=eval_batches,
            tracker=tracker,
            protocol=protocol,
        )
        test = trainer.evaluate(main, "test")
    except KeyboardInterrupt:
        tracker.finish("KILLED")
        raise
    except Exception as error:
        reason = f"{type(error).__name__}: {' '.join(str(error).split())}"[:500]
        log.warning("baseline %s failed (%s)", name, reason, exc_info=True)
        tracker.set_tags({FAILURE_TAG: reason})
        tracker.finish("FAILED")
        return BaselineScore(
            name,
            dict(probabilities),
            math.nan,
            None,
            steps,
            time.perf_counter() - start,
            error=reason,
            run_id=_real(run_id, tracker),
        )
    seconds = time.perf_counter() - start
    tracker.log_metrics({"best_dev_score": report.best_dev, "test_score": test, "seconds": seconds})
    tracker.finish("FINISHED")
    return BaselineScore(
        name,
        dict(probabilities),
        float(report.best_dev),
        float(test),
        int(sum(report.steps_per_task.values())),
        seconds,
        run_id=_real(run_id, tracker),
    )


def run_baselines(
    names: Sequence[str],
    make_trainer: TrainerFactory,
    *,
    main: str,
    auxiliary: Sequence[str],
    sizes: Mapping[str, int],
    selected: Sequence[str] = (),
    temperature_t: float = 2.0,
    steps: int,
    eval_every: int,
    eval_batches: int | None = None,
    tracker: Tracker | None = None,
    protocol: ProtocolConfig | None = None,
) -> dict[str, BaselineScore]:
    """Run the named baselines (keys of :data:`BASELINES`) in order; name -> score."""
    scores: dict[str, BaselineScore] = {}
    for name in names:
        if name not in BASELINES:
            raise ValueError(f"unknown baseline {name!r}; accepted: {', '.join(BASELINES)}")
        probabilities = BASELINES[name](main, auxiliary, selected, sizes, temperature_t)
        scores[name] = run_baseline(
            name,
            probabilities,
            make_trainer,
            main=main,
            steps=steps,
            eval_every=eval_every,
            eval_batches=eval_batches,
            tracker=tracker,
            protocol=protocol,
        )
        log.info("baseline %s: dev %.4f test %s", name, scores[name].dev, scores[name].test)
    return scores


def _real(run_id: str, tracker: Tracker) -> str | None:
    return run_id if tracker.tracking_uri is not None else None
