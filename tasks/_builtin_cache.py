"""The parsed-task cache: one JSON Lines file per task, its body checksummed in its header.

``<root>/data/tasks/<task>.v<N>.jsonl``: first line the header (labels, metric, sizes, ...,
body_sha256), then one {"split", "text", "label"} object per example. A file that fails the
checksum raises :class:`_CorruptCache` and is never read.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ._builtin_split import SPLIT_SEED
from ._builtin_types import BuiltinSpec
from ._builtin_wheels import WHEELS
from ._types import Example, Task

# 2: rt-sentiment, rt-subjectivity and tweet-confidence follow the splits of the tasks they share
# texts with; the body of each cache file is checksummed in its header.
FORMAT_VERSION = 2


def _cache_file(data_dir: Path, name: str) -> Path:
    return data_dir / "tasks" / f"{name}.v{FORMAT_VERSION}.jsonl"


def _summary(task: Task) -> tuple[dict[str, int], dict[str, float]]:
    sizes = {s: len(task.split(s)) for s in ("train", "dev", "test")}
    examples = [*task.train, *task.dev, *task.test]
    if task.kind == "classification":
        counts = np.bincount([int(ex.label) for ex in examples], minlength=len(task.labels))
        balance = {
            label: round(float(c) / len(examples), 4)
            for label, c in zip(task.labels, counts, strict=True)
        }
    else:
        y = np.asarray([float(ex.label) for ex in examples])
        balance = {
            "mean": round(float(y.mean()), 4),
            "std": round(float(y.std()), 4),
            "min": round(float(y.min()), 4),
            "max": round(float(y.max()), 4),
        }
    return sizes, balance


def _write_cache(path: Path, spec: BuiltinSpec, task: Task) -> None:
    sizes, balance = _summary(task)
    wheel = WHEELS[spec.wheel]
    header = {
        "format": FORMAT_VERSION,
        "name": task.name,
        "kind": task.kind,
        "labels": list(task.labels),
        "metric": task.metric,
        "text_fields": list(task.text_fields),
        "label_field": task.label_field,
        "source": task.source,
        "skipped": task.skipped,
        "package": wheel.requirement,
        "sha256": wheel.sha256,
        "member": spec.member,
        "split_seed": SPLIT_SEED,
        "sizes": sizes,
        "balance": balance,
    }
    lines: list[str] = []
    for split_name in ("train", "dev", "test"):
        for ex in task.split(split_name):
            row: dict[str, Any] = {"split": split_name, "text": ex.text, "label": ex.label}
            if ex.text_pair is not None:
                row["text_pair"] = ex.text_pair
            lines.append(json.dumps(row, ensure_ascii=False) + "\n")
    body = "".join(lines).encode("utf-8")
    header["rows"] = len(lines)
    header["body_sha256"] = hashlib.sha256(body).hexdigest()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "wb") as handle:
        handle.write((json.dumps(header) + "\n").encode("utf-8"))
        handle.write(body)
    os.chmod(tmp_name, 0o644)
    os.replace(tmp_name, path)


class _CorruptCache(Exception):
    """A parsed-task cache file that does not match its header's checksum (or cannot be read)."""


def _read_header(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        header: dict[str, Any] = json.loads(handle.readline())
    return header


def _verified_body(path: Path) -> tuple[dict[str, Any], bytes]:
    """The header and body of a cache file whose body matches the header's sha256."""
    try:
        raw = path.read_bytes()
        first, _, body = raw.partition(b"\n")
        header = json.loads(first)
        expected = header["body_sha256"]
        if header.get("format") != FORMAT_VERSION:
            raise _CorruptCache(f"format {header.get('format')!r}, expected {FORMAT_VERSION}")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise _CorruptCache(f"unreadable header ({type(error).__name__})") from None
    digest = hashlib.sha256(body).hexdigest()
    if digest != expected:
        raise _CorruptCache(f"body sha256 {digest[:12]}..., header says {str(expected)[:12]}...")
    return header, body


def _cache_valid(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        _verified_body(path)
    except _CorruptCache:
        return False
    return True


def _read_cache(path: Path) -> Task:
    """The task stored in ``path``; :class:`_CorruptCache` when its body fails the checksum."""
    header, body = _verified_body(path)
    splits: dict[str, list[Example]] = {"train": [], "dev": [], "test": []}
    regression = header["kind"] == "regression"
    for line in body.decode("utf-8").split("\n")[:-1]:  # texts may hold U+2028 etc.
        row = json.loads(line)
        label = float(row["label"]) if regression else int(row["label"])
        splits[row["split"]].append(Example(row["text"], label, row.get("text_pair")))
    return Task(
        name=header["name"],
        kind=header["kind"],
        train=tuple(splits["train"]),
        dev=tuple(splits["dev"]),
        test=tuple(splits["test"]),
        labels=tuple(header["labels"]),
        metric=header["metric"],
        text_fields=tuple(header["text_fields"]),
        label_field=header["label_field"],
        source=header["source"],
        skipped=int(header["skipped"]),
    )
