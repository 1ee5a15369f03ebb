from __future__ import annotations

import json

import numpy as np
import pytest

from tasks import BatchIterator, EncodedSplit, Example, encode_split, iter_batches

WORDS = ["the", "film", "was", "a", "delight", "dull", "plot", "markets", "rose", "sharply"]


def _examples(n: int = 23) -> list[Example]:
    return [Example(" ".join(WORDS[: 3 + i % 7]) + f" {i}", i % 2) for i in range(n)]


def test_encode_split_single_texts(tiny_tokenizer):
    enc = encode_split(_examples(), tiny_tokenizer, max_length=6)
    assert len(enc) == 23
    assert enc.labels.dtype == np.int64
    assert all(2 < len(ids) <= 6 for ids in enc.input_ids)
    cls = tiny_tokenizer.convert_tokens_to_ids("[CLS]")
    sep = tiny_tokenizer.convert_tokens_to_ids("[SEP]")
    assert all(ids[0] == cls and ids[-1] == sep for ids in enc.input_ids)
    np.testing.assert_array_equal(enc.lengths, [len(ids) for ids in enc.input_ids])


def test_encode_split_pairs_and_regression(tiny_tokenizer):
    examples = [Example("the film was", 0.5, "a dull plot"), Example("markets rose", 2.0, "i")]
    enc = encode_split(examples, tiny_tokenizer, max_length=32)
    sep = tiny_tokenizer.convert_tokens_to_ids("[SEP]")
    assert enc.labels.dtype == np.float32
    assert [ids.count(sep) for ids in enc.input_ids] == [2, 2]
    truncated = encode_split(examples, tiny_tokenizer, max_length=5)
    assert all(len(ids) <= 5 for ids in truncated.input_ids)
    with pytest.raises(ValueError, match="mix"):
        encode_split([Example("a", 0), Example("b", 1, "c")], tiny_tokenizer, max_length=8)


def test_encode_split_rejects_raw_tokenizer_and_short_length(tiny_tokenizer):
    with pytest.raises(TypeError, match="PreTrainedTokenizerFast"):
        encode_split(_examples(), object(), max_length=8)
    with pytest.raises(ValueError):
        encode_split(_examples(), tiny_tokenizer, max_length=1)


def _toy_split(n: int = 10) -> EncodedSplit:
    ids = [[1] * (1 + i % 4) + [i + 10] for i in range(n)]
    return EncodedSplit(ids, np.arange(n, dtype=np.int64))


def test_batches_are_padded_dynamically():
    enc = _toy_split()
    batch = next(iter_batches(enc, batch_size=3, pad_id=0))
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    assert batch["input_ids"].dtype == np.int64 and batch["attention_mask"].dtype == np.int64
    assert batch["input_ids"].shape == (3, 4)  # longest of lengths 2, 3, 4
    np.testing.assert_array_equal(batch["attention_mask"].sum(1), [2, 3, 4])
    assert batch["input_ids"][0, 2:].tolist() == [0, 0]
    np.testing.assert_array_equal(batch["labels"], [0, 1, 2])


def test_iter_batches_one_ordered_pass():
    enc = _toy_split(10)
    batches = list(iter_batches(enc, batch_size=4))
    assert [len(b["labels"]) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b["labels"] for b in batches]), np.arange(10))


def test_batch_iterator_epochs_cover_every_example_and_reshuffle():
    enc = _toy_split(12)
    it = BatchIterator(enc, batch_size=4, seed=0)
    first = np.concatenate([next(it)["labels"] for _ in range(3)])
    second = np.concatenate([next(it)["labels"] for _ in range(3)])
    assert sorted(first.tolist()) == list(range(12))
    assert sorted(second.tolist()) == list(range(12))
    assert first.tolist() != second.tolist()
    assert it.epoch == 1


def test_batch_iterator_constant_batch_size_across_epochs():
    it = BatchIterator(_toy_split(5), batch_size=3, seed=1)
    seen = [next(it)["labels"] for _ in range(5)]
    assert all(len(b) == 3 for b in seen)
    flat = np.concatenate(seen)
    assert sorted(flat.tolist()) == sorted(list(range(5)) * 3)


def test_batch_iterator_is_seeded():
    a = BatchIterator(_toy_split(), batch_size=3, seed=7)
    b = BatchIterator(_toy_split(), batch_size=3, seed=7)
    c = BatchIterator(_toy_split(), batch_size=3, seed=8)
    la = [next(a)["labels"].tolist() for _ in range(10)]
    assert la == [next(b)["labels"].tolist() for _ in range(10)]
    assert la != [next(c)["labels"].tolist() for _ in range(10)]


@pytest.mark.parametrize("steps", [0, 1, 3, 4, 9])
def test_batch_iterator_state_round_trip(steps):
    it = BatchIterator(_toy_split(), batch_size=3, seed=11)
    for _ in range(steps):
        next(it)
    state = json.loads(json.dumps(it.state_dict()))  # JSON-serialisable
    expected = [next(it)["labels"].tolist() for _ in range(8)]
    resumed = BatchIterator(_toy_split(), batch_size=3, seed=999)
    resumed.load_state_dict(state)
    assert [next(resumed)["labels"].tolist() for _ in range(8)] == expected
    with pytest.raises(ValueError, match="split of"):
        BatchIterator(_toy_split(4), batch_size=3, seed=0).load_state_dict(state)


def test_batch_iterator_rejects_bad_input():
    with pytest.raises(ValueError):
        BatchIterator(EncodedSplit([], np.zeros(0, dtype=np.int64)), batch_size=2, seed=0)
    with pytest.raises(ValueError):
        BatchIterator(_toy_split(), batch_size=0, seed=0)
    with pytest.raises(ValueError):
        EncodedSplit([[1]], np.zeros(2))


def test_end_to_end_with_tokenizer(tiny_tokenizer):
    enc = encode_split(_examples(), tiny_tokenizer, max_length=16)
    pad = tiny_tokenizer.pad_token_id
    batch = next(BatchIterator(enc, batch_size=5, seed=0, pad_id=pad))
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert ids.shape == mask.shape and ids.shape[0] == 5
    assert (ids[mask == 0] == pad).all()
