"""The ``autoaux`` command end to end, in a subprocess, and its one-line errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from .conftest import CliRun, run_cli

pytestmark = pytest.mark.slow


def test_quick_run_succeeds_and_writes_consistent_result(quick_run: CliRun) -> None:
    assert quick_run.returncode == 0, quick_run.stderr
    result = json.loads((quick_run.output / "result.json").read_text())
    for key in ("main_task", "selected", "utilities", "pulls", "ratios", "best_dev_score",
                "test_score", "trials", "mlflow"):
        assert key in result, key
    assert result["main_task"] == "nyt-polarity"
    pool = set(result["utilities"])
    assert result["controls"] == ["shuffled:amazon-polarity"]  # added automatically
    # main alone is the race's reference; the control is raced for calibration
    assert set(result["pulls"]) == pool == set(result["verdicts"]) | {"nyt-polarity"}
    assert set(result["controls"]) <= set(result["verdicts"])
    assert result["recommendation"].startswith("train the main task")
    assert sum(result["pulls"].values()) == 14  # the --quick episode budget
    verdicts = ("helps", "negligible", "hurts", "undecided")
    assert all(v["verdict"] in verdicts for v in result["verdicts"].values())
    assert result["decision"]
    assert set(result["selected"]) <= pool - {"nyt-polarity", "shuffled:amazon-polarity"}
    assert result["ratios"].get("nyt-polarity", 1.0) == 1.0  # the main task's ratio is fixed
    assert set(result["ratios"]) - {"nyt-polarity"} == set(result["selected"])
    assert 0.0 <= result["best_dev_score"] <= 1.0
    assert 0.0 <= result["test_score"] <= 1.0
    # Stage 2 searches the selected tasks' ratios in 3 trials; with nothing selected it trains
    # the main task alone, once.
    assert len(result["trials"]) == (3 if result["selected"] else 1)
    for number, trial in enumerate(result["trials"]):
        assert trial["number"] == number
        assert trial["state"] in ("COMPLETE", "FAILED")
        assert set(trial["ratios"]) - {"nyt-polarity"} == set(result["selected"])
    complete = [t["score"] for t in result["trials"] if t["state"] == "COMPLETE"]
    assert math.isclose(max(complete), result["best_dev_score"])
    ml = result["mlflow"]
    assert ml["tracking_uri"].startswith("sqlite:///") and ml["run_id"] and ml["experiment_id"]
    for plot in ("stage1_utilities.png", "stage2_trials.png"):
        path = quick_run.output / plot
        assert path.stat().st_size > 1000
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The terminal table names every task of the pool.
    for name in pool:
        assert name in quick_run.stdout


def test_quick_run_logged_to_sqlite_store(quick_run: CliRun) -> None:
    from mlflow.tracking import MlflowClient

    assert quick_run.returncode == 0, quick_run.stderr
    result = json.loads((quick_run.output / "result.json").read_text())
    client = MlflowClient(result["mlflow"]["tracking_uri"].replace(
        "sqlite:///mlflow.db", f"sqlite:///{quick_run.workdir / 'mlflow.db'}"))
    runs = client.search_runs([result["mlflow"]["experiment_id"]])
    by_id = {r.info.run_id: r for r in runs}
    parent = by_id[result["mlflow"]["run_id"]]
    assert parent.info.status == "FINISHED"
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    names = {c.info.run_name for c in children}
    assert {"stage1", "stage2"} <= names, names
    stage2 = [c for c in children if c.info.run_name == "stage2"]
    stage1 = next(c for c in children if c.info.run_name == "stage1")
    history = client.get_metric_history(stage1.info.run_id, "dev_score")
    assert len(history) == 14  # one main dev score per episode
    assert stage1.data.tags["autoaux.decision"] == result["decision"]
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == stage2[0].info.run_id]
    assert len(trials) == (3 if result["selected"] else 1)
    assert all(r.info.status in ("FINISHED", "FAILED") for r in runs)


@pytest.fixture()
def work(tmp_path: Path) -> Path:
    return tmp_path


def _assert_one_line_error(run: CliRun, *needles: str) -> None:
    assert run.returncode == 2, (run.returncode, run.stderr)
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert lines, "expected a message on stderr"
    assert "Traceback" not in run.stderr
    message = lines[-1]
    assert message.startswith("autoaux: error:"), message
    for needle in needles:
        assert needle in message, (needle, message)


def test_bad_config_key_names_the_key(work: Path, data_cache: Path) -> None:
    (work / "bad.toml").write_text('seed = 0\n[stage1]\npullz = 3\n')
    run = run_cli(["run", "--config", "bad.toml"], cwd=work, cache=data_cache)
    _assert_one_line_error(run, "stage1.pullz", "bad.toml")


def test_bad_config_value_names_key_and_value(work: Path, data_cache: Path) -> None:
    (work / "bad.toml").write_text('[stage1]\ngating = "sometimes"\n')
    run = run_cli(["run", "--config", "bad.toml"], cwd=work, cache=data_cache)
    _assert_one_line_error(run, "stage1.gating", "sometimes")


def test_an_in_run_policy_without_a_preset_says_which_preset_to_set(
    work: Path, data_cache: Path
) -> None:
    (work / "bandit.toml").write_text('[stage1]\npolicy = "thompson"\n')
    run = run_cli(["run", "--config", "bandit.toml"], cwd=work, cache=data_cache)
    _assert_one_line_error(run, "bandit.toml", "stage1.policy", 'preset = "bandit"')


def test_unknown_task_is_named(work: Path, data_cache: Path) -> None:
    (work / "bad.toml").write_text('[main]\ntask = "no-such-task"\n')
    run = run_cli(["run", "--config", "bad.toml"], cwd=work, cache=data_cache)
    _assert_one_line_error(run, "no-such-task")


def test_missing_data_file_is_named(work: Path, data_cache: Path) -> None:
    (work / "bad.toml").write_text(
        '[main]\ntask = "mine"\n[auxiliary]\ntasks = []\n'
        '[[task]]\nname = "mine"\npath = "data/missing.csv"\ntext = "sentence"\nlabel = "label"\n'
    )
    run = run_cli(["run", "--config", "bad.toml"], cwd=work, cache=data_cache)
    _assert_one_line_error(run, "missing.csv")


def test_missing_config_file_is_named(work: Path, data_cache: Path) -> None:
    run = run_cli(["run", "--config", "nowhere.toml"], cwd=work, cache=data_cache)
    _assert_one_line_error(run, "nowhere.toml")


def test_unreachable_tracking_server_fails_fast(work: Path, data_cache: Path) -> None:
    run = run_cli(
        ["run", "--quick", "--tracking-uri", "http://127.0.0.1:9"], cwd=work, cache=data_cache,
        timeout=300,
    )
    _assert_one_line_error(run, "127.0.0.1:9")


def test_debug_shows_the_traceback(work: Path, data_cache: Path) -> None:
    run = run_cli(["--debug", "run", "--config", "nowhere.toml"], cwd=work, cache=data_cache)
    assert run.returncode != 0
    assert "Traceback" in run.stderr


def test_tasks_list_names_the_builtin_suite(work: Path, data_cache: Path) -> None:
    run = run_cli(["tasks", "list"], cwd=work, cache=data_cache)
    assert run.returncode == 0, run.stderr
    for name in ("rt-sentiment", "rt-subjectivity", "tweet-sentiment", "tweet-confidence",
                 "bbc-topic"):
        assert name in run.stdout


def test_tasks_list_fits_a_terminal_with_label_counts(work: Path, data_cache: Path) -> None:
    run = run_cli(["tasks", "list"], cwd=work, cache=data_cache)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100, max(lines, key=len)
    rows = {line.split()[0]: line.split() for line in lines if line.strip()}
    assert rows["trec-fine"][1:3] == ["classification", "50"]  # a count, not the 50 labels
    assert rows["rt-sentiment"][1:3] == ["classification", "2"]
    assert rows["tweet-confidence"][1:3] == ["regression", "-"]
    assert "ENTY:animal" not in run.stdout and "'fresh', 'rotten'" not in run.stdout
    assert "autoaux tasks show NAME" in run.stdout


def test_tasks_show_keeps_the_labels(work: Path, data_cache: Path) -> None:
    run = run_cli(["tasks", "show", "trec-fine"], cwd=work, cache=data_cache)
    assert run.returncode == 0, run.stderr
    details = json.loads(run.stdout)
    assert len(details["labels"]) == 50
    assert "ENTY:animal" in details["labels"]
