"""Fixtures for the tasks tests: a tiny locally trained WordPiece tokenizer (no hub)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest


def train_tiny_tokenizer(texts: Sequence[str], *, vocab_size: int = 400) -> Any:
    """A BERT-style WordPiece fast tokenizer trained on ``texts`` ([PAD] has id 0)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(
        list(texts), trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials)
    )
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


CORPUS = [
    "the film was a delight from start to finish",
    "a dull and lifeless plot that never moves",
    "brilliant acting and a clever script",
    "i would not watch this again",
    "the cars drive themselves now",
    "markets rose sharply on monday",
] * 5


@pytest.fixture(scope="session")
def tiny_tokenizer() -> Any:
    return train_tiny_tokenizer(CORPUS)
