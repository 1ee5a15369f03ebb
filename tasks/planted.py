"""A planted synthetic task pool whose helpful, neutral and harmful members are known.

Text is made of synthetic words (pronounceable consonant-vowel strings). Four disjoint word
families are drawn once per ``seed``:

- cue words ``P`` ("positive") and ``N`` ("negative"), 8 each;
- per neutral task ``i``, its own cue words ``A_i`` and ``B_i``, 8 each;
- filler words, 300 shared and 150 private to each auxiliary task.

**Main task** (``"main"``): a sentence of 10 to 16 words holds ``k_P`` words from ``P`` and
``k_N`` from ``N`` (``k_P != k_N``, each 0..4) and filler elsewhere, in random order;
``label = 1 iff k_P > k_N``. Labels are balanced.

**Helpful** (``"helpful-i"``): the same rule on the same cue words, with more data; half its filler
comes from its private filler set, so the vocabularies overlap but differ.

**Neutral** (``"neutral-i"``): ``label = 1 iff k_A > k_B`` on its own cue words; ``P`` and ``N``
words also occur, with counts independent of the label, so the text looks alike but the
rule has nothing to do with the main one.

**Harmful**, in turn:

- ``"harmful-shuffled-i"``: main-task text with permuted labels (no signal, pure noise to fit);
- ``"harmful-competing-i"``: the same cue words grouped across the main rule: ``P`` and ``N`` are
  each split in halves and ``label = 1 iff k(P_1 + N_1) > k(P_2 + N_2)``, so the task rewards
  features that mix positive and negative cues.

The plainly *inverted* rule (``label = 1 iff k_P < k_N``) is deliberately not offered as harmful:
with a separate head per task it needs exactly the main task's features (the head flips sign),
so its shared-encoder gradients point the same way as the main task's and it helps.

Everything is a deterministic function of ``seed``.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np

from ._types import Example, Task

_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"
_CUE = 8
_SHARED_FILLER = 300
_PRIVATE_FILLER = 150

Maker = Callable[[int, np.random.Generator], Example]


@dataclass(frozen=True)
class PlantedSuite:
    """A main task, its auxiliary pool, and which auxiliary names are helpful/neutral/harmful."""

    main: Task
    auxiliary: tuple[Task, ...]
    helpful: frozenset[str]
    neutral: frozenset[str]
    harmful: frozenset[str]

    @property
    def tasks(self) -> tuple[Task, ...]:
        """The main task followed by the auxiliary tasks."""
        return (self.main, *self.auxiliary)

    def by_name(self, name: str) -> Task:
        """The task called ``name``."""
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(f"no planted task named {name!r}; have {[t.name for t in self.tasks]}")


def _vocabulary(size: int, rng: np.random.Generator) -> list[str]:
    words: set[str] = set()
    ordered: list[str] = []
    while len(ordered) < size:
        syllables = int(rng.integers(2, 4))
        word = "".join(
            _CONSONANTS[int(rng.integers(len(_CONSONANTS)))] + _VOWELS[int(rng.integers(5))]
            for _ in range(syllables)
        )
        if word not in words:
            words.add(word)
            ordered.append(word)
    return ordered


def _counts_for(label: int, rng: np.random.Generator) -> tuple[int, int]:
    """(k_high-side, k_low-side) for a comparison rule: the winning side has 1..4 words."""
    high = int(rng.integers(1, 5))
    low = int(rng.integers(0, high))
    return (high, low) if label == 1 else (low, high)


def _sentence(
    cues: Sequence[tuple[Sequence[str], int]],
    filler: Sequence[str],
    rng: np.random.Generator,
    private_filler: Sequence[str] | None = None,
) -> str:
    words: list[str] = []
    for family, count in cues:
        words.extend(family[int(j)] for j in rng.integers(len(family), size=count))
    length = max(int(rng.integers(10, 17)), len(words) + 2)
    for _ in range(length - len(words)):
        pool = filler
        if private_filler is not None and rng.random() < 0.5:
            pool = private_filler
        words.append(pool[int(rng.integers(len(pool)))])
    order = rng.permutation(len(words))
    return " ".join(words[int(j)] for j in order)


def _examples(n: int, make: Maker, rng: np.random.Generator) -> tuple[Example, ...]:
    labels = np.arange(n) % 2
    rng.shuffle(labels)
    return tuple(make(int(y), rng) for y in labels)


def _task(
    name: str,
    train: tuple[Example, ...],
    dev: tuple[Example, ...],
    test: tuple[Example, ...],
    source: str,
) -> Task:
    return Task(
        name=name,
        kind="classification",
        train=train,
        dev=dev,
        test=test,
        labels=("0", "1"),
        metric="accuracy",
        source=source,
    )


@dataclass(frozen=True)
class _Words:
    """The word families of one suite (see the module docstring) and the rules over them."""

    pos: list[str]
    neg: list[str]
    neutral_cues: list[tuple[list[str], list[str]]]
    filler: list[str]
    private: list[list[str]]

    def main_rule(self, own: Sequence[str] | None) -> Maker:
        """``label = 1 iff k_P > k_N``; half the filler from ``own`` when given."""
        pos, neg, filler = self.pos, self.neg, self.filler

        def make(y: int, rng: np.random.Generator) -> Example:
            kp, kn = _counts_for(y, rng)
            return Example(_sentence([(pos, kp), (neg, kn)], filler, rng, own), y)

        return make

    def neutral_rule(self, a: Sequence[str], b: Sequence[str], own: Sequence[str]) -> Maker:
        """``label = 1 iff k_A > k_B``, with ``P`` / ``N`` words in label-free counts."""
        pos, neg, filler = self.pos, self.neg, self.filler

        def make(y: int, rng: np.random.Generator) -> Example:
            ka, kb = _counts_for(y, rng)
            kp, kn = int(rng.integers(0, 4)), int(rng.integers(0, 4))
            cues = [(a, ka), (b, kb), (pos, kp), (neg, kn)]
            return Example(_sentence(cues, filler, rng, own), y)

        return make

    def competing_rule(self, own: Sequence[str]) -> Maker:
        """``label = 1 iff k(P_1 + N_1) > k(P_2 + N_2)`` (the cue words split in halves)."""
        half = _CUE // 2
        group_1 = list(self.pos[:half]) + list(self.neg[:half])
        group_2 = list(self.pos[half:]) + list(self.neg[half:])
        filler = self.filler

        def make(y: int, rng: np.random.Generator) -> Example:
            k1, k2 = _counts_for(y, rng)
            return Example(_sentence([(group_1, k1), (group_2, k2)], filler, rng, own), y)

        return make


_Splits = tuple[tuple[Example, ...], tuple[Example, ...], tuple[Example, ...]]


def _check_sizes(
    n_helpful: int, n_neutral: int, n_harmful: int, main_train: int, aux_train: int, dev: int,
    test: int,
) -> None:  # fmt: skip
    for label, value in (
        ("n_helpful", n_helpful),
        ("n_neutral", n_neutral),
        ("n_harmful", n_harmful),
    ):
        if value < 0:
            raise ValueError(f"{label} must be >= 0, got {value}")
    for label, value in (
        ("main_train", main_train),
        ("aux_train", aux_train),
        ("dev", dev),
        ("test", test),
    ):
        if value < 2:
            raise ValueError(f"{label} must be >= 2, got {value}")


def _draw_words(root: np.random.SeedSequence, n_neutral: int, n_aux: int) -> _Words:
    """Draw every word family from the first child of ``root``, one family after another."""
    vocab_rng = np.random.default_rng(root.spawn(1)[0])
    vocab = _vocabulary(
        2 * _CUE + 2 * _CUE * n_neutral + _SHARED_FILLER + _PRIVATE_FILLER * n_aux, vocab_rng
    )
    pos, neg = vocab[:_CUE], vocab[_CUE : 2 * _CUE]
    cursor = 2 * _CUE
    neutral_cues: list[tuple[list[str], list[str]]] = []
    for _ in range(n_neutral):
        neutral_cues.append(
            (vocab[cursor : cursor + _CUE], vocab[cursor + _CUE : cursor + 2 * _CUE])
        )
        cursor += 2 * _CUE
    filler = vocab[cursor : cursor + _SHARED_FILLER]
    cursor += _SHARED_FILLER
    private: list[list[str]] = []
    for _ in range(n_aux):
        private.append(vocab[cursor : cursor + _PRIVATE_FILLER])
        cursor += _PRIVATE_FILLER
    return _Words(pos, neg, neutral_cues, filler, private)


def _harmful_task(
    i: int,
    words: _Words,
    own: Sequence[str],
    splits: Callable[[Maker, int], _Splits],
    aux_train: int,
    seed: int,
) -> Task:
    """Harmful task ``i``: shuffled when ``i`` is even, competing when odd."""
    if i % 2 == 0:
        train, dev_split, test_split = splits(words.main_rule(own), aux_train)
        perm = np.random.default_rng(np.random.SeedSequence([seed, 7, i])).permutation(len(train))
        train = tuple(
            Example(ex.text, train[int(j)].label) for ex, j in zip(train, perm, strict=True)
        )
        return _task(
            f"harmful-shuffled-{i // 2}",
            train,
            dev_split,
            test_split,
            source=f"planted (seed {seed}): main text, labels permuted",
        )
    return _task(
        f"harmful-competing-{i // 2}",
        *splits(words.competing_rule(own), aux_train),
        source=f"planted (seed {seed}): label 1 iff count(P1+N1) > count(P2+N2)",
    )


def make_planted_suite(
    *,
    n_helpful: int = 1,
    n_neutral: int = 1,
    n_harmful: int = 1,
    main_train: int = 100,
    aux_train: int = 2000,
    dev: int = 200,
    test: int = 400,
    seed: int = 0,
) -> PlantedSuite:
    """Build the planted pool (see the module docstring for the rules).

    The main task has ``main_train`` / ``dev`` / ``test`` examples; each auxiliary task has
    ``aux_train`` training examples and ``dev`` / ``test`` examples of its own. Harmful tasks
    alternate shuffled and competing, starting with shuffled.
    """
    _check_sizes(n_helpful, n_neutral, n_harmful, main_train, aux_train, dev, test)
    root = np.random.SeedSequence(seed)
    n_aux = n_helpful + n_neutral + n_harmful
    words = _draw_words(root, n_neutral, n_aux)
    streams = iter(root.spawn(1 + n_aux))

    def splits(make: Maker, n_train: int) -> _Splits:
        rng = np.random.default_rng(next(streams))
        return (
            _examples(n_train, make, rng),
            _examples(dev, make, rng),
            _examples(test, make, rng),
        )

    main = _task(
        "main",
        *splits(words.main_rule(None), main_train),
        source=f"planted (seed {seed}): label 1 iff count(P) > count(N)",
    )
    aux: list[Task] = []
    helpful: set[str] = set()
    neutral: set[str] = set()
    harmful: set[str] = set()
    own_filler = iter(words.private)
    for i in range(n_helpful):
        name = f"helpful-{i}"
        aux.append(
            _task(
                name,
                *splits(words.main_rule(next(own_filler)), aux_train),
                source=f"planted (seed {seed}): main rule, own filler",
            )
        )
        helpful.add(name)
    for i, (a, b) in enumerate(words.neutral_cues):
        name = f"neutral-{i}"
        aux.append(
            _task(
                name,
                *splits(words.neutral_rule(a, b, next(own_filler)), aux_train),
                source=f"planted (seed {seed}): label 1 iff count(A_{i}) > count(B_{i})",
            )
        )
        neutral.add(name)
    for i in range(n_harmful):
        aux.append(_harmful_task(i, words, next(own_filler), splits, aux_train, seed))
        harmful.add(aux[-1].name)
    return PlantedSuite(
        main=main,
        auxiliary=tuple(aux),
        helpful=frozenset(helpful),
        neutral=frozenset(neutral),
        harmful=frozenset(harmful),
    )


def planted_words(seed: int = 0, *, n_neutral: int = 1) -> dict[str, tuple[str, ...]]:
    """The cue words of the suite built with ``seed`` (keys ``"P"``, ``"N"``, ``"A_i"``, ``"B_i"``).

    Useful to check a planted rule in tests. Words are drawn one after another, so the cue words
    are the same whatever the pool's size; pass the suite's ``n_neutral`` to get all neutral cues.
    """
    vocab_rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    vocab = _vocabulary(2 * _CUE + 2 * _CUE * n_neutral, vocab_rng)
    out: dict[str, tuple[str, ...]] = {"P": tuple(vocab[:_CUE]), "N": tuple(vocab[_CUE : 2 * _CUE])}
    for i in range(n_neutral):
        start = 2 * _CUE + 2 * _CUE * i
        out[f"A_{i}"] = tuple(vocab[start : start + _CUE])
        out[f"B_{i}"] = tuple(vocab[start + _CUE : start + 2 * _CUE])
    return out


def write_task_csv(
    task_or_examples: Task | Sequence[Example],
    path: str | PathLike[str],
    *,
    split: str = "train",
) -> Path:
    """Write examples to a CSV file with columns ``text`` [, ``text_pair``], ``label``.

    Given a :class:`Task`, ``split`` picks "train", "dev" or "test", or "all" to write every
    split with an extra ``split`` column; classification labels are written as their names.
    Given a sequence of examples, labels are written as they are. Returns the path.
    """
    path = Path(path)
    rows: list[tuple[str, Example]] = []
    names: tuple[str, ...] = ()
    if isinstance(task_or_examples, Task):
        task = task_or_examples
        names = task.labels
        wanted = ("train", "dev", "test") if split == "all" else (split,)
        for s in wanted:
            rows.extend((s, ex) for ex in task.split(s))
    else:
        rows = [(split, ex) for ex in task_or_examples]
    pair = any(ex.text_pair is not None for _, ex in rows)
    header = ["text", *(["text_pair"] if pair else []), "label"]
    if split == "all":
        header.append("split")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for s, ex in rows:
            label = names[int(ex.label)] if names else ex.label
            row: list[object] = [ex.text, *([ex.text_pair or ""] if pair else []), label]
            if split == "all":
                row.append(s)
            writer.writerow(row)
    return path


__all__ = ["PlantedSuite", "make_planted_suite", "planted_words", "write_task_csv"]
