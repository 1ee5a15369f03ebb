"""Log marginal likelihood of the stage-2 GP's kernel, in numpy (used by ``bayesopt._gp``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.linalg import cho_solve, cholesky

__all__ = ["_log_likelihood"]


def _log_likelihood(
    x: np.ndarray, y: np.ndarray, jitter: Any, theta: np.ndarray, eval_gradient: bool
) -> Any:
    """Log marginal likelihood of ``C * Matern52(l) + White(v)`` at ``theta = log [C, l, v]``.

    The same arithmetic, in the same order, as scikit-learn's
    ``GaussianProcessRegressor.log_marginal_likelihood`` evaluating that kernel, without its
    generic kernel objects: with a few dozen points, setting ``kernel.theta`` and walking the
    kernel tree cost several times the arithmetic, and a fit evaluates the likelihood 20 to 30
    times. With scikit-learn 1.9 the values agree to the last bit (every stage-2 ask is
    unchanged); tests/bayesopt hold them to scikit-learn's within 1e-12, relative.
    """
    n, d = x.shape
    constant, noise = np.exp(theta[0]), np.exp(theta[-1])
    length = np.exp(theta[1:-1])
    if d == 1:  # scikit-learn's isotropic Matern: one length scale as a 0-d array
        length = np.squeeze(length)
    scaled = x / length
    step = scaled[:, np.newaxis, :] - scaled[np.newaxis, :, :]
    dists = np.sqrt(np.sum(step * step, axis=-1))  # scipy's pdist, as a square matrix
    matern = dists * math.sqrt(5)
    matern = (1.0 + matern + matern**2 / 3.0) * np.exp(-matern)
    scale = np.full((n, n), constant)
    identity = np.eye(n)
    k = scale * matern + noise * identity
    k[np.diag_indices_from(k)] += jitter
    try:
        lower = cholesky(k, lower=True, check_finite=False)
    except np.linalg.LinAlgError:
        return (-np.inf, np.zeros_like(theta)) if eval_gradient else -np.inf
    y = y[:, np.newaxis] if y.ndim == 1 else y
    alpha = cho_solve((lower, True), y, check_finite=False)
    dims = -0.5 * np.einsum("ik,ik->k", y, alpha)
    dims -= np.log(np.diag(lower)).sum()
    dims -= k.shape[0] / 2 * np.log(2 * np.pi)
    value = dims.sum(axis=-1)
    if not eval_gradient:
        return value
    if d == 1:
        squared = (dists**2)[:, :, np.newaxis]
    else:
        squared = (x[:, np.newaxis, :] - x[np.newaxis, :, :]) ** 2 / (length**2)
    root = np.sqrt(5 * squared.sum(-1))[..., np.newaxis]
    matern_gradient = 5.0 / 3.0 * squared * (root + 1) * np.exp(-root)
    if d == 1:
        matern_gradient = matern_gradient[:, :].sum(-1)[:, :, np.newaxis]
    k_gradient = np.dstack(
        (
            np.dstack(
                (
                    np.full((n, n, 1), constant) * matern[:, :, np.newaxis],
                    matern_gradient * scale[:, :, np.newaxis],
                )
            ),
            noise * identity[:, :, np.newaxis],
        )
    )
    inner = np.einsum("ik,jk->ijk", alpha, alpha)
    inner -= cho_solve((lower, True), np.eye(n), check_finite=False)[..., np.newaxis]
    gradient = 0.5 * np.einsum("ijl,jik->kl", inner, k_gradient)
    return value, gradient.sum(axis=-1)
