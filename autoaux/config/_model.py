"""``[model]``: the shared encoder's settings (:class:`ModelConfig`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from autoaux.config._checks import MAX_POSITIONS, _check_float, _check_int, _check_str, _set
from autoaux.config._vocab import CACHED_PREFIX, ENCODERS
from autoaux.config.defaults import default_encoder
from autoaux.errors import ConfigError

__all__ = ["ModelConfig"]


@dataclass(frozen=True)
class ModelConfig:
    """``[model]``: the shared encoder (see :class:`autoaux.model.multitask.ModelSpec`).

    ``encoder`` is ``"tiny"`` (random-init BERT, WordPiece tokenizer trained on the tasks' text),
    ``"minilm"`` (all-MiniLM-L6-v2 from the ``minilm`` extra), a local Hugging Face model
    folder, or a *cached* frozen encoder (``"minilm-cached"``, ``"cached:<model folder>"``, see
    :mod:`autoaux.model.cached`) whose pooled outputs are computed once and feed a trainable shared
    top of ``top_layers`` layers of width ``top_hidden``. ``num_layers`` keeps only the first N
    layers of a pretrained encoder; ``hidden_size``, ``tiny_layers`` and ``vocab_size`` shape
    the tiny encoder. A config without ``encoder`` gets the measured default,
    :func:`autoaux.config.defaults.default_encoder` (``"minilm-cached"`` when MiniLM is
    installed, which it is with autoaux).
    """

    _section: ClassVar[str] = "model"

    encoder: str = field(default_factory=default_encoder)
    max_length: int = 64
    num_layers: int | None = None
    hidden_size: int = 64
    tiny_layers: int = 2
    vocab_size: int = 8000
    dropout: float = 0.1
    top_hidden: int = 256
    top_layers: int = 2

    def __post_init__(self) -> None:
        _check_str(self, "encoder")
        _check_int(self, "max_length", minimum=8, maximum=MAX_POSITIONS)
        _check_int(self, "num_layers", minimum=1, optional=True)
        _check_int(self, "hidden_size", minimum=2, maximum=4096)
        _check_int(self, "tiny_layers", minimum=1, maximum=48)
        _check_int(self, "vocab_size", minimum=100, maximum=1_000_000)
        _check_float(self, "dropout", minimum=0.0, maximum=0.9)
        _check_int(self, "top_hidden", minimum=1, maximum=65536)
        _check_int(self, "top_layers", minimum=1, maximum=64)
        folder = self.encoder.removeprefix(CACHED_PREFIX).strip()
        if self.encoder not in ENCODERS and not Path(folder).expanduser().is_dir():
            raise ConfigError(
                "model.encoder",
                self.encoder,
                "'tiny', 'minilm', 'minilm-cached', an existing local model folder "
                "or 'cached:<existing local model folder>'",
            )
        if self.encoder not in ENCODERS:  # a model folder, stored resolved
            prefix = CACHED_PREFIX if self.encoder.startswith(CACHED_PREFIX) else ""
            _set(self, "encoder", prefix + str(Path(folder).expanduser().resolve()))
            positions = _positions(Path(folder).expanduser())
            if positions is not None and self.max_length > positions:
                raise ConfigError(
                    "model.max_length", self.max_length,
                    f"at most {positions} (the positions of the encoder in {folder})",
                )  # fmt: skip

    @property
    def cached(self) -> bool:
        """Whether the encoder is a cached frozen one (``autoaux.model.cached``)."""
        return self.encoder == "minilm-cached" or self.encoder.startswith(CACHED_PREFIX)


def _positions(folder: Path) -> int | None:
    """``max_position_embeddings`` of a local model folder's ``config.json``, if it says."""
    try:
        value = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        positions = value.get("max_position_embeddings")
    except (OSError, ValueError, AttributeError):
        return None
    return positions if isinstance(positions, int) and positions > 0 else None
