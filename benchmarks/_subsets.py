"""Main plus a subset of auxiliary tasks at ratio 1, trained like one stage-2 trial: the
exhaustive search that the multidomain, helps and affinity benchmarks score methods against.

- :func:`train_subset` trains ``main + subset`` (every task drawn equally often) through the
  product's one training path and returns the record the benchmarks keep: the sorted subset,
  the best main dev score, the main test score of that checkpoint and the optimiser steps.
- :func:`subset_entry` and :func:`subset_test` find a subset's record in a benchmark record's
  ``"subsets"`` list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def train_subset(
    bench: Any,
    main: str,
    subset: Sequence[str],
    *,
    steps: int,
    eval_every: int,
    main_steps: bool = False,
) -> dict[str, Any]:
    """``main + subset`` at ratio 1 on the workbench ``bench`` (its configuration's protocol);
    dev and test of the best checkpoint. ``main_steps``: also record the main task's steps."""
    from autoaux.stages.trials import train_mixture

    trainer, report = train_mixture(
        bench.factory("stage2"),
        {main: 1.0, **dict.fromkeys(subset, 1.0)},
        steps=steps,
        eval_every=eval_every,
        eval_batches=None,
        protocol=bench.config.protocol,
    )
    out = {
        "subset": sorted(subset),
        "dev": report.best_dev,
        "test": trainer.evaluate(main, "test"),
        "steps": int(sum(report.steps_per_task.values())),
    }
    if main_steps:
        out["main_steps"] = int(report.steps_per_task.get(main, 0))
    return out


def subset_entry(record: Mapping[str, Any], names: Sequence[str]) -> Mapping[str, Any] | None:
    """The entry of ``record["subsets"]`` for the subset ``names`` (``None``: not trained)."""
    key = sorted(names)
    return next((s for s in record["subsets"] if s["subset"] == key), None)


def subset_test(record: Mapping[str, Any], names: Sequence[str]) -> float | None:
    """Main test score of ``main + names`` at ratio 1 (``None`` if not trained)."""
    found = subset_entry(record, names)
    return None if found is None else found["test"]
