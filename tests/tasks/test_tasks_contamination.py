"""The contamination guard: normalisation, what it drops, what it counts."""

from __future__ import annotations

import pytest

from tasks import Example, Task, example_key, guard, normalise


def _task(name: str, train, dev=(("held dev", 0),), test=(("held test", 1),), pair=False) -> Task:
    def make(rows):
        if pair:
            return tuple(Example(a, y, b) for (a, b), y in rows)
        return tuple(Example(text, y) for text, y in rows)

    return Task(
        name,
        "classification",
        make(train),
        make(dev),
        make(test),
        ("neg", "pos"),
        text_fields=("a", "b") if pair else ("text",),
    )


MAIN = _task(
    "main",
    [("a main training sentence", 0), ("The film is great!", 1), ("another one", 0)],
    dev=[("The film is great.", 1), ("It's a dull, slow movie", 0)],
    test=[("A charming journey.", 1), ("Ｗｉｄｅ ｔｅｘｔ here", 0)],
)


def test_normalise_folds_case_punctuation_width_and_spaces() -> None:
    assert normalise("  It's a  charming\tjourney . ") == "it s a charming journey"
    assert normalise("it 's a charming journey") == "it s a charming journey"
    assert normalise("ＷＩＤＥ text") == "wide text"
    assert normalise("STRASSE") == normalise("Straße")
    assert normalise("snake_case--word") == "snake case word"
    # a text without a letter or digit keeps its punctuation: ":)" and ":(" differ
    assert normalise(":)") != normalise(":(") and normalise(" :) ") == ":)"


def test_example_key_compares_both_fields_of_a_pair() -> None:
    one = Example("A man sleeps.", 0, "Nobody is awake.")
    assert example_key(one) == example_key(Example("a man sleeps", 1, "NOBODY is awake!"))
    assert example_key(one) != example_key(Example("A man sleeps.", 0, "Somebody is awake."))
    assert example_key(one) != example_key(Example("A man sleeps.", 0))
    assert len(example_key(one)) == 16


def test_guard_drops_exactly_the_auxiliary_rows_holding_main_eval_text() -> None:
    aux = _task(
        "aux",
        [
            ("the film is GREAT", 1),  # main dev, re-cased, punctuation gone
            ("a charming journey.", 1),  # main test, re-cased
            ("It's a dull, slow movie", 0),  # main dev, exact
            ("wide text here", 0),  # main test, full-width there
            ("the film is great but long", 1),  # shares words only: kept
            ("a main training sentence", 0),  # a main *training* text: kept
            ("nothing in common", 0),
        ],
    )
    other = _task("other", [("clean row", 0), ("another clean row", 1)])
    main, cleaned, report = guard(MAIN, {"aux": aux, "other": other})
    assert [ex.text for ex in cleaned["aux"].train] == [
        "the film is great but long",
        "a main training sentence",
        "nothing in common",
    ]
    assert cleaned["aux"].dev == aux.dev and cleaned["aux"].test == aux.test
    assert cleaned["other"] is other and main is MAIN
    counts = report.auxiliary["aux"]
    assert (counts.train, counts.in_dev, counts.in_test, counts.found, counts.dropped) == (
        7,
        2,
        2,
        4,
        4,
    )
    assert report.auxiliary["other"].found == 0
    assert report.found == report.dropped == 4 and report.contaminated() == {"aux": 4}
    assert "4 training examples dropped" in cleaned["aux"].source
    assert report.summary().startswith("contamination: 4 auxiliary training examples")
    assert report.to_dict()["auxiliary"]["aux"]["dropped"] == 4
    assert report.params()["contamination.aux"] == "4"


def test_guard_compares_pairs_on_both_fields() -> None:
    main = _task(
        "nli",
        [(("p", "h"), 0)],
        dev=[(("A man sleeps.", "Nobody is awake."), 0)],
        test=[(("A dog runs.", "An animal moves."), 1)],
        pair=True,
    )
    aux = _task(
        "nli-copy",
        [
            (("a man sleeps", "nobody is awake"), 0),  # dev pair: dropped
            (("A man sleeps.", "Somebody is awake."), 1),  # first field only: kept
            (("A DOG RUNS", "an animal moves!"), 1),  # test pair: dropped
            (("An animal moves.", "A dog runs."), 0),  # fields swapped: kept
        ],
        dev=[(("x", "y"), 0)],
        test=[(("z", "w"), 1)],
        pair=True,
    )
    _, cleaned, report = guard(main, {"nli-copy": aux})
    assert [(ex.text, ex.text_pair) for ex in cleaned["nli-copy"].train] == [
        ("A man sleeps.", "Somebody is awake."),
        ("An animal moves.", "A dog runs."),
    ]
    assert report.auxiliary["nli-copy"].in_dev == 1 and report.auxiliary["nli-copy"].in_test == 1


def test_switch_off_keeps_everything_and_still_counts() -> None:
    aux = _task("aux", [("the film is great", 1), ("a charming journey", 1), ("kept", 0)])
    _, cleaned, report = guard(MAIN, {"aux": aux}, drop=False)
    assert cleaned["aux"] is aux
    assert report.found == 2 and report.dropped == 0 and not report.drop
    assert report.auxiliary["aux"].found == 2
    assert "KEPT" in report.summary() and "aux 2" in report.summary()


def test_main_repeats_are_counted_and_dropped_only_when_asked() -> None:
    main = _task(
        "main",
        [("Held dev!", 0), ("held test", 1), ("fresh", 0), ("fresh too", 1)],
    )
    same, _, report = guard(main, {})
    assert same is main and report.main.found == 2 and report.main.dropped == 0
    assert "main train repeats 2" in report.summary()
    cleaned, _, report = guard(main, {}, drop_main_repeats=True)
    assert [ex.text for ex in cleaned.train] == ["fresh", "fresh too"]
    assert report.main.dropped == 2 and cleaned.dev == main.dev


def test_a_task_left_empty_is_an_error() -> None:
    aux = _task("aux", [("The film is great.", 1), ("a charming journey", 0)])
    with pytest.raises(ValueError, match="every one of its 2 training examples"):
        guard(MAIN, {"aux": aux})


def test_guard_is_deterministic() -> None:
    aux = _task("aux", [("the film is great", 1), ("b", 0), ("c", 1)])
    assert guard(MAIN, {"aux": aux})[2] == guard(MAIN, {"aux": aux})[2]
