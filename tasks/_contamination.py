"""The contamination guard: no main-task dev or test text in any auxiliary task's training data.

A mixture can look helpful because an auxiliary task carries the main task's own evaluation
sentences with the same labels (two tasks built from one corpus, a data set scraped twice). The
guard compares texts after a fixed normalisation, by hash:

    normalise(text) = fold_whitespace(strip_punctuation(casefold(NFKC(text))))

- ``NFKC``: Unicode compatibility composition (full-width letters, ligatures, "ﬁ" -> "fi");
- ``casefold``: case folded ("Straße" and "STRASSE" match);
- every character that is neither a letter, a digit nor whitespace (punctuation, symbols, the
  underscore) becomes a space, so "it's" and "it 's", "journey." and "journey ." match;
- runs of whitespace become one space, leading and trailing whitespace goes;
- a text with no letter or digit at all (":-)", "!!!") keeps its punctuation and symbols
  (only case and whitespace are folded), so two such texts match only when they are the same.

The key of an example is ``blake2b(normalise(text))`` (16 bytes); a sentence pair joins its two
normalised fields with the unit separator ``U+001F`` before hashing, so a pair matches only a
pair with both sides equal. Normalising and hashing cost a few microseconds a text and set
look-ups are O(1), so a pool of 100 candidates and 100,000 training rows is checked in about a
second.

:func:`guard` drops every auxiliary training example whose key is a key of the main task's dev
or test split, and counts the main task's training examples that repeat one of its own dev or
test texts (reported; dropped only with ``drop_main_repeats``). With ``drop=False`` nothing is
dropped and the same counts are reported.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._types import Example, Task

PAIR_SEPARATOR = "\x1f"
_NOT_WORD = re.compile(r"[^\w\s]|_")

__all__ = [
    "ContaminationReport",
    "TaskContamination",
    "example_key",
    "guard",
    "normalise",
    "split_keys",
]


def normalise(text: str) -> str:
    """The text the guard compares: NFKC, case folded, punctuation and symbols turned into
    spaces, whitespace runs folded to one space, stripped; a text of punctuation and symbols
    only keeps them (see the module docstring)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    words = " ".join(_NOT_WORD.sub(" ", folded).split())
    return words if words else " ".join(folded.split())


def example_key(example: Example) -> bytes:
    """16-byte blake2b hash of the normalised example (both fields for a pair)."""
    text = normalise(example.text)
    if example.text_pair is not None:
        text = text + PAIR_SEPARATOR + normalise(example.text_pair)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def split_keys(examples: Iterable[Example]) -> set[bytes]:
    """The keys of ``examples`` (:func:`example_key`)."""
    return {example_key(ex) for ex in examples}


