"""Compatibility alias of :mod:`autoaux._finetune` (use ``autoaux.finetune(...)``).

The implementation lives in the private module ``autoaux._finetune``: a public submodule named
``finetune`` would replace the package attribute ``autoaux.finetune`` (the function) by the
module as soon as anything imported the submodule. This alias is only what the package's lazy
loader reads until it names ``_finetune`` directly; import from ``autoaux`` instead.
"""

from __future__ import annotations

from ._finetune import DEFAULT_PRETRAINED_LR, FinetuneResult, finetune, read_mixture

__all__ = ["DEFAULT_PRETRAINED_LR", "FinetuneResult", "finetune", "read_mixture"]
