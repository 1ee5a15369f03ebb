"""The table of registered examples, and the tokenizer that fills it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from autoaux.model.cached._store import FeatureStore


class FeatureTable:
    """The examples registered so far and, once materialised, their texts' vectors.

    Example ids start at 1 (0 is padding). Example ``e`` refers to text rows
    ``(a, b)``: ``b = 0`` (the all-zero row) for a single text. ``vectors[r]`` is text row
    ``r``'s sentence vector once ``r`` is *ready* (fetched from the :class:`FeatureStore`).
    Registration and materialisation bump :attr:`version`, which tells a
    :class:`CachedEncoder` to refresh its buffers. The table is append-only and shared: a deep
    copy (``MultiTaskModel.clone``) returns the table itself.
    """

    def __init__(self, store: FeatureStore) -> None:
        self.store = store
        self.dim = store.dim
        self._text_rows: dict[str, int] = {}
        self._texts: list[str] = [""]
        self._example_ids: dict[tuple[int, int, bool], int] = {}
        self._examples: list[tuple[int, int]] = [(0, 0)]
        self._is_pair: list[bool] = [False]
        self._vectors = np.zeros((1024, self.dim), dtype=np.float32)
        self._ready = np.zeros(1024, dtype=bool)
        self._ready[0] = True
        self.version = 0

    def __deepcopy__(self, memo: dict[int, Any]) -> FeatureTable:
        return self

    def __len__(self) -> int:
        """Number of example ids, padding included."""
        return len(self._examples)

    @property
    def num_texts(self) -> int:
        """Distinct registered texts."""
        return len(self._texts) - 1

    def _text_row(self, text: str) -> int:
        row = self._text_rows.get(text)
        if row is None:
            row = len(self._texts)
            self._texts.append(text)
            self._text_rows[text] = row
            if row >= len(self._ready):
                grow = max(1024, len(self._ready))
                self._vectors = np.concatenate(
                    [self._vectors, np.zeros((grow, self.dim), dtype=np.float32)]
                )
                self._ready = np.concatenate([self._ready, np.zeros(grow, dtype=bool)])
        return row

    def register(self, text: str, text_pair: str | None = None) -> int:
        """The example id of ``text`` (or the pair ``(text, text_pair)``), new if unseen."""
        a = self._text_row(str(text))
        b = self._text_row(str(text_pair)) if text_pair is not None else 0
        key = (a, b, text_pair is not None)
        example = self._example_ids.get(key)
        if example is None:
            example = len(self._examples)
            self._examples.append((a, b))
            self._is_pair.append(text_pair is not None)
            self._example_ids[key] = example
            self.version += 1
        return example

    def example_texts(self, example: int) -> tuple[str, str | None]:
        """The text (and pair text) of example id ``example``."""
        a, b = self._examples[example]
        return self._texts[a], (self._texts[b] if self._is_pair[example] else None)

    def ready(self, examples: Iterable[int] | None = None) -> bool:
        """Whether every text of ``examples`` (default: all registered) has its vector."""
        if examples is None:
            return bool(self._ready[: len(self._texts)].all())
        rows = np.asarray([r for e in examples for r in self._examples[int(e)]], dtype=np.int64)
        return bool(self._ready[rows].all()) if rows.size else True

    def materialize(self, examples: Iterable[int] | None = None) -> int:
        """Fetch (or encode) the vectors of ``examples``' texts (default: every registered
        example) that are not ready yet; returns the number of texts fetched."""
        if examples is None:
            rows = np.flatnonzero(~self._ready[: len(self._texts)])
        else:
            wanted = {r for e in examples for r in self._examples[int(e)]}
            rows = np.asarray(sorted(r for r in wanted if not self._ready[r]), dtype=np.int64)
        if rows.size == 0:
            return 0
        self._vectors[rows] = self.store.get([self._texts[int(r)] for r in rows])
        self._ready[rows] = True
        self.version += 1
        return int(rows.size)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(examples (N, 2) int64, is_pair (N,) bool, vectors (T, D) float32,
        example_ready (N,) bool)`` for the ``N`` example ids and ``T`` text rows so far."""
        examples = np.asarray(self._examples, dtype=np.int64).reshape(-1, 2)
        is_pair = np.asarray(self._is_pair, dtype=bool)
        n_texts = len(self._texts)
        ready = self._ready[:n_texts]
        example_ready = ready[examples[:, 0]] & ready[examples[:, 1]]
        return examples, is_pair, self._vectors[:n_texts].copy(), example_ready


class CachedTokenizer:
    """A tokenizer for the cached mode: each example becomes the single id of its table row.

    Duck-types the call that :func:`tasks.encoding.encode_split` makes of a Hugging Face fast
    tokenizer: ``tokenizer(texts, text_pair=pairs, truncation=True, max_length=m)`` returns
    ``{"input_ids": [[id], [id], ...]}`` (a single ``str`` gives ``{"input_ids": [id]}``).
    ``truncation`` and ``max_length`` are accepted and ignored here: truncation happens inside
    the frozen encoder, at the store's ``max_length``. ``pad_token_id`` is 0.
    """

    pad_token_id = 0

    def __init__(self, table: FeatureTable) -> None:
        self.table = table

    def __call__(
        self,
        text: str | Sequence[str],
        text_pair: str | Sequence[str] | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        if isinstance(text, str):
            if text_pair is not None and not isinstance(text_pair, str):
                raise TypeError("a single text takes a single text_pair")
            return {"input_ids": [self.table.register(text, text_pair)]}
        texts = list(text)
        if text_pair is None:
            pairs: list[str | None] = [None] * len(texts)
        elif isinstance(text_pair, str):
            raise TypeError("a list of texts takes a list of text_pair values")
        else:
            pairs = list(text_pair)
            if len(pairs) != len(texts):
                raise ValueError(f"{len(texts)} texts but {len(pairs)} text_pair values")
        return {
            "input_ids": [[self.table.register(t, p)] for t, p in zip(texts, pairs, strict=True)]
        }

    def __len__(self) -> int:
        return len(self.table)
