from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks import average_ranks, compute_metric


def test_accuracy_known():
    assert compute_metric("accuracy", [0, 1, 1, 0], [0, 1, 0, 0]) == 0.75


def test_macro_f1_known():
    # class 0: tp=2 fp=0 fn=1 -> F1 0.8; class 1: tp=1 fp=1 fn=0 -> F1 2/3
    value = compute_metric("macro_f1", [0, 0, 1, 1], [0, 0, 0, 1])
    assert value == pytest.approx((0.8 + 2 / 3) / 2)


def test_macro_f1_counts_classes_only_predicted():
    # reference has only class 0; predicted class 2 counts with F1 0 (as scikit-learn does)
    assert compute_metric("macro_f1", [0, 2], [0, 0]) == pytest.approx((2 / 3 + 0.0) / 2)


def test_matthews_known_binary():
    # tp=1 tn=2 fp=1 fn=0 -> (1*2 - 1*0) / sqrt(2*1*3*2)
    value = compute_metric("matthews", [1, 1, 0, 0], [1, 0, 0, 0])
    assert value == pytest.approx(2 / math.sqrt(12))
    assert compute_metric("matthews", [0, 0, 0], [0, 1, 1]) == 0.0  # constant prediction
    assert compute_metric("matthews", [0, 1, 2], [0, 1, 2]) == pytest.approx(1.0)


def test_pearson_and_spearman_known():
    assert compute_metric("pearson", [1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert compute_metric("pearson", [1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert compute_metric("pearson", [1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    # monotone but non-linear: spearman is exactly 1
    assert compute_metric("spearman", [1, 2, 3, 4], [1, 10, 100, 1000]) == pytest.approx(1.0)
    assert compute_metric("pearson", [1, 1, 1], [1, 2, 3]) == 0.0


def test_spearman_ties_use_average_ranks():
    np.testing.assert_allclose(average_ranks([10, 20, 20, 30]), [1, 2.5, 2.5, 4])
    np.testing.assert_allclose(average_ranks([3, 3, 3]), [2, 2, 2])
    # ranks x: [1, 2.5, 2.5, 4], y: [1, 2, 3, 4] -> pearson of ranks
    x = np.array([1, 2.5, 2.5, 4.0])
    y = np.array([1, 2, 3, 4.0])
    expected = np.corrcoef(x, y)[0, 1]
    assert compute_metric("spearman", [10, 20, 20, 30], [1, 2, 3, 4]) == pytest.approx(expected)


def test_logits_are_reduced_with_argmax():
    logits = np.array([[0.1, 0.9], [2.0, -1.0], [0.0, 1.0]])
    assert compute_metric("accuracy", logits, [1, 0, 0]) == pytest.approx(2 / 3)


def test_metric_errors():
    with pytest.raises(ValueError, match="unknown metric"):
        compute_metric("bleu", [1], [1])
    with pytest.raises(ValueError, match="differ in length"):
        compute_metric("accuracy", [1, 0], [1])
    with pytest.raises(ValueError, match="zero examples"):
        compute_metric("pearson", [], [])


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=2, max_size=40),
)
def test_classification_metrics_match_scikit_learn(pairs):
    metrics = pytest.importorskip("sklearn.metrics")
    pred = [p for p, _ in pairs]
    ref = [r for _, r in pairs]
    assert compute_metric("accuracy", pred, ref) == pytest.approx(metrics.accuracy_score(ref, pred))
    assert compute_metric("macro_f1", pred, ref) == pytest.approx(
        metrics.f1_score(ref, pred, average="macro", zero_division=0)
    )
    assert compute_metric("matthews", pred, ref) == pytest.approx(
        metrics.matthews_corrcoef(ref, pred), abs=1e-9
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-5, 5), st.integers(-5, 5)), min_size=3, max_size=40))
def test_correlations_match_scipy(pairs):
    stats = pytest.importorskip("scipy.stats")
    x = np.array([p for p, _ in pairs], dtype=float)
    y = np.array([q for _, q in pairs], dtype=float)
    if x.std() == 0 or y.std() == 0:
        assert compute_metric("pearson", x, y) == 0.0
        return
    assert compute_metric("pearson", x, y) == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-9)
    assert compute_metric("spearman", x, y) == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-9)
