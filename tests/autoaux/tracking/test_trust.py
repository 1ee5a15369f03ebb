"""Files made by someone else never choose where credentials go, and one bad journal record
never stops tracking: fake MLflow servers on 127.0.0.1 record who calls them and with which
``Authorization`` header; journals and result files are crafted in temporary folders."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from autoaux._secrets import RedactingFilter, redact_text, redact_uri, register_uri
from autoaux.api import replay_tracking
from autoaux.cli import main
from autoaux.errors import TrackingError
from autoaux.runs.lock import folder_lock
from autoaux.stages.finetune import FinetuneInputError, finetune
from autoaux.tracking.journal import (
    JOURNAL_FILE,
    JournalingClient,
    classify_error,
    record_problem,
    replay_store,
)
from tasks import Task, make_planted_suite

from .fake_store import FakeStore, serve

SECRET = "S3cr3t-pa,ss(w0rd"
TOKEN = "T0ken-abc123"


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeStore]:
    yield from serve(tmp_path / "fake-artifacts")


@pytest.fixture
def foreign(tmp_path: Path) -> Iterator[FakeStore]:
    """A second fake server: the store a crafted file names."""
    yield from serve(tmp_path / "foreign-artifacts")


@pytest.fixture(autouse=True)
def _user_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's MLflow token in the environment, no MLFLOW_TRACKING_URI, a fresh folder."""
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", TOKEN)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("AUTOAUX_CACHE", str(tmp_path / "cache"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)


