"""Safe resume: nothing read can run code, checksummed checkpoint files, one run per output
folder, secrets never written, resume faithful or refusing, options before or after the
subcommand.

Most tests build a checkpoint without training (a few milliseconds); one end-to-end scenario runs
two tiny ``autoaux run`` processes on one folder.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from autoaux._secrets import redact_text, redact_uri
from autoaux.cli import build_parser, main
from autoaux.config import RunConfig, config_from_dict
from autoaux.runs.checkpoint import CheckpointError, RunCheckpoint
from autoaux.runs.lock import folder_lock
from autoaux.tracking.journal import JournalingClient
from tasks import make_planted_suite, write_task_csv

SECRET = "s3cret-pw-1234"
TIMEOUT = 240.0


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Planted CSV tasks (main, helpful-0) in a folder of their own."""
    folder = tmp_path_factory.mktemp("data")
    suite = make_planted_suite(
        n_helpful=1, n_neutral=0, n_harmful=0, main_train=40, aux_train=120, dev=32, test=32,
        seed=0,
    )  # fmt: skip
    for task in suite.tasks:
        write_task_csv(task, folder / f"{task.name}.csv", split="all")
    return folder


def _config_dict(data: Path, out: Path, *, uri: str, pulls: int = 3) -> dict[str, Any]:
    return {
        "seed": 0,
        "output_dir": str(out),
        "device": "cpu",
        "model": {"encoder": "tiny", "max_length": 16, "hidden_size": 16, "vocab_size": 300},
        "main": {"task": "main"},
        "auxiliary": {"tasks": ["helpful-0"], "add_control": False},
        "stage1": {"preset": "bandit", "pulls": pulls, "steps_per_pull": 2, "selection": "top-k",
                   "top_k": 1},
        "stage2": {"trials": 2, "initial_points": 2, "steps": 6, "eval_every": 3},
        "baselines": {"run": ["main-only"]},
        "tracking": {"uri": uri, "experiment": "safe"},
        "task": [
            {"name": name, "path": str(data / f"{name}.csv"), "split_column": "split"}
            for name in ("main", "helpful-0")
        ],
    }  # fmt: skip


def _config(data: Path, out: Path, *, uri: str = "sqlite:///mlflow.db") -> RunConfig:
    return config_from_dict(_config_dict(data, out, uri=uri))


def _state_path(out: Path) -> Path:
    return out / "checkpoint" / "state.json"


def _edit_state(out: Path, change: Any) -> None:
    """Edit ``state.json`` as someone who also recomputes its digest would."""
    from autoaux.runs._verify import state_digest

    state = json.loads(_state_path(out).read_text())
    change(state)
    state["digest"] = state_digest(state)
    _state_path(out).write_text(json.dumps(state))


class _Nothing:
    def load_state_dict(self, state: Any) -> None:
        self.state = state


# ------------------------------------------------------------------ nothing read can run code
class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def _saved_stage1(out: Path, name: str, *, sha: str | None) -> None:
    def change(state: dict[str, Any]) -> None:
        state["stage1"] = {
            "trainer_file": name, "bandit": {}, "previous": 0.5, "initial": 0.5,
            "rewards": {}, "cosines": {}, "history": [],
        }  # fmt: skip
        if sha is not None:
            state["files"][name] = sha

    _edit_state(out, change)


def test_a_crafted_pickle_checkpoint_is_refused_and_never_runs(data: Path, tmp_path: Path) -> None:
    out, marker = tmp_path / "out", tmp_path / "marker"
    RunCheckpoint.create(_config(data, out))
    path = out / "checkpoint" / "stage1-000003.pt"
    torch.save({"model": _Evil(marker)}, path)
    from autoaux.runs.checkpoint import _sha256

    _saved_stage1(out, path.name, sha=_sha256(path))  # even with the right checksum
    with pytest.raises(CheckpointError, match=r"stage1-000003\.pt: unreadable") as caught:
        RunCheckpoint.load(out).restore_stage1(_Nothing(), _Nothing())
    assert not marker.exists()
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("name", ["../../evil.pt", "/tmp/evil.pt", "stage1-1.pt", "x.pt", 3])
def test_checkpoint_file_names_must_be_plain_names_of_the_folder(
    data: Path, tmp_path: Path, name: Any
) -> None:
    out = tmp_path / "out"
    RunCheckpoint.create(_config(data, out))
    _saved_stage1(out, name, sha=None)
    with pytest.raises(CheckpointError, match="not a plain name"):
        RunCheckpoint.load(out).restore_stage1(_Nothing(), _Nothing())


