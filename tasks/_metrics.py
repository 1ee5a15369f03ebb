"""Task metrics in plain numpy.

All metrics return a float where higher is better:

- ``accuracy``: mean of ``prediction == reference``.
- ``macro_f1``: unweighted mean over classes of ``F1_c = 2 TP_c / (2 TP_c + FP_c + FN_c)``, over
  the classes that occur in the references or the predictions (as scikit-learn does).
- ``matthews``: the multiclass Matthews correlation (Gorodkin's R_K) from the confusion matrix
  ``C``: ``(c s - t.p) / sqrt((s^2 - p.p)(s^2 - t.t))`` with ``t`` the true counts per class,
  ``p`` the predicted counts, ``c`` the trace and ``s`` the number of samples.
- ``pearson``: linear correlation of predictions and references.
- ``spearman``: Pearson correlation of the ranks, tied values sharing their average rank.

Correlations are defined as 0.0 when either side is constant (no variance to correlate), as
scikit-learn does for the Matthews correlation, so a collapsed model scores 0, never ``nan``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ._types import CLASSIFICATION_METRICS

ArrayLike = Sequence[float] | Sequence[int] | np.ndarray


def _class_arrays(predictions: ArrayLike, references: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(predictions)
    ref = np.asarray(references)
    if pred.ndim == 2 and ref.ndim == 1:  # logits or probabilities, shape (N, C)
        pred = pred.argmax(axis=-1)
    pred = pred.reshape(-1)
    ref = ref.reshape(-1)
    _check_lengths(pred, ref)
    return pred.astype(np.int64), ref.astype(np.int64)


def _float_arrays(predictions: ArrayLike, references: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(predictions, dtype=np.float64).reshape(-1)
    ref = np.asarray(references, dtype=np.float64).reshape(-1)
    _check_lengths(pred, ref)
    return pred, ref


def _check_lengths(pred: np.ndarray, ref: np.ndarray) -> None:
    if pred.shape != ref.shape:
        raise ValueError(
            f"predictions and references differ in length: {pred.shape[0]} vs {ref.shape[0]}"
        )
    if pred.size == 0:
        raise ValueError("cannot compute a metric on zero examples")


def accuracy(predictions: ArrayLike, references: ArrayLike) -> float:
    """Fraction of exact matches."""
    pred, ref = _class_arrays(predictions, references)
    return float(np.mean(pred == ref))


def _confusion(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    classes, inverse = np.unique(np.concatenate([ref, pred]), return_inverse=True)
    k = len(classes)
    r, p = inverse[: len(ref)], inverse[len(ref) :]
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (r, p), 1)
    return matrix  # rows: reference class, columns: predicted class


def macro_f1(predictions: ArrayLike, references: ArrayLike) -> float:
    """Unweighted mean of per-class F1 over classes seen in references or predictions."""
    pred, ref = _class_arrays(predictions, references)
    matrix = _confusion(pred, ref)
    tp = np.diag(matrix).astype(np.float64)
    fp = matrix.sum(axis=0) - tp
    fn = matrix.sum(axis=1) - tp
    denom = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return float(f1.mean())


def matthews(predictions: ArrayLike, references: ArrayLike) -> float:
    """Multiclass Matthews correlation coefficient (0.0 when undefined)."""
    pred, ref = _class_arrays(predictions, references)
    matrix = _confusion(pred, ref).astype(np.float64)
    t = matrix.sum(axis=1)
    p = matrix.sum(axis=0)
    c = np.trace(matrix)
    s = matrix.sum()
    cov_yp = c * s - t @ p
    cov_pp = s * s - p @ p
    cov_yy = s * s - t @ t
    if cov_pp == 0 or cov_yy == 0:
        return 0.0
    return float(cov_yp / np.sqrt(cov_pp * cov_yy))


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    x = x - x.mean()
    y = y - y.mean()
    denom = np.sqrt((x @ x) * (y @ y))
    if denom == 0 or not np.isfinite(denom):
        return 0.0
    return float(np.clip((x @ y) / denom, -1.0, 1.0))


def pearson(predictions: ArrayLike, references: ArrayLike) -> float:
    """Pearson correlation (0.0 when either side is constant)."""
    pred, ref = _float_arrays(predictions, references)
    return _correlation(pred, ref)


def average_ranks(values: ArrayLike) -> np.ndarray:
    """Ranks 1..N of ``values``; tied values share the mean of the ranks they span."""
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    # Start index of each run of equal values in sorted order.
    new_run = np.concatenate([[True], sorted_x[1:] != sorted_x[:-1]])
    run_id = np.cumsum(new_run) - 1
    starts = np.flatnonzero(new_run)
    ends = np.concatenate([starts[1:], [len(x)]])
    mean_rank = (starts + ends - 1) / 2.0 + 1.0  # ranks are 1-based
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = mean_rank[run_id]
    return ranks


def spearman(predictions: ArrayLike, references: ArrayLike) -> float:
    """Spearman rank correlation with average ranks for ties (0.0 when a side is constant)."""
    pred, ref = _float_arrays(predictions, references)
    return _correlation(average_ranks(pred), average_ranks(ref))


_METRIC_FUNCTIONS: dict[str, Callable[[ArrayLike, ArrayLike], float]] = {
    "accuracy": accuracy,
    "macro_f1": macro_f1,
    "matthews": matthews,
    "pearson": pearson,
    "spearman": spearman,
}


def compute_metric(name: str, predictions: ArrayLike, references: ArrayLike) -> float:
    """Score ``predictions`` against ``references`` with metric ``name``.

    Classification metrics take class indices, shape ``(N,)`` (logits of shape ``(N, C)`` are
    reduced with ``argmax``); regression metrics take floats, shape ``(N,)`` or ``(N, 1)``.
    """
    try:
        fn = _METRIC_FUNCTIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown metric {name!r}; choose one of {sorted(_METRIC_FUNCTIONS)}"
        ) from None
    return fn(predictions, references)


def is_classification_metric(name: str) -> bool:
    """True for metrics over class indices."""
    return name in CLASSIFICATION_METRICS
