"""``python -m benchmarks.multidomain --compare NEW OLD`` pairs runs, or says why it cannot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import multidomain

RESULTS = Path(multidomain.__file__).parent / "results"


def test_compare_pairs_the_common_runs() -> None:
    table = multidomain.compare(
        RESULTS / "multidomain-budget60.jsonl", RESULTS / "multidomain-a.jsonl"
    )
    rows = [line for line in table.splitlines() if line.startswith("| all ")]
    assert len(rows) == 1
    assert rows[0].split("|")[2].strip() == "10"  # 10 (main, seed) runs in common


def test_compare_without_common_runs_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    new, old = tmp_path / "new.jsonl", tmp_path / "old.jsonl"
    new.write_text(json.dumps({"main": "nyt-polarity", "seed": 0}) + "\n")
    old.write_text(json.dumps({"main": "amazon-polarity", "seed": 0}) + "\n")
    with pytest.raises(SystemExit) as exit_info:
        multidomain.main(["--compare", str(new), str(old)])
    assert exit_info.value.code == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert "share no (main, seed) run" in message
    assert "nyt-polarity" in message and "amazon-polarity" in message
