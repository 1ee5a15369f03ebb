"""A task-routing wrapper over any Hugging Face encoder: one small head per task."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn
from transformers.modeling_outputs import SequenceClassifierOutput

from autoaux._seeding import derive_seed, isolated_seed
from autoaux.model.multitask import output_loss

__all__ = ["POOLINGS", "HeadSpec", "MixtureModel"]

POOLINGS: tuple[str, ...] = ("mean", "cls")


@dataclass(frozen=True)
class HeadSpec:
    """One task's head: ``kind`` ("classification" or "regression") and its output count
    (``num_labels`` for classification, 1 for regression)."""

    kind: str
    num_outputs: int

    def __post_init__(self) -> None:
        if self.kind not in ("classification", "regression"):
            raise ValueError(
                f"HeadSpec.kind must be 'classification' or 'regression', got {self.kind!r}"
            )
        if self.kind == "regression" and self.num_outputs != 1:
            raise ValueError(f"a regression head has one output, got {self.num_outputs}")
        if self.num_outputs < 1:
            raise ValueError(f"HeadSpec.num_outputs must be >= 1, got {self.num_outputs}")


def _hidden_size(encoder: nn.Module) -> int:
    config = getattr(encoder, "config", None)
    for name in ("hidden_size", "dim", "d_model"):
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    raise ValueError(f"cannot read the hidden size of {type(encoder).__name__} from its config")


class MixtureModel(nn.Module):
    """A shared encoder and one linear head per task; each call runs one task's head.

    ::

        h = encoder(input_ids, attention_mask).last_hidden_state        # (B, L, H)
        pooled = sum_l mask[b, l] h[b, l] / max(1, sum_l mask[b, l])     # "mean"  (B, H)
               | h[:, 0]                                                # "cls"   (B, H)
        logits = head_task(dropout(pooled))                             # (B, n_out)
        loss = cross_entropy(logits, labels)        # classification
             | mse(logits[:, 0], labels)            # regression

    Only ``head_task`` takes part in a call, so a batch of task ``a`` gives gradients to the
    encoder and to ``a``'s head and to no other head (their ``.grad`` stays ``None`` and the
    optimiser leaves them untouched on that step). The encoder's own pooler (BERT's
    ``pooler``), unused here, is removed from it, so every encoder parameter gets a gradient.

    ``forward`` follows the ``transformers`` conventions, so a ``transformers.Trainer`` can
    drive it: keyword tensors in, a ``SequenceClassifierOutput`` (``loss`` when ``labels`` are
    given, ``logits``) out, plus ``task`` naming the head (default: the first head, normally
    the main task).

    Args:
        encoder: any Hugging Face encoder (``AutoModel``) returning ``last_hidden_state``.
        heads: task -> :class:`HeadSpec` (or a ``(kind, num_outputs)`` pair), main task first.
        pooling: ``"mean"`` (masked mean over real tokens) or ``"cls"`` (the first token).
        dropout: dropout on the pooled representation.
        seed: seeds each head's initialisation from ``seed`` and the task name (the global
            torch random state is left as it was); ``None`` uses torch's global generator.
    """

    def __init__(
        self,
        encoder: nn.Module,
        heads: Mapping[str, HeadSpec | tuple[str, int]],
        *,
        pooling: str = "mean",
        dropout: float = 0.1,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if not heads:
            raise ValueError("MixtureModel needs at least one task head")
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if isinstance(getattr(encoder, "pooler", None), nn.Module):
            # The encoder's own pooler is unused here and would get no gradient.
            setattr(encoder, "pooler", None)  # noqa: B010
        self.encoder = encoder
        self.pooling = pooling
        self.hidden_size = _hidden_size(encoder)
        self.dropout = nn.Dropout(dropout)
        self.specs: dict[str, HeadSpec] = {}
        self.heads = nn.ModuleDict()
        for name, spec in heads.items():
            head_spec = spec if isinstance(spec, HeadSpec) else HeadSpec(*spec)
            self.specs[name] = head_spec
            if seed is None:
                self.heads[name] = nn.Linear(self.hidden_size, head_spec.num_outputs)
            else:
                with isolated_seed(derive_seed(seed, "hf-head", name)):
                    self.heads[name] = nn.Linear(self.hidden_size, head_spec.num_outputs)

    @classmethod
    def from_pretrained(
        cls,
        model_name_or_path: str | os.PathLike[str],
        heads: Mapping[str, HeadSpec | tuple[str, int]],
        *,
        pooling: str = "mean",
        dropout: float = 0.1,
        seed: int | None = None,
        local_files_only: bool = True,
        **encoder_kwargs: Any,
    ) -> MixtureModel:
        """Load the encoder with ``transformers.AutoModel.from_pretrained`` and add heads.

        ``local_files_only=True`` (the default) never contacts the Hugging Face hub: pass a
        local model folder, or ``local_files_only=False`` to allow a download.
        """
        from transformers import AutoModel

        encoder = AutoModel.from_pretrained(
            str(model_name_or_path), local_files_only=local_files_only, **encoder_kwargs
        )
        return cls(encoder, heads, pooling=pooling, dropout=dropout, seed=seed)

    @property
    def task_names(self) -> tuple[str, ...]:
        """The tasks with a head, in order."""
        return tuple(self.heads.keys())

    def pool(
        self, input_ids: Tensor, attention_mask: Tensor | None, **encoder_inputs: Any
    ) -> Tensor:
        """The pooled encoder representation, shape ``(B, H)``."""
        if attention_mask is None:
            attention_mask = input_ids.new_ones(input_ids.shape)
        hidden = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, **encoder_inputs
        ).last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        labels: Tensor | None = None,
        task: str | None = None,
        token_type_ids: Tensor | None = None,
    ) -> SequenceClassifierOutput:
        """Run ``task``'s head on the batch; the loss when ``labels`` are given."""
        name = self.task_names[0] if task is None else task
        if name not in self.heads:
            raise KeyError(f"no head for task {name!r}; heads: {list(self.heads)}")
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        pooled = self.pool(input_ids, attention_mask, **extra)
        logits = self.heads[name](self.dropout(pooled))
        loss = None if labels is None else output_loss(logits, labels, self.specs[name].kind)
        return SequenceClassifierOutput(loss=loss, logits=logits)
