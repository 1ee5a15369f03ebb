"""The cached encoder's fast path for single texts: the top's input is ``[u, 0, 0, 0]``, so the
first layer multiplies ``u`` alone (``u @ W1[:, :D].T + b1``). It must give the plain product's
outputs and gradients up to float rounding, and every batch with a sentence pair must take the
plain path.

Tolerance: float32, ``rtol=1e-5, atol=1e-6`` on outputs and on every gradient (the plain product
adds the same D products, in a blocking order that may differ, plus exact zeros). The gradient
of the zero blocks ``W1[:, D:]`` is exactly zero on both paths.

The vectors are synthetic (a FeatureStore whose ``get`` draws them), so no encoder is needed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
import torch

import autoaux.training.trainer as trainer_module
from autoaux.model.cached import (
    CachedEncoder,
    CachedTokenizer,
    FeatureStore,
    FeatureTable,
    LeadingLinear,
    SharedTop,
    text_hash,
)
from autoaux.model.multitask import MultiTaskModel, output_loss
from autoaux.training.trainer import Trainer, TrainerSpec, prepare_tasks
from tasks import Example, Task

DIM, HIDDEN = 48, 32
RTOL, ATOL = 1e-5, 1e-6


class _DrawnStore(FeatureStore):
    """Each text's vector is drawn from a generator seeded by the text (nothing is encoded)."""

    def get(self, texts: Sequence[str]) -> np.ndarray:
        rows = [np.random.default_rng(list(text_hash(t))).standard_normal(self.dim) for t in texts]
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dim)


@pytest.fixture
def store(tmp_path: Path) -> FeatureStore:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"hidden_size": DIM}))
    return _DrawnStore(folder, cache_dir=tmp_path / "cache", progress=False, device="cpu")


def _model(store: FeatureStore, *, dropout: float = 0.0) -> tuple[MultiTaskModel, CachedTokenizer]:
    table = FeatureTable(store)
    torch.manual_seed(0)
    encoder = CachedEncoder(table, source="drawn", hidden=HIDDEN, layers=2, dropout=dropout)
    model = MultiTaskModel(
        encoder, {"single": 3, "pair": 2, "main": 2, "aux": 2}, dropout=dropout, seed=0
    )
    return model, CachedTokenizer(table)


