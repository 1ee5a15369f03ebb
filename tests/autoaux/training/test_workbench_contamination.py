"""The contamination guard where a run loads its tasks (the workbench) and what a run reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import autoaux
from autoaux.config import config_from_dict
from autoaux.errors import ConfigError
from autoaux.tracking import NullTracker
from autoaux.training.workbench import load_clean_tasks, load_tasks
from tasks import Example, Task

WORDS = [f"word{i}" for i in range(40)]


def _texts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [f"{seed} {i} " + " ".join(rng.choice(WORDS, size=6).tolist()) for i in range(n)]


def _task(name: str, train: list[str], dev: list[str], test: list[str]) -> Task:
    def make(texts: list[str]) -> tuple[Example, ...]:
        return tuple(Example(t, i % 2) for i, t in enumerate(texts))

    return Task(name, "classification", make(train), make(dev), make(test), ("a", "b"))


MAIN_DEV, MAIN_TEST = _texts(20, 1), _texts(20, 2)
MAIN = _task("main", [*_texts(40, 0), MAIN_DEV[0]], MAIN_DEV, MAIN_TEST)
LEAKED = [MAIN_DEV[3].upper(), MAIN_DEV[4] + " !", MAIN_TEST[5].replace(" ", "  , ")]
AUX = _task("aux", [*_texts(60, 3), *LEAKED], _texts(10, 4), _texts(10, 5))


def _config(tmp_path: Path, users: tuple[str, ...] = ("main", "aux"), **sections: Any) -> Any:
    data: dict[str, Any] = {
        "main": {"task": "main"},
        "auxiliary": {"tasks": ["aux"], "add_control": True},
        "model": {"encoder": "tiny", "max_length": 16},
        "output_dir": str(tmp_path / "out"),
        "tracking": {"enabled": False},
    }
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    return config_from_dict(data, source="test", user_tasks=users)


def test_the_guard_runs_before_the_cap(tmp_path: Path) -> None:
    config = _config(tmp_path, auxiliary={"max_train_examples": 60})
    loaded, report = load_clean_tasks(config, ["main", "aux", "shuffled:aux"], [MAIN, AUX])
    assert [ex.text for ex in loaded["aux"].train] == _texts(60, 3)  # the 3 leaked rows went
    assert {ex.text for ex in loaded["shuffled:aux"].train} == set(_texts(60, 3))
    counts = report.auxiliary["aux"]
    assert (counts.found, counts.in_dev, counts.in_test, counts.dropped) == (3, 2, 1, 3)
    assert report.auxiliary["shuffled:aux"].dropped == 3
    assert report.main.found == 1 and len(loaded["main"].train) == 41  # counted, kept
    assert load_tasks(config, ["main", "aux"], [MAIN, AUX])["aux"] == loaded["aux"]


def test_switch_off_keeps_the_rows_warns_and_counts(tmp_path: Path, caplog) -> None:
    config = _config(tmp_path, auxiliary={"drop_contaminated": False})
    with caplog.at_level("INFO", logger="autoaux"):
        loaded, report = load_clean_tasks(config, ["main", "aux"], [MAIN, AUX])
    assert loaded["aux"] == AUX and report.found == 3 and report.dropped == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("drop_contaminated = false" in m and "3 found" in m for m in warnings)
    assert any("aux: 3 of 63 training examples are main dev/test texts" in r.getMessage()
               for r in caplog.records)  # fmt: skip


def test_main_repeats_dropped_when_asked(tmp_path: Path) -> None:
    config = _config(tmp_path, main={"drop_eval_repeats": True})
    loaded, report = load_clean_tasks(config, ["main", "aux"], [MAIN, AUX])
    assert len(loaded["main"].train) == 40 and report.main.dropped == 1


def test_bad_switch_and_an_emptied_task_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"auxiliary\.drop_contaminated"):
        _config(tmp_path, auxiliary={"drop_contaminated": "yes"})
    with pytest.raises(ConfigError, match=r"main\.drop_eval_repeats"):
        _config(tmp_path, main={"drop_eval_repeats": 1})
    copy = _task("copy", MAIN_DEV[:5], _texts(4, 6), _texts(4, 7))
    config = _config(tmp_path, ("main", "copy"), auxiliary={"tasks": ["copy"]})
    with pytest.raises(ConfigError, match="every one of its 5 training examples"):
        load_clean_tasks(config, ["main", "copy"], [MAIN, copy])


class _Tags(NullTracker):
    def __init__(self) -> None:
        super().__init__()
        self.tags: dict[str, Any] = {}

    def set_tags(self, tags: Any) -> None:
        self.tags.update(tags)


def test_a_selection_run_reports_the_counts(tmp_path: Path, capsys) -> None:
    tracker = _Tags()
    config = _config(tmp_path)
    selection = autoaux.select(
        config,
        user_tasks=[MAIN, AUX],
        tracker=tracker,
        progress=False,
        preset="bandit",
        pulls=2,
        steps_per_pull=2,
    )
    assert selection.contamination is not None
    assert selection.contamination["auxiliary"]["aux"]["dropped"] == 3
    saved = json.loads((tmp_path / "out" / "selection.json").read_text())
    # the 3 leaked rows of aux and their copies in its shuffled control
    assert saved["contamination"]["found"] == 6 and saved["contamination"]["main"]["found"] == 1
    assert saved["contamination"]["summary"].startswith("contamination: 6 auxiliary")
    assert tracker.tags["autoaux.contamination.aux"] == "3"
    assert tracker.tags["autoaux.contamination.dropped"] == "6"  # aux and its shuffled copy
    from autoaux.cli import _print_contamination_line

    _print_contamination_line(selection)  # the line `autoaux select` and `run` print
    line = capsys.readouterr().out.strip()
    assert line == saved["contamination"]["summary"]
    assert "dropped: aux 3, shuffled:aux 3; main train repeats 1" in line
