"""autoaux.hf: the mixture sampler, the collator, the task-routing model, the Trainer subclass,
dataset conversion, and the example script end to end at its tiny size."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from scipy.stats import chi2

from autoaux.hf import (
    HeadSpec,
    MainMetric,
    Mixture,
    MixtureBatchSampler,
    MixtureCollator,
    MixtureModel,
    MixtureTrainer,
    MultiTaskDataset,
    TaskColumns,
    TaskDataset,
    build_mixture_trainer,
    task_from_dataset,
    tasks_from_datasets,
)
from autoaux.runs.result import MixResult, TrialRecord

ROOT = Path(__file__).resolve().parents[3]
MAX_LENGTH = 24
WORDS = ["good", "bad", "river", "stone", "cloud", "green", "fast", "slow", "warm", "cold"]


# ------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """The models here are tiny: one intra-op thread is fastest and immune to busy machines."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("autoaux-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUTOAUX_CACHE", str(path))
        yield path


def _rows(n: int, seed: int, *, kind: str) -> list[dict[str, Any]]:
    """Rows of random words; labels: 'pos'/'neg' by 'good' vs 'bad', 3 classes, or a count."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for _ in range(n):
        words = [str(w) for w in rng.choice(WORDS, size=int(rng.integers(3, 9)))]
        text = " ".join(words)
        if kind == "binary":
            rows.append({"sentence": text, "y": "pos" if words.count("good") >= 1 else "neg"})
        elif kind == "three":
            rows.append({"text": text, "label": len(words) % 3})
        else:
            rows.append({"text": text, "label": float(words.count("river"))})
    return rows


@pytest.fixture(scope="module")
def user_data() -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Three tasks as a user would hold them: split name -> list of row dicts."""
    return {
        "main": {
            "train": _rows(40, 1, kind="binary"),
            "validation": _rows(24, 2, kind="binary"),
            "test": _rows(24, 3, kind="binary"),
        },
        "topic": {"train": _rows(60, 4, kind="three"), "dev": _rows(12, 5, kind="three")},
        "count": {
            "train": _rows(60, 6, kind="count"),
            "validation": _rows(12, 7, kind="count"),
            "test": _rows(12, 8, kind="count"),
        },
    }


COLUMNS = {
    "main": TaskColumns(text="sentence", label="y", metric="macro_f1"),
    "count": TaskColumns(kind="regression"),
}


@pytest.fixture(scope="module")
def tokenizer(cache: Path) -> Any:
    from autoaux.model.multitask import train_wordpiece_tokenizer

    return train_wordpiece_tokenizer([" ".join(WORDS)] * 4, vocab_size=64, cache_dir=cache)


def _encoder(tokenizer: Any, seed: int = 0) -> torch.nn.Module:
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=MAX_LENGTH,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    return BertModel(config)


def _args(tmp_path: Path, **overrides: Any) -> Any:
    from transformers import TrainingArguments

    options: dict[str, Any] = {
        "output_dir": str(tmp_path / "trainer"),
        "max_steps": 12,
        "per_device_train_batch_size": 4,
        "per_device_eval_batch_size": 16,
        "learning_rate": 1e-2,
        "weight_decay": 0.01,
        "save_strategy": "no",
        "report_to": "none",
        "use_cpu": True,
        "disable_tqdm": True,
        "seed": 0,
        "log_level": "error",
    }
    options.update(overrides)
    return TrainingArguments(**options)


# ------------------------------------------------------------------------------- import
def test_import_autoaux_does_not_import_hf() -> None:
    code = "import sys, autoaux; print('autoaux.hf' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------------------- mixture
