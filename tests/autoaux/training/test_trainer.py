"""The trainer: learning, mixtures, fixed evaluation subsamples, seeding, state round trips."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from autoaux.model import ModelSpec, MultiTaskModel, build_encoder
from autoaux.training.gating import CosineGate
from autoaux.training.trainer import (
    MixtureReport,
    NonFiniteLossError,
    TaskData,
    Trainer,
    TrainerSpec,
    _LinearSchedule,
    prepare_tasks,
)
from tasks import Example, Task
from tasks.planted import PlantedSuite, make_planted_suite

MAX_LENGTH = 24


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("autoaux-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUTOAUX_CACHE", str(path))
        yield path


@pytest.fixture(scope="module")
def suite() -> PlantedSuite:
    return make_planted_suite(
        n_helpful=1, n_neutral=0, n_harmful=1, main_train=64, aux_train=200, dev=48, test=32, seed=0
    )


def _regression_task() -> Task:
    """Sentence pairs; the target is the number of 'good' words in the first sentence."""
    rng = np.random.default_rng(0)
    words = ["good", "plain", "house", "river", "stone", "cloud"]

    def make(n: int) -> tuple[Example, ...]:
        out = []
        for _ in range(n):
            a = [str(w) for w in rng.choice(words, size=int(rng.integers(3, 8)))]
            b = [str(w) for w in rng.choice(words, size=3)]
            out.append(Example(" ".join(a), float(a.count("good")), " ".join(b)))
        return tuple(out)

    return Task(
        name="count",
        kind="regression",
        train=make(64),
        dev=make(32),
        test=make(16),
        metric="pearson",
        text_fields=("a", "b"),
    )


@pytest.fixture(scope="module")
def setup(cache: Path, suite: PlantedSuite) -> tuple[list[Task], object]:
    tasks = [*suite.tasks, _regression_task()]
    texts = [t for task in tasks for ex in task.train for t in (ex.text, ex.text_pair) if t]
    _, tokenizer = build_encoder(_spec(), texts=texts, seed=0)
    return tasks, tokenizer


def _spec() -> ModelSpec:
    return ModelSpec(max_length=MAX_LENGTH, vocab_size=600)


def _trainer(
    setup: tuple[list[Task], object],
    *,
    seed: int = 0,
    model_seed: int = 0,
    gate: CosineGate | None = None,
    **spec: Any,
) -> Trainer:
    tasks, tokenizer = setup
    texts = [t for task in tasks for ex in task.train for t in (ex.text, ex.text_pair) if t]
    encoder, _ = build_encoder(_spec(), texts=texts, seed=model_seed)
    model = MultiTaskModel(encoder, {t.name: t.num_labels for t in tasks}, seed=model_seed)
    data = prepare_tasks(tasks, tokenizer, max_length=MAX_LENGTH, batch_size=8, seed=seed)
    options: dict[str, Any] = {
        "batch_size": 8,
        "lr": 3e-3,
        "device": "cpu",
        "eval_batch_size": 16,
    }
    options.update(spec)
    return Trainer(model, data, main="main", spec=TrainerSpec(**options), gate=gate, seed=seed)


def test_prepare_tasks_encodes_every_split(setup: tuple[list[Task], object]) -> None:
    tasks, tokenizer = setup
    data = prepare_tasks(tasks, tokenizer, max_length=MAX_LENGTH, batch_size=8, seed=0)
    assert list(data) == [t.name for t in tasks]
    td = data["count"]
    assert isinstance(td, TaskData) and td.kind == "regression" and td.name == "count"
    assert len(td.train) == 64 and len(td.dev) == 32 and len(td.test) == 16
    assert td.train.labels.dtype == np.float32
    batch = next(td.iterator)
    assert batch["input_ids"].shape[0] == 8 and batch["input_ids"].shape[1] <= MAX_LENGTH
    with pytest.raises(ValueError, match="twice"):
        prepare_tasks([tasks[0], tasks[0]], tokenizer, max_length=MAX_LENGTH, batch_size=8, seed=0)


def test_loss_decreases_and_main_task_is_learned(setup: tuple[list[Task], object]) -> None:
    trainer = _trainer(setup)
    before = trainer.evaluate("main", "train")
    report = trainer.train_steps("main", 60)
    assert report.steps == 60 and len(report.losses) == 60 and report.cosines == ()
    first, last = np.mean(report.losses[:10]), np.mean(report.losses[-10:])
    assert last < 0.5 * first, (first, last)
    assert report.mean_loss == pytest.approx(np.mean(report.losses))
    assert trainer.evaluate("main", "train") > max(0.8, before)
    # A regression task on sentence pairs trains through the same path.
    trainer = _trainer(setup)
    reg = trainer.train_steps("count", 60)
    assert np.mean(reg.losses[-10:]) < np.mean(reg.losses[:10])
    assert trainer.evaluate("count", "dev") > 0.5  # Pearson correlation


def test_gated_auxiliary_steps_report_cosines_and_refresh_main_gradient(
    setup: tuple[list[Task], object], monkeypatch: pytest.MonkeyPatch
) -> None:
    trainer = _trainer(setup, gate=CosineGate("unweighted", refresh_every=3))
    refreshes: list[int] = []
    original = trainer._refresh_main_gradient

    def counting() -> None:
        refreshes.append(trainer.global_step)
        original()

    monkeypatch.setattr(trainer, "_refresh_main_gradient", counting)
    report = trainer.train_steps("helpful-0", 7)
    assert len(report.cosines) == len(report.scales) == 7
    assert all(-1.0 <= c <= 1.0 for c in report.cosines)
    assert all(
        s == (1.0 if c > 0 else 0.0) for c, s in zip(report.cosines, report.scales, strict=True)
    )
    assert refreshes == [0, 3, 6]  # every 3 auxiliary steps
    trainer.train_steps("main", 1)  # a main step stores its own gradient: no extra pass
    trainer.train_steps("helpful-0", 3)
    assert refreshes == [0, 3, 6]
    trainer.train_steps("helpful-0", 1)
    assert refreshes == [0, 3, 6, 11]
    # Without a gate no main gradient is computed and no cosine reported.
    plain = _trainer(setup)
    assert plain.train_steps("helpful-0", 2).cosines == ()
    assert not plain.main_gradient_stored


def test_mixture_draws_tasks_in_proportion(setup: tuple[list[Task], object]) -> None:
    trainer = _trainer(setup)
    probabilities = {"main": 1.0, "helpful-0": 3.0, "harmful-shuffled-0": 0.0}
    seen: list[tuple[int, float]] = []

    def callback(step: int, score: float) -> None:
        seen.append((step, score))

    report = trainer.train_mixture(
        probabilities, 400, eval_every=150, eval_max_batches=1, callback=callback
    )
    assert isinstance(report, MixtureReport)
    assert report.steps == 400 and sum(report.steps_per_task.values()) == 400
    assert "harmful-shuffled-0" not in report.steps_per_task
    # Binomial(400, 0.75): sd ~ 8.7; allow 4 sd.
    assert abs(report.steps_per_task["helpful-0"] - 300) < 35
    assert [s for s, _ in report.dev_curve] == [150, 300, 400]  # and after the last step
    assert list(report.dev_curve) == seen
    assert report.best_dev == max(score for _, score in report.dev_curve)
    # The best checkpoint is in the model at the end.
    assert trainer.evaluate("main", "dev", max_batches=1) == pytest.approx(report.best_dev)


def test_callback_can_stop_and_bad_mixtures_are_rejected(setup: tuple[list[Task], object]) -> None:
    trainer = _trainer(setup)
    report = trainer.train_mixture({"main": 1.0}, 50, eval_every=10, callback=lambda s, v: s >= 20)
    assert report.stopped_early and report.steps == 20
    with pytest.raises(ValueError, match="unknown task"):
        trainer.train_mixture({"nope": 1.0}, 10, eval_every=5)
    with pytest.raises(ValueError, match="weights"):
        trainer.train_mixture({"main": 0.0}, 10, eval_every=5)


def _recording(trainer: Trainer, task: str) -> list[bytes]:
    """Wrap ``trainer``'s training iterator of ``task``; returns the list its batches go to."""
    seen: list[bytes] = []
    inner = trainer._iterators[task]

    class Recorder:
        def __next__(self) -> dict[str, Any]:
            batch = next(inner)
            seen.append(np.asarray(batch["input_ids"]).tobytes())
            return batch

        def __getattr__(self, name: str) -> Any:
            return getattr(inner, name)

    trainer._iterators[task] = Recorder()  # type: ignore[assignment]
    return seen


