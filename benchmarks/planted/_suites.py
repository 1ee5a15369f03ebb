"""The planted benchmark's budgets, stage-1 variants and suites: what one run is made of."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from autoaux import config_from_dict
from autoaux.config import STAGE1_PRESETS, Stage1Config
from benchmarks._common import Workspace
from tasks import make_planted_suite


@dataclass(frozen=True)
class Budget:
    """Sizes of one benchmark budget (see ``BUDGETS``)."""

    name: str
    seeds: tuple[int, ...]
    composition: tuple[int, int, int]  # helpful, neutral, harmful (10 candidates by default)
    main_train: int
    aux_train: int
    dev: int
    test: int
    max_length: int
    pulls: int
    steps_per_pull: int
    trials: int
    initial_points: int
    steps: int
    eval_every: int
    scale: tuple[tuple[int, int, int, int, int], ...]  # (n, seeds, aux_train, pulls, trials)
    sweep_seeds: tuple[int, ...]
    sweep_variants: tuple[str, ...]
    gating_seeds: tuple[int, ...]
    gating_aux_train: int
    gating_steps: int


# Stage-1 variants: explicit overrides of the "autoaux" preset (whatever its current values), so
# the sweep stays meaningful when the preset changes. A variant that resolves to the same method
# settings as the default is not run again: it is reported as the default's alias.
VARIANTS: dict[str, dict[str, Any]] = {
    "autoaux preset (default)": {},
    "autosem preset": {"preset": "autosem"},
    "reward=gain": {"reward": "gain"},
    "reward=scaled": {"reward": "scaled"},
    "reward=cosine": {"reward": "cosine"},
    "reward=mixed": {"reward": "mixed"},
    "utility=posterior": {"utility": "posterior"},
    "utility=mean": {"utility": "mean"},
    "gating=off": {"gating": "off"},
    "gating=unweighted": {"gating": "unweighted"},
    "gating=weighted": {"gating": "weighted"},
    "gating=smoothed": {"gating": "smoothed"},
    "selection=default": {"selection": "default"},
    "selection=control": {"selection": "control"},
}
DEFAULT_VARIANT = "autoaux preset (default)"
ALL_VARIANTS = tuple(VARIANTS)


def resolved(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The stage-1 method settings a variant runs with: this process's ``STAGE1_OVERRIDES``
    (the in-run bandit) with the variant's overrides on top, as :func:`make_config` builds them
    (``selection = "auto"`` is ``"control"`` here: the planted pool always has a control arm)."""
    config = Stage1Config(**{**STAGE1_OVERRIDES, **overrides})
    out = {key: getattr(config, key) for key in STAGE1_PRESETS["autoaux"]}
    if out["selection"] == "auto":
        out["selection"] = "control"
    return out


BUDGETS: dict[str, Budget] = {
    "smoke": Budget(
        name="smoke",
        seeds=(0,),
        composition=(1, 1, 1),
        main_train=40,
        aux_train=120,
        dev=64,
        test=64,
        max_length=24,
        pulls=8,
        steps_per_pull=2,
        trials=2,
        initial_points=1,
        steps=16,
        eval_every=8,
        scale=((5, 1, 60, 10, 1),),
        sweep_seeds=(0,),
        sweep_variants=(DEFAULT_VARIANT, "autosem preset"),
        gating_seeds=(0,),
        gating_aux_train=120,
        gating_steps=12,
    ),
    "quick": Budget(
        name="quick",
        seeds=(0, 1, 2),
        composition=(3, 3, 4),
        main_train=100,
        aux_train=1000,
        dev=200,
        test=400,
        max_length=32,
        pulls=200,
        steps_per_pull=5,
        trials=4,
        initial_points=2,
        steps=300,
        eval_every=50,
        scale=((50, 1, 300, 250, 3),),
        sweep_seeds=(0, 1, 2),
        sweep_variants=ALL_VARIANTS,
        gating_seeds=(0, 1),
        gating_aux_train=4000,
        gating_steps=300,
    ),
    "full": Budget(
        name="full",
        seeds=(0, 1, 2, 3, 4),
        composition=(3, 3, 4),
        main_train=100,
        aux_train=1000,
        dev=200,
        test=400,
        max_length=32,
        pulls=200,
        steps_per_pull=5,
        trials=6,
        initial_points=3,
        steps=300,
        eval_every=50,
        scale=((50, 2, 300, 300, 4), (100, 1, 300, 500, 4)),
        sweep_seeds=(0, 1, 2, 3, 4),
        sweep_variants=ALL_VARIANTS,
        gating_seeds=(0, 1, 2),
        gating_aux_train=4000,
        gating_steps=300,
    ),
}

