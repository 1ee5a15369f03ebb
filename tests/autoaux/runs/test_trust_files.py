"""Files from someone else: an output folder never writes or deletes through a link, and a resume
checks the whole saved state.

Checkpoints are built without training (a few milliseconds each) and then edited as a stranger
would edit them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from autoaux.cli import main
from autoaux.config import RunConfig, config_from_dict
from autoaux.runs import UnsafeOutput, write_json
from autoaux.runs.checkpoint import CheckpointError, RunCheckpoint
from autoaux.runs.lock import HOLDER_FILE, LOCK_FILE, folder_lock
from autoaux.runs.plots import plot_trials
from autoaux.runs.result import MixResult
from tasks import make_planted_suite, write_task_csv


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    suite = make_planted_suite(
        n_helpful=2, n_neutral=0, n_harmful=0, main_train=40, aux_train=60, dev=16, test=16,
        seed=0,
    )  # fmt: skip
    for task in suite.tasks:
        write_task_csv(task, folder / f"{task.name}.csv", split="all")
    return folder


def _config(data: Path, out: Path, **stage1: Any) -> RunConfig:
    return config_from_dict(
        {
            "seed": 0,
            "output_dir": str(out),
            "device": "cpu",
            "model": {"encoder": "tiny", "max_length": 16, "hidden_size": 16, "vocab_size": 300},
            "main": {"task": "main"},
            "auxiliary": {"tasks": ["helpful-0", "helpful-1"], "add_control": True},
            "stage1": {"pulls": 4, "steps_per_pull": 2, **stage1},
            "stage2": {"trials": 2, "initial_points": 2, "steps": 6, "eval_every": 3},
            "baselines": {"run": ["main-only"]},
            "tracking": {"enabled": False},
            "task": [
                {"name": name, "path": str(data / f"{name}.csv"), "split_column": "split"}
                for name in ("main", "helpful-0", "helpful-1")
            ],
        }
    )


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    return victim


# ------------------------------------------------------------------ finding 2: no write via links
def test_a_linked_lock_holder_is_never_written_through(tmp_path: Path) -> None:
    out, victim = tmp_path / "out", _victim(tmp_path)
    out.mkdir()
    (out / HOLDER_FILE).symlink_to(victim)
    with pytest.raises(UnsafeOutput, match=r"\.autoaux\.lock\.holder: is a symbolic link"):
        with folder_lock(out):
            pass
    assert victim.read_text() == "precious"


def test_a_linked_lock_is_a_one_line_error_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, victim = tmp_path / "out", _victim(tmp_path)
    out.mkdir()
    (out / LOCK_FILE).symlink_to(victim)
    assert main(["run", "--resume", str(out)]) == 2
    err = capsys.readouterr().err
    assert "symbolic link" in err and LOCK_FILE in err and "unexpected" not in err
    assert len(err.strip().splitlines()) == 1
    assert victim.read_text() == "precious"


def test_a_linked_checkpoint_folder_is_never_cleaned(data: Path, tmp_path: Path) -> None:
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    keep = [elsewhere / "weights.pt", elsewhere / ".notes.tmp"]
    for path in keep:
        path.write_text("precious")
    out.mkdir()
    (out / "checkpoint").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(UnsafeOutput, match=r"checkpoint: is a symbolic link"):
        RunCheckpoint.create(_config(data, out))
    with pytest.raises(CheckpointError, match=r"checkpoint: is a symbolic link"):
        RunCheckpoint.load(out)
    assert all(path.read_text() == "precious" for path in keep)
    assert sorted(p.name for p in elsewhere.iterdir()) == [".notes.tmp", "weights.pt"]


def test_known_output_names_that_are_links_are_refused(tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    (tmp_path / "result.json").symlink_to(victim)
    with pytest.raises(UnsafeOutput, match=r"result\.json: is a symbolic link"):
        write_json(tmp_path / "result.json", {"a": 1})
    (tmp_path / "stage2_trials.png").symlink_to(victim)
    mix = MixResult(
        main_task="main", tasks=(), ratios={"main": 1.0}, probabilities={"main": 1.0},
        best_dev_score=0.5, test_score=None, trials=(), best_trial=None,
    )  # fmt: skip
    with pytest.raises(UnsafeOutput, match=r"stage2_trials\.png: is a symbolic link"):
        plot_trials(mix, tmp_path / "stage2_trials.png")
    assert victim.read_text() == "precious"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # nothing left over


def test_outputs_are_still_written_in_a_plain_folder(tmp_path: Path) -> None:
    path = write_json(tmp_path / "sub" / "result.json", {"x": math.nan})
    assert json.loads(path.read_text()) == {"x": None}
    with folder_lock(tmp_path / "out") as folder:
        assert json.loads((folder / HOLDER_FILE).read_text())["pid"] > 0
    assert not (tmp_path / "out" / HOLDER_FILE).exists()