@pytest.mark.parametrize("ratio", [0.5, 2.0])
def test_added_protocol_gives_the_main_task_the_same_steps_and_batches(
    setup: tuple[list[Task], object], ratio: float
) -> None:
    alone = _trainer(setup, seed=3)
    alone_batches = _recording(alone, "main")
    report_alone = alone.train_mixture({"main": 1.0}, 30, eval_every=10, count="main")
    mixed = _trainer(setup, seed=3)
    mixed_batches = _recording(mixed, "main")
    report = mixed.train_mixture(
        {"main": 1.0, "helpful-0": ratio}, 30, eval_every=10, count="main"
    )
    # exactly 30 main steps in both, on the same batches in the same order
    assert report_alone.steps_per_task == {"main": 30} and report.steps_per_task["main"] == 30
    assert len(mixed_batches) == 30 and mixed_batches == alone_batches
    # the auxiliary task comes on top: about `ratio` steps per main step
    aux = report.steps_per_task["helpful-0"]
    assert abs(aux - 30 * ratio) < 5 * math.sqrt(30 * ratio * (1 + ratio)) + 1
    # evaluations at the same main steps
    assert [s for s, _ in report.dev_curve] == [s for s, _ in report_alone.dev_curve]
    assert [s for s, _ in report.dev_curve] == [10, 20, 30]
    # the fixed-total protocol splits the budget instead: fewer main steps
    total = _trainer(setup, seed=3).train_mixture(
        {"main": 1.0, "helpful-0": ratio}, 30, eval_every=10
    )
    assert sum(total.steps_per_task.values()) == 30 and total.steps_per_task["main"] < 30