BASELINES = ("main-only", "uniform", "stage1-only")

# Stage-1 overrides for every run of this process (``--stage1 key=value,...``): measures a
# candidate default against the recorded results of the current one. The planted suite measures
# the in-run bandits (``preset = "bandit"``, the default before the race, and AutoSem's); the
# race of paired episodes is measured on real text by ``benchmarks/multidomain.py``.
STAGE1_OVERRIDES: dict[str, Any] = {"preset": "bandit"}


def parse_overrides(text: str) -> dict[str, Any]:
    """``"confidence=0.99,gating=smoothed"`` -> ``{"confidence": 0.99, "gating": "smoothed"}``."""
    out: dict[str, Any] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        key, _, raw = item.partition("=")
        value: Any = raw.strip()
        for convert in (int, float):
            try:
                value = convert(value)
                break
            except ValueError:
                pass
        if value in ("true", "false"):
            value = value == "true"
        out[key.strip()] = value
    return out


METHODS = ("main-only", "uniform-all", "oracle", "stage1-only", "autoaux")
CATEGORIES = ("helpful", "neutral", "harmful-shuffled", "harmful-competing", "control")


def composition(n: int) -> tuple[int, int, int]:
    """Helpful / neutral / harmful counts for ``n`` candidates (30% / 30% / 40%)."""
    helpful = max(1, round(0.3 * n))
    neutral = max(0, round(0.3 * n))
    return helpful, neutral, max(0, n - helpful - neutral)


# ------------------------------------------------------------------------------------ helpers


def make_suite(seed: int, comp: tuple[int, int, int], b: Budget, *, aux_train: int | None = None):
    helpful, neutral, harmful = comp
    return make_planted_suite(
        n_helpful=helpful,
        n_neutral=neutral,
        n_harmful=harmful,
        main_train=b.main_train,
        aux_train=aux_train or b.aux_train,
        dev=b.dev,
        test=b.test,
        seed=seed,
    )


def category(suite: Any, name: str) -> str:
    if name.startswith("shuffled:"):
        return "control"
    if name in suite.helpful:
        return "helpful"
    if name in suite.neutral:
        return "neutral"
    if "shuffled" in name:
        return "harmful-shuffled"
    return "harmful-competing"


def make_config(
    suite: Any,
    seed: int,
    b: Budget,
    ws: Workspace,
    *,
    pulls: int | None = None,
    trials: int | None = None,
    stage1: Mapping[str, Any] | None = None,
    baselines: Sequence[str] = BASELINES,
) -> Any:
    names = [t.name for t in suite.auxiliary]
    data = {
        "seed": seed,
        "model": {"encoder": "tiny", "max_length": b.max_length},
        "main": {"task": suite.main.name},
        "auxiliary": {"tasks": names, "add_control": True},
        "stage1": {
            "pulls": pulls or b.pulls,
            "steps_per_pull": b.steps_per_pull,
            **STAGE1_OVERRIDES,
            **(stage1 or {}),
        },
        "stage2": {
            "trials": trials or b.trials,
            "initial_points": b.initial_points,
            "steps": b.steps,
            "eval_every": b.eval_every,
        },
        "baselines": {"run": list(baselines)},
        "tracking": {"enabled": False},
        "output_dir": ws.folder(),
        "device": "cpu",
    }
    return config_from_dict(
        data, source="benchmarks/planted", user_tasks=[t.name for t in suite.tasks]
    )
