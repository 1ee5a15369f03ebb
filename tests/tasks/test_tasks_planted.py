from __future__ import annotations

import numpy as np
import pytest

from tasks import Task, from_file
from tasks.planted import make_planted_suite, planted_words, write_task_csv


def _rule(text: str, first: set[str], second: set[str]) -> int:
    words = text.split()
    return int(sum(w in first for w in words) > sum(w in second for w in words))


@pytest.fixture(scope="module")
def suite():
    return make_planted_suite(
        n_helpful=2,
        n_neutral=2,
        n_harmful=2,
        main_train=100,
        aux_train=300,
        dev=60,
        test=80,
        seed=5,
    )


def test_suite_shape_and_names(suite):
    assert suite.main.name == "main"
    names = [t.name for t in suite.auxiliary]
    assert names == [
        "helpful-0",
        "helpful-1",
        "neutral-0",
        "neutral-1",
        "harmful-shuffled-0",
        "harmful-competing-0",
    ]
    assert suite.helpful == {"helpful-0", "helpful-1"}
    assert suite.neutral == {"neutral-0", "neutral-1"}
    assert suite.harmful == {"harmful-shuffled-0", "harmful-competing-0"}
    assert (len(suite.main.train), len(suite.main.dev), len(suite.main.test)) == (100, 60, 80)
    for task in suite.auxiliary:
        assert isinstance(task, Task)
        assert (len(task.train), len(task.dev), len(task.test)) == (300, 60, 80)
        assert task.label_counts() == {"0": 150, "1": 150}
    assert suite.by_name("neutral-1").name == "neutral-1"
    with pytest.raises(KeyError):
        suite.by_name("nope")


def test_suite_is_deterministic(suite):
    again = make_planted_suite(
        n_helpful=2,
        n_neutral=2,
        n_harmful=2,
        main_train=100,
        aux_train=300,
        dev=60,
        test=80,
        seed=5,
    )
    assert again == suite
    other = make_planted_suite(main_train=100, aux_train=300, dev=60, test=80, seed=6)
    assert other.main.train != suite.main.train


def test_helpful_rule_is_the_main_rule_and_others_are_not(suite):
    words = planted_words(5, n_neutral=2)
    pos, neg = set(words["P"]), set(words["N"])

    def agreement(task: Task) -> float:
        return float(np.mean([_rule(e.text, pos, neg) == e.label for e in task.train]))

    assert agreement(suite.main) == 1.0
    assert agreement(suite.by_name("helpful-0")) == 1.0
    assert agreement(suite.by_name("helpful-1")) == 1.0
    for name in ("neutral-0", "neutral-1", "harmful-shuffled-0", "harmful-competing-0"):
        assert 0.35 < agreement(suite.by_name(name)) < 0.65, name
    a, b = set(words["A_0"]), set(words["B_0"])
    neutral = suite.by_name("neutral-0")
    assert all(_rule(e.text, a, b) == e.label for e in neutral.train)
    # shuffled control: main-rule text whose labels no longer follow the rule on train,
    # but its dev split is clean
    assert all(_rule(e.text, pos, neg) == e.label for e in suite.by_name("harmful-shuffled-0").dev)


def test_helpful_vocabulary_overlaps_but_differs(suite):
    main_words = {w for e in suite.main.train for w in e.text.split()}
    helpful_words = {w for e in suite.by_name("helpful-0").train for w in e.text.split()}
    shared = main_words & helpful_words
    assert shared and helpful_words - main_words


def test_invalid_sizes():
    with pytest.raises(ValueError):
        make_planted_suite(n_helpful=-1)
    with pytest.raises(ValueError):
        make_planted_suite(dev=1)


def test_write_task_csv_round_trip(tmp_path, suite):
    path = write_task_csv(suite.main, tmp_path / "main.csv", split="all")
    task = from_file(path, name="main", split_column="split")
    assert task.train == suite.main.train
    assert task.dev == suite.main.dev
    assert task.test == suite.main.test
    only = write_task_csv(suite.main.dev, tmp_path / "dev.csv")
    assert only.read_text().splitlines()[0] == "text,label"
    assert len(only.read_text().splitlines()) == 1 + len(suite.main.dev)