def test_early_stopping_stops_on_a_plateau_and_keeps_the_best_weights(
    setup: tuple[list[Task], object], monkeypatch: pytest.MonkeyPatch
) -> None:
    trainer = _trainer(setup)
    scores = iter([0.50, 0.70, 0.60, 0.70, 0.65, 0.90, 0.95])
    monkeypatch.setattr(trainer, "evaluate", lambda *a, **k: next(scores))
    states: dict[int, dict[str, torch.Tensor]] = {}

    def snapshot(step: int, score: float) -> None:
        states[step] = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}

    report = trainer.train_mixture(
        {"main": 1.0, "helpful-0": 1.0},
        500,
        eval_every=10,
        count="main",
        patience=3,
        callback=snapshot,
    )
    # 0.70 at 20 main steps; no better score at 30, 40 and 50 (a tie is no improvement): stop
    assert report.stopped_early and report.steps == 50 and report.best_step == 20
    assert report.best_dev == pytest.approx(0.70)
    assert [s for s, _ in report.dev_curve] == [10, 20, 30, 40, 50]
    final = trainer.model.state_dict()
    assert all(torch.equal(final[k], states[20][k]) for k in final)
    assert not all(torch.equal(final[k], states[50][k]) for k in final)
    with pytest.raises(ValueError, match="patience"):
        trainer.train_mixture({"main": 1.0}, 10, eval_every=5, patience=0)
    with pytest.raises(ValueError, match="count"):
        trainer.train_mixture({"main": 1.0}, 10, eval_every=5, count="tasks")
    with pytest.raises(ValueError, match="main task"):
        trainer.train_mixture({"helpful-0": 1.0}, 10, eval_every=5, count="main")


def test_evaluation_subsample_is_fixed(setup: tuple[list[Task], object]) -> None:
    a = _trainer(setup, seed=0)
    b = _trainer(setup, seed=1, model_seed=1)
    preds_a, refs_a = a.predict("main", "dev", max_batches=2)
    _, refs_b = b.predict("main", "dev", max_batches=2)
    assert len(refs_a) == 32 == len(preds_a)  # 2 batches of 16 out of 48
    np.testing.assert_array_equal(refs_a, refs_b)  # same examples whatever the trainer seed
    score = a.evaluate("main", "dev", max_batches=2)
    assert score == a.evaluate("main", "dev", max_batches=2)
    a.train_steps("helpful-0", 3)
    assert a.predict("main", "dev", max_batches=2)[1].tolist() == refs_a.tolist()
    _, full_refs = a.predict("main", "dev")
    assert len(full_refs) == 48
    assert sorted(full_refs.tolist()) == sorted(int(ex.label) for ex in setup[0][0].dev)
    assert 0.0 <= a.evaluate("main", "test") <= 1.0
    with pytest.raises(ValueError, match="max_batches"):
        a.evaluate("main", max_batches=0)


def test_same_seed_same_result_and_global_rng_untouched(setup: tuple[list[Task], object]) -> None:
    def run(seed: int) -> tuple[MixtureReport, list[float]]:
        trainer = _trainer(setup, seed=seed, gate=CosineGate("smoothed", refresh_every=2))
        steps = trainer.train_steps("helpful-0", 5)
        mix = trainer.train_mixture(
            {"main": 1.0, "helpful-0": 1.0, "harmful-shuffled-0": 1.0}, 40, eval_every=20
        )
        return mix, [*steps.losses, *steps.cosines, trainer.evaluate("main", "test")]

    torch.manual_seed(123)
    before = torch.get_rng_state()
    first, first_values = run(0)
    assert torch.equal(torch.get_rng_state(), before)  # dropout used the trainer's own state
    second, second_values = run(0)
    assert first == second and first_values == second_values
    _, other_values = run(1)
    assert other_values != first_values


