"""The model: encoders (tiny WordPiece BERT, MiniLM, local folders), the multi-task model with
one head per task, and the cached encoder whose frozen layers' features are computed once."""

from __future__ import annotations

from autoaux.model.cached import (
    CACHED_ENCODER,
    CACHED_PREFIX,
    CachedEncoder,
    FeatureStore,
    build_cached_encoder,
    cached_model_path,
    finetune_encoder_name,
    is_cached_encoder,
    precompute_features,
)
from autoaux.model.encoders import build_encoder
from autoaux.model.multitask import (
    ENCODERS,
    SPECIAL_TOKENS,
    ModelSpec,
    MultiTaskModel,
    build_plain_encoder,
    describe_encoder,
    minilm_path,
    output_loss,
    train_wordpiece_tokenizer,
)

__all__ = [
    "CACHED_ENCODER",
    "CACHED_PREFIX",
    "ENCODERS",
    "SPECIAL_TOKENS",
    "CachedEncoder",
    "FeatureStore",
    "ModelSpec",
    "MultiTaskModel",
    "build_cached_encoder",
    "build_encoder",
    "build_plain_encoder",
    "cached_model_path",
    "describe_encoder",
    "finetune_encoder_name",
    "is_cached_encoder",
    "minilm_path",
    "output_loss",
    "precompute_features",
    "train_wordpiece_tokenizer",
]
