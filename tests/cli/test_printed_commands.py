"""Every command autoaux prints works when pasted as printed.

Each scenario provokes a hint for real (Ctrl-C in stage 1 and in stage 2 with a tracking store
outside the output folder, a tracking server that stays away to the end of a run, a finished run,
a stage-1 budget that ends undecided), takes the line the program printed and runs it in a POSIX
shell as printed (``autoaux`` is a shell function running this checkout's CLI), so quoting, the
``$MLFLOW_TRACKING_URI`` variable and every option the command needs are exercised. Paths hold
spaces on purpose. The tiny encoder and tiny budgets keep each run to a few seconds.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
import urllib.request
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

import autoaux.api
from autoaux._hints import replay_hint, resume_hint, ui_hint
from autoaux.cli import build_parser, main
from autoaux.config import Stage1Config, load_config
from autoaux.runs.checkpoint import CheckpointError, RunCheckpoint, RunInterrupted
from tasks import make_planted_suite, write_task_csv

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 240.0
SECRET = "s3cret-pw-1234"


@pytest.fixture(scope="module", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTOAUX_CACHE", str(tmp_path_factory.mktemp("cache")))
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        yield


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               MLFLOW_DISABLE_TELEMETRY="true", TOKENIZERS_PARALLELISM="false",
               AUTOAUX_PYTHON=sys.executable)  # fmt: skip
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.pop("MLFLOW_TRACKING_URI", None)
    env.update(extra)
    return env


def _shell(line: str, *, cwd: Path, **env: str) -> subprocess.Popen[str]:
    """``line`` run by bash exactly as printed; ``autoaux`` runs this checkout's CLI."""
    script = 'autoaux() { "$AUTOAUX_PYTHON" -m autoaux.cli "$@"; }\n' + line
    return subprocess.Popen(
        ["bash", "-c", script], cwd=cwd, env=_env(**env), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip


def _printed(text: str, action: str) -> str:
    """The command of the lines that say ``<action> with: <command>`` (the line's tail; a log
    line and the last message may both say it, with one command)."""
    found = {
        line.rsplit("with: ", 1)[1] for line in text.splitlines() if f"{action} with: " in line
    }
    assert len(found) == 1, text[-3000:]
    return found.pop()


def _write_data(folder: Path, *, dev: int = 64) -> list[dict[str, str]]:
    folder.mkdir(parents=True, exist_ok=True)
    suite = make_planted_suite(
        n_helpful=1, n_neutral=0, n_harmful=0, main_train=60, aux_train=400, dev=dev, test=64,
        seed=0,
    )  # fmt: skip
    return [
        {"name": t.name, "path": str(write_task_csv(t, folder / f"{t.name}.csv", split="all")),
         "split_column": "split"}
        for t in suite.tasks
    ]  # fmt: skip


def _toml(data: dict[str, Any]) -> str:
    lines = [f"{k} = {json.dumps(v)}" for k, v in data.items() if not isinstance(v, dict | list)]
    for section, items in data.items():
        if isinstance(items, dict):
            lines.append(f"[{section}]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in items.items()]
    for entry in data.get("task", []):
        lines.append("[[task]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in entry.items()]
    return "\n".join(lines) + "\n"


def _run_config(tmp: Path, out: Path, uri: str, *, pulls: int = 30, trials: int = 3) -> Path:
    """A tiny two-stage run (in-run bandit, so that each pull is a checkpoint) as a TOML file."""
    data = {
        "seed": 0,
        "output_dir": str(out),
        "device": "cpu",
        "model": {"encoder": "tiny", "max_length": 16, "hidden_size": 16, "vocab_size": 300},
        "main": {"task": "main"},
        "auxiliary": {"tasks": ["helpful-0"], "add_control": False},
        "stage1": {"preset": "bandit", "pulls": pulls, "steps_per_pull": 2, "selection": "top-k",
                   "top_k": 1},
        "stage2": {"trials": trials, "initial_points": 2, "steps": 30, "eval_every": 10},
        "baselines": {"run": []},
        "tracking": {"uri": uri, "experiment": "hints"},
        "task": _write_data(tmp / "my data"),
    }  # fmt: skip
    path = tmp / "my config.toml"
    path.write_text(_toml(data))
    return path


def _state(out: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((out / "checkpoint" / "state.json").read_text()))
    except (OSError, ValueError):
        return {}


def _pulls(state: dict[str, Any]) -> int:
    return len((state.get("stage1") or {}).get("history", ()))


def _trials(state: dict[str, Any]) -> int:
    return len((state.get("stage2") or {}).get("trials", ()))


def _ctrl_c_when(
    proc: subprocess.Popen[str], out: Path, ready: Callable[[dict[str, Any]], bool]
) -> tuple[int, str, str]:
    """Ctrl-C (SIGINT to the process group, as a terminal sends it) once the checkpoint
    satisfies ``ready``; return (exit code, stdout, stderr)."""
    deadline = time.monotonic() + TIMEOUT
    while proc.poll() is None and time.monotonic() < deadline:
        if ready(_state(out)):
            os.killpg(proc.pid, signal.SIGINT)
            break
        time.sleep(0.02)
    stdout, stderr = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, stdout, stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get_json(url: str, deadline: float, proc: subprocess.Popen[Any]) -> dict[str, Any]:
    """``url``'s JSON once the server answers (until ``deadline``)."""
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return dict(json.loads(response.read()))
        except OSError:
            assert proc.poll() is None, "the server exited"
            assert time.monotonic() < deadline, f"no answer from {url}"
            time.sleep(0.3)


def _stop(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
    proc.communicate(timeout=60)


# ---------------------------------------------------------------------- the helper alone
def test_the_hints_quote_paths_name_the_store_and_never_print_a_secret(tmp_path: Path) -> None:
    folder = tmp_path / "out dir"
    hint = resume_hint(folder, "sqlite:///my store/m.db", cwd="/home/me")
    assert hint.command == (
        f"autoaux run --resume '{folder}' --tracking-uri 'sqlite:////home/me/my store/m.db'"
    )
    assert hint.say("resume") == f"resume with: {hint.command}"
    assert resume_hint("-out", None).command == "autoaux run --resume ./-out"
    assert replay_hint("out", "sqlite:///mlflow.db").command == "autoaux tracking replay out"
    secret = replay_hint("out", f"http://alice:{SECRET}@host:5000/?token={SECRET}")
    assert secret.command == 'autoaux tracking replay out --tracking-uri "$MLFLOW_TRACKING_URI"'
    assert SECRET not in secret.say("send them") and "MLFLOW_TRACKING_URI to" in secret.say("x")
    assert ui_hint("http://host:5000") is None
    assert str(ui_hint("sqlite:///mlflow.db")) == "autoaux ui"
    # the default store of the working folder, however spelt, is the default
    assert str(ui_hint(f"sqlite:///{tmp_path}/mlflow.db", cwd=str(tmp_path))) == "autoaux ui"
    assert str(ui_hint("file:///x/mlruns")) == "autoaux ui --tracking-uri file:///x/mlruns"


def test_a_store_with_a_password_is_resumed_through_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The resume command of a run whose store URI holds a password reads the store from
    ``$MLFLOW_TRACKING_URI``; expanded as a shell would, it is the store the checkpoint accepts
    (Ctrl-C's message and the refusal of a bare resume name the same command)."""
    uri = f"http://alice:{SECRET}@127.0.0.1:1/"
    out = tmp_path / "out dir"
    checkpoint = RunCheckpoint.create(load_config(_run_config(tmp_path, out, uri)))
    checkpoint.attach(type("T", (), {"tracking_uri": uri, "experiment_id": "1"})(), "parent")
    with pytest.raises(CheckpointError) as refused:
        RunCheckpoint.load(out).tracking_uri(None)
    message = str(refused.value)
    assert SECRET not in message and "MLFLOW_TRACKING_URI to the tracking store" in message
    line = _printed(message, "resume")
    assert line == RunInterrupted(out, uri).command
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    words = [os.path.expandvars(word) for word in shlex.split(line)]
    assert words[0] == "autoaux"
    args = build_parser().parse_args(words[1:])
    assert args.resume == out and args.tracking_uri == uri
    assert RunCheckpoint.load(args.resume).tracking_uri(args.tracking_uri) == uri


# ---------------------------------------------------------------------- Ctrl-C, resume, ui
@pytest.fixture(scope="module")
def interrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A run with its store outside the output folder, stopped by Ctrl-C in stage 1; the
    printed resume line run as printed and stopped by Ctrl-C in stage 2; the line that run
    printed run as printed to the end."""
    tmp = tmp_path_factory.mktemp("ctrl c")
    store_dir = tmp / "my store"
    store_dir.mkdir()
    store = f"sqlite:///{store_dir / 'mlflow.db'}"
    out = tmp / "out dir"
    work, elsewhere = tmp / "work", tmp / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    config = _run_config(tmp, out, store)
    seen: dict[str, Any] = {"out": out, "store": store, "work": work}

    first = subprocess.Popen(
        [sys.executable, "-m", "autoaux.cli", "--quiet", "run", "--config", str(config)],
        cwd=work, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    seen["stage1"] = _ctrl_c_when(first, out, lambda s: _pulls(s) >= 2)
    seen["stage1_state"] = _state(out)
    seen["bare_resume"] = subprocess.run(  # the hint of old, without the store
        [sys.executable, "-m", "autoaux.cli", "--quiet", "run", "--resume", str(out)],
        cwd=work, env=_env(), capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    seen["rerun"] = subprocess.run(  # the same run again: refused, naming the resume command
        [sys.executable, "-m", "autoaux.cli", "--quiet", "run", "--config", str(config)],
        cwd=work, env=_env(), capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    line = _printed(seen["stage1"][2], "resume")
    seen["stage1_line"] = line
    seen["stage2"] = _ctrl_c_when(_shell(line, cwd=elsewhere), out, lambda s: _trials(s) >= 1)
    seen["stage2_state"] = _state(out)
    line = _printed(seen["stage2"][2], "resume")
    seen["stage2_line"] = line
    last = _shell(line, cwd=work)
    stdout, stderr = last.communicate(timeout=TIMEOUT)
    seen["last"] = (last.returncode, stdout, stderr)
    return seen


def test_ctrl_c_in_stage_1_and_stage_2_prints_a_resume_command_that_works(
    interrupted: dict[str, Any],
) -> None:
    out, store = interrupted["out"], interrupted["store"]
    code, _, err = interrupted["stage1"]
    assert code == 130, err[-3000:]
    assert interrupted["stage1_state"]["stage"] == "stage1"
    # the store is outside the output folder: a bare resume is refused, the printed one names it
    bare = interrupted["bare_resume"]
    assert bare.returncode == 2 and "the run logs to the tracking store" in bare.stderr
    assert "--tracking-uri" in interrupted["stage1_line"]
    rerun = interrupted["rerun"]
    assert rerun.returncode == 2 and "holds an unfinished run" in rerun.stderr
    assert _printed(rerun.stderr, "continue it") == interrupted["stage1_line"]
    # the printed command, run from another folder, resumed the run; Ctrl-C again in stage 2
    code, _, err = interrupted["stage2"]
    assert code == 130, err[-3000:]
    assert interrupted["stage2_state"]["stage"] == "stage2"
    assert interrupted["stage2_line"] == interrupted["stage1_line"]
    code, _, err = interrupted["last"]
    assert code == 0, err[-3000:]
    state = _state(out)
    assert state["status"] == "finished"
    assert state["mlflow"]["tracking_uri"] == store
    assert len(json.loads((out / "result.json").read_text())["trials"]) == 3


def test_the_printed_ui_command_serves_the_finished_run(
    interrupted: dict[str, Any], tmp_path: Path
) -> None:
    code, stdout, err = interrupted["last"]
    assert code == 0, err[-3000:]
    line = _printed(stdout, "open it")
    assert line.startswith("autoaux ui --tracking-uri ")
    run_id = json.loads((interrupted["out"] / "result.json").read_text())["mlflow"]["run_id"]
    port = _free_port()
    ui = _shell(f"{line} --port {port}", cwd=tmp_path)  # a free port for the test's own server
    try:
        found = _get_json(
            f"http://127.0.0.1:{port}/api/2.0/mlflow/runs/get?run_id={run_id}",
            time.monotonic() + 120, ui,
        )  # fmt: skip
        assert found["run"]["info"]["run_id"] == run_id
        assert found["run"]["info"]["status"] == "FINISHED"
    finally:
        _stop(ui)


# ---------------------------------------------------------------------- an outage left unsent
def _start_server(store: str, port: int, artifacts: Path) -> subprocess.Popen[bytes] | None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", store,
         "--default-artifact-root", str(artifacts), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return proc
        except OSError:
            time.sleep(0.2)
    _stop(proc, signal.SIGKILL)
    return None


@pytest.mark.slow
def test_an_outage_left_unsent_prints_a_replay_command_that_works(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A tracking server with a password in its URI goes away in stage 1 and stays away to
    the end of the run: the last message says to set MLFLOW_TRACKING_URI and names the
    replay command; with the variable set and the server back, the command sends everything."""
    store = f"sqlite:///{tmp_path / 'server.db'}"
    port = _free_port()
    server = _start_server(store, port, tmp_path / "artifacts")
    if server is None:
        pytest.skip("mlflow server could not start on 127.0.0.1")
    uri = f"http://alice:{SECRET}@127.0.0.1:{port}"
    out = tmp_path / "out dir"
    config = _run_config(tmp_path, out, uri, pulls=6, trials=2)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(autoaux.api, "settle_tracking", partial(autoaux.api.settle_tracking,
                                                                wait=1.0))  # fmt: skip
    caplog.set_level(logging.WARNING)

    def kill_in_stage_1() -> None:
        deadline = time.monotonic() + TIMEOUT
        while _pulls(_state(out)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        _stop(server, signal.SIGKILL)

    killer = threading.Thread(target=kill_in_stage_1)
    killer.start()
    try:
        code = main(["--quiet", "run", "--config", str(config)])
    finally:
        killer.join()
        _stop(server, signal.SIGKILL)
    stdout = capsys.readouterr().out
    assert code == 0
    message = caplog.text
    assert SECRET not in message + stdout
    line = _printed(message, "send them")
    assert "set MLFLOW_TRACKING_URI to the tracking store http://***@127.0.0.1" in message
    pending = (out / "tracking-journal.jsonl").read_text()
    assert pending

    server = _start_server(store, port, tmp_path / "artifacts")
    assert server is not None
    try:
        replay = _shell(line, cwd=tmp_path / "my data", MLFLOW_TRACKING_URI=uri)
        replay_out, replay_err = replay.communicate(timeout=TIMEOUT)
        assert replay.returncode == 0, replay_err[-3000:]
        assert replay_out.strip().endswith("0 left"), replay_out
        # the run's page on the server: the printed address, the run finished and whole
        page = re.search(r"open it at (\S+)", stdout)
        assert page is not None, stdout
        base, _, fragment = page.group(1).partition("#")
        assert SECRET not in base and "alice" not in base
        with urllib.request.urlopen(base, timeout=10) as response:
            assert response.status == 200
        run_id = json.loads((out / "result.json").read_text())["mlflow"]["run_id"]
        assert fragment.endswith(f"/runs/{run_id}")
        found = _get_json(
            f"http://127.0.0.1:{port}/api/2.0/mlflow/runs/get?run_id={run_id}",
            time.monotonic() + 30, server,
        )  # fmt: skip
        assert found["run"]["info"]["status"] == "FINISHED"
    finally:
        _stop(server)


# ---------------------------------------------------------------------- budget advice
def test_the_budget_advice_names_a_setting_that_decides_the_race(tmp_path: Path) -> None:
    """A race whose budget ends undecided says which setting to raise, where; raising it in
    the config file, as advised, lets the same race decide."""
    entries = _write_data(tmp_path / "data", dev=100)
    data: dict[str, Any] = {
        "seed": 0,
        "output_dir": str(tmp_path / "out"),
        "device": "cpu",
        "model": {"encoder": "tiny", "max_length": 24, "hidden_size": 32},
        "main": {"task": "main"},
        "auxiliary": {"tasks": ["helpful-0"]},
        "stage1": {"pulls": 4, "episode_steps": 20, "alpha": 0.3},  # decides in about 12
        "tracking": {"enabled": False},
        "task": entries,
    }
    config = tmp_path / "race.toml"
    config.write_text(_toml(data))
    first = _shell(f"autoaux --quiet select --config {config}", cwd=tmp_path)
    stdout, err = first.communicate(timeout=TIMEOUT)
    assert first.returncode == 0, err[-3000:]
    advice = re.search(
        r"raise (\w+) in the \[(\w+)\] section of the config file \(this run: \1 = (\d+)\)",
        stdout,
    )
    assert advice is not None, stdout
    key, section, value = advice.group(1), advice.group(2), int(advice.group(3))
    assert (section, key, value) == ("stage1", "pulls", 4)
    assert key in {f.name for f in Stage1Config.__dataclass_fields__.values()}

    raised = tomllib.loads(config.read_text())
    raised[section][key] = value * 20
    config.write_text(_toml(raised))
    second = _shell(f"autoaux --quiet select --config {config}", cwd=tmp_path)
    stdout, err = second.communicate(timeout=TIMEOUT)
    assert second.returncode == 0, err[-3000:]
    assert "budget ended" not in stdout and "raise" not in stdout
    assert "stage 1: selected helpful-0" in stdout, stdout
