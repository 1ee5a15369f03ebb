"""A cached, frozen pretrained encoder with a small trainable shared top (encoder mode
``"minilm-cached"`` or ``"cached:<local model folder>"``).

Selection runs hundreds of short trainings; fine-tuning a whole pretrained encoder for each is
far too slow on a CPU (about one second a step for MiniLM-L6 on 2 cores). As in AutoSem's own
"cached ELMo" setting, this mode runs the frozen pretrained encoder **once per example** and
trains only a small network on top of its outputs, so a training step costs milliseconds::

    u   = mean_{l: mask[l]=1} frozen(text)[l]            # (D,) sentence vector, computed once
    x   = [u, 0, 0, 0]                                  # single text          (4D,)
        | [u, v, |u - v|, u * v]                        # sentence pair (u, v) (4D,)
    h   = top(x) = GELU(W2 . dropout(GELU(W1 x + b1)) + b2)  # (H,) shared, trainable
    out = head_task(dropout(h))                         # per task (MultiTaskModel)

The pair combination is the usual one for sentence-pair classifiers over sentence vectors
(InferSent, Sentence-BERT). A single text fills only the first block, so single-text and pair
tasks share one input layer: the ``u`` block of ``W1`` is the same for both.

Pieces, which plug into the ordinary :class:`~autoaux.model.multitask.MultiTaskModel` and
:class:`~autoaux.training.trainer.Trainer` without any change there:

- :class:`FeatureStore`: the on-disk, content-addressed cache of sentence vectors of one frozen
  encoder (model folder, number of layers kept, ``max_length``), under
  ``autoaux.paths.cache_dir() / "features"``. Vectors are looked up by a hash of the text, so a
  second run on the same tasks encodes nothing and a task that shares texts with another
  reuses them. Missing texts are encoded in length-sorted batches (tqdm progress bar) and
  written as they come, one shard file per ``shard_rows`` texts; only one batch of token states
  exists at a time. Processes encoding the same texts at once split the work through per-claim
  lock files instead of each encoding everything. Each shard carries a header (format, model
  key, dimension, count) and a SHA-256 of its payload; a corrupted, truncated or stale shard is
  detected, removed and its texts are encoded again.
- :class:`CachedTokenizer`: a duck-typed tokenizer for :func:`tasks.encoding.encode_split`
  that maps each example (a text, or a text pair) to ONE id, its row in a
  :class:`FeatureTable`; id 0 is padding.
- :class:`CachedEncoder`: an ``nn.Module`` holding the table's vectors as *non-persistent
  buffers* (never parameters, never in ``state_dict``, so snapshots and checkpoints stay small)
  and the trainable :class:`SharedTop`. ``forward(input_ids, attention_mask)`` returns a
  ``last_hidden_state`` of shape ``(B, L, H)`` (``L = 1`` here), so the masked-mean pooling and
  the heads of :class:`~autoaux.model.multitask.MultiTaskModel` work unchanged, and
  ``shared_parameters()`` (what gradient gating acts on) is exactly the top's parameters.
- :func:`precompute_features`: encodes, in one pass with one progress bar, every text a run
  will use (all training splits, the main task's dev and test splits). Rows that were not
  precomputed are encoded on first use, so the encoder is always correct, only slower then.

Only the pooled vectors are cached; trainable top *transformer* layers would need the token
states of the last frozen layer (``max_length`` times more storage, about 3 GB for the
built-in suite in float32) and a transformer step per batch, which is what this mode avoids.

The code sits in private modules by job, re-exported here: ``_names`` (encoder names),
``_key`` (text hash, cache key), ``_store`` (:class:`FeatureStore`), ``_table``
(:class:`FeatureTable`, :class:`CachedTokenizer`), ``_encoder`` (:class:`CachedEncoder`,
:class:`SharedTop`, :class:`LeadingLinear`) and ``_build`` (:func:`build_cached_encoder`,
:func:`precompute_features`).
"""

from __future__ import annotations

from autoaux.model.cached._build import build_cached_encoder, precompute_features
from autoaux.model.cached._encoder import (
    CachedEncoder,
    CachedEncoderConfig,
    CachedEncoderOutput,
    LeadingLinear,
    SharedTop,
)
from autoaux.model.cached._key import FORMAT_VERSION, model_key, text_hash
from autoaux.model.cached._names import (
    CACHED_ENCODER,
    CACHED_PREFIX,
    cached_model_path,
    finetune_encoder_name,
    is_cached_encoder,
)
from autoaux.model.cached._store import CacheStats, FeatureStore
from autoaux.model.cached._table import CachedTokenizer, FeatureTable

__all__ = [
    "CACHED_ENCODER",
    "CACHED_PREFIX",
    "FORMAT_VERSION",
    "CacheStats",
    "CachedEncoder",
    "CachedEncoderConfig",
    "CachedEncoderOutput",
    "CachedTokenizer",
    "FeatureStore",
    "FeatureTable",
    "LeadingLinear",
    "SharedTop",
    "build_cached_encoder",
    "cached_model_path",
    "finetune_encoder_name",
    "is_cached_encoder",
    "model_key",
    "precompute_features",
    "text_hash",
]