@pytest.fixture
def leading_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts the calls of the fast path (SharedTop.forward_leading)."""
    calls: list[int] = []
    original = SharedTop.forward_leading

    def counting(self: SharedTop, u: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return original(self, u)

    monkeypatch.setattr(SharedTop, "forward_leading", counting)
    yield calls


def _ids(tokenizer: CachedTokenizer, items: list[tuple[str, str | None]]) -> torch.Tensor:
    return torch.tensor([[tokenizer(a, text_pair=b)["input_ids"][0]] for a, b in items])


def _outputs_and_grads(
    model: MultiTaskModel, task: str, ids: torch.Tensor, labels: torch.Tensor, *, skip: bool
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    assert isinstance(model.encoder, CachedEncoder)
    model.encoder.skip_zero_blocks = skip
    model.zero_grad(set_to_none=True)
    out = model(task, ids, torch.ones_like(ids))
    output_loss(out, labels, "classification").backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    return out.detach(), grads


def _assert_close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=RTOL, atol=ATOL, msg=name)


SINGLES = [(f"single text {i}", None) for i in range(16)]
PAIRS = [(f"premise {i}", f"hypothesis {i}") for i in range(16)]


def test_single_text_batches_take_the_fast_path_with_the_plain_outputs_and_gradients(
    store: FeatureStore, leading_calls: list[int]
) -> None:
    model, tokenizer = _model(store)
    _ids(tokenizer, PAIRS[:1])  # a pair is registered: the batch itself must be checked
    ids = _ids(tokenizer, SINGLES)
    labels = torch.arange(16) % 3
    fast_out, fast = _outputs_and_grads(model, "single", ids, labels, skip=True)
    assert len(leading_calls) == 1
    plain_out, plain = _outputs_and_grads(model, "single", ids, labels, skip=False)
    assert len(leading_calls) == 1  # the plain path never takes it
    torch.testing.assert_close(fast_out, plain_out, rtol=RTOL, atol=ATOL)
    lead, rest = "encoder.top.net.0.weight_lead", "encoder.top.net.0.weight_rest"
    assert rest not in fast  # the fast path never writes the pair columns' gradient
    assert plain[rest].shape == (HIDDEN, 3 * DIM)
    assert torch.count_nonzero(plain.pop(rest)) == 0  # the plain path writes zeros there
    _assert_close(fast, plain)
    assert fast[lead].shape == (HIDDEN, DIM)
    assert torch.count_nonzero(fast[lead]) > 0


def test_the_split_first_layer_is_one_linear_layer_to_its_state_dict() -> None:
    """LeadingLinear holds nn.Linear's weight in two blocks: the same initial values from the
    same seed, one ``weight`` in and out of ``state_dict`` (in nn.Linear's key order), and the
    same outputs and joined gradient as nn.Linear."""
    torch.manual_seed(7)
    plain = torch.nn.Linear(4 * DIM, HIDDEN)
    torch.manual_seed(7)
    split = LeadingLinear(4 * DIM, HIDDEN, lead=DIM)
    state = split.state_dict()
    assert list(state) == list(plain.state_dict()) == ["weight", "bias"]
    assert torch.equal(state["weight"], plain.weight) and torch.equal(state["bias"], plain.bias)
    assert torch.equal(split.weight_lead, plain.weight[:, :DIM])
    x = torch.randn(5, 4 * DIM)
    assert torch.equal(split(x), plain(x))
    split(x).sum().backward()
    plain(x).sum().backward()
    assert split.weight_lead.grad is not None and split.weight_rest.grad is not None
    joined = torch.cat([split.weight_lead.grad, split.weight_rest.grad], dim=1)
    assert torch.equal(joined, plain.weight.grad)
    other = torch.nn.Linear(4 * DIM, HIDDEN)  # fresh values, loaded through the one key
    split.load_state_dict(other.state_dict())
    assert torch.equal(split.weight, other.weight) and torch.equal(split.bias, other.bias)
    with pytest.raises(RuntimeError, match="size mismatch"):
        split.load_state_dict(torch.nn.Linear(4 * DIM, HIDDEN + 1).state_dict())


def test_a_single_text_trainer_leaves_the_pair_columns_out_of_its_optimiser(
    store: FeatureStore,
) -> None:
    model, tokenizer = _model(store)
    encoder = model.encoder
    assert isinstance(encoder, CachedEncoder)
    (rest,) = model.pair_parameters()
    data = prepare_tasks(_tasks(), tokenizer, max_length=8, batch_size=16, seed=0)
    trainer = Trainer(model, data, main="main", spec=TrainerSpec(device="cpu"), seed=3)
    optimised = {id(p) for g in trainer.optimizer.param_groups for p in g["params"]}
    assert id(rest) not in optimised and id(encoder.top.net[0].weight_lead) in optimised
    before = rest.detach().clone()
    trainer.train_mixture({"main": 1.0, "aux": 1.0}, 10, eval_every=10)
    assert torch.equal(rest, before) and rest.grad is None  # no gradient, no decay, no work
    pairs = Task(
        "pair", "classification",
        tuple(Example(f"p {i}", i % 2, f"q {i}") for i in range(20)),
        tuple(Example(f"p dev {i}", i % 2, f"q dev {i}") for i in range(4)),
        tuple(Example(f"p test {i}", i % 2, f"q test {i}") for i in range(4)),
        labels=("a", "b"),
    )  # fmt: skip
    with_pairs = prepare_tasks([*_tasks(), pairs], tokenizer, max_length=8, batch_size=16, seed=0)
    trainer = Trainer(model, with_pairs, main="main", spec=TrainerSpec(device="cpu"), seed=3)
    assert id(rest) in {id(p) for g in trainer.optimizer.param_groups for p in g["params"]}


def test_pair_and_mixed_batches_take_the_plain_path(
    store: FeatureStore, leading_calls: list[int]
) -> None:
    model, tokenizer = _model(store)
    encoder = model.encoder
    assert isinstance(encoder, CachedEncoder)
    for items in (PAIRS, SINGLES[:8] + PAIRS[:8]):
        ids = _ids(tokenizer, items)
        labels = torch.arange(len(items)) % 2
        fast_out, fast = _outputs_and_grads(model, "pair", ids, labels, skip=True)
        plain_out, plain = _outputs_and_grads(model, "pair", ids, labels, skip=False)
        assert leading_calls == []
        assert torch.equal(fast_out, plain_out)
        _assert_close(fast, plain)
    # the mixed batch is right row by row: [u, 0, 0, 0] for singles, [u, v, |u-v|, uv] for pairs
    ids = _ids(tokenizer, SINGLES[:2] + PAIRS[:2])
    encoder.eval()
    with torch.no_grad():
        hidden = encoder(ids).last_hidden_state[:, 0]
        vectors = {
            t: torch.from_numpy(store.get([t])[0]) for t in ("single text 0", "single text 1")
        }
        zeros = torch.zeros(3 * DIM)
        for row, text in enumerate(("single text 0", "single text 1")):
            u = vectors[text]
            expected = encoder.top(torch.cat([u, zeros]))
            torch.testing.assert_close(hidden[row], expected, rtol=RTOL, atol=ATOL)
            torch.testing.assert_close(
                hidden[row], encoder.top.forward_leading(u), rtol=RTOL, atol=ATOL
            )
        for row, (a, b) in enumerate(PAIRS[:2], start=2):
            u, v = (torch.from_numpy(store.get([t])[0]) for t in (a, b))
            expected = encoder.top(torch.cat([u, v, (u - v).abs(), u * v]))
            torch.testing.assert_close(hidden[row], expected, rtol=RTOL, atol=ATOL)


def _tasks() -> list[Task]:
    rng = np.random.default_rng(0)

    def split(name: str, part: str, n: int) -> tuple[Example, ...]:
        return tuple(Example(f"{name} {part} {i}", int(rng.integers(2))) for i in range(n))

    return [
        Task(name, "classification", split(name, "train", n), split(name, "dev", 200),
             split(name, "test", 8), labels=("a", "b"))
        for name, n in (("main", 40), ("aux", 120))
    ]  # fmt: skip


def test_training_on_the_fast_path_matches_the_plain_one(store: FeatureStore) -> None:
    """Same seed, same data: an episode on each path gives the same losses (within the
    tolerance, compounded over the steps) and the same dev score."""
    model, tokenizer = _model(store, dropout=0.1)
    data = prepare_tasks(_tasks(), tokenizer, max_length=8, batch_size=16, seed=0)
    initial = model.snapshot()
    results = []
    for skip in (True, False):
        assert isinstance(model.encoder, CachedEncoder)
        model.encoder.skip_zero_blocks = skip
        model.restore(initial)
        trainer = Trainer(model, data, main="main", spec=TrainerSpec(device="cpu"), seed=3)
        report = trainer.train_mixture({"main": 1.0, "aux": 1.0}, 40, eval_every=20)
        results.append((report, trainer.predict("main", "dev")[0]))
    (fast, fast_pred), (plain, plain_pred) = results
    assert fast.steps_per_task == plain.steps_per_task
    for task, loss in fast.mean_loss.items():
        assert loss == pytest.approx(plain.mean_loss[task], rel=1e-4)
    assert [s for s, _ in fast.dev_curve] == [s for s, _ in plain.dev_curve]
    assert fast.best_dev == plain.best_dev and fast.best_step == plain.best_step
    np.testing.assert_array_equal(fast_pred, plain_pred)


def test_one_id_rows_are_evaluated_in_one_pass_shared_by_trainers(
    store: FeatureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, tokenizer = _model(store)
    data = prepare_tasks(_tasks(), tokenizer, max_length=8, batch_size=16, seed=0)
    spec = TrainerSpec(device="cpu", eval_batch_size=16)

    def trainer() -> Trainer:
        return Trainer(model, data, main="main", spec=spec, seed=0)

    first, second = trainer(), trainer()
    batches, references = first._eval_batches("main", "dev", None)
    assert len(batches) == 1 and batches[0]["input_ids"].shape == (200, 1)
    assert second._eval_batches("main", "dev", None)[0] is batches  # built once
    one_pass, _ = first._outputs("main", "dev", None)
    # the same examples in batches of eval_batch_size give the same outputs
    monkeypatch.setattr(trainer_module, "ONE_ID_EVAL_ROWS", 1)
    monkeypatch.setattr(trainer_module, "_EVAL_BATCHES", type(trainer_module._EVAL_BATCHES)())
    batched, again = trainer()._outputs("main", "dev", None)
    assert len(trainer()._eval_batches("main", "dev", None)[0]) == 13
    np.testing.assert_array_equal(references, again)
    torch.testing.assert_close(one_pass, batched, rtol=RTOL, atol=ATOL)
    sub, _ = first._eval_batches("main", "dev", 2)  # a max_batches subsample: 2 x 16 rows
    assert sum(len(b["input_ids"]) for b in sub) == 32
