"""A rough estimate of the memory a run's model and batches need, checked before anything is
allocated.

Each setting has its own bound, but sizes multiply: ``trainer.batch_size = 100000000`` or a
shared top of 64 layers of width 65536 (about 1 TB of weights) are each within their bounds.
:func:`check_memory` refuses a configuration whose estimate exceeds the machine's physical
memory, as a :class:`~autoaux.errors.ConfigError` naming the setting that dominates. The
estimate is deliberately simple (float32 throughout)::

    weights   = 4 bytes * (trainable parameters * 5        # weights, gradients, AdamW's two
                           + frozen parameters)            # moments, a best-weights snapshot
    a batch   = 4 bytes * batch * positions * per-position floats of every layer
               (transformer: layers * (10 H + 2 I + 2 heads L) + 2 H; cached top: 4 D +
               3 * width * layers, twice for the backward pass)

It catches settings off by orders of magnitude; it does not promise that a run it accepts fits
(the data, the tokenizer and the feature table come on top).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoaux.errors import ConfigError

__all__ = ["MemoryEstimate", "check_memory", "estimate_memory", "physical_memory"]

_GIB = 1 << 30
#: Shape of all-MiniLM-L6-v2 (``"minilm"``, ``"minilm-cached"``): hidden, layers, vocabulary,
#: intermediate width, attention heads.
_MINILM = (384, 6, 30522, 1536, 12)
#: Memory assumed where the machine does not say.
_DEFAULT_MEMORY = 64 * _GIB


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes for the weights (with gradients and optimiser state) and for one batch."""

    weights: int
    batch: int

    @property
    def total(self) -> int:
        return self.weights + self.batch


def physical_memory() -> int:
    """The machine's physical memory in bytes (64 GiB where the system does not say)."""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return _DEFAULT_MEMORY
    return pages * size if pages > 0 and size > 0 else _DEFAULT_MEMORY


def _pretrained_shape(encoder: str) -> tuple[int, int, int, int, int]:
    """Hidden, layers, vocabulary, intermediate width and heads of a pretrained encoder."""
    if encoder in ("minilm", "minilm-cached"):
        return _MINILM
    folder = Path(encoder.removeprefix("cached:"))
    try:
        data = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return _MINILM
    if not isinstance(data, dict):
        return _MINILM

    def number(*keys: str, default: int) -> int:
        for key in keys:
            value = data.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
        return default

    hidden = number("hidden_size", "dim", "d_model", default=768)
    return (
        hidden,
        number("num_hidden_layers", "n_layers", "num_layers", default=12),
        number("vocab_size", default=30522),
        number("intermediate_size", "hidden_dim", "d_ff", default=4 * hidden),
        number("num_attention_heads", "n_heads", default=12),
    )


def estimate_memory(config: Any) -> MemoryEstimate:
    """The estimate of the module docstring for ``config`` (a :class:`RunConfig`)."""
    model, trainer = config.model, config.trainer
    length = model.max_length
    batch = max(trainer.batch_size, trainer.eval_batch_size)
    if model.encoder == "tiny":
        hidden, layers, vocab = model.hidden_size, model.tiny_layers, model.vocab_size
        inner, heads = 2 * hidden, 2
    else:
        hidden, layers, vocab, inner, heads = _pretrained_shape(model.encoder)
        if model.num_layers is not None:
            layers = min(layers, model.num_layers)
    encoder = vocab * hidden + length * hidden + layers * (4 * hidden * hidden + 2 * hidden * inner)
    if model.cached:
        width, depth = model.top_hidden, model.top_layers
        top = 4 * hidden * width + (depth - 1) * width * width
        weights = 4 * (5 * top + encoder)
        per_example = 2 * (4 * hidden + 3 * width * depth)
        return MemoryEstimate(weights=weights, batch=4 * batch * per_example)
    per_position = layers * (10 * hidden + 2 * inner + 2 * heads * length) + 2 * hidden
    return MemoryEstimate(weights=4 * 5 * encoder, batch=4 * batch * length * per_position)


def check_memory(config: Any, *, available: int | None = None) -> None:
    """Refuse ``config`` when :func:`estimate_memory` exceeds ``available`` bytes (default: the
    machine's physical memory).

    Raises:
        ConfigError: naming ``trainer.batch_size`` when the batches dominate, else the model
            setting that sizes the weights.
    """
    have = physical_memory() if available is None else available
    need = estimate_memory(config)
    if need.total <= have:
        return
    model = config.model
    if need.batch >= need.weights:
        key, value = "trainer.batch_size", config.trainer.batch_size
        if config.trainer.eval_batch_size > config.trainer.batch_size:
            key, value = "trainer.eval_batch_size", config.trainer.eval_batch_size
    elif model.cached:
        key, value = "model.top_hidden", model.top_hidden
    elif model.encoder == "tiny":
        key, value = "model.hidden_size", model.hidden_size
    else:
        key, value = "model.encoder", model.encoder
    raise ConfigError(
        key,
        value,
        f"settings whose model and batches fit in memory: about {need.total / _GIB:,.1f} GiB "
        f"needed (weights, gradients and optimiser state {need.weights / _GIB:,.1f} GiB, one "
        f"batch {need.batch / _GIB:,.1f} GiB), {have / _GIB:,.1f} GiB on this machine",
    )
