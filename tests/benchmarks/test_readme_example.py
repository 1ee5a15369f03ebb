"""The README's default-run block (``benchmarks/readme_example.py``) without training: the markers
are there once, the captured stdout is normalised to the README form, and the block's stage-1
table has the columns the command line prints."""

from __future__ import annotations

import math
import re
from types import SimpleNamespace

import pytest

from autoaux.cli import _selection_rows
from benchmarks import readme_example as rx

RUN_ID = "0123456789abcdef0123456789abcdef"


def test_the_marker_block_is_in_the_readme_once() -> None:
    readme = rx.README.read_text()
    assert readme.count(rx.BEGIN) == 1
    assert readme.count(rx.END) == 1
    assert readme.index(rx.BEGIN) < readme.index(rx.END)
    block = rx.read_block(readme)
    assert "MLflow run RUN_ID in sqlite:///mlflow.db" in block
    assert rx.replace_block(readme, block) == readme  # rewriting an up-to-date block is a no-op


def test_markers_missing_or_twice_are_refused() -> None:
    with pytest.raises(ValueError, match="markers"):
        rx.read_block("no markers here\n")
    twice = f"{rx.BEGIN}\n```text\nx\n```\n{rx.END}\n" * 2
    with pytest.raises(ValueError, match="markers"):
        rx.replace_block(twice, "y")


def test_replace_block_keeps_the_text_around_it() -> None:
    readme = f"before\n{rx.BEGIN}\n```text\nold\n```\n{rx.END}\nafter\n"
    new = rx.replace_block(readme, "new 1\nnew 2")
    assert new == f"before\n{rx.BEGIN}\n```text\nnew 1\nnew 2\n```\n{rx.END}\nafter\n"
    assert rx.read_block(new) == "new 1\nnew 2"


def test_normalise_gives_the_readme_form() -> None:
    tmp = "/tmp/autoaux-readme-k3j2h1"
    captured = (
        "\nmain task: nyt-polarity\n"
        "task             verdict  ratio  \n"
        "sms-spam         negligible     \n"
        f"result: {tmp}/autoaux-output/result.json\n"
        f"MLflow run {RUN_ID} in sqlite:///{tmp}/mlflow.db; open it with: autoaux ui\n\n"
    )
    assert rx.normalise(captured, tmp) == (
        "main task: nyt-polarity\n"
        "task             verdict  ratio\n"
        "sms-spam         negligible\n"
        "result: autoaux-output/result.json\n"
        "MLflow run RUN_ID in sqlite:///mlflow.db; open it with: autoaux ui"
    )


def test_normalise_leaves_relative_paths_and_other_text_alone() -> None:
    captured = "result: autoaux-output/result.json\nstage 1: selected movie-polarity\n"
    assert rx.normalise(captured, "/tmp/elsewhere") == captured.rstrip("\n")


def _cli_stage1_header(capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The column names the command line prints over a race's stage-1 table."""
    verdict = SimpleNamespace(
        verdict="helps", effect=0.03, low=0.02, high=0.04, vs_control=math.nan, episodes=7
    )
    selection = SimpleNamespace(
        verdicts={"a": verdict}, controls=(), main_task="m", pulls={"m": 7}, decision=""
    )
    _selection_rows(selection, {"a": 1.0})
    return re.split(r"\s{2,}", capsys.readouterr().out.splitlines()[0].strip())


def test_the_readme_table_has_the_columns_the_cli_prints(
    capsys: pytest.CaptureFixture[str],
) -> None:
    lines = rx.read_block(rx.README.read_text()).splitlines()
    rules = [i for i, line in enumerate(lines) if line and set(line) <= {"-", " "}]
    assert rules, "no table in the README's default-run block"
    header, rule = lines[rules[0] - 1], lines[rules[0]]
    columns = re.split(r"\s{2,}", header.strip())
    assert columns == _cli_stage1_header(capsys)
    assert len(rule.split()) == len(columns)
