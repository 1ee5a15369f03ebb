"""Loaders: CSV / TSV / JSONL files (:func:`from_file`), and what every loader shares (GLUE
folders in ``_glue.py``, data frames and Hugging Face datasets in ``_frames.py``).

Every loader maps source columns onto a task with the same small vocabulary:

- ``text``: one column name, or two (``[first, second]``) for sentence-pair tasks;
- ``label``: the label column (class names for classification, numbers for regression);
- splits: a source with a single split is cut into train / dev / test by a seeded, stratified
  split (``dev_fraction``, ``test_fraction``, ``seed``). A source can instead name its splits in
  a ``split_column`` (values ``train``, ``dev`` / ``validation``, ``test``) or come with separate
  ``dev_file`` / ``test_file``; any split still missing is carved out of train.

Rows whose text (either text of a pair) is empty are skipped on purpose and counted in
``Task.skipped``; every other problem is a :class:`TaskDataError` naming the file, the line and
the problem.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

from ._splits import SPLIT_NAMES, Record, build_task
from ._types import Task, TaskDataError

PathArg = str | PathLike[str]
TextSpec = str | Sequence[str]

_FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def _text_columns(text: TextSpec) -> tuple[str, ...]:
    columns = (text,) if isinstance(text, str) else tuple(text)
    if not 1 <= len(columns) <= 2 or not all(isinstance(c, str) and c for c in columns):
        raise ValueError(f"text must name one column or two (a sentence pair), got {text!r}")
    return columns


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _cell_text(value: Any) -> str:
    return "" if _is_missing(value) else str(value)


#: Largest task file read, in bytes, and largest decompressed size of a ``.gz`` / ``.bz2`` one.
MAX_FILE_BYTES = 1 << 30
#: Longest line (a CSV/TSV row or a JSONL record), in characters.
MAX_LINE_CHARS = 1 << 20
#: Longest CSV/TSV field, in characters (the ``csv`` module's own default limit).
MAX_FIELD_CHARS = 131_072


def read_bytes_text(path: Path, encoding: str) -> str:
    """Read ``path`` (optionally ``.gz`` / ``.bz2``) and decode it, naming the line of bad bytes.

    Files above :data:`MAX_FILE_BYTES` (before or after decompression) and lines above
    :data:`MAX_LINE_CHARS` are refused with a :class:`TaskDataError` naming the file.
    """
    if not path.is_file():
        raise TaskDataError("file not found" if not path.exists() else "not a file", path=path)
    limit = MAX_FILE_BYTES
    size = path.stat().st_size
    if size > limit:
        raise TaskDataError(
            f"the file is {size:,} bytes, above the limit of {limit:,} bytes for a task file",
            path=path,
        )
    openers: dict[str, Callable[..., Any]] = {".gz": gzip.open, ".bz2": bz2.open}
    opener = openers.get(path.suffix)
    try:
        if opener is None:
            raw = path.read_bytes()
        else:
            with opener(path, "rb") as handle:
                raw = handle.read(limit + 1)  # never more than the limit in memory
            if len(raw) > limit:
                raise TaskDataError(
                    f"the file decompresses to more than {limit:,} bytes, the limit for a "
                    "task file",
                    path=path,
                )
    except (OSError, EOFError, ValueError) as exc:
        if isinstance(exc, TaskDataError):
            raise
        raise TaskDataError(f"cannot decompress {path.suffix} file: {exc}", path=path) from None
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        bad = raw[exc.start : exc.start + 1].hex()
        raise TaskDataError(
            f"cannot decode byte 0x{bad} as {encoding} ({exc.reason}); save the file as "
            f"{encoding} or give its encoding (encoding= here, [[task]] encoding in a config)",
            path=path,
            line=line,
        ) from None
    _check_line_lengths(text, path)
    return text


def _check_line_lengths(text: str, path: object) -> None:
    """Refuse a line longer than :data:`MAX_LINE_CHARS`, naming it."""
    limit, start, end_of_text = MAX_LINE_CHARS, 0, len(text)
    if end_of_text <= limit:
        return
    while start < end_of_text:
        end = text.find("\n", start)
        end = end_of_text if end < 0 else end
        if end - start > limit:
            raise TaskDataError(
                f"line of {end - start:,} characters, above the limit of {limit:,}",
                path=path,
                line=text.count("\n", 0, start) + 1,
            )
        start = end + 1


def _detect_format(path: Path, format: str | None) -> str:
    if format is not None:
        if format not in ("csv", "tsv", "jsonl"):
            raise ValueError(f"format must be 'csv', 'tsv' or 'jsonl', got {format!r}")
        return format
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".bz2"):
        suffixes = suffixes[:-1]
    fmt = _FORMATS.get(suffixes[-1] if suffixes else "")
    if fmt is None:
        raise TaskDataError(
            f"cannot tell the format from the extension; use one of {sorted(_FORMATS)} "
            "(optionally .gz or .bz2) or pass format='csv' / 'tsv' / 'jsonl'",
            path=path,
        )
    return fmt


@dataclass
class _Table:
    """Rows of one source as (line number, column -> value) with the columns found."""

    path: str
    columns: list[str]
    rows: list[tuple[int, dict[str, Any]]]
    unit: str = "line"


def parse_delimited(
    text: str,
    path: str,
    *,
    delimiter: str,
    quoting: bool = True,
    fieldnames: Sequence[str] | None = None,
) -> _Table:
    """Parse CSV/TSV text; each row remembers the line it starts on. Blank lines are not rows."""
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=delimiter,
        quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE,
    )
    header: list[str] | None = list(fieldnames) if fieldnames is not None else None
    rows: list[tuple[int, dict[str, Any]]] = []
    previous = 0
    try:
        for fields in reader:
            start, previous = previous + 1, reader.line_num
            if not fields:
                continue
            if header is None:
                header = [f.strip() for f in fields]
                repeated = sorted({c for c in header if header.count(c) > 1})
                if repeated:
                    raise TaskDataError(
                        f"duplicate column name {repeated[0]!r} in the header {header}; "
                        "rename one of them",
                        path=path,
                        line=start,
                    )
                continue
            if max(map(len, fields)) > MAX_FIELD_CHARS:
                raise TaskDataError(
                    f"a field of {max(map(len, fields)):,} characters, above the limit of "
                    f"{MAX_FIELD_CHARS:,}",
                    path=path,
                    line=start,
                )
            if len(fields) != len(header):
                raise TaskDataError(
                    f"expected {len(header)} fields (columns {header}), found {len(fields)}",
                    path=path,
                    line=start,
                )
            rows.append((start, dict(zip(header, fields, strict=True))))
    except csv.Error as exc:
        reason = str(exc)
        if "field limit" in reason:
            reason = f"a field longer than {csv.field_size_limit():,} characters"
        raise TaskDataError(f"malformed row: {reason}", path=path, line=reader.line_num) from None
    if header is None:
        raise TaskDataError("the file is empty (no header row)", path=path)
    return _Table(path, header, rows)


def parse_jsonl(text: str, path: str) -> _Table:
    """Parse JSON Lines: one object per non-blank line."""
    rows: list[tuple[int, dict[str, Any]]] = []
    columns: dict[str, None] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line, object_pairs_hook=_unique_keys)
        except json.JSONDecodeError as exc:
            raise TaskDataError(f"invalid JSON: {exc.msg}", path=path, line=number) from None
        except _DuplicateKey as exc:
            raise TaskDataError(
                f"duplicate key {exc.args[0]!r} in one JSON object", path=path, line=number
            ) from None
        if not isinstance(value, dict):
            raise TaskDataError(
                f"expected a JSON object, found {type(value).__name__}", path=path, line=number
            )
        columns.update(dict.fromkeys(value))
        rows.append((number, value))
    return _Table(path, list(columns), rows)


class _DuplicateKey(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _read_table(
    path: PathArg, *, format: str | None, encoding: str, quoting: bool = True
) -> _Table:
    p = Path(path)
    fmt = _detect_format(p, format)
    text = read_bytes_text(p, encoding)
    if fmt == "jsonl":
        return parse_jsonl(text, str(p))
    return parse_delimited(text, str(p), delimiter="," if fmt == "csv" else "\t", quoting=quoting)


def _check_columns(table: _Table, needed: Sequence[str]) -> None:
    missing = [c for c in needed if c not in table.columns]
    if missing and table.columns:
        raise TaskDataError(
            f"missing column {missing[0]!r}; columns found: {table.columns}", path=table.path
        )


def _records(
    table: _Table,
    *,
    text_columns: tuple[str, ...],
    label: str,
    kind: str,
    split_column: str | None = None,
) -> tuple[dict[str, list[Record]], int]:
    """Records per split name ("train" when there is no split column) and the skipped count."""
    needed = [*text_columns, label, *([split_column] if split_column else [])]
    _check_columns(table, needed)
    out: dict[str, list[Record]] = {}
    skipped = 0
    for line, row in table.rows:
        for column in needed:
            if column not in row:
                raise TaskDataError(
                    f"missing column {column!r}; columns found: {sorted(row)}",
                    path=table.path,
                    line=line,
                    unit=table.unit,
                )
        texts = [_cell_text(row[c]).strip() for c in text_columns]
        if not all(texts):
            skipped += 1
            continue
        raw = row[label]
        value: str | float
        if kind == "regression":
            if _is_missing(raw) or str(raw).strip() == "":
                raise TaskDataError(
                    f"missing regression target in column {label!r}",
                    path=table.path,
                    line=line,
                    unit=table.unit,
                )
            try:
                if isinstance(raw, bool):
                    raise TypeError("a boolean is not a regression target")
                value = float(raw)
            except (TypeError, ValueError):
                raise TaskDataError(
                    f"regression target {raw!r} in column {label!r} is not a number",
                    path=table.path,
                    line=line,
                    unit=table.unit,
                ) from None
            if not math.isfinite(value):
                raise TaskDataError(
                    f"regression target {raw!r} in column {label!r} is not finite",
                    path=table.path,
                    line=line,
                    unit=table.unit,
                )
        else:
            value = _cell_text(raw).strip()
            if not value:
                raise TaskDataError(
                    f"empty label in column {label!r}", path=table.path, line=line, unit=table.unit
                )
        split = "train"
        if split_column is not None:
            tag = _cell_text(row[split_column]).strip().lower()
            if tag not in SPLIT_NAMES:
                raise TaskDataError(
                    f"unknown split {tag!r} in column {split_column!r}; expected train, "
                    "dev (or validation) or test",
                    path=table.path,
                    line=line,
                    unit=table.unit,
                )
            split = SPLIT_NAMES[tag]
        out.setdefault(split, []).append(
            Record(
                text=texts[0],
                label=value,
                text_pair=texts[1] if len(texts) == 2 else None,
                path=table.path,
                line=line,
                unit=table.unit,
            )
        )
    return out, skipped


def _assemble(
    tables: Mapping[str, _Table | None],
    *,
    name: str,
    text_columns: tuple[str, ...],
    label: str,
    kind: str,
    metric: str | None,
    labels: Sequence[str] | None,
    seed: int,
    dev_fraction: float,
    test_fraction: float,
    split_column: str | None,
    source: str,
) -> Task:
    """Records from a main table (key "train") and optional "dev" / "test" tables -> Task."""
    main = tables["train"]
    assert main is not None
    per_split, skipped = _records(
        main, text_columns=text_columns, label=label, kind=kind, split_column=split_column
    )
    if split_column is not None and not per_split.get("train"):
        raise TaskDataError(
            f"empty split: no usable rows with split 'train' in column {split_column!r}",
            path=main.path,
        )
    splits: dict[str, list[Record] | None] = {
        "train": per_split.get("train", []),
        "dev": per_split.get("dev"),
        "test": per_split.get("test"),
    }
    for split_name in ("dev", "test"):
        table = tables.get(split_name)
        if table is None:
            continue
        if splits[split_name] is not None:
            raise TaskDataError(
                f"{split_name} rows come both from the split column and from {table.path}",
                path=main.path,
            )
        extra, extra_skipped = _records(table, text_columns=text_columns, label=label, kind=kind)
        skipped += extra_skipped
        rows = extra.get("train", [])
        if not rows:
            raise TaskDataError(f"empty split: no usable {split_name} rows", path=table.path)
        splits[split_name] = rows
    return build_task(
        name,
        kind=kind,
        train=splits["train"] or [],
        dev=splits["dev"],
        test=splits["test"],
        metric=metric,
        labels=labels,
        seed=seed,
        dev_fraction=dev_fraction,
        test_fraction=test_fraction,
        text_fields=text_columns,
        label_field=label,
        source=source,
        skipped=skipped,
        origin=main.path,
    )


def from_file(
    path: PathArg,
    *,
    name: str | None = None,
    text: TextSpec = "text",
    label: str = "label",
    kind: str = "classification",
    metric: str | None = None,
    seed: int = 0,
    dev_fraction: float = 0.1,
    test_fraction: float = 0.1,
    labels: Sequence[str] | None = None,
    split_column: str | None = None,
    dev_file: PathArg | None = None,
    test_file: PathArg | None = None,
    format: str | None = None,
    encoding: str = "utf-8",
) -> Task:
    """Load a task from a CSV, TSV or JSONL file (format from the extension, or ``format``).

    ``text`` names the text column, or two columns for a sentence pair; ``label`` the label
    column. ``kind`` is "classification" (labels are class names; the vocabulary is ``labels``
    or the sorted training labels) or "regression" (labels must be numbers). ``metric`` defaults
    to accuracy / pearson. Splits: ``split_column`` tags rows train / dev / test, or ``dev_file``
    and ``test_file`` (same columns) hold those splits; whatever is missing is carved out of the
    training rows by a stratified split seeded by ``seed``. ``.gz`` / ``.bz2`` files are read
    transparently. The task is named ``name`` or, by default, after the file.
    """
    text_columns = _text_columns(text)
    p = Path(path)
    tables: dict[str, _Table | None] = {
        "train": _read_table(p, format=format, encoding=encoding),
        "dev": None if dev_file is None else _read_table(dev_file, format=None, encoding=encoding),
        "test": None
        if test_file is None
        else _read_table(test_file, format=None, encoding=encoding),
    }
    return _assemble(
        tables,
        name=name or p.name.split(".")[0],
        text_columns=text_columns,
        label=label,
        kind=kind,
        metric=metric,
        labels=labels,
        seed=seed,
        dev_fraction=dev_fraction,
        test_fraction=test_fraction,
        split_column=split_column,
        source=f"file {p}",
    )
