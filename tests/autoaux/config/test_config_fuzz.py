"""Bad input, fuzzed: config files and task files.

Random TOML documents (known and unknown keys, values of every TOML type, broken syntax) go to
``autoaux.load_config`` and random CSV / TSV / JSONL bytes go to ``tasks.from_file``; the only
failures allowed are the documented ones, :class:`autoaux.ConfigError` and
:class:`tasks.TaskDataError`, each with a one-line message. Example counts are bounded so the
file stays fast.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoaux import ConfigError, RunConfig, load_config
from autoaux.config.run import _SECTIONS
from tasks import TaskDataError, from_file

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# ------------------------------------------------------------------------------ TOML writer
_SECTION_KEYS = {
    name: [f.name for f in __import__("dataclasses").fields(cls) if f.init]
    for name, cls in _SECTIONS.items()
}
_KNOWN = ["seed", "output_dir", "device", "workers", "task", *_SECTIONS]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
        )
    raise TypeError(type(value))


def _toml(document: dict[str, Any]) -> str:
    lines = []
    for key, value in document.items():
        lines.append(f"{json.dumps(key)} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


scalars = (
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["tiny", "thompson", "off", "gp", "cpu", "main-only", "rt-sentiment"])
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def section(draw: st.DrawFn, name: str) -> dict[str, Any]:
    keys = _SECTION_KEYS[name] + [draw(st.text(min_size=1, max_size=8))]
    chosen = draw(st.lists(st.sampled_from(keys), max_size=4, unique=True))
    return {k: draw(values) for k in chosen}


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if draw(st.booleans()):
        doc["main"] = {"task": draw(st.sampled_from(["rt-sentiment", "nope", ""]) | st.text())}
    for name in draw(st.lists(st.sampled_from(_KNOWN), max_size=4, unique=True)):
        if name in _SECTIONS:
            doc[name] = draw(section(name)) if draw(st.integers(0, 5)) else draw(values)
        elif name == "task":
            doc[name] = draw(st.lists(st.dictionaries(
                st.sampled_from(["name", "path", "text", "label", "kind", "metric"]), values,
                max_size=4,
            ), max_size=2))  # fmt: skip
        else:
            doc[name] = draw(values)
    if draw(st.integers(0, 4)) == 0:
        doc[draw(st.text(min_size=1, max_size=8))] = draw(values)
    return doc


def _load(text: str | bytes) -> RunConfig | None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "run.toml"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            return load_config(path)
        except ConfigError as error:
            message = str(error)
            assert message and "\n" not in message, message
            return None


@FUZZ
@given(documents())
def test_fuzzed_config_files_fail_only_with_config_error(document: dict[str, Any]) -> None:
    config = _load(_toml(document))
    if config is not None:  # accepted: a well-formed, usable configuration
        assert isinstance(config, RunConfig) and config.main.task


@FUZZ
@given(st.binary(max_size=300) | st.text(max_size=200).map(lambda t: f"[stage1]\n{t}"))
def test_fuzzed_config_bytes_fail_only_with_config_error(data: bytes | str) -> None:
    _load(data)


def test_a_known_good_config_is_accepted() -> None:
    config = _load(_toml({"main": {"task": "rt-sentiment"}, "stage1": {"pulls": 3}}))
    assert config is not None and config.stage1.pulls == 3


# ------------------------------------------------------------------------------ task files
_HEADERS = ["text,label", "text,label,split", "sentence,label", "text\tlabel", ""]
cells = st.text(alphabet=st.characters(codec="utf-8"), max_size=10) | st.sampled_from(
    ["0", "1", "pos", "neg", "", "nan", "1e999", '"', "train", "dev", "test"]
)


@st.composite
def delimited(draw: st.DrawFn) -> bytes:
    header = draw(st.sampled_from(_HEADERS))
    sep = "\t" if "\t" in header else ","
    rows = draw(st.lists(st.lists(cells, min_size=0, max_size=4), max_size=12))
    text = header + "\n" + "\n".join(sep.join(r) for r in rows)
    data = text.encode("utf-8", errors="surrogatepass")
    if draw(st.integers(0, 5)) == 0:
        data += draw(st.binary(max_size=20))
    return data


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def jsonl(draw: st.DrawFn) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 12))):
        if draw(st.integers(0, 6)) == 0:
            lines.append(draw(st.text(max_size=12)))  # not JSON at all
            continue
        record = draw(st.dictionaries(st.sampled_from(["text", "label", "split", "x"]),
                                      json_values, max_size=4))  # fmt: skip
        lines.append(json.dumps(record))
    return "\n".join(lines).encode("utf-8", errors="surrogatepass")


def _load_task(data: bytes, suffix: str, kind: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"data{suffix}"
        path.write_bytes(data)
        try:
            task = from_file(path, name="fuzz", text="text", label="label", kind=kind)
        except TaskDataError as error:
            message = str(error)
            assert message and "\n" not in message, message
            return
        assert task.name == "fuzz" and len(task.train) > 0


@FUZZ
@given(
    delimited(),
    st.sampled_from([".csv", ".tsv"]),
    st.sampled_from(["classification", "regression"]),
)
def test_fuzzed_delimited_task_files_fail_only_with_task_data_error(
    data: bytes, suffix: str, kind: str
) -> None:
    _load_task(data, suffix, kind)


@FUZZ
@given(jsonl() | st.binary(max_size=200), st.sampled_from(["classification", "regression"]))
def test_fuzzed_jsonl_task_files_fail_only_with_task_data_error(data: bytes, kind: str) -> None:
    _load_task(data, ".jsonl", kind)
