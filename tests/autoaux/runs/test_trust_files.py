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

import numpy as np
import pytest
import torch

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
    with (
        pytest.raises(UnsafeOutput, match=r"\.autoaux\.lock\.holder: is a symbolic link"),
        folder_lock(out),
    ):
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


# ------------------------------------------------------------------ finding 5: the whole state
POOL = ["helpful-0", "helpful-1", "shuffled:helpful-0"]
MEANS = {"main": 0.70, "helpful-0": 0.80, "helpful-1": 0.70, "shuffled:helpful-0": 0.70}


class _Report:
    def __init__(self, best_dev: float, steps: dict[str, int]) -> None:
        self.best_dev, self.mean_loss = best_dev, {"main": 0.5}
        self.steps_per_task = steps


class _Episode:
    """Stands in for a trainer: the arm's mean plus a round effect shared by the round."""

    def __init__(self, seed_key: str) -> None:
        self.round = int(seed_key.rsplit("-", 1)[1])

    def train_mixture(self, probabilities: dict[str, float], steps: int, **_: Any) -> _Report:
        (task,) = [t for t in probabilities if t != "main"] or ["main"]
        shared = np.random.default_rng(self.round).normal(0.0, 0.05)
        own = np.random.default_rng([self.round, len(task)]).normal(0.0, 0.005)
        return _Report(MEANS[task] + shared + own, dict.fromkeys(probabilities, steps))


def _raced(data: Path, out: Path, *, pulls: int, finish: bool) -> RunConfig:
    """A checkpoint of a race run for ``pulls`` episodes (stage 1 finished with ``finish``)."""
    from autoaux.stages.race import run_race

    config = _config(data, out, pulls=pulls, episode_steps=10)
    checkpoint = RunCheckpoint.create(config)
    result = run_race(
        lambda steps, key: _Episode(key), main="main", pool=POOL, settings=config.stage1.race(),
        seed=0, controls=("shuffled:helpful-0",), checkpoint=checkpoint,
    )  # fmt: skip
    if finish:
        assert result.selected == ("helpful-0",)  # the known answer of this pool
        checkpoint.finish_stage1(result)
    return config


def _state(out: Path) -> dict[str, Any]:
    return dict(json.loads((out / "checkpoint" / "state.json").read_text()))


def _forge(out: Path, change: Any) -> None:
    """Edit ``state.json`` and recompute its digest, as a careful forger would."""
    from autoaux.runs._verify import state_digest

    state = _state(out)
    change(state)
    state["digest"] = state_digest(state)
    (out / "checkpoint" / "state.json").write_text(json.dumps(state))


def test_a_saved_race_and_its_result_resume(data: Path, tmp_path: Path) -> None:
    _raced(data, tmp_path / "a", pulls=9, finish=False)
    assert RunCheckpoint.load(tmp_path / "a").resuming
    _raced(data, tmp_path / "b", pulls=200, finish=True)
    assert RunCheckpoint.load(tmp_path / "b").stage1_result() is not None


