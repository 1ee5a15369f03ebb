"""The rules section: selection rules re-applied to the same stage-1 runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

import autoaux
from bandits import select_against_control, select_default
from benchmarks._common import Workspace, f1, log, precision_recall, summary

from ._running import score_subset
from ._suites import Budget, make_config, make_suite, resolved


def section_rules(
    b: Budget, ws: Workspace, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Selection rules applied to the same stage-1 runs (the default preset with ``overrides``,
    ``b.seeds``): the reward histories are kept and each rule is re-applied offline, so rules
    differ only by the rule. Each selection is scored like stage 1 only (ratio 1)."""

    def control_rule(confidence: float, bonferroni: bool = False) -> Any:
        def rule(histories: list[list[float]], controls: list[int], exclude: list[int]) -> Any:
            k = len(histories) - len(exclude)
            level = 1 - (1 - confidence) / max(k, 1) if bonferroni else confidence
            return select_against_control(histories, controls, confidence=level, exclude=exclude)

        return rule

    def above_control_mean(histories: list[list[float]], controls: list[int], exclude: list[int]):
        bar = max(float(np.mean(histories[c])) for c in controls)
        return [
            i
            for i, h in enumerate(histories)
            if i not in exclude and len(h) >= 1 and float(np.mean(h)) > bar
        ]

    def default_rule(histories: list[list[float]], controls: list[int], exclude: list[int]):
        means = np.array([np.mean(h) if len(h) else np.nan for h in histories])
        return select_default(means, main_arm=None, prior_mean=0.5, exclude=exclude)

    rules: dict[str, Any] = {
        "control, confidence 0.9": control_rule(0.9),
        "control, confidence 0.95": control_rule(0.95),
        "control, confidence 0.99": control_rule(0.99),
        "control, 0.9 Bonferroni over candidates": control_rule(0.9, bonferroni=True),
        "mean reward above the control's": above_control_mean,
        "mean reward above 0.5 (default rule)": default_rule,
    }
    rows: dict[str, list[dict[str, Any]]] = {r: [] for r in rules}
    for seed in b.seeds:
        suite = make_suite(seed, b.composition, b)
        config = make_config(suite, seed, b, ws)
        log(f"planted rules: seed {seed}")
        sel = autoaux.select(
            config.replace(output_dir=ws.folder()),
            user_tasks=suite.tasks,
            tracker=autoaux.NullTracker(),
            progress=False,
            **dict(overrides or {}),
        )
        arms = list(sel.arms)
        histories = [list(sel.rewards[a]) for a in arms]
        controls = [arms.index(c) for c in sel.controls]
        exclude = [*controls, arms.index(sel.main_task)]
        cache: dict[frozenset[str], dict[str, Any]] = {}
        for name, rule in rules.items():
            chosen = sorted(arms[i] for i in rule(histories, controls, exclude))
            key = frozenset(chosen)
            if key not in cache:
                cache[key] = score_subset(config, suite, chosen, ws)
            precision, recall = precision_recall(chosen, suite.helpful)
            rows[name].append(
                {
                    "seed": seed,
                    "selected": chosen,
                    "precision": precision,
                    "recall": recall,
                    "f1": f1(precision, recall),
                    "stage1_only_test": cache[key]["test"],
                }
            )
            log(f"  {name}: {chosen} test={cache[key]['test']:.3f}")
    return {
        "seeds": list(b.seeds),
        "stage1_overrides": dict(overrides or {}),
        "settings": resolved(dict(overrides or {})),
        "rules": {
            name: {
                "precision": summary([r["precision"] for r in v]),
                "recall": summary([r["recall"] for r in v]),
                "f1": summary([r["f1"] for r in v]),
                "stage1_only_test": summary([r["stage1_only_test"] for r in v]),
                "runs": v,
            }
            for name, v in rows.items()
        },
    }