def test_mixture_from_result_json_drops_the_main_task_and_zero_ratios(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    data = {
        "main_task": "main",
        "selected": ["a", "b"],
        "utilities": {"main": 0.6, "a": 0.7, "b": 0.55, "c": 0.4},
        "pulls": {"main": 3, "a": 4, "b": 2, "c": 1},
        "ratios": {"main": 1.0, "a": 2.5, "b": 0.0},
        "best_dev_score": 0.8,
        "test_score": 0.79,
        "trials": [],
        "mlflow": {"tracking_uri": None, "experiment_id": None, "run_id": None},
    }
    path.write_text(json.dumps(data))
    mixture = Mixture.from_result(path)
    assert mixture == Mixture("main", {"a": 2.5, "b": 0.0})
    assert mixture.tasks == ("main", "a")
    assert mixture.weights() == {"main": 1.0, "a": 2.5}
    assert mixture.probabilities() == pytest.approx({"main": 1 / 3.5, "a": 2.5 / 3.5})
    # selection.json (stage 1 only): every selected task at ratio 1
    stage1 = Mixture.from_result({"main_task": "main", "selected": ["a", "b"]})
    assert stage1.weights() == {"main": 1.0, "a": 1.0, "b": 1.0}


def test_mixture_from_a_mix_result_and_bad_ratios() -> None:
    mix = MixResult(
        main_task="m",
        tasks=("x",),
        ratios={"m": 1.0, "x": 0.5},
        probabilities={"m": 2 / 3, "x": 1 / 3},
        best_dev_score=0.7,
        test_score=0.6,
        trials=(TrialRecord(0, {"x": 0.5}, 0.7, "COMPLETE"),),
        best_trial=0,
    )
    assert Mixture.from_result(mix).probabilities() == pytest.approx({"m": 2 / 3, "x": 1 / 3})
    with pytest.raises(ValueError, match=r"'x'.*finite"):
        Mixture("m", {"x": -1.0})
    with pytest.raises(ValueError, match="ratio 1"):
        Mixture("m", {"m": 2.0})
    with pytest.raises(ValueError, match="main_task"):
        Mixture.from_result({"ratios": {"x": 1.0}})


# ------------------------------------------------------------------------------- sampler
SIZES = {"main": 50, "a": 300, "b": 20, "c": 100}
WEIGHTS = {"main": 1.0, "a": 2.5, "b": 0.5, "c": 0.0}


def _task_of(batch: list[int]) -> str:
    ends = np.cumsum(list(SIZES.values()))
    owners = {list(SIZES)[int(np.searchsorted(ends, i, side="right"))] for i in batch}
    assert len(owners) == 1, f"batch {batch} spans tasks {owners}"
    return owners.pop()


def test_sampler_draws_tasks_in_proportion_to_the_ratios() -> None:
    n = 20_000
    sampler = MixtureBatchSampler(SIZES, WEIGHTS, batch_size=8, num_batches=n, seed=0)
    batches = list(sampler)
    assert len(batches) == len(sampler) == n
    assert all(len(b) == 8 for b in batches)
    counts = Counter(_task_of(b) for b in batches)
    assert counts["c"] == 0  # ratio 0: never drawn
    drawn = [t for t in WEIGHTS if WEIGHTS[t] > 0]
    total = sum(WEIGHTS[t] for t in drawn)
    expected = np.array([n * WEIGHTS[t] / total for t in drawn])
    observed = np.array([counts[t] for t in drawn])
    statistic = float(((observed - expected) ** 2 / expected).sum())
    # Pearson's chi-square goodness of fit: under the stated probabilities, the statistic
    # exceeds this bound with probability 1e-6.
    assert statistic < chi2.ppf(1 - 1e-6, df=len(drawn) - 1)


def test_sampler_uses_every_example_of_a_task_evenly() -> None:
    sampler = MixtureBatchSampler(SIZES, WEIGHTS, batch_size=8, num_batches=3000, seed=1)
    uses = Counter(i for batch in sampler for i in batch if 350 <= i < 370)  # task "b"
    assert set(uses) == set(range(350, 370))
    # Indices are a stream of permutations: use counts differ by at most one.
    assert max(uses.values()) - min(uses.values()) <= 1


def test_sampler_is_seeded_per_epoch() -> None:
    sampler = MixtureBatchSampler(SIZES, WEIGHTS, batch_size=4, num_batches=50, seed=3)
    first, second = list(sampler), list(sampler)  # epochs 0 and 1
    assert first != second
    sampler.set_epoch(0)
    assert list(sampler) == first
    other = MixtureBatchSampler(SIZES, WEIGHTS, batch_size=4, num_batches=50, seed=3)
    assert list(other) == first
    assert [_task_of(b) for b in first] == other.task_sequence(0)
    assert list(MixtureBatchSampler(SIZES, WEIGHTS, batch_size=4, num_batches=50, seed=4)) != first


def test_sampler_default_epoch_sees_the_main_task_once_in_expectation() -> None:
    sampler = MixtureBatchSampler(SIZES, WEIGHTS, batch_size=10, main="main")
    assert len(sampler) == int(np.ceil(50 / 10 / (1.0 / 4.0)))
    with pytest.raises(ValueError, match="no data"):
        MixtureBatchSampler(SIZES, {"zzz": 1.0}, batch_size=4)


# ------------------------------------------------------------------------------- data
def test_task_from_rows_with_string_labels_and_carved_splits() -> None:
    rows = _rows(50, 0, kind="binary")
    task = task_from_dataset("m", rows, text="sentence", label="y", seed=0)
    assert task.labels == ("neg", "pos")
    assert (len(task.train), len(task.dev), len(task.test)) == (40, 5, 5)
    assert task_from_dataset("m", rows, text="sentence", label="y", seed=0) == task
    tasks = tasks_from_datasets(
        {"main": {"train": rows[:40], "validation": rows[40:]}, "t": task},
        columns={"main": TaskColumns(text="sentence", label="y")},
    )
    assert tasks["t"] is task
    assert [ex.text for ex in tasks["main"].dev] == [r["sentence"] for r in rows[40:]]
    with pytest.raises(TypeError, match="expected"):
        task_from_dataset("m", 42)


def test_task_from_a_datasets_dataset_dict() -> None:
    datasets = pytest.importorskip(
        "datasets", reason="the optional 'datasets' package is not installed"
    )
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["no", "yes"])}
    )
    rows = {"text": ["a b", "c d", "e f", "g h"] * 5, "label": [0, 1, 1, 0] * 5}
    data = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict(rows, features=features),
            "validation": datasets.Dataset.from_dict(rows, features=features),
            "test": datasets.Dataset.from_dict(rows, features=features),
        }
    )
    task = task_from_dataset("yn", data)
    assert task.labels == ("no", "yes")
    assert [ex.label for ex in task.train[:4]] == [0, 1, 1, 0]