def test_state_dict_round_trip_continues_identically(setup: tuple[list[Task], object]) -> None:
    gate_options: dict[str, Any] = {"mode": "smoothed", "refresh_every": 3}
    a = _trainer(setup, gate=CosineGate(**gate_options), warmup_steps=5, total_steps=100)
    a.train_steps("helpful-0", 4)  # leaves a stored main gradient one use short of a refresh
    a.train_mixture({"main": 1.0, "helpful-0": 2.0}, 10, eval_every=10)
    state = a.state_dict()
    b = _trainer(
        setup,
        model_seed=7,
        gate=CosineGate(**gate_options),
        warmup_steps=5,
        total_steps=100,
    )
    b.load_state_dict(state)

    def continue_(trainer: Trainer) -> tuple[object, ...]:
        aux = trainer.train_steps("helpful-0", 2)
        mix = trainer.train_mixture(
            {"main": 1.0, "helpful-0": 2.0, "count": 1.0}, 30, eval_every=15
        )
        return aux.losses, aux.cosines, aux.scales, mix, trainer.optimizer.param_groups[0]["lr"]

    assert continue_(a) == continue_(b)
    for (name, pa), pb in zip(
        a.model.state_dict().items(), b.model.state_dict().values(), strict=True
    ):
        assert torch.equal(pa, pb), name
    # The snapshot is a copy: training after state_dict() does not change it.
    assert not torch.equal(
        state["model"]["heads.main.bias"], a.model.state_dict()["heads.main.bias"]
    )


def test_learning_rate_schedule() -> None:
    spec = TrainerSpec(warmup_steps=0.25, total_steps=8, lr=1.0)
    assert spec.warmup == 2
    schedule = _LinearSchedule(spec.warmup, spec.total_steps)
    assert [schedule(t) for t in range(9)] == pytest.approx(
        [1 / 3, 2 / 3, 1.0, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6, 0.0]
    )
    assert _LinearSchedule(0, None)(1000) == 1.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"lr": 0.0}, "lr"),
        ({"warmup_steps": 1.5, "total_steps": 10}, "fraction"),
        ({"warmup_steps": 0.1}, "needs total_steps"),
        ({"warmup_steps": -1}, "warmup_steps"),
        ({"total_steps": 0}, "total_steps"),
        ({"clip_norm": 0.0}, "clip_norm"),
        ({"device": "tpu"}, "device"),
        ({"eval_batch_size": 0}, "eval_batch_size"),
    ],
)
def test_trainer_spec_validation(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TrainerSpec(**kwargs)


def test_non_finite_loss_raises(setup: tuple[list[Task], object]) -> None:
    trainer = _trainer(setup)
    trainer.train_steps("main", 2)
    with torch.no_grad():
        trainer.model.head_parameters("helpful-0")[0].fill_(float("nan"))
    with pytest.raises(NonFiniteLossError, match=r"'helpful-0' at step 2") as info:
        trainer.train_steps("helpful-0", 3)
    assert info.value.task == "helpful-0" and info.value.step == 2
    assert isinstance(info.value, RuntimeError)
    report = trainer.train_steps("helpful-0", 1, raise_on_nonfinite=False)
    assert report.nonfinite
    with pytest.raises(NonFiniteLossError):
        trainer.train_mixture({"helpful-0": 1.0}, 5, eval_every=5)
    # A NaN in the main gradient used for gating is reported under the main task.
    gated = _trainer(setup, gate=CosineGate("weighted"))
    with torch.no_grad():
        gated.model.head_parameters("main")[0].fill_(float("nan"))
    with pytest.raises(NonFiniteLossError, match="'main'"):
        gated.train_steps("helpful-0", 2)


def test_trainer_rejects_mismatched_tasks(setup: tuple[list[Task], object]) -> None:
    tasks, tokenizer = setup
    encoder, _ = build_encoder(_spec(), texts=["a b c"], seed=0)
    data = prepare_tasks(tasks[:1], tokenizer, max_length=MAX_LENGTH, batch_size=8, seed=0)
    with pytest.raises(ValueError, match="main task"):
        Trainer(MultiTaskModel(encoder, {"main": 2}), data, main="other", spec=TrainerSpec())
    with pytest.raises(ValueError, match="no head"):
        Trainer(MultiTaskModel(encoder, {"x": 2}), data, main="main", spec=TrainerSpec())
    with pytest.raises(ValueError, match="outputs"):
        Trainer(MultiTaskModel(encoder, {"main": 3}), data, main="main", spec=TrainerSpec())
