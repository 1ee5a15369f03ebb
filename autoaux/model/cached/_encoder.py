"""The encoder module of the cached mode: cached vectors as buffers and a trainable top."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from autoaux.model.cached._table import FeatureTable


@dataclass(frozen=True)
class CachedEncoderConfig:
    """What a :class:`CachedEncoder` is (read by ``MultiTaskModel`` and ``describe_encoder``).

    ``hidden_size`` is the top's output width (the heads' input), ``num_hidden_layers`` the
    number of trainable top layers; ``feature_dim`` the frozen encoder's width ``D`` and
    ``input_dim = 4 D`` the top's input.
    """

    source: str
    model_path: str
    model_key: str
    feature_dim: int
    input_dim: int
    hidden_size: int
    num_hidden_layers: int
    frozen_layers: int | None
    max_length: int
    dropout: float


@dataclass
class CachedEncoderOutput:
    """``last_hidden_state``: ``(B, L, H)``, like a transformers encoder output."""

    last_hidden_state: Tensor


class SharedTop(nn.Module):
    """The trainable shared network: ``layers`` linear layers with GELU, dropout between them.

    ``(..., input_dim) -> (..., hidden)``; ``layers = 2`` is
    ``GELU(W2 . dropout(GELU(W1 x + b1)) + b2)``.

    :meth:`forward_leading` computes the same function for an input whose every block after the
    first ``d`` entries is zero (``x = [u, 0, 0, 0]``): ``W1 x = W1[:, :d] u``, so the first
    layer multiplies only the non-zero block (a quarter of the work for single texts). Outputs
    and gradients equal the plain path's up to float rounding; the gradient of ``W1[:, d:]`` is
    exactly zero on both.
    """

    def __init__(self, input_dim: int, hidden: int, *, layers: int = 2, dropout: float = 0.1):
        super().__init__()
        if layers < 1:
            raise ValueError(f"the shared top needs at least one layer, got {layers}")
        modules: list[nn.Module] = []
        width = input_dim
        for i in range(layers):
            if i:
                modules.append(nn.Dropout(dropout))
            modules += [nn.Linear(width, hidden), nn.GELU()]
            width = hidden
        self.net = nn.Sequential(*modules)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.net(x)
        return out

    def forward_leading(self, u: Tensor) -> Tensor:
        """``forward([u, 0, ..., 0])`` for ``u`` of shape ``(..., d)``, ``d <= input_dim``,
        with the first layer computed on the ``d`` non-zero inputs only."""
        first = self.net[0]
        assert isinstance(first, nn.Linear)
        h = F.linear(u, first.weight[:, : u.shape[-1]], first.bias)
        for module in itertools.islice(self.net, 1, None):
            h = module(h)
        return h


class CachedEncoder(nn.Module):
    """Frozen cached sentence vectors (buffers) and a trainable :class:`SharedTop`.

    ``forward(input_ids, attention_mask=None)``: ``input_ids`` ``(B, L)`` are example ids from
    the :class:`CachedTokenizer` (``L = 1`` in practice; 0 is padding); returns
    ``last_hidden_state = top([u, m v, m |u - v|, m u v])`` of shape ``(B, L, H)``, with ``u``,
    ``v`` the vectors of the example's texts and ``m`` 1 for pairs, 0 for single texts.
    Examples whose vectors are not in the buffers yet are fetched from the table (and so from
    the disk cache or the frozen encoder) on first use.

    The vectors live in non-persistent buffers: they move with ``.to(device)`` but stay out of
    ``state_dict()``, so snapshots, checkpoints and saved models hold only the top (and the
    heads). Only the top has parameters, so ``MultiTaskModel.shared_parameters()`` (gating) is
    exactly the top's.

    A batch of single texts only (every ``m = 0``, as in every batch of a single-text task)
    goes through :meth:`SharedTop.forward_leading`: the first layer multiplies ``u`` alone
    instead of ``[u, 0, 0, 0]``, a quarter of its work, with the same outputs and gradients up
    to float rounding. ``skip_zero_blocks = False`` forces the plain product (for comparison).
    """

    examples: Tensor
    is_pair: Tensor
    vectors: Tensor
    example_ready: Tensor

    def __init__(
        self,
        table: FeatureTable,
        *,
        source: str,
        hidden: int = 256,
        layers: int = 2,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.table = table
        store = table.store
        self.config = CachedEncoderConfig(
            source=source,
            model_path=str(store.model_path),
            model_key=store.key,
            feature_dim=table.dim,
            input_dim=4 * table.dim,
            hidden_size=hidden,
            num_hidden_layers=layers,
            frozen_layers=store.num_layers,
            max_length=store.max_length,
            dropout=dropout,
        )
        self.top = SharedTop(4 * table.dim, hidden, layers=layers, dropout=dropout)
        self.register_buffer("examples", torch.zeros(1, 2, dtype=torch.long), persistent=False)
        self.register_buffer("is_pair", torch.zeros(1, dtype=torch.bool), persistent=False)
        self.register_buffer("vectors", torch.zeros(1, table.dim), persistent=False)
        self.register_buffer("example_ready", torch.ones(1, dtype=torch.bool), persistent=False)
        self.skip_zero_blocks = True
        self._version = -1
        self._complete = False
        self._any_pair = False

    def _sync(self) -> None:
        """Copy the table into the buffers if it changed since the last copy."""
        if self._version == self.table.version:
            return
        examples, is_pair, vectors, ready = self.table.arrays()
        device = self.vectors.device
        with torch.inference_mode(False), torch.no_grad():
            self.examples = torch.from_numpy(examples).to(device)
            self.is_pair = torch.from_numpy(is_pair).to(device)
            self.vectors = torch.from_numpy(vectors).to(device)
            self.example_ready = torch.from_numpy(ready).to(device)
        self._version = self.table.version
        self._complete = bool(ready.all())
        self._any_pair = bool(is_pair.any())

    def materialize(self, examples: Iterable[int] | None = None) -> int:
        """Fetch the vectors of ``examples`` (default: every registered one); see
        :meth:`FeatureTable.materialize`."""
        count = self.table.materialize(examples)
        self._sync()
        return count

    def forward(
        self, input_ids: Tensor, attention_mask: Tensor | None = None, **_: Any
    ) -> CachedEncoderOutput:
        self._sync()
        if input_ids.numel() and int(input_ids.max()) >= len(self.examples):
            raise IndexError(
                f"example id {int(input_ids.max())} is not in the feature table "
                f"({len(self.examples)} ids); were these ids made by another CachedTokenizer?"
            )
        if not self._complete and not bool(self.example_ready[input_ids].all()):
            self.materialize(torch.unique(input_ids).tolist())
        rows = self.examples[input_ids]  # (B, L, 2)
        u = self.vectors[rows[..., 0]]  # (B, L, D)
        if self.skip_zero_blocks and (
            not self._any_pair or not bool(self.is_pair[input_ids].any())
        ):  # single texts only: x = [u, 0, 0, 0]
            return CachedEncoderOutput(last_hidden_state=self.top.forward_leading(u))
        v = self.vectors[rows[..., 1]]
        m = self.is_pair[input_ids].unsqueeze(-1).to(u.dtype)  # (B, L, 1)
        x = torch.cat([u, m * v, m * (u - v).abs(), m * u * v], dim=-1)  # (B, L, 4D)
        return CachedEncoderOutput(last_hidden_state=self.top(x))
