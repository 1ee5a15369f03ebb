"""The encoder names of the cached mode (``"minilm-cached"``, ``"cached:<folder>"``)."""

from __future__ import annotations

from pathlib import Path

from autoaux.model.multitask import minilm_path

CACHED_ENCODER = "minilm-cached"
"""Encoder name of the cached mode over the packaged all-MiniLM-L6-v2."""
CACHED_PREFIX = "cached:"
"""``"cached:<folder>"``: the cached mode over any local Hugging Face model folder."""


def is_cached_encoder(name: str) -> bool:
    """Whether ``name`` selects the cached mode (``"minilm-cached"`` or ``"cached:<folder>"``)."""
    return name == CACHED_ENCODER or name.startswith(CACHED_PREFIX)


def cached_model_path(name: str) -> Path:
    """The model folder of a cached encoder name.

    Raises ``ValueError`` when ``name`` is not a cached encoder name, when the MiniLM package is
    missing, or when the folder does not exist or has no ``config.json``.
    """
    if name == CACHED_ENCODER:
        return minilm_path()
    if not name.startswith(CACHED_PREFIX):
        raise ValueError(
            f"{name!r} is not a cached encoder: expected {CACHED_ENCODER!r} or "
            f"'{CACHED_PREFIX}<local model folder>'"
        )
    folder = name[len(CACHED_PREFIX) :].strip()
    if not folder:
        raise ValueError(f"encoder {name!r}: name a local model folder after {CACHED_PREFIX!r}")
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise ValueError(f"encoder {name!r}: {path} is not a folder")
    if not (path / "config.json").is_file():
        raise ValueError(f"encoder {name!r}: {path} has no config.json")
    return path


def finetune_encoder_name(name: str) -> str:
    """The full (unfrozen) encoder that corresponds to a selection encoder name:
    ``"minilm-cached"`` -> ``"minilm"``, ``"cached:<folder>"`` -> ``"<folder>"``, others as they
    are."""
    if name == CACHED_ENCODER:
        return "minilm"
    if name.startswith(CACHED_PREFIX):
        return name[len(CACHED_PREFIX) :].strip()
    return name