def test_collator_pads_and_keeps_the_task() -> None:
    collate = MixtureCollator(pad_token_id=0)
    batch = collate(
        [
            {"input_ids": [2, 7, 3], "labels": 1, "task": "a"},
            {"input_ids": [2, 3], "labels": 0, "task": "a"},
        ]
    )
    assert batch["task"] == "a"
    assert batch["input_ids"].tolist() == [[2, 7, 3], [2, 3, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].dtype == torch.long
    floats = collate([{"input_ids": [2], "labels": 0.5, "task": "r"}])
    assert floats["labels"].dtype == torch.float32
    with pytest.raises(ValueError, match="mixes tasks"):
        collate(
            [
                {"input_ids": [2], "labels": 0, "task": "a"},
                {"input_ids": [2], "labels": 0, "task": "b"},
            ]
        )


def test_multitask_dataset_layout(tokenizer: Any, user_data: dict[str, Any]) -> None:
    tasks = tasks_from_datasets(user_data, columns=COLUMNS)
    parts = {
        n: TaskDataset.from_task(t, "train", tokenizer, max_length=MAX_LENGTH)
        for n, t in tasks.items()
    }
    data = MultiTaskDataset(parts)
    # "topic" has no test split: one is carved out of its 60 training rows (10%)
    assert data.task_sizes == {"main": 40, "topic": 54, "count": 60}
    assert len(data) == 154
    assert (
        data.task_of(39) == "main" and data.task_of(40) == "topic" and data.task_of(153) == "count"
    )
    assert data[100]["task"] == "count" and isinstance(data[100]["labels"], float)
    assert data[45]["task"] == "topic" and isinstance(data[45]["labels"], int)


# ------------------------------------------------------------------------------- model
@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_model_routes_to_the_task_head(tokenizer: Any, pooling: str) -> None:
    model = MixtureModel(
        _encoder(tokenizer),
        {"c": HeadSpec("classification", 3), "r": ("regression", 1)},
        pooling=pooling,
        seed=0,
    )
    ids = torch.tensor([[2, 5, 6, 3], [2, 7, 3, 0]])
    mask = (ids != 0).long()
    out = model(ids, mask, labels=torch.tensor([0, 2]), task="c")
    assert out.logits.shape == (2, 3) and out.loss.ndim == 0
    reg = model(ids, mask, labels=torch.tensor([0.5, 1.0]), task="r")
    assert reg.logits.shape == (2, 1)
    expected = torch.nn.functional.mse_loss(reg.logits[:, 0], torch.tensor([0.5, 1.0]))
    assert torch.allclose(reg.loss, expected)
    assert model(ids, mask).logits.shape == (2, 3)  # default: the first head
    with pytest.raises(KeyError, match="no head"):
        model(ids, mask, task="zzz")


# ------------------------------------------------------------------------------- trainer
class _Recorder:
    """Per optimiser step: the batch's task, the heads with a non-zero gradient, the heads
    whose weights the step changed, and whether the encoder got a gradient."""

    def __init__(self) -> None:
        self.tasks: list[str] = []
        self.graded: list[set[str]] = []
        self.changed: list[set[str]] = []
        self.encoder_graded: list[bool] = []
        self.before: dict[str, torch.Tensor] = {}


class _RecordingTrainer(MixtureTrainer):
    recorder: _Recorder

    def training_step(
        self, model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None
    ) -> Any:
        rec = self.recorder
        rec.before = {
            n: torch.cat([p.detach().flatten().clone() for p in h.parameters()])
            for n, h in model.heads.items()
        }
        loss = super().training_step(model, inputs, num_items_in_batch)
        rec.tasks.append(inputs["task"])
        rec.graded.append(
            {
                name
                for name, head in model.heads.items()
                if any(
                    p.grad is not None and bool(p.grad.abs().sum() > 0) for p in head.parameters()
                )
            }
        )
        rec.encoder_graded.append(all(p.grad is not None for p in model.encoder.parameters()))
        return loss


def _after_step(recorder: _Recorder) -> Any:
    from transformers import TrainerCallback

    class AfterStep(TrainerCallback):
        def on_step_end(
            self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any
        ) -> None:
            changed = set()
            for name, head in model.heads.items():
                now = torch.cat([p.detach().flatten() for p in head.parameters()])
                if not torch.equal(now, recorder.before[name]):
                    changed.add(name)
            recorder.changed.append(changed)

    return AfterStep()


def test_trainer_trains_each_head_only_on_its_own_tasks_batches(
    tmp_path: Path, tokenizer: Any, user_data: dict[str, Any]
) -> None:
    recorder = _Recorder()
    mixture = Mixture("main", {"topic": 1.0, "count": 1.0})
    tasks = tasks_from_datasets(user_data, columns=COLUMNS)
    train = MultiTaskDataset(
        {
            n: TaskDataset.from_task(t, "train", tokenizer, max_length=MAX_LENGTH)
            for n, t in tasks.items()
        }
    )
    heads = {n: HeadSpec(t.kind, t.num_labels) for n, t in tasks.items()}
    trainer = _RecordingTrainer(
        model=MixtureModel(_encoder(tokenizer), heads, seed=0),
        args=_args(tmp_path),
        mixture=mixture,
        train_dataset=train,
        num_batches=12,
        processing_class=tokenizer,
        callbacks=[_after_step(recorder)],
    )
    trainer.recorder = recorder
    trainer.train()
    assert len(recorder.tasks) == 12
    assert set(recorder.tasks) == {"main", "topic", "count"}
    assert trainer.batch_sampler is not None
    assert recorder.tasks == trainer.batch_sampler.task_sequence(0)
    for task, graded, changed, encoder in zip(
        recorder.tasks, recorder.graded, recorder.changed, recorder.encoder_graded, strict=True
    ):
        assert graded == {task}
        assert changed == {task}  # AdamW's weight decay did not touch the other heads
        assert encoder


def test_build_mixture_trainer_reports_the_main_metric_at_each_evaluation(
    tmp_path: Path, tokenizer: Any, user_data: dict[str, Any]
) -> None:
    from transformers import TrainerCallback

    seen: list[dict[str, float]] = []

    class Logs(TrainerCallback):  # what MLflow's callback sees
        def on_log(
            self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any
        ) -> None:
            seen.append(dict(logs or {}))

    result = tmp_path / "result.json"
    result.write_text(json.dumps({"main_task": "main", "ratios": {"topic": 2.0, "count": 0.5}}))
    trainer = build_mixture_trainer(
        result,
        encoder=_encoder(tokenizer),
        tokenizer=tokenizer,
        datasets={**user_data, "unused": {"train": []}},
        columns=COLUMNS,
        args=_args(tmp_path, eval_strategy="steps", eval_steps=4, logging_steps=4),
        max_length=MAX_LENGTH,
        callbacks=[Logs()],
    )
    assert isinstance(trainer.compute_metrics, MainMetric) and trainer.metric == "macro_f1"
    trainer.train()
    evals = [log for log in seen if "eval_macro_f1" in log]
    assert len(evals) == 3
    assert [h["step"] for h in trainer.state.log_history if "eval_macro_f1" in h] == [4, 8, 12]
    assert all(0.0 <= log["eval_macro_f1"] <= 1.0 for log in evals)
    test = trainer.test()
    assert 0.0 <= test["test_macro_f1"] <= 1.0
    assert any("test_macro_f1" in log for log in seen)
    assert set(trainer.tasks) == {"main", "topic", "count"}


def test_build_mixture_trainer_names_what_is_missing(
    tmp_path: Path, tokenizer: Any, user_data: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match=r"no data for \['other'\]"):
        build_mixture_trainer(
            Mixture("main", {"other": 1.0}),
            encoder=_encoder(tokenizer),
            tokenizer=tokenizer,
            datasets=user_data,
            args=_args(tmp_path),
        )
    with pytest.raises(ValueError, match="exactly one"):
        build_mixture_trainer(
            Mixture("main"),
            tokenizer=tokenizer,
            datasets=user_data,
            args=_args(tmp_path),
        )


# ------------------------------------------------------------------------------- example
def test_example_runs_end_to_end_at_tiny_size(tmp_path: Path) -> None:
    env = {**os.environ, "AUTOAUX_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "examples/hf_trainer_mixture.py", "--tiny", "--output", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    match = re.search(
        r"main test accuracy: ([0-9.]+) with the chosen mixture, ([0-9.]+)", out.stdout
    )
    assert match, out.stdout
    assert all(0.0 <= float(v) <= 1.0 for v in match.groups())
    result = json.loads((tmp_path / "selection" / "result.json").read_text())
    assert result["main_task"] == "main"
    mixture = Mixture.from_result(tmp_path / "selection" / "result.json")
    assert set(mixture.ratios) == set(result["selected"])
    assert (tmp_path / "model" / "config.json").is_file()
    assert "main dev accuracy during the mixture fine-tune" in out.stdout


def test_build_mixture_trainer_drops_main_eval_text_from_auxiliary_training(
    tmp_path: Path, tokenizer: Any, user_data: dict[str, Any]
) -> None:
    mixture = Mixture("main", {"topic": 1.0})

    def build(data: dict[str, Any], **options: Any) -> Any:
        return build_mixture_trainer(
            mixture,
            encoder=_encoder(tokenizer),
            tokenizer=tokenizer,
            datasets=data,
            columns=COLUMNS,
            args=_args(tmp_path),
            max_length=MAX_LENGTH,
            **options,
        )

    leaked = [r["sentence"].upper() + " !" for r in user_data["main"]["validation"][:3]]
    leaked += [r["sentence"] + "." for r in user_data["main"]["test"][:2]]
    topic = {**user_data["topic"], "test": _rows(12, 9, kind="three")}  # no split carved
    before = build({**user_data, "topic": topic}).contamination.auxiliary["topic"].found
    topic["train"] = [*topic["train"], *({"text": t, "label": 1} for t in leaked)]
    data = {**user_data, "topic": topic}
    trainer = build(data)
    report = trainer.contamination.auxiliary["topic"]
    assert report.found == report.dropped == before + 5
    kept = {ex.text for ex in trainer.tasks["topic"].train}
    assert not kept & set(leaked)
    assert len(trainer.tasks["topic"].train) == 60 + 5 - report.found
    kept_all = build(data, drop_contaminated=False)
    assert kept_all.contamination.auxiliary["topic"].found == before + 5
    assert set(leaked) <= {ex.text for ex in kept_all.tasks["topic"].train}