@dataclass(frozen=True)
class TaskContamination:
    """What the guard found in one task's training split.

    Attributes:
        task: the task's name.
        train: training examples before the guard.
        in_dev: training examples whose text is a main dev text.
        in_test: training examples whose text is a main test text.
        found: training examples whose text is a main dev or test text (one example found in
            both counts once).
        dropped: examples removed (``found`` when dropping, else 0).
    """

    task: str
    train: int
    in_dev: int
    in_test: int
    found: int
    dropped: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ContaminationReport:
    """The guard's counts for one run: the main task's own repeats and each auxiliary task.

    ``drop`` says whether contaminated auxiliary examples were removed; ``main`` counts main
    training examples that repeat a main dev or test text (removed only when
    ``drop_main_repeats``).
    """

    main_task: str
    drop: bool
    drop_main_repeats: bool
    main: TaskContamination
    auxiliary: dict[str, TaskContamination] = field(default_factory=dict)

    @property
    def found(self) -> int:
        """Auxiliary training examples holding a main dev or test text, all tasks together."""
        return sum(t.found for t in self.auxiliary.values())

    @property
    def dropped(self) -> int:
        """Auxiliary training examples removed, all tasks together."""
        return sum(t.dropped for t in self.auxiliary.values())

    def contaminated(self) -> dict[str, int]:
        """Auxiliary task -> examples found, for the tasks where some were found."""
        return {name: t.found for name, t in self.auxiliary.items() if t.found}

    def summary(self) -> str:
        """One line: what was found and what was done about it."""
        tasks = self.contaminated()
        if tasks:
            listed = ", ".join(f"{name} {n}" for name, n in tasks.items())
            verb = "dropped" if self.drop else "KEPT (auxiliary.drop_contaminated = false)"
            aux = f"{self.found} auxiliary training examples hold a main dev/test text, {verb}: "
            aux += listed
        else:
            aux = "no auxiliary training example holds a main dev/test text"
        repeats = self.main.found
        main = f"main train repeats {repeats} of its dev/test texts"
        if repeats and self.drop_main_repeats:
            main += " (dropped)"
        return f"contamination: {aux}; {main}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "main_task": self.main_task,
            "drop": self.drop,
            "drop_main_repeats": self.drop_main_repeats,
            "found": self.found,
            "dropped": self.dropped,
            "main": self.main.to_dict(),
            "auxiliary": {name: t.to_dict() for name, t in self.auxiliary.items()},
        }

    def params(self) -> dict[str, str]:
        """Flat strings for tracking params: totals and each task's count found."""
        flat = {
            "contamination.drop": str(self.drop),
            "contamination.found": str(self.found),
            "contamination.dropped": str(self.dropped),
            "contamination.main_repeats": str(self.main.found),
        }
        for name, t in self.auxiliary.items():
            flat[f"contamination.{name}"] = str(t.found)
        return flat


def _check(task: Task, dev: set[bytes], test: set[bytes]) -> tuple[list[bool], int, int]:
    hits: list[bool] = []
    n_dev = n_test = 0
    for ex in task.train:
        key = example_key(ex)
        a, b = key in dev, key in test
        n_dev += a
        n_test += b
        hits.append(a or b)
    return hits, n_dev, n_test


def _without(task: Task, hits: list[bool], what: str) -> Task:
    n = sum(hits)
    if not n:
        return task
    train = tuple(ex for ex, hit in zip(task.train, hits, strict=True) if not hit)
    if not train:
        raise ValueError(
            f"task {task.name!r}: every one of its {len(task.train)} training examples is a "
            f"{what}; nothing is left to train on"
        )
    source = f"{task.source} ({n} training examples dropped: {what})".strip()
    return dataclasses.replace(task, train=train, source=source)


def guard(
    main: Task,
    auxiliary: Mapping[str, Task],
    *,
    drop: bool = True,
    drop_main_repeats: bool = False,
) -> tuple[Task, dict[str, Task], ContaminationReport]:
    """Check (and clean) a pool against the main task's dev and test texts.

    Args:
        main: the main task; its dev and test splits are what must not leak.
        auxiliary: name -> auxiliary task (names as the run knows them).
        drop: remove every auxiliary training example whose normalised text is a main dev or
            test text (else only count them).
        drop_main_repeats: also remove main training examples repeating a main dev or test
            text (they are always counted).

    Returns:
        The main task, the auxiliary tasks (cleaned when ``drop``; unchanged tasks are the
        same objects) and the :class:`ContaminationReport`.

    Raises:
        ValueError: dropping would leave a task without training examples.
    """
    dev, test = split_keys(main.dev), split_keys(main.test)
    hits, n_dev, n_test = _check(main, dev, test)
    main_count = TaskContamination(
        main.name,
        len(main.train),
        n_dev,
        n_test,
        sum(hits),
        sum(hits) if drop_main_repeats else 0,
    )
    if drop_main_repeats:
        main = _without(main, hits, "a repeat of a dev or test text")
    cleaned: dict[str, Task] = {}
    counts: dict[str, TaskContamination] = {}
    for name, task in auxiliary.items():
        hits, n_dev, n_test = _check(task, dev, test)
        found = sum(hits)
        counts[name] = TaskContamination(
            name, len(task.train), n_dev, n_test, found, found if drop else 0
        )
        cleaned[name] = _without(task, hits, f"{main.name} dev/test text") if drop else task
    report = ContaminationReport(main.name, drop, drop_main_repeats, main_count, counts)
    return main, cleaned, report
