"""Log expected improvement of the stage-2 GP, with its gradient (used by ``bayesopt._gp``)."""

from __future__ import annotations

import math

import numpy as np
from scipy import special
from sklearn.gaussian_process.kernels import Product, Sum
from skopt.learning import GaussianProcessRegressor
from skopt.learning.gaussian_process.kernels import ConstantKernel, Matern

__all__ = ["_LogEI", "_log_h"]

_SQRT2 = math.sqrt(2.0)
_SQRT5 = math.sqrt(5.0)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _log_h(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``log h(z)`` and its derivative ``Phi(z) / h(z)``, where ``h(z) = phi(z) + z Phi(z)``.

    ``EI = sigma * h(z)``. Far below the incumbent (``z`` very negative) ``h`` underflows to 0
    and plain EI is flat, so the optimiser sees no gradient towards promising regions; in log
    space it stays informative. For ``z > -1`` the direct formula is exact enough; for
    ``-40 < z <= -1``, ``h(z) = exp(-z^2/2) (1/sqrt(2 pi) + z/2 erfcx(-z/sqrt 2))`` with the
    scaled complementary error function; below -40, the asymptotic series
    ``h(z) ~ phi(z) / z^2 (1 - 3/z^2 + 15/z^4)``.
    """
    z = np.asarray(z, dtype=float)
    log_h = np.empty_like(z)
    slope = np.empty_like(z)
    direct = z > -1.0
    mid = (z <= -1.0) & (z > -40.0)
    tail = z <= -40.0
    if direct.any():
        zd = z[direct]
        cdf = special.ndtr(zd)
        h = np.exp(-0.5 * zd * zd) * _INV_SQRT_2PI + zd * cdf
        log_h[direct] = np.log(h)
        slope[direct] = cdf / h
    if mid.any():
        zm = z[mid]
        scaled = 0.5 * special.erfcx(-zm / _SQRT2)
        bracket = _INV_SQRT_2PI + zm * scaled
        log_h[mid] = -0.5 * zm * zm + np.log(bracket)
        slope[mid] = scaled / bracket
    if tail.any():
        zt = z[tail]
        inv2 = 1.0 / (zt * zt)
        log_h[tail] = (
            -0.5 * zt * zt - _LOG_SQRT_2PI + np.log(inv2) + np.log1p(-3.0 * inv2 + 15.0 * inv2**2)
        )
        slope[tail] = -zt - 2.0 / zt
    return log_h, slope


class _LogEI:
    """Log expected improvement of a fitted ``C * Matern52(ARD) + White`` GP, with gradients.

    skopt minimises ``y``, so the improvement of a point is ``y_best - xi - f(x)``. On the
    standardised scale of the fitted GP (``normalize_y``), with posterior mean ``mu`` and
    standard deviation ``sigma`` of the noise-free ``f``::

        z = (y_best_std - xi_std - mu) / sigma,   log EI = log sigma + log h(z)

    (plus a constant), ``h`` as in ``_log_h``. The posterior is computed in closed form for a
    batch of points: ``k = C (1 + sqrt5 r + 5 r^2 / 3) exp(-sqrt5 r)`` with
    ``r = |(x - x_i) / l|``, ``mu = k . alpha``, ``sigma^2 = C - k K^-1 k``, and the gradients
    follow from ``dk/dx = -5/3 C (1 + sqrt5 r) exp(-sqrt5 r) (x - x_i) / l^2``.
    """

    def __init__(self, model: GaussianProcessRegressor, y_best: float, xi: float) -> None:
        kernel = model.kernel_
        product = kernel.k1 if isinstance(kernel, Sum) else kernel
        if not (
            isinstance(product, Product)
            and isinstance(product.k1, ConstantKernel)
            and isinstance(product.k2, Matern)
            and product.k2.nu == 2.5
        ):
            raise TypeError(f"log EI needs a C * Matern52 (+ White) kernel, got {kernel}")
        self.scale = float(product.k1.constant_value)
        self.length = np.asarray(product.k2.length_scale, dtype=float)
        self.x_train = np.asarray(model.X_train_, dtype=float)
        self.alpha = np.asarray(model.alpha_, dtype=float).reshape(-1)
        self.k_inv = np.asarray(model.K_inv_, dtype=float)
        std = float(model.y_train_std_) or 1.0
        self.threshold = (y_best - xi - float(model.y_train_mean_)) / std

    def __call__(
        self, x: np.ndarray, gradient: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Log EI at each row of ``x`` (points in ``[0, 1]^d``), and its gradient if asked."""
        diff = (x[:, None, :] - self.x_train[None, :, :]) / self.length  # (m, n, d)
        r = np.sqrt(np.sum(diff * diff, axis=2))
        decay = np.exp(-_SQRT5 * r)
        k = self.scale * (1.0 + _SQRT5 * r + (5.0 / 3.0) * r * r) * decay
        mu = k @ self.alpha
        w = k @ self.k_inv
        var = self.scale - np.sum(k * w, axis=1)
        floor = 1e-12 * self.scale
        clipped = var <= floor
        sigma = np.sqrt(np.where(clipped, floor, var))
        z = (self.threshold - mu) / sigma
        log_h, slope = _log_h(z)
        value = np.log(sigma) + log_h
        if not gradient:
            return value, None
        dk = (-5.0 / 3.0) * self.scale * (1.0 + _SQRT5 * r) * decay  # dk/dx = dk * diff / l
        dmu = np.einsum("mn,mnd->md", dk * self.alpha, diff) / self.length
        dvar = -2.0 * np.einsum("mn,mnd->md", dk * w, diff) / self.length
        dsigma = np.where(clipped[:, None], 0.0, dvar / (2.0 * sigma[:, None]))
        dz = (-dmu - z[:, None] * dsigma) / sigma[:, None]
        return value, dsigma / sigma[:, None] + slope[:, None] * dz
