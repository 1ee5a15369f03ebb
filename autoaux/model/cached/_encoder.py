"""The encoder module of the cached mode: cached vectors as buffers and a trainable top."""

from __future__ import annotations

import itertools
from collections import OrderedDict
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


class LeadingLinear(nn.Module):
    """``nn.Linear(in_features, out_features)`` whose weight is held as two parameters: the
    columns of the leading ``lead`` inputs (``weight_lead``) and the rest (``weight_rest``).

    The values are those of one ``nn.Linear`` (it is built as one and split, so the random
    initialisation is the same), and ``state_dict()`` / ``load_state_dict()`` read and write
    them as one ``weight`` of shape ``(out_features, in_features)``: checkpoints, snapshots and
    saved models do not see the split. :meth:`forward` multiplies the whole weight (the two
    blocks joined: the same product as one ``nn.Linear``); :meth:`forward_leading` multiplies
    ``weight_lead`` alone, for inputs whose entries after the first ``lead`` are zero. Such a
    step leaves ``weight_rest.grad`` untouched (``None``), so an optimiser that is not given
    ``weight_rest`` does no work on it (see ``MultiTaskModel.pair_parameters``).
    """

    def __init__(self, in_features: int, out_features: int, *, lead: int) -> None:
        super().__init__()
        if not 0 < lead <= in_features:
            raise ValueError(f"lead must be in 1..{in_features}, got {lead}")
        linear = nn.Linear(in_features, out_features)
        weight = linear.weight.detach()
        self.in_features, self.out_features, self.lead = in_features, out_features, lead
        self.weight_lead = nn.Parameter(weight[:, :lead].clone())
        self.weight_rest = nn.Parameter(weight[:, lead:].clone())
        self.bias = linear.bias
        self.register_state_dict_post_hook(_join_weight)
        self.register_load_state_dict_pre_hook(_split_weight)

    @property
    def weight(self) -> Tensor:
        """The whole weight, ``(out_features, in_features)`` (the two blocks joined)."""
        return torch.cat([self.weight_lead, self.weight_rest], dim=1)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def forward_leading(self, u: Tensor) -> Tensor:
        """``forward([u, 0, ..., 0])`` for ``u`` of width ``d <= in_features``."""
        d = u.shape[-1]
        if d == self.lead:
            return F.linear(u, self.weight_lead, self.bias)
        weight = self.weight_lead[:, :d] if d < self.lead else self.weight[:, :d]
        return F.linear(u, weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, lead={self.lead}"


def _join_weight(
    module: nn.Module, state: OrderedDict[str, Any], prefix: str, _metadata: Any
) -> None:
    lead, rest = state.pop(prefix + "weight_lead"), state.pop(prefix + "weight_rest")
    state[prefix + "weight"] = torch.cat([lead, rest], dim=1)
    state.move_to_end(prefix + "bias")  # nn.Linear's order: weight, then bias


def _split_weight(module: nn.Module, state: dict[str, Any], prefix: str, *_: Any) -> None:
    weight = state.get(prefix + "weight")
    if isinstance(weight, Tensor) and weight.ndim == 2:
        assert isinstance(module, LeadingLinear)
        del state[prefix + "weight"]
        state[prefix + "weight_lead"] = weight[:, : module.lead]
        state[prefix + "weight_rest"] = weight[:, module.lead :]


class SharedTop(nn.Module):
    """The trainable shared network: ``layers`` linear layers with GELU, dropout between them.

    ``(..., input_dim) -> (..., hidden)``; ``layers = 2`` is
    ``GELU(W2 . dropout(GELU(W1 x + b1)) + b2)``.

    :meth:`forward_leading` computes the same function for an input whose every block after the
    first ``lead`` entries is zero (``x = [u, 0, 0, 0]``): ``W1 x = W1[:, :lead] u``, so the first
    layer multiplies only the non-zero block (a quarter of the work for single texts), and its
    backward leaves the gradient of ``W1[:, lead:]`` untouched. The first layer is a
    :class:`LeadingLinear` that holds those columns as a parameter of their own
    (:meth:`pair_parameters`), so an optimiser for single texts only can leave them out.
    Outputs and gradients equal the plain path's up to float rounding.
    """

    def __init__(
        self,
        input_dim: int,
        hidden: int,
        *,
        layers: int = 2,
        dropout: float = 0.1,
        lead: int | None = None,
    ):
        super().__init__()
        if layers < 1:
            raise ValueError(f"the shared top needs at least one layer, got {layers}")
        lead = input_dim // 4 if lead is None else lead
        modules: list[nn.Module] = []
        width = input_dim
        for i in range(layers):
            if i:
                modules.append(nn.Dropout(dropout))
            layer = LeadingLinear(width, hidden, lead=lead) if not i else nn.Linear(width, hidden)
            modules += [layer, nn.GELU()]
            width = hidden
        self.net = nn.Sequential(*modules)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.net(x)
        return out

    def forward_leading(self, u: Tensor) -> Tensor:
        """``forward([u, 0, ..., 0])`` for ``u`` of shape ``(..., d)``, ``d <= input_dim``,
        with the first layer computed on the ``d`` non-zero inputs only."""
        first = self.net[0]
        assert isinstance(first, LeadingLinear)
        h = first.forward_leading(u)
        for module in itertools.islice(self.net, 1, None):
            h = module(h)
        return h

    def pair_parameters(self) -> list[nn.Parameter]:
        """The parameters only inputs with a non-zero block after the first ``lead`` train:
        the first layer's ``weight_rest``."""
        first = self.net[0]
        assert isinstance(first, LeadingLinear)
        return [first.weight_rest]


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

    def pair_parameters(self) -> list[nn.Parameter]:
        """The top's parameters that only sentence pairs train (see :class:`SharedTop`)."""
        return self.top.pair_parameters()

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
