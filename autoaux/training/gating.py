"""Gradient-cosine gating of auxiliary updates on the shared encoder (Du et al., 2018).

An auxiliary task helps the main task only where its gradient points the same way. With
``g_m`` the main task's gradient and ``g_a`` the auxiliary task's gradient on the *shared*
parameters, the gate replaces ``g_a`` by ``scale * g_a`` before the optimiser step; the task's
own head keeps its gradient untouched, and main-task steps are never gated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from autoaux.config import GATINGS

__all__ = ["GATING_MODES", "CosineGate", "GateResult", "gradient_cosine"]

GATING_MODES: tuple[str, ...] = GATINGS


@dataclass(frozen=True)
class GateResult:
    """What the gate did to one auxiliary step: the per-batch cosine and the scale applied."""

    cosine: float
    scale: float


def _sq_norm(grads: Sequence[Tensor | None]) -> Tensor | None:
    """Sum of squared entries over a list of tensors (``None`` entries skipped), 0-d fp32."""
    present = [g for g in grads if g is not None]
    if not present:
        return None
    norms = torch._foreach_norm(present)  # one fused kernel per device/dtype group
    return torch.stack([n.float() for n in norms]).square().sum()


def _dot(grads: Sequence[Tensor | None], others: Sequence[Tensor | None]) -> Tensor | None:
    """Sum over tensors of ``<a_i, b_i>``, without concatenating copies (``None`` pairs skipped)."""
    dots = [
        torch.dot(a.reshape(-1).float(), b.reshape(-1).float())
        for a, b in zip(grads, others, strict=True)
        if a is not None and b is not None
    ]
    if not dots:
        return None
    return torch.stack(dots).sum()


def gradient_cosine(
    grads: Sequence[Tensor | None],
    others: Sequence[Tensor | None],
    *,
    eps: float = 1e-12,
    others_sq_norm: Tensor | None = None,
) -> Tensor:
    """Cosine between two gradients given as aligned lists of per-parameter tensors.

    ``cos = sum_i <a_i, b_i> / (sqrt(sum_i |a_i|^2) * sqrt(sum_i |b_i|^2))``, from per-tensor
    dot products and norms (no flattened copy of the whole gradient is made). ``None`` entries
    count as zero tensors. Returns a 0-d float32 tensor on the gradients' device, ``0`` when
    either gradient is zero. ``others_sq_norm`` may pass a cached ``sum_i |b_i|^2``.
    """
    dot = _dot(grads, others)
    if dot is None:
        device = next((g.device for g in (*grads, *others) if g is not None), None)
        return torch.zeros((), dtype=torch.float32, device=device)
    sq_a = _sq_norm(grads)
    sq_b = others_sq_norm if others_sq_norm is not None else _sq_norm(others)
    assert sq_a is not None and sq_b is not None  # a dot exists, so both have a tensor
    denom = (sq_a.sqrt() * sq_b.sqrt()).clamp_min(eps)
    return dot / denom


class CosineGate:
    """Scale auxiliary gradients on the shared encoder by their agreement with the main task.

    For an auxiliary step on task ``a``, with ``g_a`` its shared-encoder gradient and ``g_m`` the
    stored main-task gradient (both lists of per-parameter tensors)::

        c     = <g_m, g_a> / (|g_m| |g_a|)          # per-batch cosine, from per-tensor dots
        e_a   = s * e_a + (1 - s) * c               # per-task EMA, s = smoothing
        ê_a   = e_a / (1 - s ** n_a)                # bias-corrected after n_a observations
        scale = 1                  mode "off"       (cosine measured and logged only)
                1 if c > 0 else 0  mode "unweighted" (Du et al.)
                max(0, c)          mode "weighted"
                max(0, ê_a)        mode "smoothed"
        g_a  <- scale * g_a                         # in place, shared parameters only

    Guarantee: in modes ``"unweighted"`` and ``"weighted"`` the gated update satisfies
    ``<scale * g_a, g_m> = scale * <g_a, g_m> >= 0``, since ``scale > 0`` only when ``c > 0``.
    Mode ``"smoothed"`` does *not* guarantee it batch by batch: it uses the sign of the task's
    *average* agreement, so that one noisy single-batch cosine does not drop a helpful task's
    update (single-batch cosines of a helpful task are positive only 60-70% of the time), while
    a task whose average cosine is not positive is still switched off.

    ``refresh_every = k`` tells the trainer how often to recompute ``g_m``: on a fresh main-task
    batch before an auxiliary step when no main gradient is stored or the stored one has served
    ``k`` auxiliary steps (``k = 1``: every auxiliary step, as Du et al.). Between refreshes the
    stored ``g_m`` is reused, which saves a forward and backward pass per auxiliary step at the
    price of a slightly stale reference direction. The EMA is kept in every mode (it is what
    :meth:`smoothed_cosine` reports); only ``"smoothed"`` uses it for the scale.
    """

    def __init__(
        self,
        mode: str = "weighted",
        *,
        refresh_every: int = 1,
        smoothing: float = 0.9,
        eps: float = 1e-12,
    ) -> None:
        if mode not in GATING_MODES:
            raise ValueError(f"gating mode {mode!r}: expected one of {GATING_MODES}")
        if (
            isinstance(refresh_every, bool)
            or int(refresh_every) != refresh_every
            or refresh_every < 1
        ):
            raise ValueError(f"refresh_every must be an integer >= 1, got {refresh_every!r}")
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        self.mode = mode
        self.refresh_every = int(refresh_every)
        self.smoothing = float(smoothing)
        self.eps = float(eps)
        self._ema: dict[str, Tensor] = {}
        self._count: dict[str, int] = {}
        self._main_ref: Sequence[Tensor | None] | None = None
        self._main_sq: Tensor | None = None

    def __repr__(self) -> str:
        return (
            f"CosineGate(mode={self.mode!r}, refresh_every={self.refresh_every}, "
            f"smoothing={self.smoothing})"
        )

    def _main_sq_norm(self, main_grads: Sequence[Tensor | None]) -> Tensor | None:
        # |g_m|^2 is computed once per stored main gradient (the same list object is reused
        # between refreshes), not once per auxiliary step.
        if self._main_ref is not main_grads:
            self._main_ref = main_grads
            self._main_sq = _sq_norm(main_grads)
        return self._main_sq

    def gate(
        self,
        task: str,
        shared_params: Sequence[torch.nn.Parameter],
        main_grads: Sequence[Tensor | None],
    ) -> tuple[Tensor, Tensor]:
        """Gate ``shared_params``' ``.grad`` in place; return ``(cosine, scale)`` as 0-d tensors.

        Same as :meth:`apply` but without reading the numbers back to the host (no device
        synchronisation), for use inside a training loop. ``main_grads`` is aligned with
        ``shared_params``.
        """
        if len(main_grads) != len(shared_params):
            raise ValueError(
                f"main_grads has {len(main_grads)} tensors for {len(shared_params)} "
                "shared parameters"
            )
        grads = [p.grad for p in shared_params]
        main_sq = self._main_sq_norm(main_grads)
        cosine = gradient_cosine(grads, main_grads, eps=self.eps, others_sq_norm=main_sq)
        ema = self._ema.get(task)
        s = self.smoothing
        ema = (1.0 - s) * cosine if ema is None else s * ema + (1.0 - s) * cosine
        self._ema[task] = ema
        self._count[task] = self._count.get(task, 0) + 1
        if self.mode == "off":
            return cosine, torch.ones_like(cosine)
        if self.mode == "unweighted":
            scale = (cosine > 0).to(cosine.dtype)
        elif self.mode == "weighted":
            scale = cosine.clamp_min(0.0)
        else:  # smoothed
            scale = (ema / (1.0 - s ** self._count[task])).clamp_min(0.0)
        present = [g for g in grads if g is not None]
        if present:
            torch._foreach_mul_(present, scale.to(present[0].dtype))
        return cosine, scale

    def apply(
        self,
        task: str,
        shared_params: Sequence[torch.nn.Parameter],
        main_grads: Sequence[Tensor | None],
    ) -> GateResult:
        """Gate the ``.grad`` of ``shared_params`` in place against ``main_grads``.

        ``shared_params`` hold the auxiliary task ``task``'s gradient ``g_a``; ``main_grads`` is
        ``g_m``, one tensor (or ``None``) per shared parameter. Returns the cosine and scale.
        """
        cosine, scale = self.gate(task, shared_params, main_grads)
        return GateResult(cosine=float(cosine), scale=float(scale))

    def smoothed_cosine(self, task: str) -> float | None:
        """The bias-corrected EMA of ``task``'s cosine (``None`` before its first step)."""
        ema = self._ema.get(task)
        if ema is None:
            return None
        return float(ema) / (1.0 - self.smoothing ** self._count[task])

    def reset(self) -> None:
        """Forget every task's moving average."""
        self._ema.clear()
        self._count.clear()
        self._main_ref = None
        self._main_sq = None

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state: settings and the per-task moving averages."""
        return {
            "mode": self.mode,
            "refresh_every": self.refresh_every,
            "smoothing": self.smoothing,
            "ema": {task: float(value) for task, value in self._ema.items()},
            "count": dict(self._count),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the moving averages of :meth:`state_dict` (settings must match)."""
        for key in ("mode", "refresh_every", "smoothing"):
            if state.get(key) != getattr(self, key):
                raise ValueError(
                    f"gate state has {key}={state.get(key)!r}, this gate {getattr(self, key)!r}"
                )
        device = next((v.device for v in self._ema.values()), None)
        self._ema = {
            task: torch.tensor(float(value), dtype=torch.float32, device=device)
            for task, value in state["ema"].items()
        }
        self._count = {task: int(n) for task, n in state["count"].items()}
        self._main_ref = None
        self._main_sq = None

    def to(self, device: torch.device | str) -> CosineGate:
        """Move the stored moving averages to ``device`` (the trainer does this); returns self."""
        self._ema = {task: value.to(device) for task, value in self._ema.items()}
        return self