def test_an_edit_without_the_digest_is_refused(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _raced(data, out, pulls=200, finish=True)
    state = _state(out)
    state["stage2_result"] = None
    state["stage1_result"]["seconds"] = 1.0  # a harmless-looking edit
    (out / "checkpoint" / "state.json").write_text(json.dumps(state))
    with pytest.raises(CheckpointError, match="does not match its digest"):
        RunCheckpoint.load(out)


def test_an_edited_race_decision_is_recomputed_and_refused(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _raced(data, out, pulls=200, finish=True)

    def flip(state: dict[str, Any]) -> None:  # helpful-1 "helps" and is selected
        result = state["stage1_result"]
        result["verdicts"]["helpful-1"]["verdict"] = "helps"
        result["selected"] = ["helpful-0", "helpful-1"]
        result["bandit_state"]["state"]["decision"][2] = 1  # arm 0 is main alone

    _forge(out, flip)
    with pytest.raises(CheckpointError, match=r"paired differences give negligible"):
        RunCheckpoint.load(out)


def test_an_edited_race_in_progress_is_refused(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _raced(data, out, pulls=12, finish=False)

    def decide(state: dict[str, Any]) -> None:
        bandit = state["stage1"]["bandit"]["state"]
        bandit["decision"][1], bandit["open"][1] = -1, False  # helpful-0 "hurts"

    _forge(out, decide)
    with pytest.raises(CheckpointError, match=r"stage1\.bandit: arm 1 is saved as hurts"):
        RunCheckpoint.load(out)


@pytest.mark.parametrize(
    ("selected", "message"),
    [
        (["helpful-0", "shuffled:helpful-0"], "pool less its controls"),
        (["helpful-0", "tweet-sentiment"], "pool less its controls"),
        ([], "not the set of tasks the race found to help"),
    ],
)
def test_selected_lies_in_the_pool_and_follows_the_verdicts(
    data: Path, tmp_path: Path, selected: list[str], message: str
) -> None:
    out = tmp_path / "out"
    _raced(data, out, pulls=200, finish=True)
    _forge(out, lambda s: s["stage1_result"].update(selected=selected))
    with pytest.raises(CheckpointError, match=message):
        RunCheckpoint.load(out)


def test_a_data_entry_per_task_file(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    RunCheckpoint.create(_config(data, out))
    _forge(out, lambda s: s["fingerprint"].update(data={}))
    with pytest.raises(CheckpointError, match=r"one entry per \[\[task\]\]"):
        RunCheckpoint.load(out)


def _stage2(out: Path, config: RunConfig, scores: list[float | None]) -> None:
    """Save stage-2 progress of trials with ``scores`` told to a real search."""
    from autoaux.runs.checkpoint import Stage2Progress
    from autoaux.runs.result import TrialRecord
    from bayesopt import MixingRatioSpace, RandomRatioSearch, TrialState

    checkpoint = RunCheckpoint.load(out) if (out / "checkpoint").exists() else None
    checkpoint = checkpoint or RunCheckpoint.create(config)
    search = RandomRatioSearch(MixingRatioSpace(["helpful-0"]), seed=0)
    trials, best = [], None
    for number, score in enumerate(scores):
        ratios = search.ask()
        search.tell(ratios, score, failed=score is None)
        state = TrialState.FAILED if score is None else TrialState.COMPLETE
        trials.append(TrialRecord(number, ratios, score, state))
        if score is not None and (best is None or score > best.score):
            best = trials[-1]
    checkpoint.save_stage2(
        Stage2Progress(trials, best, {"w": torch.zeros(1)}, 0.5), search=search
    )


def test_saved_trials_must_agree_with_the_search(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    config = _config(data, out)
    RunCheckpoint.create(config)
    _stage2(out, config, [0.6, 0.7])
    assert RunCheckpoint.load(out).resuming  # consistent

    _forge(out, lambda s: s["stage2"]["trials"][0].update(score=0.9))  # the search says 0.6
    with pytest.raises(CheckpointError, match="trial 0 disagrees with the search"):
        RunCheckpoint.load(out)


def test_the_saved_best_trial_follows_from_the_scores(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    config = _config(data, out)
    RunCheckpoint.create(config)
    _stage2(out, config, [0.6, 0.7])
    _forge(out, lambda s: s["stage2"].update(best=0, best_file="best-trial-0000.pt"))
    with pytest.raises(CheckpointError, match="best trial saved as 0, the trials' scores give 1"):
        RunCheckpoint.load(out)


@pytest.mark.parametrize(
    "edit",
    [
        lambda s: s["stage2"].update(trials="x"),
        lambda s: s["stage2"]["trials"][0].pop("ratios"),
        lambda s: s.update(stage1_result={"arms": 3}),
        lambda s: s.update(baselines={"main-only": {"dev": "abc"}}),
    ],
)
def test_malformed_sections_are_one_line_checkpoint_errors(
    data: Path, tmp_path: Path, edit: Any
) -> None:
    out = tmp_path / "out"
    config = _config(data, out)
    RunCheckpoint.create(config)
    _stage2(out, config, [0.6, 0.7])
    _forge(out, edit)
    with pytest.raises(CheckpointError) as caught:
        RunCheckpoint.load(out).baselines()
    assert "\n" not in str(caught.value) and "resume refused" in str(caught.value)


def test_an_output_folder_the_user_names_through_a_link_still_works(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "out").symlink_to(real, target_is_directory=True)
    write_json(tmp_path / "out" / "result.json", {"a": 1})
    assert json.loads((real / "result.json").read_text()) == {"a": 1}


def test_the_finetuned_model_is_never_saved_through_a_link(tmp_path: Path) -> None:
    from autoaux.stages.finetune import _save

    victim = _victim(tmp_path)
    folder = tmp_path / "model"
    (folder / "encoder").mkdir(parents=True)
    (folder / "encoder" / "config.json").symlink_to(victim)
    with pytest.raises(UnsafeOutput, match=r"config\.json: is a symbolic link"):
        _save(folder, None, None, None, {})  # type: ignore[arg-type]
    (folder / "encoder" / "config.json").unlink()
    (folder / "heads.pt").symlink_to(victim)
    with pytest.raises(UnsafeOutput, match=r"heads\.pt: is a symbolic link"):
        _save(folder, None, None, None, {})  # type: ignore[arg-type]
    assert victim.read_text() == "precious"


def test_an_edited_test_score_is_refused(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    config = _config(data, out)
    RunCheckpoint.create(config)
    _stage2(out, config, [0.6, 0.7])
    state = _state(out)
    state["stage2"]["test_score"] = 0.99
    (out / "checkpoint" / "state.json").write_text(json.dumps(state))
    with pytest.raises(CheckpointError, match="does not match its digest"):
        RunCheckpoint.load(out)


@pytest.mark.parametrize(
    "edit",
    [
        lambda s: s.update(mlflow=[]),
        lambda s: s["config"].update(checkpoint="x"),
        lambda s: s.update(stage1="x"),
        lambda s: s["fingerprint"]["data"].update({"main": "x"}),
    ],
)
def test_malformed_top_level_parts_exit_2_through_the_cli(
    data: Path, tmp_path: Path, edit: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from autoaux.runs.checkpoint import _config_fingerprint

    out = tmp_path / "out"
    RunCheckpoint.create(_config(data, out))

    def change(state: dict[str, Any]) -> None:
        edit(state)
        state["fingerprint"]["config"] = _config_fingerprint(state["config"])

    _forge(out, change)
    assert main(["run", "--resume", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unexpected" not in err and "state.json" in err
