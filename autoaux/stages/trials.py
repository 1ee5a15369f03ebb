"""One trial: a fresh model from the initial weights trained on one mixture, in its own nested
tracking run; the one trial path of stage 2, the baselines and the Ray workers.

A trial that fails (non-finite loss, out of memory, any exception) is recorded with its reason
and its run closed FAILED; only Ctrl-C is raised.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping

from autoaux.config import ProtocolConfig, Stage2Config
from autoaux.runs.result import TrialRecord
from autoaux.tracking import FAILURE_TAG, Tracker
from autoaux.training._factories import TrainerFactory
from autoaux.training.trainer import MixtureReport, Trainer
from bayesopt import TrialState

__all__ = ["TrainerFactory", "run_trial", "train_mixture"]

log = logging.getLogger("autoaux.stages.stage2")

def train_mixture(
    make_trainer: TrainerFactory,
    probabilities: Mapping[str, float],
    *,
    steps: int,
    eval_every: int,
    eval_batches: int | None,
    tracker: Tracker | None = None,
    protocol: ProtocolConfig | None = None,
) -> tuple[Trainer, MixtureReport]:
    """Train a fresh model on a mixture (the one training path of trials and baselines).

    With the default protocol (``protocol.budget = "main"``) the main task trains until its
    dev score stops improving (``protocol.eval_every`` main steps between evaluations,
    ``protocol.patience`` evaluations) or it has taken ``steps`` steps, and the auxiliary tasks
    come on top in the proportions ``probabilities`` give (``eval_every`` is unused). With
    ``budget = "total"`` (or no protocol), ``steps`` steps in all, evaluated every
    ``eval_every``.

    Logs the main dev score at every evaluation (metric ``dev_score``, step = main-task step
    under the default protocol, training step else) on the tracker's open run. Returns the
    trainer (its model holds the best checkpoint) and the report.
    """

    def on_eval(step: int, score: float) -> None:
        if tracker is not None:
            tracker.log_metrics({"dev_score": score}, step=step)

    weights = {k: float(v) for k, v in probabilities.items() if float(v) > 0}
    if protocol is not None and protocol.added:
        trainer = make_trainer(None)
        report = trainer.train_mixture(
            weights,
            steps,
            eval_every=protocol.eval_every,
            eval_max_batches=eval_batches,
            callback=on_eval,
            count="main",
            patience=protocol.patience,
        )
    else:
        trainer = make_trainer(steps)
        report = trainer.train_mixture(
            weights,
            steps,
            eval_every=eval_every,
            eval_max_batches=eval_batches,
            callback=on_eval,
        )
    return trainer, report


def run_trial(
    make_trainer: TrainerFactory,
    number: int,
    ratios: Mapping[str, float],
    probabilities: Mapping[str, float],
    main: str,
    settings: Stage2Config,
    tracker: Tracker,
    device_name: str,
    *,
    protocol: ProtocolConfig | None = None,
) -> tuple[TrialRecord, Trainer | None]:
    """One trial in its own nested run; failures are recorded, never raised (except Ctrl-C)."""
    tags = {"autoaux.stage": "trial", "autoaux.trial": str(number), "autoaux.device": device_name}
    run_id = tracker.start(f"trial-{number}", nested=True, tags=tags)
    start = time.perf_counter()
    try:
        tracker.log_params(
            {
                **{f"ratio/{k}": v for k, v in ratios.items()},
                **{f"probability/{k}": round(v, 6) for k, v in probabilities.items()},
            }
        )
        trainer, report = train_mixture(
            make_trainer,
            probabilities,
            steps=settings.steps,
            eval_every=settings.eval_every,
            eval_batches=settings.eval_batches,
            tracker=tracker,
            protocol=protocol,
        )
        if not math.isfinite(report.best_dev):
            raise RuntimeError(f"no finite main dev score (curve {report.dev_curve})")
    except KeyboardInterrupt:
        tracker.set_tags({FAILURE_TAG: "interrupted", "autoaux.state": "KILLED"})
        tracker.finish("KILLED")
        raise
    except Exception as error:  # one failed trial never ends the search
        seconds = time.perf_counter() - start
        reason = f"{type(error).__name__}: {' '.join(str(error).split())}"[:500]
        log.warning("stage 2: trial %d failed (%s)", number, reason, exc_info=True)
        _free_accelerator_memory()
        tracker.log_metrics({"seconds": seconds})
        tracker.set_tags({FAILURE_TAG: reason, "autoaux.state": TrialState.FAILED.value})
        tracker.finish("FAILED")
        record = TrialRecord(
            number,
            dict(ratios),
            None,
            TrialState.FAILED,
            seconds,
            error=reason,
            run_id=_real(run_id, tracker),
        )
        return record, None
    seconds = time.perf_counter() - start
    tracker.log_metrics(
        {
            "best_dev_score": report.best_dev,
            "best_step": float(report.best_step),
            "seconds": seconds,
            **{f"steps/{k}": float(v) for k, v in report.steps_per_task.items()},
        }
    )
    tracker.set_tags({"autoaux.state": TrialState.COMPLETE.value})
    tracker.finish("FINISHED")
    record = TrialRecord(
        number=number,
        ratios=dict(ratios),
        score=float(report.best_dev),
        state=TrialState.COMPLETE,
        seconds=seconds,
        best_step=report.best_step,
        dev_curve=tuple(report.dev_curve),
        steps_per_task=dict(report.steps_per_task),
        run_id=_real(run_id, tracker),
    )
    return record, trainer


def _real(run_id: str, tracker: Tracker) -> str | None:
    return run_id if tracker.tracking_uri is not None else None


def _free_accelerator_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
