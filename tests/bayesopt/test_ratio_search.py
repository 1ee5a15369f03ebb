"""Ask/tell behaviour of MixingRatioOptimizer and RandomRatioSearch."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from bayesopt import (
    ACQUISITIONS,
    MixingRatioOptimizer,
    MixingRatioSpace,
    RandomRatioSearch,
    Trial,
    TrialState,
)

NAMES = ("a", "b", "c")
OPTIMUM = {"a": 1.5, "b": 0.8, "c": 3.2}


def bowl(ratios):
    """Smooth surface with an interior maximum 0.9 at OPTIMUM."""
    return 0.9 - 0.01 * sum((ratios[k] - OPTIMUM[k]) ** 2 for k in OPTIMUM)


def make_gp(space=None, **options):
    options.setdefault("n_initial_points", 3)
    return MixingRatioOptimizer(space or MixingRatioSpace(NAMES), **options)


def make_random(space=None, **options):
    return RandomRatioSearch(space or MixingRatioSpace(NAMES), **options)


SEARCHES = [pytest.param(make_gp, id="gp"), pytest.param(make_random, id="random")]


def told_values(search):
    """Every value the GP optimiser sent to skopt, read from its replay log."""
    return [y for e in search.state_dict()["events"] if e["op"] == "tell" for y in e["y"]]


# -- determinism ---------------------------------------------------------------------------


@pytest.mark.parametrize("make", SEARCHES)
def test_same_seed_same_asks(make):
    runs = []
    for _ in range(2):
        search = make(seed=7)
        search.run(bowl, 6)
        runs.append([t.ratios for t in search.trials] + search.ask(2))
    assert runs[0] == runs[1]
    other = make(seed=8)
    other.run(bowl, 6)
    assert [t.ratios for t in other.trials] != runs[0][:6]


# -- bounds, integers, batches ---------------------------------------------------------------


@pytest.mark.parametrize("make", SEARCHES)
@pytest.mark.parametrize(
    "space",
    [
        MixingRatioSpace(NAMES, high=3, integer=True),
        MixingRatioSpace(NAMES, low=0.1, high=10.0, log=True),
        MixingRatioSpace(NAMES, low=1.0, high=2.0),
    ],
    ids=["integer", "log", "narrow"],
)
def test_asks_respect_bounds_and_integer_mode(make, space):
    search = make(space, seed=0)
    search.run(bowl, 6)
    asked = [t.ratios for t in search.trials] + search.ask(4)
    for ratios in asked:
        assert space.validate(ratios) == ratios
        assert all(space.low <= v <= space.high for v in ratios.values())
        if space.integer:
            assert all(v.is_integer() for v in ratios.values())


@pytest.mark.parametrize("make", SEARCHES)
@pytest.mark.parametrize("n_told", [0, 5])
def test_ask_n_returns_distinct_points(make, n_told):
    search = make(seed=3)
    search.run(bowl, n_told)
    batch = search.ask(4)
    assert len(batch) == 4
    assert len({tuple(r.values()) for r in batch}) == 4


def test_ask_n_distinct_in_a_tiny_integer_space():
    space = MixingRatioSpace(("a", "b"), high=1, integer=True)  # 4 points in all
    search = make_gp(space, seed=0, n_initial_points=2)
    search.run(lambda r: r["a"] - r["b"], 2)
    batch = search.ask(4)
    assert sorted(tuple(r.values()) for r in batch) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    with pytest.raises(ValueError, match="only 4"):
        search.ask(5)


@pytest.mark.parametrize("make", SEARCHES)
@pytest.mark.parametrize("n", [0, -1, 1.5, True])
def test_ask_rejects_bad_counts(make, n):
    with pytest.raises(ValueError, match="positive int"):
        make(seed=0).ask(n)


def test_told_points_are_not_asked_again_in_a_small_integer_space():
    space = MixingRatioSpace(("a", "b"), high=2, integer=True)  # 9 points
    search = make_gp(space, seed=1)
    search.run(lambda r: -((r["a"] - 1) ** 2) - (r["b"] - 2) ** 2, 9)
    assert len({tuple(t.ratios.values()) for t in search.trials}) == 9
    assert search.best.ratios == {"a": 1.0, "b": 2.0}


# -- state round trip ----------------------------------------------------------------------


def continue_search(search, n):
    """Ask/tell n more points; returns the asked ratios."""
    asked = []
    for _ in range(n):
        ratios = search.ask()
        asked.append(ratios)
        search.tell(ratios, bowl(ratios))
    return asked


@pytest.mark.parametrize("make", SEARCHES)
@pytest.mark.parametrize("k", [2, 6, 12])  # 12: past the cold GP fits, into warm-started ones
def test_state_round_trip_through_json_continues_identically(make, k):
    initial = [{"a": 1.0, "b": 1.0, "c": 1.0}]
    search = make(seed=11, initial_ratios=initial)
    search.run(bowl, k)
    # Leave some randomness consumed but not told: a pending batch and a failure.
    pending = search.ask(2)
    search.tell(pending[0], math.nan)
    text = json.dumps(search.state_dict())

    restored = make(seed=999)  # settings and seed come from the state
    restored.load_state_dict(json.loads(text))
    assert restored.trials == search.trials
    assert restored.seed == search.seed == 11
    assert restored.initial_ratios == search.initial_ratios
    expected = continue_search(search, 3)
    assert continue_search(restored, 3) == expected
    assert restored.trials == search.trials


def test_state_round_trip_with_unseeded_optimizer_and_pending_initial_ratios():
    initial = [{"a": 0.0, "b": 1.0, "c": 2.0}, {"a": 2.0, "b": 1.0, "c": 0.0}]
    search = make_gp(initial_ratios=initial)  # seed=None: a concrete seed is drawn and saved
    first = search.ask()
    assert first == initial[0]
    restored = make_gp()
    restored.load_state_dict(json.loads(json.dumps(search.state_dict())))
    assert restored.ask() == search.ask() == initial[1]
    assert restored.ask(3) == search.ask(3)


def test_load_state_rejects_another_space_or_kind():
    search = make_gp(seed=0)
    search.run(bowl, 2)
    with pytest.raises(ValueError, match="another space"):
        make_gp(MixingRatioSpace(NAMES, high=4.0)).load_state_dict(search.state_dict())
    with pytest.raises(ValueError, match="saved by a MixingRatioOptimizer"):
        make_random().load_state_dict(search.state_dict())
    broken = search.state_dict()
    del broken["events"]
    target = make_gp(seed=5)
    target.run(bowl, 1)
    before = target.state_dict()
    with pytest.raises(ValueError, match="events"):
        target.load_state_dict(broken)
    assert target.state_dict() == before  # a bad state leaves the optimiser untouched


def test_replay_that_does_not_reproduce_skopt_warns():
    # random initial points are skopt's draws (a design is drawn once, up front), so dropping
    # the logged asks leaves skopt's random state behind where it was
    search = make_gp(seed=0, initial_design="random")
    search.run(bowl, 2)
    state = search.state_dict()
    state["events"] = [e for e in state["events"] if e["op"] == "tell"]  # drop the asks
    restored = make_gp()
    with pytest.warns(RuntimeWarning, match="did not reproduce"):
        restored.load_state_dict(state)
    assert restored.trials == search.trials


# -- failed trials -------------------------------------------------------------------------


def flaky(ratios):
    """bowl, but NaN when a > 4 and an exception when b > 4."""
    if ratios["b"] > 4.0:
        raise RuntimeError("diverged")
    if ratios["a"] > 4.0:
        return math.nan
    return bowl(ratios)


def test_failed_trials_are_recorded_and_the_gp_keeps_going():
    search = make_gp(seed=2)
    best = search.run(flaky, 14)
    states = [t.state for t in search.trials]
    assert len(states) == 14
    assert TrialState.FAILED in states and TrialState.COMPLETE in states
    for trial in search.trials:
        if trial.state is TrialState.FAILED:
            assert trial.score is None
            assert trial.ratios["a"] > 4.0 or trial.ratios["b"] > 4.0
        else:
            assert trial.score == pytest.approx(bowl(trial.ratios))
    assert best is search.best and best.state is TrialState.COMPLETE
    values = told_values(search)
    assert len(values) == 14 and all(math.isfinite(v) for v in values)


def test_failed_trial_tells_the_worst_completed_score():
    search = make_gp(seed=0)
    for score, ratios in zip([0.5, 0.7, 0.6], search.ask(3), strict=True):
        search.tell(ratios, score)
    failed = search.ask()
    trial = search.tell(failed, math.inf)
    assert trial.state is TrialState.FAILED and trial.score is None
    last = search.state_dict()["events"][-1]
    assert last == {"op": "tell", "x": [list(failed.values())], "y": [-0.5]}


def test_failures_before_any_completed_trial_wait_for_a_score():
    search = make_gp(seed=0)
    a, b, c = search.ask(3)
    search.tell(a, None, failed=True)
    search.tell(b, 0.3, failed=True)  # failed wins over a score
    assert told_values(search) == []
    assert search.best is None
    search.tell(c, 0.8)
    assert told_values(search) == [-0.8, -0.8, -0.8]
    assert [t.state for t in search.trials] == ["FAILED", "FAILED", "COMPLETE"]


@pytest.mark.parametrize("make", SEARCHES)
def test_all_failed_run_returns_none(make):
    def broken(ratios):
        raise ValueError("no")

    search = make(seed=0)
    assert search.run(broken, 4) is None
    assert [t.state for t in search.trials] == [TrialState.FAILED] * 4


@pytest.mark.parametrize(
    ("ratios", "score", "kwargs", "error", "match"),
    [
        ({"a": 1, "b": 1}, 0.5, {}, ValueError, "missing ratios"),
        ({"a": 1, "b": 1, "c": 9}, 0.5, {}, ValueError, "outside"),
        ({"a": 1, "b": 1, "c": 1}, None, {}, ValueError, "failed=True"),
        ({"a": 1, "b": 1, "c": 1}, "0.5", {}, TypeError, "real number"),
        ({"a": 1, "b": 1, "c": 1}, 0.5, {"seconds": -1.0}, ValueError, "seconds"),
    ],
)
def test_tell_validates_its_arguments(ratios, score, kwargs, error, match):
    search = make_gp(seed=0)
    with pytest.raises(error, match=match):
        search.tell(ratios, score, **kwargs)
    assert search.trials == ()


# -- warm start ----------------------------------------------------------------------------


@pytest.mark.parametrize("make", SEARCHES)
def test_initial_ratios_are_asked_first_in_order(make):
    initial = [{"a": 0.0, "b": 5.0, "c": 1.0}, {"a": 1.0, "b": 2.0, "c": 3.0}]
    search = make(seed=0, initial_ratios=initial)
    batch = search.ask(3)
    assert batch[:2] == initial
    assert batch[2] not in initial
    again = make(seed=0, initial_ratios=initial)
    assert [again.ask(), again.ask()] == initial


def test_initial_ratios_are_validated():
    with pytest.raises(ValueError, match=r"initial_ratios\[1\]: ratio for task 'a'"):
        make_gp(initial_ratios=[{"a": 1, "b": 1, "c": 1}, {"a": 7, "b": 1, "c": 1}])
    with pytest.raises(ValueError, match="repeats"):
        make_gp(initial_ratios=[{"a": 1, "b": 1, "c": 1}] * 2)


def test_telling_before_the_first_ask_counts_toward_initial_points():
    fresh = make_gp(seed=4, n_initial_points=3, initial_design="random")
    assert fresh.ask() != fresh.ask()  # random phase: every ask draws a new point
    designed = make_gp(seed=4, n_initial_points=3)
    assert designed.ask() == designed.ask()  # design phase: the next design point, until a tell

    search = make_gp(seed=4, n_initial_points=3)
    rng = np.random.default_rng(0)
    for _ in range(3):
        ratios = search.space.sample(rng)
        search.tell(ratios, bowl(ratios))
    assert [t.number for t in search.trials] == [0, 1, 2]
    proposal = search.ask()
    assert search.ask() == proposal  # GP phase: the fitted model's proposal, until a tell
    search.tell(proposal, bowl(proposal))
    assert search.ask() != proposal


# -- settings, run, trials -----------------------------------------------------------------


@pytest.mark.parametrize("acquisition", ACQUISITIONS)
def test_every_acquisition_runs(acquisition):
    search = make_gp(seed=0, n_initial_points=2, acquisition=acquisition)
    best = search.run(bowl, 4)
    assert search.acquisition == acquisition
    assert best is not None and len(search.trials) == 4


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"acquisition": "MES"}, "acquisition must be one of"),
        ({"initial_design": "grid"}, "initial_design must be one of"),
        ({"n_initial_points": 0}, "n_initial_points"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_bad_optimizer_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_gp(**kwargs)


@pytest.mark.parametrize("make", SEARCHES)
def test_run_calls_callbacks_and_stops_when_one_returns_true(make):
    seen: list[Trial] = []
    search = make(seed=0)
    search.run(bowl, 10, callbacks=[seen.append, lambda trial: trial.number == 3])
    assert [t.number for t in seen] == [0, 1, 2, 3]
    assert tuple(seen) == search.trials
    assert all(t.seconds >= 0 for t in seen)


@pytest.mark.parametrize("make", SEARCHES)
def test_trials_are_frozen_records_and_best_is_the_best_completed(make):
    search = make(seed=0)
    assert search.best is None
    a, b, c = search.ask(3)
    search.tell(a, 0.6)
    search.tell(b, 0.9, failed=True)
    search.tell(c, np.float64(0.7), seconds=2.5)
    best = search.best
    assert best is not None and best.number == 2 and best.score == 0.7
    trial = search.trials[2]
    assert trial == Trial(number=2, ratios=c, score=0.7, state=TrialState.COMPLETE, seconds=2.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        trial.score = 1.0  # type: ignore[misc,unused-ignore]
    assert Trial.from_dict(json.loads(json.dumps(trial.to_dict()))) == trial
    assert trial.to_dict()["state"] == "COMPLETE"


def test_trial_validation():
    with pytest.raises(ValueError, match="finite score"):
        Trial(number=0, ratios={}, score=math.nan, state=TrialState.COMPLETE)
    with pytest.raises(ValueError, match="score None"):
        Trial(number=0, ratios={}, score=0.5, state=TrialState.FAILED)
    with pytest.raises(TypeError, match="TrialState"):
        Trial(number=0, ratios={}, score=0.5, state="COMPLETE")  # type: ignore[arg-type]
