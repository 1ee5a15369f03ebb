"""Choosing the encoder: the one place where an encoder name becomes an encoder.

``"tiny"`` (random-init BERT with a WordPiece tokenizer trained on the run's texts), ``"minilm"``
and local Hugging Face folders come from :func:`autoaux.model.multitask.build_plain_encoder`;
``"minilm-cached"`` and ``"cached:<folder>"`` (frozen vectors on disk + a trainable shared top)
from :func:`autoaux.model.cached.build_cached_encoder`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from autoaux.model.cached import build_cached_encoder, is_cached_encoder
from autoaux.model.multitask import ModelSpec, build_plain_encoder

__all__ = ["build_encoder"]


def build_encoder(spec: ModelSpec, *, texts: Sequence[str], seed: int) -> tuple[nn.Module, Any]:
    """The encoder and its tokenizer for ``spec``.

    ``texts`` trains the tiny encoder's tokenizer (pass every training text of every task,
    both sides of sentence pairs); pretrained encoders ignore it. ``seed`` fixes the tiny
    encoder's random initialisation; the global torch random state is left unchanged.
    """
    if is_cached_encoder(spec.encoder):
        return build_cached_encoder(
            spec.encoder,
            max_length=spec.max_length,
            num_layers=spec.num_layers,
            hidden=spec.top_hidden,
            layers=spec.top_layers,
            dropout=spec.dropout,
            seed=seed,
        )
    return build_plain_encoder(spec, texts=texts, seed=seed)
