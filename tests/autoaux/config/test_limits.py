"""Settings within their own bounds that together cannot fit, and [[task]] names that hide a
built-in task."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from autoaux.cli import main
from autoaux.config import config_from_dict
from autoaux.config._memory import check_memory, estimate_memory
from autoaux.errors import ConfigError
from tasks import builtin_names


def _config(**sections: object) -> object:
    return config_from_dict({"main": {"task": "rt-sentiment"}, **sections})


def test_a_huge_batch_is_a_config_error_before_anything_allocates() -> None:
    with pytest.raises(ConfigError, match=r"trainer\.batch_size = 100000000: expected settings "
                                          r"whose model and batches fit in memory"):  # fmt: skip
        _config(model={"encoder": "tiny"}, trainer={"batch_size": 10**8})


def test_a_terabyte_top_network_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"model\.top_hidden = 65536: .* GiB needed"):
        _config(model={"encoder": "minilm-cached", "top_hidden": 65536, "top_layers": 64})


def test_the_default_settings_fit_in_little_memory() -> None:
    config = _config()
    assert estimate_memory(config).total < 1 << 30
    check_memory(config, available=1 << 30)
    with pytest.raises(ConfigError, match="fit in memory"):
        check_memory(config, available=1 << 20)


def test_the_cli_refuses_it_in_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.toml"
    path.write_text('[main]\ntask = "rt-sentiment"\n[trainer]\nbatch_size = 100000000\n')
    assert main(["run", "--config", str(path), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "fit in memory" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_task_file_named_like_a_built_in_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    name = builtin_names()[0]
    data = tmp_path / "mine.csv"
    data.write_text("text,label\na,0\nb,1\n")
    with caplog.at_level(logging.WARNING):
        config = config_from_dict(
            {"main": {"task": name}, "task": [{"name": name, "path": str(data)}]}
        )
    assert config.task_file(name) is not None
    assert any(
        "is also a built-in task" in r.getMessage() and str(data) in r.getMessage()
        for r in caplog.records
    )