def test_flipped_bytes_in_a_pt_file_are_refused(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    checkpoint = RunCheckpoint.create(_config(data, out))
    checkpoint._save_tensors({"w": torch.arange(64.0)}, "stage1-000002.pt")
    checkpoint._write_state()
    _saved_stage1(out, "stage1-000002.pt", sha=None)
    loaded = RunCheckpoint.load(out)
    assert torch.equal(loaded._load_tensors("stage1-000002.pt", _pattern())["w"],
                       torch.arange(64.0))  # fmt: skip
    path = out / "checkpoint" / "stage1-000002.pt"
    raw = bytearray(path.read_bytes())
    raw[-200] ^= 0xFF
    raw[-201] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match=r"stage1-000002\.pt: sha256 .* does not match"):
        RunCheckpoint.load(out).restore_stage1(_Nothing(), _Nothing())


def _pattern() -> Any:
    from autoaux.runs.checkpoint import _TRAINER_FILE

    return _TRAINER_FILE


def test_an_edited_saved_config_is_refused(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    RunCheckpoint.create(_config(data, out))
    _edit_state(out, lambda s: s["config"].update(seed=5))
    with pytest.raises(CheckpointError, match="does not match its fingerprint"):
        RunCheckpoint.load(out)


def test_the_journal_replays_no_artifact_from_outside_the_output_folder(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("private")
    out = tmp_path / "out"
    out.mkdir()
    inside = out / "result.json"
    inside.write_text("{}")
    journal = out / "tracking-journal.jsonl"
    ops = [
        {"seq": 1, "op": "log_artifact", "run_id": "r", "local_path": str(outside),
         "artifact_path": None},
        {"seq": 2, "op": "log_artifact", "run_id": "r",
         "local_path": str(out / ".." / "secret.txt"), "artifact_path": None},
        {"seq": 3, "op": "log_artifact", "run_id": "r", "local_path": str(inside),
         "artifact_path": None},
    ]  # fmt: skip
    journal.write_text("".join(json.dumps(op) + "\n" for op in ops))
    client = JournalingClient(object(), journal)
    assert [op["local_path"] for op in client.pending_ops()] == [str(inside)]


# ------------------------------------------------------------------ one run per output folder
def test_a_second_lock_on_a_folder_fails_at_once_naming_the_holder(tmp_path: Path) -> None:
    with folder_lock(tmp_path):
        code = (
            "import sys; from autoaux.runs.lock import folder_lock\n"
            f"with folder_lock({str(tmp_path)!r}): pass\n"
        )
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=60, check=False)  # fmt: skip
        assert proc.returncode != 0
        assert "FolderInUse" in proc.stderr and f"process {os.getpid()}" in proc.stderr
        assert str(tmp_path) in proc.stderr
    with folder_lock(tmp_path):  # released
        pass


def test_a_run_refuses_a_folder_with_an_unfinished_run(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    config = _config(data, out)
    RunCheckpoint.create(config)
    refused = r"unfinished run .*--overwrite.*with: autoaux run --resume "
    with pytest.raises(CheckpointError, match=refused):
        RunCheckpoint.create(config)
    RunCheckpoint.create(config, overwrite=True)
    _edit_state(out, lambda s: s.update(status="finished"))
    RunCheckpoint.create(config)  # a finished run may be replaced


def test_cleanup_removes_only_its_own_temporary_files(data: Path, tmp_path: Path) -> None:
    from autoaux.runs.checkpoint import _remove_temps

    folder = tmp_path / "checkpoint"
    folder.mkdir()
    other = folder / ".stage1-000001.pt.999999999.abc.tmp"
    mine = folder / f".stage1-000001.pt.{os.getpid()}.abc.tmp"
    other.write_text("")
    mine.write_text("")
    _remove_temps(folder)
    assert other.exists() and not mine.exists()


# ------------------------------------------------------------------ resume faithful or refusing
def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autoaux.cli", *args], capture_output=True, text=True,
        timeout=TIMEOUT, check=False, cwd=cwd, env=_env(),
    )  # fmt: skip


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               MLFLOW_DISABLE_TELEMETRY="true", TOKENIZERS_PARALLELISM="false")  # fmt: skip
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def test_resume_with_changed_data_exits_2_naming_task_and_file(
    tmp_path: Path, data: Path
) -> None:
    own = tmp_path / "data"
    own.mkdir()
    for name in ("main", "helpful-0"):
        (own / f"{name}.csv").write_bytes((data / f"{name}.csv").read_bytes())
    out = tmp_path / "out"
    RunCheckpoint.create(_config(own, out, uri=f"sqlite:///{tmp_path / 'm.db'}"))
    text = (own / "helpful-0.csv").read_text()
    (own / "helpful-0.csv").write_text(text.replace(",0,", ",1,", 1))  # same shape, new labels
    proc = _cli("run", "--resume", str(out), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert "task 'helpful-0'" in line and str(own / "helpful-0.csv") in line
    assert "changed since the run started" in line


def test_resume_refuses_options_it_would_drop(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    RunCheckpoint.create(_config(data, out))  # default store: ./mlflow.db
    for extra, expected in [
        (["--seed", "7"], "seed = 7: the run being resumed has 0"),
        (["--output", str(tmp_path / "elsewhere")], "a resume writes to the folder it resumes"),
        (["--tracking-uri", "sqlite:///other.db"], "the run logs to sqlite:///"),
        (["--overwrite"], "choose one"),
    ]:
        assert main(["--quiet", "run", "--resume", str(out), *extra]) == 2
        assert expected in capsys.readouterr().err
    toml = tmp_path / "changed.toml"
    changed = _config_dict(data, out, uri="sqlite:///mlflow.db")
    changed["stage2"]["trials"] = 5
    toml.write_text(_toml(changed))
    assert main(["--quiet", "run", "--resume", str(out), "--config", str(toml)]) == 2
    assert "differs from the run being resumed in stage2" in capsys.readouterr().err


def test_resume_never_takes_the_tracking_store_from_the_checkpoint_alone(
    data: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    RunCheckpoint.create(_config(data, out, uri="http://evil.example:5000"))
    _edit_state(out, lambda s: s["mlflow"].update(tracking_uri="http://evil.example:5000"))
    checkpoint = RunCheckpoint.load(out)
    hint = f"resume with: autoaux run --resume {out} --tracking-uri http://evil.example:5000"
    with pytest.raises(CheckpointError, match=re.escape(hint)):
        checkpoint.tracking_uri(None)
    assert checkpoint.tracking_uri("http://evil.example:5000") == "http://evil.example:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://evil.example:5000")
    assert checkpoint.tracking_uri(None) == "http://evil.example:5000"
    # the default store of the working folder, and a store inside the output folder, are used
    _edit_state(out, lambda s: s["mlflow"].update(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db"))
    assert RunCheckpoint.load(out).tracking_uri(None) == "sqlite:///mlflow.db"
    inside = f"sqlite:///{out}/mlflow-fallback.db"
    _edit_state(out, lambda s: s["mlflow"].update(tracking_uri=inside))
    assert RunCheckpoint.load(out).tracking_uri(None) == inside


def test_task_paths_are_stored_resolved(data: Path, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(data)
    config = config_from_dict({"main": {"task": "main"}, "model": {"encoder": "tiny"},
                               "task": [{"name": "main", "path": "main.csv"}]})  # fmt: skip
    assert config.task_files[0].path == str(data / "main.csv")


def _toml(data: dict[str, Any]) -> str:
    def value(v: Any) -> str:
        return json.dumps(v)

    lines = [f"{k} = {value(v)}" for k, v in data.items() if not isinstance(v, dict | list)]
    for section, items in data.items():
        if isinstance(items, dict):
            lines.append(f"[{section}]")
            lines += [f"{k} = {value(v)}" for k, v in items.items()]
    for entry in data.get("task", []):
        lines.append("[[task]]")
        lines += [f"{k} = {value(v)}" for k, v in entry.items()]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ secrets never written
def test_redaction_of_user_info_and_credential_parameters() -> None:
    assert redact_uri("http://user:pw@host:5000/") == "http://***@host:5000/"
    assert redact_uri("https://h/x?token=abc&exp=1") == "https://h/x?token=***&exp=1"
    assert redact_uri("sqlite:///mlflow.db") == "sqlite:///mlflow.db"
    assert "pw" not in redact_text("store 'http://u:pw@h/' is down (url: http://u:pw@h/api)")


def test_config_params_and_checkpoint_never_hold_a_password(data: Path, tmp_path: Path) -> None:
    uri = f"http://alice:{SECRET}@127.0.0.1:1/?access_token={SECRET}"
    config = _config(data, tmp_path / "out", uri=uri)
    assert config.tracking.uri == uri  # the real one is used to connect
    assert SECRET not in json.dumps(config.to_dict()) + json.dumps(config.to_params())
    checkpoint = RunCheckpoint.create(config)
    tracker = type("T", (), {"tracking_uri": uri, "experiment_id": "1"})()
    checkpoint.attach(tracker, "parent")
    assert SECRET not in _state_path(tmp_path / "out").read_text()


# ------------------------------------------------------------------ the CLI
def test_options_before_or_after_the_subcommand() -> None:
    parser = build_parser()
    assert parser.parse_args(["run", "--quiet"]).quiet is True
    assert parser.parse_args(["--quiet", "run"]).quiet is True
    assert parser.parse_args(["run"]).quiet is False
    after = parser.parse_args(["tasks", "list", "--debug", "--quiet"])
    assert after.debug and after.quiet
    assert parser.parse_args(["--debug", "finetune", "r.json"]).debug is True


@pytest.mark.slow
def test_two_runs_on_one_folder_and_a_password_in_the_uri(data: Path, tmp_path: Path) -> None:
    """Two concurrent ``autoaux run`` on one folder: one runs, one exits 2 naming the folder;
    the store (with a password) is unreachable, the run falls back to the local store, and the
    password is in no file of the output folder, no MLflow param or tag and not on stderr."""
    out = tmp_path / "out"
    uri = f"http://alice:{SECRET}@127.0.0.1:1/"
    toml = tmp_path / "run.toml"
    toml.write_text(_toml(_config_dict(data, out, uri=uri, pulls=4)))
    args = [sys.executable, "-m", "autoaux.cli", "run", "--quiet", "--config", str(toml),
            "--fallback-tracking"]  # fmt: skip
    first = subprocess.Popen(args, env=_env(), cwd=tmp_path, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + TIMEOUT
    while not (out / ".autoaux.lock.holder").exists() and first.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    second = subprocess.run(args, env=_env(), cwd=tmp_path, capture_output=True, text=True,
                            timeout=TIMEOUT, check=False)  # fmt: skip
    stdout, stderr = first.communicate(timeout=TIMEOUT)
    assert first.returncode == 0, stderr[-3000:]
    assert second.returncode == 2, second.stderr[-3000:]
    line = second.stderr.strip().splitlines()[-1]
    assert f"output folder {out} is in use" in line and f"process {first.pid}" in line
    result = json.loads((out / "result.json").read_text())
    assert result["selected"] is not None and len(result["trials"]) == 2
    for text in (stdout, stderr, second.stdout, second.stderr):
        assert SECRET not in text
    assert "alice:" not in stderr and "***@127.0.0.1" in stderr  # the fallback warning
    for path in out.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow-fallback.db'}")
    experiment = client.get_experiment_by_name("safe")
    runs = client.search_runs([experiment.experiment_id])
    assert runs
    for run in runs:
        assert SECRET not in json.dumps(run.data.params) + json.dumps(run.data.tags)


# ------------------------------------------------------------------ bounds, encodings, modes
@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("model.max_length", 100_000_000, "<= 512"),
        ("stage2.max_ratio", 1e308, "<= 1000"),
        ("seed", 10**22, "<= 4294967295"),
        ("stage1.pulls", 10**12, "<= 100000000"),
    ],
)
def test_numeric_settings_have_upper_bounds(
    data: Path, tmp_path: Path, key: str, value: Any, expected: str
) -> None:
    from autoaux.errors import ConfigError

    with pytest.raises(ConfigError, match=expected):
        _config(data, tmp_path).with_overrides({key: value})


def test_max_length_is_checked_against_a_local_encoder(tmp_path: Path) -> None:
    from autoaux.errors import ConfigError

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"max_position_embeddings": 128}')
    base = {"main": {"task": "rt-sentiment"}}
    config_from_dict({**base, "model": {"encoder": str(model), "max_length": 128}})
    with pytest.raises(ConfigError, match="at most 128"):
        config_from_dict({**base, "model": {"encoder": str(model), "max_length": 256}})


def test_task_files_take_an_encoding(tmp_path: Path) -> None:
    from autoaux.errors import ConfigError
    from autoaux.training.workbench import load_tasks

    path = tmp_path / "latin.csv"
    rows = ["text,label"] + [f"caf\u00e9 num\u00e9ro {i},{'ab'[i % 2]}" for i in range(40)]
    path.write_bytes("\n".join(rows).encode("latin-1"))
    entry = {"name": "latin", "path": str(path), "encoding": "latin-1"}
    config = config_from_dict({"main": {"task": "latin"}, "model": {"encoder": "tiny"},
                               "task": [entry]})  # fmt: skip
    task = load_tasks(config, ["latin"], [])["latin"]
    assert any("caf\u00e9" in ex.text for ex in task.train)
    with pytest.raises(ConfigError, match=r"task\[0\]\.encoding"):
        config_from_dict({"main": {"task": "latin"}, "task": [{**entry, "encoding": "nope"}]})


def test_finetune_input_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "result.json"
    bad.write_text('{"ratios": {}}')
    assert main(["finetune", str(bad), "--no-save", "--no-tracking"]) == 2
    assert "no 'main_task'" in capsys.readouterr().err


def test_write_json_sets_the_mode_per_file_without_the_umask(
    tmp_path: Path, monkeypatch: Any
) -> None:
    from autoaux.runs import write_json

    calls: list[int] = []
    monkeypatch.setattr(os, "umask", lambda mask: calls.append(mask) or 0o022)
    path = write_json(tmp_path / "a.json", {"x": 1})
    assert calls == [] and (path.stat().st_mode & 0o777) == 0o644
    assert (write_json(tmp_path / "b.json", {}, mode=0o600).stat().st_mode & 0o777) == 0o600