def _journal(folder: Path, store: str | None, ops: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = ([{"store": store}] if store is not None else []) + ops
    path = folder / JOURNAL_FILE
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _batch(seq: int, run_id: str, *, metric: Any = 1.0, params: Any = ()) -> dict[str, Any]:
    return {
        "seq": seq,
        "op": "log_batch",
        "run_id": run_id,
        "metrics": [["m", metric, 1, seq]],
        "params": [list(p) for p in params],
        "tags": [],
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------- 1. the store comes from the user
def test_replay_never_sends_to_the_store_a_journal_names(
    tmp_path: Path, foreign: FakeStore, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    _journal(out, foreign.url, [_batch(1, "run-1")])
    code = main(["tracking", "replay", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and f"--tracking-uri {foreign.url}" in err
    assert foreign.requests == []  # the user's token never went there
    code = main(["tracking", "replay", str(out), "--tracking-uri", "sqlite:///elsewhere.db"])
    err = capsys.readouterr().err
    assert code == 2 and "sqlite:///elsewhere.db" in err and f"--tracking-uri {foreign.url}" in err
    assert foreign.requests == [] and not Path("elsewhere.db").exists()


def test_replay_sends_to_the_store_the_user_names(
    tmp_path: Path, fake: FakeStore, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    out = tmp_path / "out"
    _journal(out, fake.url, [_batch(1, "run-1"), _batch(2, "run-1", metric=2.0)])
    assert main(["tracking", "replay", str(out), "--tracking-uri", fake.url]) == 0
    assert "replayed 2 tracking calls; 0 left" in capsys.readouterr().out
    assert [b["metrics"][0]["value"] for b in fake.batches()] == [1.0, 2.0]
    assert {r.authorization for r in fake.requests} == {f"Bearer {TOKEN}"}
    # MLflow's own variable names the store too; a later replay has nothing left to send
    monkeypatch.setenv("MLFLOW_TRACKING_URI", fake.url)
    assert replay_store(out / JOURNAL_FILE) == fake.url
    assert replay_tracking(out).sent == 0 and len(fake.batches()) == 2


def test_a_journal_store_inside_the_folder_or_none_is_the_users(tmp_path: Path) -> None:
    out = tmp_path / "out"
    inside = f"sqlite:///{out / 'mlflow-fallback.db'}"
    assert replay_store(_journal(out, inside, [])) == inside  # the fallback store
    assert replay_store(_journal(out, None, [])) == "sqlite:///mlflow.db"
    assert replay_store(_journal(out, None, []), "sqlite:///x.db") == "sqlite:///x.db"
    with pytest.raises(TrackingError, match="--tracking-uri"):
        replay_store(_journal(out, f"sqlite:///{tmp_path / 'other' / 'x.db'}", []))
    # a relative SQLite store of the journal is the default one of the same working folder
    assert replay_store(_journal(out, f"sqlite:///{Path.cwd() / 'mlflow.db'}", [])) == (
        "sqlite:///mlflow.db"
    )


def test_replay_holds_the_output_folder_lock(tmp_path: Path, fake: FakeStore) -> None:
    out = tmp_path / "out"
    _journal(out, fake.url, [_batch(1, "run-1")])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}
    with folder_lock(out):
        proc = subprocess.run(
            [sys.executable, "-m", "autoaux.cli", "tracking", "replay", str(out),
             "--tracking-uri", fake.url],
            capture_output=True, text=True, timeout=300, check=False, env=env,
        )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "in use" in proc.stderr and fake.batches() == []


def test_replayed_artifacts_come_only_from_the_files_folder_and_the_outputs(
    tmp_path: Path,
) -> None:
    """A journal *file* in a home folder may not upload ``~/.ssh/id_rsa``."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    key = home / ".ssh" / "id_rsa"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY----- fake")
    (home / "notes.txt").write_text("private")
    files = home / (JOURNAL_FILE + ".files")
    (files / "a1").mkdir(parents=True)
    (files / "a1" / "result.json").write_text("{}")
    (files / "b2").mkdir()
    (files / "b2" / "plot.png").symlink_to(key)
    (home / "result.json").write_text("{}")

    def artifact(seq: int, path: Path) -> dict[str, Any]:
        return {"seq": seq, "op": "log_artifact", "run_id": "r", "local_path": str(path),
                "artifact_path": None}  # fmt: skip

    ops = [artifact(1, key), artifact(2, home / "notes.txt"),
           artifact(3, files / "b2" / "plot.png"),
           artifact(4, files / "a1" / "result.json"), artifact(5, home / "result.json"),
           artifact(6, files / "a1" / ".." / ".." / ".ssh" / "id_rsa"),
           artifact(7, files / "a1" / "gone.json")]  # fmt: skip
    client = JournalingClient(object(), _journal(home, None, ops))
    sent = [op["local_path"] for op in client.pending_ops()]
    assert sent == [str(files / "a1" / "result.json"), str(home / "result.json")]
    assert client.skipped == 5


# ---------------------------------------------- 1. finetune: store, folder and data are yours
@pytest.fixture(scope="module")
def suite() -> tuple[Task, Task, Task]:
    planted = make_planted_suite(
        n_helpful=1, n_neutral=1, n_harmful=0, main_train=40, aux_train=80, dev=32, test=32,
        seed=0,
    )  # fmt: skip
    return planted.main, planted.auxiliary[0], planted.auxiliary[1]


def _foreign_result(folder: Path, suite: tuple[Task, ...], store: str, **config: Any) -> Path:
    main, helpful, neutral = suite
    data = {
        "main_task": main.name,
        "ratios": {main.name: 1.0, helpful.name: 2.0},
        "config": {
            "seed": 3,
            "main": {"task": main.name},
            "model": {"encoder": "tiny", "max_length": 32},
            "auxiliary": {"tasks": [helpful.name, neutral.name]},
            "tracking": {"uri": store, "experiment": "ft", "artifact_location": store},
            "output_dir": str(folder.parent / "victim"),
            **config,
        },
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "result.json"
    path.write_text(json.dumps(data))
    return path


def test_finetune_takes_store_and_folder_from_the_user(
    tmp_path: Path, suite: tuple[Task, Task, Task], foreign: FakeStore, fake: FakeStore
) -> None:
    path = _foreign_result(tmp_path / "foreign", suite, foreign.url)
    out = finetune(path, user_tasks=suite, steps=2, eval_every=1, progress=False)
    assert foreign.requests == []  # no call, so no token, went to the store the file names
    assert not (tmp_path / "victim").exists()
    assert out.model_dir == str(tmp_path / "foreign" / "finetuned")
    assert out.mlflow["tracking_uri"] == "sqlite:///mlflow.db" and Path("mlflow.db").is_file()
    # The user's store, with a password in it: used, and written nowhere.
    host = fake.url.removeprefix("http://")
    mine = f"http://alice:{SECRET}@{host}"
    out = finetune(path, user_tasks=suite, steps=2, eval_every=1, progress=False,
                   tracking_uri=mine, output_dir=tmp_path / "mine")  # fmt: skip
    assert fake.batches() and foreign.requests == []
    assert fake.requests[0].authorization and fake.requests[0].authorization.startswith("Basic ")
    described = (tmp_path / "mine" / "finetuned" / "finetune.json").read_text()
    assert SECRET not in described and "***" in described
    assert SECRET not in json.dumps(out.to_dict())


def test_finetune_never_reads_data_or_a_model_folder_a_result_file_names(
    tmp_path: Path, suite: tuple[Task, Task, Task], capsys: pytest.CaptureFixture[str]
) -> None:
    main_task = suite[0]
    data = tmp_path / "private.csv"
    data.write_text("text,label\n" + "".join(f"line {i},{i % 2}\n" for i in range(40)))
    entry = {"name": "extra", "path": str(data), "text": "text", "label": "label"}
    path = _foreign_result(
        tmp_path / "foreign", suite, "sqlite:///x.db", task=[entry],
        auxiliary={"tasks": ["extra"]},
    )  # fmt: skip
    with pytest.raises(FinetuneInputError, match=r"extra .*--config"):
        finetune(path, user_tasks=[main_task], steps=2, tracking=False, progress=False)
    code = main(["finetune", str(path), "--no-tracking", "--steps", "2"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "--config" in err
    model = tmp_path / "model"
    model.mkdir()
    path = _foreign_result(tmp_path / "foreign2", suite, "sqlite:///x.db",
                           model={"encoder": str(model)})  # fmt: skip
    with pytest.raises(FinetuneInputError, match="--encoder"):
        finetune(path, user_tasks=suite, steps=2, tracking=False, progress=False)


# ------------------------------------------------------------------------ 3. redaction
def test_secrets_are_redacted_by_value_wherever_they_appear() -> None:
    uri = f"http://alice:{SECRET}@127.0.0.1:1/?token={TOKEN}"
    register_uri(uri)
    assert SECRET not in redact_uri(uri) and TOKEN not in redact_uri(uri)
    # a password with "," and "(" that ends the URI shape early; a scheme-less URL; prose
    for text in (
        f"store {uri} is down",
        f"url: /?token={TOKEN}/api/2.0/mlflow/runs/create (Caused by ...)",
        f"the password {SECRET} was wrong",
        f"127.0.0.1:1/api?access_token={TOKEN}",
    ):
        clean = redact_text(text)
        assert SECRET not in clean and TOKEN not in clean and "***" in clean, clean
    assert redact_text("?token=abc&x=1") == "?token=***&x=1"  # unregistered: by shape


def test_log_records_with_tracebacks_are_redacted() -> None:
    register_uri(f"http://bob:{SECRET}@h/")
    try:
        raise RuntimeError(f"API request to http://h/ failed: {SECRET}")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    assert RedactingFilter().filter(record)
    assert record.exc_text and "RuntimeError" in record.exc_text
    assert SECRET not in logging.Formatter().format(record)


def test_debug_tracebacks_and_one_line_errors_hold_no_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = f"http://alice:{SECRET}@127.0.0.1:{_free_port()}/?token={TOKEN}"
    for number, extra in enumerate((["--debug"], [])):
        code = main([*extra, "run", "--quick", "--output", str(tmp_path / f"o{number}"),
                     "--tracking-uri", uri])  # fmt: skip
        captured = capsys.readouterr()
        assert code == 2
        assert ("Traceback" in captured.err) == bool(extra)
        for text in (captured.out, captured.err):
            assert SECRET not in text and TOKEN not in text
            assert "S3cr3t" not in text and "T0ken" not in text  # nor a part of one


def test_the_journal_names_its_store_without_credentials(tmp_path: Path) -> None:
    class Down:
        def log_batch(self, *args: Any, **kwargs: Any) -> None:
            raise ConnectionError("connection refused")

    from mlflow.entities import Metric

    uri = f"http://alice:{SECRET}@127.0.0.1:1/?token={TOKEN}"
    path = tmp_path / JOURNAL_FILE
    client = JournalingClient(Down(), path, retries=0, store=uri, sleep=lambda s: None)
    client.log_batch("run-1", metrics=[Metric("m", 1.0, 1, 1)])
    assert client.pending == 1
    first = json.loads(path.read_text().splitlines()[0])
    assert first == {"store": "http://***@127.0.0.1:1/?token=***"}
    assert SECRET not in path.read_text() and TOKEN not in path.read_text()


def test_ui_passes_the_store_through_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def call(cmd: list[str], **kwargs: Any) -> int:
        seen.update(cmd=cmd, env=kwargs.get("env"))
        return 0

    monkeypatch.setattr(subprocess, "call", call)
    uri = f"postgresql://alice:{SECRET}@db/mlflow"
    assert main(["ui", "--tracking-uri", uri, "--port", "5999"]) == 0
    assert all(SECRET not in part and uri not in part for part in seen["cmd"])
    assert seen["env"]["MLFLOW_BACKEND_STORE_URI"] == uri


# -------------------------------------------------- 4. outages and bad records in the journal
def test_a_poisoned_record_never_blocks_the_good_ones_behind_it(
    tmp_path: Path, fake: FakeStore, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    files = out / (JOURNAL_FILE + ".files")
    ops = [
        _batch(1, "run-1", metric="abc"),  # fails the check when loaded
        {"seq": 2, "op": "log_artifact", "run_id": "run-1", "artifact_path": None,
         "local_path": str(files / "0a" / "result.json")},  # its copy is gone
        _batch(3, "run-1", params=[("poison", "x")]),  # the store refuses it (400)
        {"seq": 4, "op": "log_batch", "run_id": "offline-1", "metrics": [], "params": [],
         "tags": []},  # a run never created
        {"seq": 5, "op": "fly"},
        _batch(6, "run-1", metric=6.0),  # a good record: must arrive
    ]  # fmt: skip
    _journal(out, fake.url, ops)
    assert main(["tracking", "replay", str(out), "--tracking-uri", fake.url]) == 0
    assert "replayed 1 tracking calls; 0 left; 5 bad records skipped" in capsys.readouterr().out
    accepted = [b for b in fake.batches() if not b.get("params")]
    assert [b["metrics"][0]["value"] for b in accepted] == [6.0]
    assert sum(1 for b in fake.batches() if b.get("params")) == 1  # the refused one, once
    again = replay_tracking(out, tracking_uri=fake.url)
    assert (again.sent, again.left) == (0, 0) and len(fake.batches()) == 2


@pytest.mark.parametrize("outage", ["5xx", "refused connection"])
def test_an_outage_keeps_every_record(tmp_path: Path, fake: FakeStore, outage: str) -> None:
    out = tmp_path / "out"
    url = fake.url
    if outage == "5xx":
        fake.status = 503
    else:
        url = f"http://127.0.0.1:{_free_port()}"
    _journal(out, url, [_batch(1, "run-1", metric="abc"), _batch(2, "run-1"), _batch(3, "run-1")])
    report = replay_tracking(out, tracking_uri=url)
    assert (report.sent, report.left, report.skipped) == (0, 2, 1)
    fake.status = None
    if outage == "5xx":
        tried = len(fake.batches())  # the first one, answered 503
        report = replay_tracking(out, tracking_uri=url)
        assert (report.sent, report.left) == (2, 0)
        assert [b["metrics"][0]["step"] for b in fake.batches()[tried:]] == [2, 3]


def test_a_store_that_refuses_the_client_keeps_the_journal(tmp_path: Path, fake: FakeStore) -> None:
    out = tmp_path / "out"
    fake.status = 401
    _journal(out, fake.url, [_batch(1, "run-1"), _batch(2, "run-1")])
    report = replay_tracking(out, tracking_uri=fake.url)
    assert (report.sent, report.left, report.skipped) == (0, 2, 0) and report.refusal


def test_records_are_checked_when_loaded() -> None:
    good = _batch(1, "r")
    assert record_problem(good) is None
    assert record_problem({**good, "metrics": [["m", True, 1, 1]]})
    assert record_problem({**good, "params": [["k"]]})
    assert record_problem({**good, "seq": "1"})
    assert record_problem({"seq": 1, "op": "set_terminated", "run_id": "r", "status": "GONE"})
    assert record_problem({"seq": 1, "op": "log_artifact", "run_id": "r", "local_path": "/x",
                           "artifact_path": "../../etc"})  # fmt: skip
    assert record_problem({"seq": 1, "op": "create_run", "experiment_id": "1", "start_time": 1,
                           "tags": {}, "run_name": None, "ref": "offline-1"}) is None  # fmt: skip


def test_errors_are_told_apart() -> None:
    from mlflow.exceptions import MlflowException, RestException

    assert classify_error(ConnectionError("refused")) == "outage"
    assert classify_error(TimeoutError()) == "outage"
    assert classify_error(RestException({"error_code": "INVALID_PARAMETER_VALUE"})) == "record"
    assert classify_error(RestException({"error_code": "TEMPORARILY_UNAVAILABLE"})) == "outage"
    assert classify_error(RestException({"error_code": "UNAUTHENTICATED"})) == "client"
    assert classify_error(MlflowException("failed with error code 413 != 200")) == "record"
    assert classify_error(MlflowException("failed with error code 502 != 200")) == "outage"
    assert classify_error(ValueError("could not convert string to float: 'abc'")) == "record"
    try:
        try:
            raise ConnectionError("refused")
        except ConnectionError:
            raise MlflowException("API request failed")  # noqa: B904 (as MLflow does)
    except MlflowException as wrapped:
        assert classify_error(wrapped) == "outage"  # the context says so


def test_the_end_of_run_message_names_the_store_to_pass(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from types import SimpleNamespace

    from mlflow.entities import Metric

    from autoaux.tracking.journal import settle_tracking

    class Down:
        def log_batch(self, *args: Any, **kwargs: Any) -> None:
            raise ConnectionError("connection refused")

    uri = f"http://alice:{SECRET}@127.0.0.1:1/"
    out = tmp_path / "out"
    client = JournalingClient(Down(), out / JOURNAL_FILE, retries=0, store=uri,
                              sleep=lambda s: None)  # fmt: skip
    client.log_batch("run-1", metrics=[Metric("m", 1.0, 1, 1)])
    tracker = SimpleNamespace(client=client, tracking_uri=uri)
    config = SimpleNamespace(tracking=SimpleNamespace(fallback=False))
    with caplog.at_level(logging.WARNING):
        settle_tracking(tracker, config, wait=0)
    # a store with credentials is never printed: the command takes it from MLflow's variable
    command = f'autoaux tracking replay {out} --tracking-uri "$MLFLOW_TRACKING_URI"'
    assert command in caplog.text and SECRET not in caplog.text
    assert "MLFLOW_TRACKING_URI" in caplog.text and "http://***@127.0.0.1:1/" in caplog.text


def test_params_tags_and_failure_reasons_sent_to_mlflow_hold_no_secret(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    from autoaux.tracking import MlflowTracker, tracked_run

    register_uri(f"http://alice:{SECRET}@h/")
    store = f"sqlite:///{tmp_path / 'm.db'}"
    tracker = MlflowTracker(store, "secrets")
    with (
        pytest.raises(RuntimeError),
        tracked_run(tracker, "r") as run_id,
    ):
        tracker.log_params({"note": f"password {SECRET}"})
        tracker.set_tags({"where": f"http://h/?token={TOKEN}"})
        raise RuntimeError(f"store said {SECRET}")
    run = MlflowClient(store).get_run(run_id)
    text = json.dumps(run.data.params) + json.dumps(run.data.tags)
    assert SECRET not in text and TOKEN not in text and "***" in text
    assert run.data.tags["autoaux.failure"] == "RuntimeError: store said ***"
