"""Building a cached encoder and its tokenizer, and precomputing a run's features."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import Any

from torch import nn

from autoaux._device import resolve_device
from autoaux._seeding import isolated_seed
from autoaux.model.cached._encoder import CachedEncoder
from autoaux.model.cached._names import CACHED_ENCODER, cached_model_path
from autoaux.model.cached._store import FeatureStore
from autoaux.model.cached._table import CachedTokenizer, FeatureTable

log = logging.getLogger(__name__)


def build_cached_encoder(
    encoder: str,
    *,
    max_length: int = 64,
    num_layers: int | None = None,
    hidden: int = 256,
    layers: int = 2,
    dropout: float = 0.1,
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
    device: str = "auto",
    batch_size: int | None = None,
    progress: bool = True,
) -> tuple[CachedEncoder, CachedTokenizer]:
    """The cached encoder ``encoder`` (``"minilm-cached"`` or ``"cached:<folder>"``) and its
    tokenizer.

    Nothing is encoded here: vectors are fetched when :func:`precompute_features` (or the
    first forward pass over an example) asks for them. ``seed`` fixes the top's initial
    weights (the global torch random state is left unchanged). ``batch_size`` of the frozen
    encoder defaults to 64 on the CPU and 256 on CUDA.
    """
    path = cached_model_path(encoder)
    if batch_size is None:
        batch_size = 256 if resolve_device(device).type == "cuda" else 64
    store = FeatureStore(
        path,
        num_layers=num_layers,
        max_length=max_length,
        batch_size=batch_size,
        device=device,
        cache_dir=cache_dir,
        progress=progress,
        label="minilm" if encoder == CACHED_ENCODER else None,
    )
    table = FeatureTable(store)
    with isolated_seed(seed):
        module = CachedEncoder(table, source=encoder, hidden=hidden, layers=layers, dropout=dropout)
    module.train()
    return module, CachedTokenizer(table)


def precompute_features(
    model: nn.Module, data: Mapping[str, Any], *, main: str | None = None
) -> int:
    """Fetch, in one pass with one progress bar, the vectors a run will use.

    ``model`` is a :class:`CachedEncoder` or a model holding one as ``.encoder`` (anything else
    is left alone and 0 returned). Covers every training split of ``data`` and the dev and test
    splits of ``main`` (of every task when ``main`` is ``None``); the auxiliary tasks' dev and
    test splits are never scored by the pipeline, so they are encoded only if used. Returns the
    number of texts fetched (cached or encoded).
    """
    encoder = model if isinstance(model, CachedEncoder) else getattr(model, "encoder", None)
    if not isinstance(encoder, CachedEncoder):
        return 0
    ids: set[int] = set()
    for name, td in data.items():
        splits = ("train", "dev", "test") if main is None or name == main else ("train",)
        for split in splits:
            ids.update(row[0] for row in td.split(split).input_ids if row)
    start = time.perf_counter()
    count = encoder.materialize(sorted(ids))
    encoder.table.store.release()
    stats = encoder.table.store.stats
    log.info(
        "cached features: %d texts fetched in %.1fs (%d from the cache, %d encoded)",
        count,
        time.perf_counter() - start,
        stats.hits,
        stats.encoded,
    )
    return count
