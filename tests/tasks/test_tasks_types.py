from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tasks import Example, Task, TaskDataError, shuffled


def _task(n: int = 100, *, labels: tuple[str, ...] = ("a", "b"), weights=None) -> Task:
    rng = np.random.default_rng(0)
    y = rng.choice(len(labels), size=n, p=weights)
    train = tuple(Example(f"text {i}", int(y[i])) for i in range(n))
    dev = (Example("d0", 0), Example("d1", 1))
    return Task("toy", "classification", train, dev, dev, labels=labels)


def test_example_is_frozen_with_slots():
    ex = Example("hello", 1)
    assert ex.text_pair is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        ex.text = "x"  # type: ignore[misc]
    assert not hasattr(ex, "__dict__")


def test_task_properties():
    task = _task()
    assert task.num_labels == 2
    assert not task.is_pair
    assert len(task.train) == 100 and task.train[0].text == "text 0"
    reg = Task(
        "r",
        "regression",
        (Example("a", 0.5),),
        (Example("b", 1.0),),
        (Example("c", 2.0),),
        metric="pearson",
        text_fields=("s1", "s2"),
    )
    assert reg.num_labels == 1
    assert reg.is_pair
    assert reg.labels == ()


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"kind": "ranking"}, "kind"),
        ({"metric": "bleu"}, "metric"),
        ({"metric": "pearson"}, "does not suit classification"),
        ({"labels": ("only",)}, "at least two labels"),
        ({"labels": ("a", "a")}, "duplicate"),
        ({"train": (Example("x", 5),)}, "outside"),
        ({"train": (Example("x", 0.5),)}, "not a class index"),
        ({"text_fields": ()}, "one or two"),
    ],
)
def test_task_validation(changes, message):
    base = dict(
        name="t",
        kind="classification",
        train=(Example("x", 0),),
        dev=(),
        test=(),
        labels=("a", "b"),
    )
    base.update(changes)
    with pytest.raises(ValueError, match=message):
        Task(**base)


def test_regression_task_rejects_labels_and_class_metrics():
    with pytest.raises(ValueError, match="no label vocabulary"):
        Task("r", "regression", (), (), (), labels=("a", "b"), metric="pearson")
    with pytest.raises(ValueError, match="does not suit regression"):
        Task("r", "regression", (), (), (), metric="accuracy")


def test_task_data_error_formats_file_and_line():
    err = TaskDataError("bad label", path="data/x.csv", line=7)
    assert str(err) == "data/x.csv, line 7: bad label"
    assert err.path == "data/x.csv" and err.line == 7
    assert isinstance(err, ValueError)
    assert str(TaskDataError("bad", path="frame", line=3, unit="row")) == "frame, row 3: bad"


def test_with_max_train_is_stratified_and_deterministic():
    task = _task(1000, labels=("a", "b", "c"), weights=[0.6, 0.3, 0.1])
    small = task.with_max_train(50, seed=3)
    assert len(small.train) == 50
    assert small.dev == task.dev and small.test == task.test and small.name == task.name
    full = task.label_counts()
    sub = small.label_counts()
    for label in task.labels:
        assert abs(sub[label] - 50 * full[label] / 1000) <= 1
    again = task.with_max_train(50, seed=3)
    assert again.train == small.train
    other = task.with_max_train(50, seed=4)
    assert other.train != small.train
    # selected examples keep their original order and come from train
    positions = [int(ex.text.split()[1]) for ex in small.train]
    assert positions == sorted(positions)


def test_with_max_train_keeps_every_class_and_returns_self_when_large():
    task = _task(200, labels=("a", "b", "c"), weights=[0.98, 0.01, 0.01])
    small = task.with_max_train(3, seed=0)
    assert set(small.label_counts().values()) == {1}
    assert task.with_max_train(10_000) is task
    with pytest.raises(ValueError):
        task.with_max_train(0)


def test_with_max_train_regression():
    train = tuple(Example(str(i), float(i)) for i in range(30))
    task = Task("r", "regression", train, train[:2], train[:2], metric="spearman")
    small = task.with_max_train(10, seed=1)
    assert len(small.train) == 10
    assert len(set(small.train)) == 10


def test_shuffled_keeps_text_and_permutes_labels():
    task = _task(500)
    ctrl = shuffled(task, seed=1)
    assert ctrl.name == "shuffled:toy"
    assert [e.text for e in ctrl.train] == [e.text for e in task.train]
    assert sorted(e.label for e in ctrl.train) == sorted(e.label for e in task.train)
    assert [e.label for e in ctrl.train] != [e.label for e in task.train]
    agreement = np.mean([a.label == b.label for a, b in zip(ctrl.train, task.train, strict=True)])
    assert 0.35 < agreement < 0.65
    assert ctrl.dev == task.dev and ctrl.test == task.test
    assert shuffled(task, seed=1).train == ctrl.train
    assert shuffled(task, seed=2).train != ctrl.train


def test_tasks_package_imports_no_models_or_tracking():
    import subprocess
    import sys

    code = (
        "import sys, tasks, tasks.planted, tasks.encoding\n"
        "bad = [m for m in ('torch', 'transformers', 'tokenizers', 'mlflow', 'pandas', 'datasets')"
        " if m in sys.modules]\n"
        "assert not bad, bad\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
