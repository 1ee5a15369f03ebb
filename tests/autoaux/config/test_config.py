"""Run configuration: the issue's example TOML, presets, overrides and one clear error per bad
key or value."""

from __future__ import annotations

import dataclasses
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from autoaux.config import (
    STAGE1_PRESETS,
    MainConfig,
    RunConfig,
    Stage1Config,
    TaskFileConfig,
    config_from_dict,
    load_config,
)
from autoaux.errors import ConfigError

EXAMPLE = """\
seed = 0
[model]
encoder = "tiny"              # "tiny", "minilm", or a local model folder
max_length = 64
[main]
task = "rt-sentiment"         # a built-in task or a [[task]] below
max_train_examples = 500
[auxiliary]
tasks = ["rt-subjectivity", "tweet-sentiment", "shuffled:tweet-sentiment"]
[[task]]                      # user tasks from files
name = "my-task"
path = "data/my.csv"          # .csv, .tsv or .jsonl
text = "sentence"             # or ["sentence1", "sentence2"]
label = "label"
kind = "classification"       # or "regression"
[stage1]
preset = "bandit"             # the in-run bandit; "autoaux" races paired episodes
policy = "thompson"
decay = 0.3                   # AutoSem's value; defaults come from the benchmarks
pulls = 200
steps_per_pull = 10
gating = "unweighted"         # "off", "unweighted", "weighted"
[stage2]
trials = 12
initial_points = 4
max_ratio = 5.0
steps = 300
[tracking]
uri = "sqlite:///mlflow.db"
experiment = "autoaux"
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "my.csv").write_text("sentence,label\na,0\nb,1\n")
    (tmp_path / "data" / "pairs.tsv").write_text("s1\ts2\tscore\na\tb\t0.5\n")
    return tmp_path


def write(folder: Path, text: str, name: str = "run.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def file_task_dict(folder: Path, **extra: object) -> dict[str, object]:
    """A minimal valid config over a [[task]] file (independent of the built-in suite)."""
    data: dict[str, object] = {
        "main": {"task": "my-task"},
        "task": [{"name": "my-task", "path": str(folder / "data" / "my.csv"), "text": "sentence"}],
    }
    data.update(extra)
    return data


# ------------------------------------------------------------------------------ the example
def test_issue_example_parses(folder: Path) -> None:
    config = load_config(write(folder, EXAMPLE))
    assert config.seed == 0
    assert config.model.encoder == "tiny" and config.model.max_length == 64
    assert config.main == MainConfig(task="rt-sentiment", max_train_examples=500)
    assert config.auxiliary.tasks == (
        "rt-subjectivity",
        "tweet-sentiment",
        "shuffled:tweet-sentiment",
    )
    assert config.control_tasks() == ("shuffled:tweet-sentiment",)
    (spec,) = config.task_files
    assert spec.name == "my-task" and spec.text == "sentence" and spec.kind == "classification"
    assert Path(spec.path) == folder / "data" / "my.csv"  # relative to the TOML file
    s1 = config.stage1
    assert (s1.policy, s1.decay, s1.pulls, s1.steps_per_pull, s1.gating) == (
        "thompson",
        0.3,
        200,
        10,
        "unweighted",
    )
    assert s1.preset == "bandit" and s1.reward == STAGE1_PRESETS["bandit"]["reward"]
    s2 = config.stage2
    assert (s2.trials, s2.initial_points, s2.max_ratio, s2.steps) == (12, 4, 5.0, 300)
    assert isinstance(s2.max_ratio, float)
    assert config.tracking.uri == "sqlite:///mlflow.db" and config.tracking.experiment == "autoaux"
    assert config.source == str(folder / "run.toml")


def test_to_dict_roundtrips_and_params_are_flat_strings(folder: Path) -> None:
    config = load_config(write(folder, EXAMPLE))
    data = config.to_dict()
    json.dumps(data)  # plain data
    assert config_from_dict(data) == config
    params = config.to_params()
    assert params["stage1.pulls"] == "200"
    assert params["task.0.name"] == "my-task"
    assert json.loads(params["auxiliary.tasks"])[2] == "shuffled:tweet-sentiment"
    assert all(isinstance(v, str) for v in params.values())


# ------------------------------------------------------------------------------- presets
def test_default_preset_is_the_autoaux_row() -> None:
    stage1 = Stage1Config()
    for key, value in STAGE1_PRESETS["autoaux"].items():
        assert getattr(stage1, key) == value


def test_autosem_preset_gives_the_literal_settings() -> None:
    stage1 = Stage1Config(preset="autosem")
    assert stage1.policy == "thompson"
    assert stage1.decay == 0.3
    assert stage1.reward == "gain"
    assert stage1.utility == "posterior"
    assert stage1.gating == "unweighted"
    assert stage1.selection == "default"
    assert stage1.include_main_arm is True


def test_explicit_keys_override_the_preset(folder: Path) -> None:
    data = file_task_dict(folder, stage1={"preset": "autosem", "gating": "smoothed", "pulls": 7})
    stage1 = config_from_dict(data).stage1
    assert stage1.gating == "smoothed"  # explicit
    assert stage1.reward == "gain"  # from the preset
    assert stage1.pulls == 7
    assert stage1.explicit == frozenset({"gating"})


def test_with_overrides_switches_preset_but_keeps_explicit_keys(folder: Path) -> None:
    config = config_from_dict(file_task_dict(folder, stage1={"gating": "off"}))
    other = config.with_overrides({"stage1.preset": "autosem", "seed": 5, "stage1.pulls": 3})
    assert other.seed == 5 and other.stage1.pulls == 3
    assert other.stage1.reward == "gain" and other.stage1.utility == "posterior"
    assert other.stage1.gating == "off"
    assert config.seed == 0  # unchanged
    assert other.with_overrides({"stage1.gating": None}).stage1.gating == "unweighted"


def test_replace_validates_again(folder: Path) -> None:
    config = config_from_dict(file_task_dict(folder))
    assert config.replace(seed=3, output_dir="out").seed == 3
    with pytest.raises(ConfigError, match="seed"):
        config.replace(seed=-1)


# -------------------------------------------------------------------------- control arms
def test_add_control_copies_the_first_auxiliary_task(folder: Path) -> None:
    data = file_task_dict(folder, auxiliary={"tasks": ["rt-subjectivity"], "add_control": True})
    config = config_from_dict(data)
    assert config.auxiliary_tasks() == ("rt-subjectivity", "shuffled:rt-subjectivity")
    assert config.control_tasks() == ("shuffled:rt-subjectivity",)


def test_add_control_without_pool_copies_the_main_task(folder: Path) -> None:
    config = config_from_dict(file_task_dict(folder, auxiliary={"add_control": True}))
    assert config.auxiliary_tasks() == ("shuffled:my-task",)


def test_add_control_by_name_and_no_duplicate(folder: Path) -> None:
    data = file_task_dict(
        folder,
        auxiliary={"tasks": ["rt-subjectivity", "shuffled:my-task"], "add_control": "my-task"},
    )
    assert config_from_dict(data).auxiliary_tasks() == ("rt-subjectivity", "shuffled:my-task")


def test_pair_task_text_and_regression(folder: Path) -> None:
    data = file_task_dict(folder)
    data["task"] = [
        {"name": "my-task", "path": str(folder / "data" / "my.csv"), "text": "sentence"},
        {
            "name": "pairs",
            "path": str(folder / "data" / "pairs.tsv"),
            "text": ["s1", "s2"],
            "label": "score",
            "kind": "regression",
            "metric": "pearson",
        },
    ]
    config = config_from_dict(data)
    assert config.task_files[1].text_fields == ("s1", "s2")
    assert config.task_file("shuffled:pairs") is config.task_files[1]


# ---------------------------------------------------------------------------------- errors
BAD_VALUES = [
    # (toml body after the [main] table, dotted key, value text, words of what is accepted)
    ("seed = -1\n", "seed", "-1", "integer >= 0"),
    ("seed = 1.5\n", "seed", "1.5", "integer"),
    ('device = "tpu"\n', "device", "'tpu'", "'cpu'"),
    ("[model]\nmax_length = 2\n", "model.max_length", "2", "integer >= 8"),
    ('[model]\nencoder = "/no/such/folder"\n', "model.encoder", "/no/such/folder", "folder"),
    ("[main]\nmax_train_examples = 0\n", "main.max_train_examples", "0", ">= 1"),
    ('[auxiliary]\ntasks = "a"\n', "auxiliary.tasks", "'a'", "list of strings"),
    ('[auxiliary]\ntasks = ["my-task"]\n', "auxiliary.tasks", "my-task", "other than the main"),
    ("[auxiliary]\nadd_control = 3\n", "auxiliary.add_control", "3", "true, false"),
    ('[stage1]\npolicy = "greedy"\n', "stage1.policy", "'greedy'", "'thompson'"),
    ("[stage1]\ndecay = 2.0\n", "stage1.decay", "2.0", "< 1"),
    ("[stage1]\npolicy_options = { gamma = 0.5 }\n", "stage1.policy_options", "gamma", "accepts"),
    ("[stage1]\npulls = 0\n", "stage1.pulls", "0", "integer >= 1"),
    ('[stage1]\npulls = "ten"\n', "stage1.pulls", "'ten'", "integer"),
    ("[stage1]\nsteps_per_pull = true\n", "stage1.steps_per_pull", "True", "integer"),
    ('[stage1]\ngating = "sometimes"\n', "stage1.gating", "'sometimes'", "'smoothed'"),
    ('[stage1]\nreward = "accuracy"\n', "stage1.reward", "'accuracy'", "'mixed'"),
    ('[stage1]\nutility = "max"\n', "stage1.utility", "'max'", "'posterior'"),
    ('[stage1]\nselection = "best"\n', "stage1.selection", "'best'", "'top-k'"),
    ('[stage1]\npreset = "fast"\n', "stage1.preset", "'fast'", "'autosem'"),
    ("[stage1]\ninclude_main_arm = 1\n", "stage1.include_main_arm", "1", "true or false"),
    ("[stage1]\nconfidence = 0.3\n", "stage1.confidence", "0.3", "> 0.5"),
    (
        '[auxiliary]\nadd_control = false\n[stage1]\nselection = "control"\n',
        "stage1.selection",
        "'control'",
        "control arm",
    ),
    ("[stage2]\ntrials = 0\n", "stage2.trials", "0", "integer >= 1"),
    ("[stage2]\nmax_ratio = 0\n", "stage2.max_ratio", "0", "> 0"),
    ('[stage2]\nacquisition = "UCB"\n', "stage2.acquisition", "'UCB'", "'EI'"),
    ("[trainer]\nlr = -0.1\n", "trainer.lr", "-0.1", "> 0"),
    ("[trainer]\nbatch_size = 0\n", "trainer.batch_size", "0", ">= 1"),
    ("[trainer]\nwarmup_steps = 2.5\n", "trainer.warmup_steps", "2.5", "fraction below 1"),
    ('[tracking]\nenabled = "yes"\n', "tracking.enabled", "'yes'", "true or false"),
    ('[tracking]\nuri = ""\n', "tracking.uri", "''", "non-empty string"),
    ('[baselines]\nrun = ["oracle"]\n', "baselines.run", "'oracle'", "'main-only'"),
    ("[stage1]\npolicy_options = 3\n", "stage1.policy_options", "3", "table"),
]


@pytest.mark.parametrize(("body", "key", "value", "accepted"), BAD_VALUES)
def test_bad_value_names_file_key_value_and_what_is_accepted(
    folder: Path, body: str, key: str, value: str, accepted: str
) -> None:
    head = '[main]\ntask = "my-task"\n'
    if body.startswith("[main]"):
        head, body = "", '[main]\ntask = "my-task"\n' + body.removeprefix("[main]\n")
    elif not body.startswith("["):
        head, body = body, head  # top-level keys must come before any table
    task = '[[task]]\nname = "my-task"\npath = "data/my.csv"\ntext = "sentence"\n'
    path = write(folder, head + body + task)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path) + ": ")
    assert info.value.key == key
    assert key in message and value in message and accepted in message


BAD_KEYS = [
    ('[stage1]\npolcy = "thompson"\n', "stage1.polcy", "did you mean 'policy'"),
    ("[stage3]\ntrials = 1\n", "stage3", "stage2"),
    ("[model]\nlayers = 2\n", "model.layers", "num_layers"),
    ("[tracking]\nurl = 'x'\n", "tracking.url", "'uri'"),
]


@pytest.mark.parametrize(("body", "key", "hint"), BAD_KEYS)
def test_unknown_key_is_named_with_a_suggestion(
    folder: Path, body: str, key: str, hint: str
) -> None:
    text = '[main]\ntask = "my-task"\n' + body
    text += '[[task]]\nname = "my-task"\npath = "data/my.csv"\ntext = "sentence"\n'
    with pytest.raises(ConfigError) as info:
        load_config(write(folder, text))
    assert info.value.key == key
    assert "unknown key" in str(info.value) and hint in str(info.value)


TASK_ERRORS = [
    ({"path": "data/missing.csv"}, "task[0].path", "not found"),
    ({"path": "data/my.xlsx"}, "task[0].path", ".jsonl"),
    ({"text": ["a", "b", "c"]}, "task[0].text", "list of two"),
    ({"kind": "ranking"}, "task[0].kind", "'regression'"),
    ({"metric": "auc"}, "task[0].metric", "'macro_f1'"),
    ({"name": "shuffled:x"}, "task[0].name", "reserved"),
    ({"colour": "red"}, "task[0].colour", "unknown key"),
]


@pytest.mark.parametrize(("change", "key", "words"), TASK_ERRORS)
def test_bad_task_entry_is_named_by_index(
    folder: Path, change: dict[str, object], key: str, words: str
) -> None:
    entry = {"name": "my-task", "path": "data/my.csv", "text": "sentence", **change}
    data = {"main": {"task": "my-task"}, "task": [entry]}
    with pytest.raises(ConfigError) as info:
        config_from_dict(data, source="cfg.toml", base_dir=folder)
    assert info.value.key == key
    assert str(info.value).startswith("cfg.toml: " + key) and words in str(info.value)


def test_missing_main_task(folder: Path) -> None:
    with pytest.raises(ConfigError, match=r"main\.task: missing"):
        load_config(write(folder, "seed = 1\n"))


def test_missing_task_path_is_named() -> None:
    with pytest.raises(ConfigError, match=r"task\[0\]\.path: missing"):
        config_from_dict({"main": {"task": "x"}, "task": [{"name": "x"}]})


def test_duplicate_auxiliary_task(folder: Path) -> None:
    data = file_task_dict(folder, auxiliary={"tasks": ["rt-subjectivity", "rt-subjectivity"]})
    with pytest.raises(ConfigError, match=r"auxiliary\.tasks = 'rt-subjectivity'.*repeated"):
        config_from_dict(data)


def test_unknown_task_name_lists_what_exists(folder: Path) -> None:
    data = file_task_dict(folder, auxiliary={"tasks": ["no-such-task"]})
    with pytest.raises(ConfigError) as info:
        config_from_dict(data, source="x.toml")
    message = str(info.value)
    assert message.startswith("x.toml: auxiliary.tasks = 'no-such-task'")
    assert "rt-sentiment" in message and "my-task" in message


def test_invalid_toml_and_missing_file(folder: Path) -> None:
    with pytest.raises(ConfigError, match="valid TOML"):
        load_config(write(folder, "seed = = 1\n"))
    with pytest.raises(ConfigError, match="not found"):
        load_config(folder / "nope.toml")


def test_direct_construction_is_validated(folder: Path) -> None:
    with pytest.raises(ConfigError, match=r"stage1\.decay = -1"):
        Stage1Config(decay=-1)
    with pytest.raises(ConfigError, match=r"task\.kind"):
        TaskFileConfig(name="t", path=str(folder / "data" / "my.csv"), kind="x")
    spec = TaskFileConfig(name="t", path=str(folder / "data" / "my.csv"))
    config = RunConfig(main=MainConfig("t"), task_files=(spec,))
    assert config.stage1.preset == "autoaux" and config.tracking.enabled


# ------------------------------------------------------------------- stage-1 evidence
def test_a_config_without_model_gets_the_default_encoder(folder: Path) -> None:
    from autoaux.config.defaults import default_encoder

    config = config_from_dict(file_task_dict(folder))
    assert config.model.encoder == default_encoder() == "minilm-cached"  # installed with autoaux


def test_default_stage1_races_paired_episodes() -> None:
    stage1 = Stage1Config()
    assert (stage1.evidence, stage1.policy) == ("episodes", "racing")
    assert Stage1Config(preset="bandit").evidence == "pulls"
    assert Stage1Config(preset="autosem").evidence == "pulls"


def test_each_stage1_method_gets_only_its_own_keys() -> None:
    race = Stage1Config(pulls=9, episode_steps=7, margin=0.01).race()
    assert {f.name for f in dataclasses.fields(race)} == {
        "preset", "evidence", "policy", "pulls", "episode_steps", "alpha", "margin",
        "policy_options",
    }  # fmt: skip
    assert (race.pulls, race.episode_steps, race.margin, race.policy) == (9, 7, 0.01, "racing")
    assert race.bandit_options(seed=3) == Stage1Config().bandit_options(seed=3) == {"seed": 3}
    stage1 = Stage1Config(preset="autosem", pulls=5, reward="mixed", top_k=3)
    bandit = stage1.bandit()
    names = {f.name for f in dataclasses.fields(bandit)}
    assert not names & {"evidence", "episode_steps", "alpha", "margin"}
    assert all(getattr(bandit, n) == getattr(stage1, n) for n in names)
    assert bandit.bandit_options(seed=1) == stage1.bandit_options(seed=1)
    assert bandit.needs_cosine() and stage1.needs_cosine()


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"policy": "thompson"}, "stage1.policy"),  # episodes are raced
        ({"preset": "bandit", "policy": "racing"}, "stage1.policy"),  # racing needs episodes
        ({"evidence": "lookahead"}, "stage1.evidence"),
        ({"alpha": 0.0}, "stage1.alpha"),
        ({"alpha": 0.9}, "stage1.alpha"),
        ({"episode_steps": 0}, "stage1.episode_steps"),
        ({"margin": -0.1}, "stage1.margin"),
    ],
)
def test_bad_stage1_evidence_settings(changes: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        Stage1Config(**changes)


@pytest.mark.parametrize(
    ("changes", "advice"),
    [
        # the default preset races: an in-run policy alone is told which preset to set
        ({"policy": "thompson"}, 'set preset = "bandit" (or "autosem")'),
        ({"policy": "exp3", "evidence": "episodes"}, 'set evidence = "pulls" or, simpler, preset'),
        ({"preset": "bandit", "policy": "racing"}, 'set preset = "autoaux" for a race'),
    ],
)
def test_a_policy_that_does_not_fit_the_evidence_says_what_to_set(
    changes: dict[str, Any], advice: str
) -> None:
    with pytest.raises(ConfigError, match="stage1\\.policy") as raised:
        Stage1Config(**changes)
    assert advice in str(raised.value)
    assert "\n" not in str(raised.value)


def test_an_in_run_policy_in_a_file_is_accepted_with_the_bandit_preset(folder: Path) -> None:
    with pytest.raises(ConfigError, match='preset = "bandit"'):
        config_from_dict(file_task_dict(folder, stage1={"policy": "thompson"}))
    data = file_task_dict(folder, stage1={"preset": "bandit", "policy": "thompson"})
    stage1 = config_from_dict(data).stage1
    assert (stage1.evidence, stage1.policy) == ("pulls", "thompson")


def test_a_pool_gets_one_control_made_automatically(folder: Path) -> None:
    data = file_task_dict(folder)
    data["auxiliary"] = {"tasks": ["rt-subjectivity", "tweet-sentiment"]}
    config = config_from_dict(data)
    assert config.control_tasks() == ("shuffled:rt-subjectivity",)
    data["auxiliary"] = {"tasks": ["rt-subjectivity", "shuffled:tweet-sentiment"]}
    assert config_from_dict(data).control_tasks() == ("shuffled:tweet-sentiment",)
    data["auxiliary"] = {"tasks": ["rt-subjectivity"], "add_control": False}
    assert config_from_dict(data).control_tasks() == ()
