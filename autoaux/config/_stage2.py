"""``[stage2]`` and ``[baselines]``: the search of mixing ratios and the reference mixtures
it is compared with (:class:`Stage2Config`, :class:`BaselinesConfig`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from autoaux.config._checks import (
    _check_bool,
    _check_choice,
    _check_float,
    _check_int,
    _check_ray_address,
    _check_str_tuple,
)
from autoaux.config._vocab import ACQUISITIONS, BASELINES, EXECUTORS, SEARCHES

__all__ = ["BaselinesConfig", "Stage2Config"]


@dataclass(frozen=True)
class Stage2Config:
    """``[stage2]``: Bayesian optimisation of mixing ratios (main task fixed at 1).

    ``trials`` trials, every trial from the same initial weights, each trained under
    ``[protocol]`` (by default: the main task until its dev score stops improving, at most
    ``steps`` main-task steps, the auxiliary steps on top; with ``budget = "total"``: ``steps``
    steps in all, evaluated every ``eval_every``), scored by the best main dev score (on at
    most ``eval_batches`` dev batches; ``None``: all). The first trial is the main task alone
    (every ratio 0), so the answer is never worse on dev than training without auxiliary
    tasks; ``main_alone = false`` leaves that trial out (for scoring one fixed mixture, as
    the benchmarks do, never for a recommendation). Ratios lie in ``[0, max_ratio]``; the first
    ``initial_points`` trials are space-filling (with ``warm_start``, the first of them is the
    ratio vector proportional to the stage-1 utilities). ``search = "random"`` replaces the GP
    by random search (a baseline). ``acquisition`` defaults to ``"EI"``, chosen on the surfaces
    of ``benchmarks/bench_bayesopt.py`` (``benchmarks/results/RESULTS.md``).

    Trials are asked ``parallel`` at a time and told back in trial-number order (see
    :mod:`autoaux.stages.executors`); ``executor = "ray"`` runs each batch's trials side by side
    as Ray tasks on the cluster at ``ray_address`` (``""``: start a local Ray instance,
    ``"auto"``: the running cluster, ``"ray://host:port"``: Ray client, ``"host:port"``: a
    cluster's head).
    ``"local"`` runs them one after another in this process.

    ``adaptive`` (default on) ends the search before ``trials`` once the GP's largest expected
    improvement over the best dev score is below ``min_gain``: a gain a trial could not tell
    apart from seed noise is not worth a trial. ``min_gain = 0`` (the default) means the seed
    noise the run measured: the standard deviation of the main task's dev score over the
    race's rounds (main alone, one seed a round); without a race (``autoaux mix``, the in-run
    bandit) only a ``min_gain`` above 0 stops the search. It runs at least ``initial_points``
    trials; ``search = "random"`` and acquisitions other than ``"EI"`` never stop early.
    """

    _section: ClassVar[str] = "stage2"

    trials: int = 12
    initial_points: int = 4
    max_ratio: float = 5.0
    steps: int = 400
    acquisition: str = "EI"
    eval_every: int = 50
    eval_batches: int | None = None
    warm_start: bool = True
    main_alone: bool = True
    search: str = "gp"
    executor: str = "local"
    parallel: int = 1
    ray_address: str = ""
    adaptive: bool = True
    min_gain: float = 0.0

    def __post_init__(self) -> None:
        _check_int(self, "trials", minimum=1)
        _check_int(self, "initial_points", minimum=1)
        _check_float(self, "max_ratio", above=0.0, maximum=1000.0)
        _check_int(self, "steps", minimum=1)
        _check_choice(self, "acquisition", ACQUISITIONS)
        _check_int(self, "eval_every", minimum=1)
        _check_int(self, "eval_batches", minimum=1, optional=True)
        _check_bool(self, "warm_start")
        _check_bool(self, "main_alone")
        _check_choice(self, "search", SEARCHES)
        _check_choice(self, "executor", EXECUTORS)
        _check_int(self, "parallel", minimum=1, maximum=1024)
        _check_ray_address(self, "ray_address")
        _check_bool(self, "adaptive")
        _check_float(self, "min_gain", minimum=0.0, maximum=1e6)


@dataclass(frozen=True)
class BaselinesConfig:
    """``[baselines]``: reference mixtures trained with the stage-2 budget (``steps``, default
    ``stage2.steps``) from the same initial weights as the trials: ``"main-only"``,
    ``"uniform"`` (every auxiliary task at ratio 1), ``"proportional"`` (p ∝ training-set
    size), ``"temperature"`` (p ∝ n^(1/temperature)), ``"stage1-only"`` (selected tasks at 1)."""

    _section: ClassVar[str] = "baselines"

    run: tuple[str, ...] = ("main-only",)
    temperature: float = 2.0
    steps: int | None = None

    def __post_init__(self) -> None:
        _check_str_tuple(self, "run", choices=BASELINES)
        _check_float(self, "temperature", above=0.0)
        _check_int(self, "steps", minimum=1, optional=True)
