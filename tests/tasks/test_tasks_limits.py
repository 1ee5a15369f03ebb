"""Task files from someone else: sizes are capped, headers and labels are unambiguous."""

from __future__ import annotations

import bz2
import gzip
from pathlib import Path

import pytest

import tasks._loaders as loaders
from tasks import TaskDataError, from_dataframe, from_file


def _rows(n: int = 20) -> list[str]:
    return [f"text number {i},{i % 2}" for i in range(n)]


def _csv(path: Path, lines: list[str], header: str = "text,label") -> Path:
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


def test_a_small_gzip_that_holds_a_huge_line_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.jsonl.gz"
    line = b'{"text": "' + b"a" * (50 << 20) + b'", "label": "x"}\n'
    path.write_bytes(gzip.compress(line, compresslevel=9))
    assert path.stat().st_size < 100_000  # a 50 MB line in a small file
    with pytest.raises(TaskDataError, match=r"bomb\.jsonl\.gz, line 1: line of [\d,]+ characters"):
        from_file(path)


@pytest.mark.parametrize(("suffix", "compress"), [(".gz", gzip.compress), (".bz2", bz2.compress)])
def test_decompressed_size_is_capped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str, compress: object
) -> None:
    monkeypatch.setattr(loaders, "MAX_FILE_BYTES", 4096)
    path = tmp_path / f"big.csv{suffix}"
    text = "\n".join(["text,label", *_rows(500)]).encode()
    assert len(text) > 4096
    path.write_bytes(compress(text))  # type: ignore[operator]
    assert path.stat().st_size < 4096
    with pytest.raises(TaskDataError, match=r"big\.csv.*decompresses to more than 4,096 bytes"):
        from_file(path)


def test_file_size_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loaders, "MAX_FILE_BYTES", 100)
    path = _csv(tmp_path / "big.csv", _rows(50))
    with pytest.raises(TaskDataError, match=r"big\.csv: the file is [\d,]+ bytes, above the limit"):
        from_file(path)


def test_a_field_longer_than_the_cap_names_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loaders, "MAX_FIELD_CHARS", 50)
    path = _csv(tmp_path / "long.csv", [*_rows(5), "x" * 60 + ",1"])
    with pytest.raises(TaskDataError, match=r"long\.csv, line 7: a field of 60 characters"):
        from_file(path)


def test_duplicate_header_names_are_an_error(tmp_path: Path) -> None:
    path = _csv(tmp_path / "dup.csv", [f"t{i},{i % 2},x" for i in range(20)], "text,label,label")
    with pytest.raises(TaskDataError, match=r"dup\.csv, line 1: duplicate column name 'label'"):
        from_file(path)


def test_duplicate_jsonl_keys_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "dup.jsonl"
    path.write_text('{"text": "a", "label": "0", "label": "1"}\n')
    with pytest.raises(TaskDataError, match=r"dup\.jsonl, line 1: duplicate key 'label'"):
        from_file(path)


def test_one_number_written_two_ways_is_not_two_classes(tmp_path: Path) -> None:
    lines = [f"text {i},{'1.0' if i == 13 else i % 2}" for i in range(40)]
    path = _csv(tmp_path / "labels.csv", lines)
    with pytest.raises(TaskDataError, match=r"labels\.csv, line 15: class labels '1' and '1\.0'"):
        from_file(path)
    # one spelling per class loads as before
    task = from_file(_csv(tmp_path / "ok.csv", [f"text {i},{i % 2}.0" for i in range(40)]))
    assert task.labels == ("0.0", "1.0")


def test_numeric_labels_in_a_data_frame_are_checked_too() -> None:
    class _Frame:
        columns = ("text", "label")

        def __init__(self) -> None:
            self.data = {"text": [f"t{i}" for i in range(30)], "label": [1, 0, 1.0] * 10}

        def __getitem__(self, key: str) -> object:
            values = self.data[key]
            return type("Col", (), {"tolist": lambda self: list(values)})()

        def __len__(self) -> int:
            return 30

    with pytest.raises(TaskDataError, match="same number written two ways"):
        from_dataframe(_Frame(), name="frame")
