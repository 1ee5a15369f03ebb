"""Tokenisation and batching for the trainer (numpy only, no models).

``encode_split`` turns examples into token ids once, with a Hugging Face fast tokenizer called on
whole chunks of texts (fast tokenizers encode a list in parallel in Rust). ``BatchIterator`` then
serves endless, seeded, dynamically padded training batches, and ``iter_batches`` one ordered
pass for evaluation.

Batch layout (``B`` examples, ``L`` = longest sequence in the batch):

- ``input_ids``: int64, shape ``(B, L)``, right-padded with ``pad_id``;
- ``attention_mask``: int64, shape ``(B, L)``, 1 on real tokens, 0 on padding;
- ``labels``: int64 class indices or float32 targets, shape ``(B,)``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._types import Example

_CHUNK = 2048


@dataclass(frozen=True, eq=False)
class EncodedSplit:
    """Token ids of one split and its labels.

    ``input_ids[i]`` is the (unpadded, truncated) id list of example ``i``, special tokens
    included; ``labels`` has shape ``(N,)``, int64 for classification and float32 for regression.
    Equality is identity (the fields hold a list and an array).
    """

    input_ids: list[list[int]]
    labels: np.ndarray

    def __post_init__(self) -> None:
        if len(self.input_ids) != len(self.labels):
            raise ValueError(
                f"EncodedSplit: {len(self.input_ids)} id lists but {len(self.labels)} labels"
            )

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> np.ndarray:
        """Sequence length of each example, shape ``(N,)``."""
        return np.fromiter((len(ids) for ids in self.input_ids), dtype=np.int64)


def encode_split(examples: Sequence[Example], tokenizer: Any, *, max_length: int) -> EncodedSplit:
    """Tokenise ``examples`` with ``tokenizer``, truncating each to ``max_length`` tokens.

    ``tokenizer`` is any Hugging Face fast tokenizer (duck-typed: called as
    ``tokenizer(texts, text_pair=pairs, truncation=True, max_length=max_length)`` and returning a
    mapping with ``"input_ids"``). Sentence pairs are encoded together (``[CLS] a [SEP] b [SEP]``
    for BERT), truncating the longer side first. Examples are all single texts or all pairs.
    Labels become int64 when every label is an ``int`` (classification), float32 otherwise.
    """
    if max_length < 2:
        raise ValueError(f"max_length must be at least 2, got {max_length}")
    examples = list(examples)
    if not callable(tokenizer):
        raise TypeError(
            "tokenizer must be a callable Hugging Face fast tokenizer; wrap a raw "
            "tokenizers.Tokenizer in transformers.PreTrainedTokenizerFast(tokenizer_object=...)"
        )
    has_pair = [ex.text_pair is not None for ex in examples]
    if any(has_pair) and not all(has_pair):
        raise ValueError("encode_split: mix of single texts and sentence pairs")
    is_pair = bool(examples) and all(has_pair)
    ids: list[list[int]] = []
    for start in range(0, len(examples), _CHUNK):
        chunk = examples[start : start + _CHUNK]
        texts = [ex.text for ex in chunk]
        pairs = [str(ex.text_pair) for ex in chunk] if is_pair else None
        out = tokenizer(texts, text_pair=pairs, truncation=True, max_length=max_length)
        ids.extend(
            row if isinstance(row, list) else [int(t) for t in row] for row in out["input_ids"]
        )
    if examples and all(isinstance(ex.label, int | np.integer) for ex in examples):
        labels = np.asarray([ex.label for ex in examples], dtype=np.int64)
    else:
        labels = np.asarray([ex.label for ex in examples], dtype=np.float32)
    return EncodedSplit(input_ids=ids, labels=labels)


def _collate(encoded: EncodedSplit, index: np.ndarray, pad_id: int) -> dict[str, np.ndarray]:
    rows = [encoded.input_ids[int(i)] for i in index]
    width = max((len(r) for r in rows), default=0)
    input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for k, row in enumerate(rows):
        input_ids[k, : len(row)] = row
        mask[k, : len(row)] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "labels": encoded.labels[index]}


class BatchIterator:
    """Endless, seeded, reshuffling batches over one encoded split.

    Each epoch draws a fresh permutation of ``0..N-1`` from the iterator's own
    ``numpy.random.Generator``; the epochs' permutations are read as one stream and cut into
    batches of exactly ``batch_size``, so a batch may straddle two epochs and every batch has the
    same size (a split smaller than ``batch_size`` repeats examples within a batch).
    ``state_dict()`` records the generator state at the start of the current epoch and the
    position inside it; ``load_state_dict`` redraws that permutation, so a resumed run sees
    exactly the batches the original run would have seen.
    """

    def __init__(
        self, encoded: EncodedSplit, *, batch_size: int, seed: int | None, pad_id: int = 0
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if len(encoded) == 0:
            raise ValueError("BatchIterator needs at least one example")
        self.encoded = encoded
        self.batch_size = batch_size
        self.pad_id = pad_id
        self._rng = np.random.default_rng(seed)
        self._epoch = -1
        self._epoch_state: dict[str, Any] = {}
        self._order = np.empty(0, dtype=np.int64)
        self._position = 0
        self._new_epoch()

    def _new_epoch(self) -> None:
        self._epoch_state = dict(self._rng.bit_generator.state)
        self._order = self._rng.permutation(len(self.encoded))
        self._position = 0
        self._epoch += 1

    @property
    def epoch(self) -> int:
        """Number of completed passes over the split."""
        return self._epoch

    def next_indices(self) -> np.ndarray:
        """Example indices of the next batch, shape ``(batch_size,)``."""
        parts: list[np.ndarray] = []
        need = self.batch_size
        while need > 0:
            if self._position >= len(self._order):
                self._new_epoch()
            take = self._order[self._position : self._position + need]
            parts.append(take)
            self._position += len(take)
            need -= len(take)
        return np.concatenate(parts)

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        return _collate(self.encoded, self.next_indices(), self.pad_id)

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable position: epoch, offset in it, generator state at its start."""
        return {
            "epoch": self._epoch,
            "position": self._position,
            "epoch_rng_state": _jsonable(self._epoch_state),
            "size": len(self.encoded),
            "batch_size": self.batch_size,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from :meth:`state_dict` (same split size required)."""
        if int(state["size"]) != len(self.encoded):
            raise ValueError(
                f"state is for a split of {state['size']} examples, this one has "
                f"{len(self.encoded)}"
            )
        self._rng.bit_generator.state = state["epoch_rng_state"]
        self._epoch = int(state["epoch"]) - 1
        self._new_epoch()
        self._position = int(state["position"])


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.integer):
        return int(value)
    return value


def iter_batches(
    encoded: EncodedSplit, *, batch_size: int, pad_id: int = 0
) -> Iterator[dict[str, np.ndarray]]:
    """One ordered pass over ``encoded`` in batches (the last one may be smaller)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for start in range(0, len(encoded), batch_size):
        index = np.arange(start, min(start + batch_size, len(encoded)))
        yield _collate(encoded, index, pad_id)


__all__ = ["BatchIterator", "EncodedSplit", "encode_split", "iter_batches"]
