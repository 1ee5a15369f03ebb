"""MixingRatioSpace: validation, ratio encoding, skopt conversion."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skopt.space import Integer, Real

from bayesopt import MixingRatioSpace

NAMES = ("nli", "sentiment", "topic")


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((), {}, ValueError, "empty"),
        ("nli", {}, ValueError, "single string"),
        (("a", "b", "a"), {}, ValueError, "duplicate task names"),
        (("a", ""), {}, ValueError, "non-empty strings"),
        (("a", 3), {}, ValueError, "non-empty strings"),
        (NAMES, {"low": -1.0}, ValueError, "low must be >= 0"),
        (NAMES, {"low": 2.0, "high": 2.0}, ValueError, "smaller than high"),
        (NAMES, {"low": 3.0, "high": 1.0}, ValueError, "smaller than high"),
        (NAMES, {"low": 0.0, "log": True}, ValueError, "log=True needs low > 0"),
        (NAMES, {"low": 0.5, "integer": True}, ValueError, "whole-number bounds"),
        (NAMES, {"high": math.inf}, ValueError, "finite"),
        (NAMES, {"high": math.nan}, ValueError, "finite"),
        (NAMES, {"high": "5"}, TypeError, "real number"),
        (NAMES, {"integer": 1}, TypeError, "bool"),
    ],
)
def test_invalid_spaces_are_rejected_with_clear_errors(args, kwargs, error, match):
    task_names = args if isinstance(args, str) else tuple(args)
    with pytest.raises(error, match=match):
        MixingRatioSpace(task_names, **kwargs)


def test_defaults_and_names():
    space = MixingRatioSpace(list(NAMES))
    assert space.names == NAMES
    assert (space.low, space.high, space.integer, space.log) == (0.0, 5.0, False, False)
    assert len(space) == 3
    assert space.cardinality is None
    assert MixingRatioSpace(NAMES, high=3, integer=True).cardinality == 4**3


def test_probabilities_order_main_first_with_ratio_one():
    space = MixingRatioSpace(NAMES)
    probabilities = space.probabilities({"topic": 0.0, "nli": 1.0, "sentiment": 3.0})
    assert probabilities.shape == (4,)
    np.testing.assert_allclose(probabilities, [1 / 5, 1 / 5, 3 / 5, 0.0])
    np.testing.assert_allclose(space.probabilities(dict.fromkeys(NAMES, 0.0)), [1, 0, 0, 0])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.0, 1e3), min_size=1, max_size=6))
def test_probabilities_encode_ratios_relative_to_main(values):
    space = MixingRatioSpace([f"t{i}" for i in range(len(values))], high=1e3)
    p = space.probabilities(dict(zip(space.names, values, strict=True)))
    assert p.shape == (1 + len(values),)
    assert math.isclose(p.sum(), 1.0)
    np.testing.assert_allclose(p[1:] / p[0], values, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    ("ratios", "error", "match"),
    [
        ({"nli": 1.0, "sentiment": 1.0}, ValueError, r"missing ratios for \['topic'\]"),
        ({"nli": 1, "sentiment": 1, "topic": 1, "pos": 1}, ValueError, "unknown tasks"),
        ({"nli": -1.0, "sentiment": 1.0, "topic": 1.0}, ValueError, ">= 0"),
        ({"nli": math.nan, "sentiment": 1.0, "topic": 1.0}, ValueError, "finite"),
        ([1.0, 1.0, 1.0], TypeError, "mapping"),
    ],
)
def test_probabilities_reject_bad_ratios(ratios, error, match):
    with pytest.raises(error, match=match):
        MixingRatioSpace(NAMES).probabilities(ratios)


ONES = {"sentiment": 1.0, "topic": 1.0}


@pytest.mark.parametrize(
    ("space", "ratios", "match"),
    [
        (MixingRatioSpace(NAMES), {"nli": 6.0, **ONES}, r"'nli' is 6.0, outside .*\[0.0, 5.0\]"),
        (MixingRatioSpace(NAMES, high=4, integer=True), {"nli": 1.5, **ONES}, "integer"),
        (MixingRatioSpace(NAMES, low=0.1, log=True), {"nli": 0.0, **ONES}, "outside"),
        (MixingRatioSpace(NAMES), {"nli": True, **ONES}, "real number"),
        (MixingRatioSpace(NAMES), {"nli": 1.0, "sentiment": 1}, "missing"),
    ],
)
def test_validate_names_the_offending_task(space, ratios, match):
    with pytest.raises((TypeError, ValueError), match=match):
        space.validate(ratios)


def test_validate_returns_plain_ordered_floats():
    space = MixingRatioSpace(NAMES, high=9, integer=True)
    clean = space.validate({"topic": np.int64(2), "nli": 0, "sentiment": 9.0})  # type: ignore[dict-item]
    assert list(clean) == list(NAMES)
    assert clean == {"nli": 0.0, "sentiment": 9.0, "topic": 2.0}
    assert all(type(v) is float for v in clean.values())
    assert space.to_point(clean) == [0, 9, 2]
    assert space.from_point([0, 9, 2]) == clean


@pytest.mark.parametrize(
    ("kwargs", "kind", "prior"),
    [
        ({}, Real, "uniform"),
        ({"low": 0.1, "high": 10.0, "log": True}, Real, "log-uniform"),
        ({"high": 9, "integer": True}, Integer, "uniform"),
        ({"low": 1, "high": 9, "integer": True, "log": True}, Integer, "log-uniform"),
    ],
)
def test_skopt_dimensions_round_trip(kwargs, kind, prior):
    space = MixingRatioSpace(NAMES, **kwargs)
    dimensions = space.to_skopt()
    assert [d.name for d in dimensions] == list(NAMES)
    assert all(type(d) is kind and d.prior == prior for d in dimensions)
    assert all((d.low, d.high) == (space.low, space.high) for d in dimensions)
    assert MixingRatioSpace.from_skopt(dimensions) == space
    assert MixingRatioSpace.from_dict(space.to_dict()) == space


def test_from_skopt_rejects_mixed_or_unnamed_dimensions():
    with pytest.raises(ValueError, match="share one type"):
        MixingRatioSpace.from_skopt([Real(0, 5, name="a"), Real(0, 4, name="b")])
    with pytest.raises(ValueError, match="name"):
        MixingRatioSpace.from_skopt([Real(0, 5)])


@settings(max_examples=40, deadline=None)
@given(
    low=st.integers(0, 5),
    width=st.integers(1, 20),
    integer=st.booleans(),
    log=st.booleans(),
    seed=st.integers(0, 2**32),
)
def test_samples_respect_bounds_and_integrality(low, width, integer, log, seed):
    low = max(low, 1) if log else low
    space = MixingRatioSpace(("a", "b"), low=low, high=low + width, integer=integer, log=log)
    rng = np.random.default_rng(seed)
    for _ in range(20):
        ratios = space.sample(rng)
        assert space.validate(ratios) == ratios
        assert all(low <= v <= low + width for v in ratios.values())
        if integer:
            assert all(v.is_integer() for v in ratios.values())


def test_package_never_imports_torch_transformers_or_mlflow():
    code = (
        "import sys, bayesopt; "
        "print(sorted(m for m in ('torch', 'transformers', 'mlflow') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
