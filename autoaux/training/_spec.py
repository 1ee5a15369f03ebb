"""Optimisation settings (:class:`TrainerSpec`), the AdamW builder and the learning-rate
schedule (linear warm-up, then linear decay to 0 at ``total_steps``) of the trainer."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["TrainerSpec"]


@dataclass(frozen=True)
class TrainerSpec:
    """Optimisation settings.

    Attributes:
        batch_size: training examples per step.
        lr: peak AdamW learning rate.
        weight_decay: AdamW decoupled weight decay (not on biases and LayerNorm weights).
        warmup_steps: linear warm-up length: an ``int`` number of steps, or a ``float`` in
            ``[0, 1)`` read as a fraction of ``total_steps``.
        total_steps: end of the linear decay (the learning rate is 0 from there on); ``None``
            keeps the peak rate after warm-up.
        clip_norm: maximum global gradient norm (``None`` disables clipping).
        device: ``"auto"`` (CUDA when available, else CPU), ``"cpu"`` or ``"cuda"``.
        eval_batch_size: examples per evaluation batch (and per ``max_batches`` unit).
        eval_seed: seed of the fixed evaluation subsample order (independent of the trainer's
            seed, so that every trainer scores a ``max_batches`` subsample on the same examples).
    """

    batch_size: int = 16
    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup_steps: int | float = 0
    total_steps: int | None = None
    clip_norm: float | None = 1.0
    device: str = "auto"
    eval_batch_size: int = 64
    eval_seed: int = 0

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"TrainerSpec.batch_size must be >= 1, got {self.batch_size}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"TrainerSpec.lr must be a positive number, got {self.lr}")
        if not self.weight_decay >= 0:
            raise ValueError(f"TrainerSpec.weight_decay must be >= 0, got {self.weight_decay}")
        if self.total_steps is not None and self.total_steps < 1:
            raise ValueError(
                f"TrainerSpec.total_steps must be >= 1 or None, got {self.total_steps}"
            )
        w = self.warmup_steps
        if isinstance(w, bool) or not isinstance(w, int | float):
            raise ValueError(f"TrainerSpec.warmup_steps must be an int or a float, got {w!r}")
        if isinstance(w, float):
            if not 0.0 <= w < 1.0:
                raise ValueError(
                    f"TrainerSpec.warmup_steps={w}: a float is a fraction of total_steps and "
                    "must be in [0, 1); give an int for a number of steps"
                )
            if w > 0 and self.total_steps is None:
                raise ValueError("TrainerSpec.warmup_steps as a fraction needs total_steps")
        elif w < 0:
            raise ValueError(f"TrainerSpec.warmup_steps must be >= 0, got {w}")
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise ValueError(f"TrainerSpec.clip_norm must be > 0 or None, got {self.clip_norm}")
        if self.eval_batch_size < 1:
            raise ValueError(
                f"TrainerSpec.eval_batch_size must be >= 1, got {self.eval_batch_size}"
            )
        device = str(self.device).strip().lower()
        if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
            raise ValueError(
                "TrainerSpec.device must be 'auto', 'cpu' or 'cuda' (or 'cuda:N'), "
                f"got {self.device!r}"
            )

    @property
    def warmup(self) -> int:
        """Warm-up length in steps."""
        if isinstance(self.warmup_steps, float):
            return round(self.warmup_steps * (self.total_steps or 0))
        return int(self.warmup_steps)


def _adamw(groups: list[dict[str, Any]], *, lr: float) -> torch.optim.AdamW:
    """AdamW with the fused kernel where torch has one for these parameters (CPU and CUDA
    float tensors: one kernel per step instead of a Python loop over parameters; about 4x
    faster on the tiny encoder), else the default implementation."""
    try:
        return torch.optim.AdamW(groups, lr=lr, fused=True)
    except (RuntimeError, ValueError, TypeError):
        return torch.optim.AdamW(groups, lr=lr)


class _LinearSchedule:
    """Learning-rate multiplier: linear warm-up, then linear decay to 0 at ``total``."""

    def __init__(self, warmup: int, total: int | None) -> None:
        self.warmup = warmup
        self.total = total

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / (self.warmup + 1)
        if self.total is None:
            return 1.0
        return max(0.0, (self.total - step) / max(1, self.total - self.warmup))
