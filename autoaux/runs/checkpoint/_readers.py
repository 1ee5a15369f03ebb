"""The result records of ``state.json`` read back into their dataclasses."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from autoaux.runs.result import (
    BaselineScore,
    MixResult,
    PullRecord,
    SelectionResult,
    TaskVerdict,
    TrialRecord,
)


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def _fields(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def _pull_from(data: Mapping[str, Any]) -> PullRecord:
    d = _fields(PullRecord, data)
    d["utilities"] = tuple(float(u) for u in d["utilities"])
    return PullRecord(**d)


def _selection_from(data: Mapping[str, Any]) -> SelectionResult:
    d = _fields(SelectionResult, data)
    for key in ("arms", "controls", "selected"):
        d[key] = tuple(d[key])
    d["rewards"] = {k: tuple(v) for k, v in d["rewards"].items()}
    d["history"] = tuple(_pull_from(r) for r in d.get("history", ()))
    d["verdicts"] = {
        k: TaskVerdict(
            verdict=str(v["verdict"]),
            effect=_float(v["effect"]),
            low=-math.inf if v["low"] is None else float(v["low"]),
            high=math.inf if v["high"] is None else float(v["high"]),
            episodes=int(v["episodes"]),
            vs_control=_float(v.get("vs_control")),
            vs_control_rounds=int(v.get("vs_control_rounds") or 0),
        )
        for k, v in d.get("verdicts", {}).items()
    }
    return SelectionResult(**d)


def _trial_from(data: Mapping[str, Any]) -> TrialRecord:
    d = _fields(TrialRecord, data)
    d["dev_curve"] = tuple((int(s), float(v)) for s, v in d.get("dev_curve", ()))
    return TrialRecord(**d)


def _mix_from(data: Mapping[str, Any], best_state: dict[str, Any] | None) -> MixResult:
    d = _fields(MixResult, data)
    d["tasks"] = tuple(d["tasks"])
    d["trials"] = tuple(_trial_from(t) for t in d["trials"])
    d["initial_ratios"] = tuple(dict(r) for r in d.get("initial_ratios", ()))
    d["best_dev_score"] = _float(d["best_dev_score"])
    d["main_only_dev"] = _float(d.get("main_only_dev"))
    d["best_state"] = best_state
    return MixResult(**d)


def _baseline_from(data: Mapping[str, Any]) -> BaselineScore:
    d = _fields(BaselineScore, data)
    d["dev"] = _float(d["dev"])
    return BaselineScore(**d)
