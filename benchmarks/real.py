"""Real-text benchmark: rt-sentiment as a low-resource main task with the built-in pool.

The main task is ``rt-sentiment`` (fresh vs rotten movie-review snippets) cut to a few hundred
training examples; the candidates are the built-in auxiliary tasks of autoaux's default run
(``rt-subjectivity``, ``tweet-sentiment``, ``bbc-topic``, ``political-party``) and the null control
``shuffled:tweet-sentiment`` (labels permuted; autoaux never selects it). Per seed, through the
public API with tracking disabled:

* ``autoaux.run`` (GP stage 2) with the baselines main only, uniform over all candidates
  (the control excluded, as the API does), temperature sampling (``p ∝ n^(1/T)``, T = 2) and
  stage 1 only (the selection at ratio 1);
* ``autoaux.run`` again with ``stage2.search = "random"``: random ratio search with the same
  trial budget and the same warm-start point (stage 1 is repeated with the same seed and gives
  the same selection, which is checked);
* the exhaustive oracle: every subset of the 4 real candidates (16) trained at ratio 1 like one
  stage-2 trial; the subset with the best main dev score is the oracle (its test accuracy is
  reported), with the best test accuracy among the 16 as a hindsight upper bound.

Every training shares one seed per run seed, one tokenizer and the same initial weights (every
method loads the whole pool; unused tasks get ratio 0), so methods differ only by their mixture;
differences are reported per seed (paired). Costs are training steps and wall seconds.

Encoder: ``--encoder auto`` uses the cached MiniLM mode (``"minilm-cached"``: frozen
all-MiniLM-L6-v2 sentence vectors computed once, a small trainable shared top) when this
checkout supports it, else the ``"tiny"`` random-init BERT; the output says which.

Usage::

    python -m benchmarks.real --budget quick
    python -m benchmarks.real --budget full --json benchmarks/results/real.json
    python -m benchmarks.real --smoke --json /tmp/real.json
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import math
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks import _common  # noqa: F401  (sets the environment first)
from benchmarks._common import (
    Workspace,
    fmt,
    log,
    md_table,
    method_summaries,
    method_table,
    paired,
    publish,
    setup,
    summary,
    write_json,
)
from benchmarks._real_suite import BUDGETS, CONTROL, MAIN, METHODS, SWEEP, Budget
from benchmarks._real_suite import CANDIDATES as CANDIDATES


def cached_supported() -> bool:
    """Whether this checkout accepts ``model.encoder = "minilm-cached"`` (and has MiniLM)."""
    try:
        from autoaux import config_from_dict
        from autoaux.model.cached import cached_model_path

        config_from_dict({"main": {"task": MAIN}, "model": {"encoder": "minilm-cached"}})
        cached_model_path("minilm-cached")
    except Exception:
        return False
    return True


def data_available(candidates: Sequence[str]) -> str | None:
    """``None`` if the built-in tasks load (cache or network), else the reason."""
    from tasks import load_builtin

    try:
        for name in (MAIN, *candidates):
            load_builtin(name)
    except Exception as error:
        return f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"
    return None


def make_config(seed: int, b: Budget, encoder: str, ws: Workspace, **stage2: Any) -> Any:
    from autoaux import config_from_dict

    return config_from_dict(
        {
            "seed": seed,
            "model": {"encoder": encoder, "max_length": b.max_length},
            "main": {"task": MAIN, "max_train_examples": b.main_train},
            "auxiliary": {"tasks": [*b.candidates, CONTROL], "max_train_examples": b.aux_train},
            "stage1": {
                # the in-run bandit this suite was measured with (the race: multidomain.py)
                "preset": "bandit",
                "pulls": b.pulls,
                "steps_per_pull": b.steps_per_pull,
                "eval_batches": b.eval_batches,
            },
            "stage2": {
                "trials": b.trials,
                "initial_points": b.initial_points,
                "steps": b.steps,
                "eval_every": b.eval_every,
                **stage2,
            },
            "baselines": {"run": ["main-only", "uniform", "temperature", "stage1-only"]},
            "tracking": {"enabled": False},
            "output_dir": ws.folder(),
            "device": "cpu",
        },
        source="benchmarks/real.py",
    )


def score_subset(config: Any, subset: Sequence[str], ws: Workspace) -> dict[str, Any]:
    """``main + subset`` at ratio 1 (the whole pool loaded; other tasks at ratio 0)."""
    import autoaux

    pool = list(config.auxiliary_tasks())
    utilities = {MAIN: 1.0, **{t: (1.0 if t in subset else 0.0) for t in pool}}
    start = time.perf_counter()
    mixed = autoaux.mix(
        config.replace(output_dir=ws.folder()).with_overrides({"stage2.main_alone": False}),
        tasks=pool,
        utilities=utilities,
        trials=1,
        tracker=autoaux.NullTracker(),
        progress=False,
    )
    used = {k for k, v in mixed.ratios.items() if v > 0 and k != MAIN}
    if used != set(subset):
        raise RuntimeError(f"subset scoring trained {sorted(used)}, expected {sorted(subset)}")
    trial = mixed.trials[0]
    return {
        "subset": sorted(subset),
        "test": mixed.test_score,
        "dev": mixed.best_dev_score,
        "steps": sum(trial.steps_per_task.values()),
        "seconds": trial.seconds,
        "call_seconds": time.perf_counter() - start,
    }


def run_seed(seed: int, b: Budget, encoder: str, ws: Workspace) -> dict[str, Any]:
    import autoaux

    t0 = time.perf_counter()
    config = make_config(seed, b, encoder, ws)
    result = autoaux.run(config, tracker=autoaux.NullTracker(), progress=False)
    sel = result.selection
    s1_steps = config.stage1.pulls * config.stage1.steps_per_pull
    scores: dict[str, dict[str, Any]] = {}
    for name, base in result.baselines.items():
        extra = (s1_steps, sel.seconds) if name == "stage1-only" else (0, 0.0)
        scores[name] = {
            "test": base.test,
            "dev": base.dev,
            "steps": base.steps + extra[0],
            "seconds": base.seconds + extra[1],
            "probabilities": dict(base.probabilities),
        }
    s2_steps = sum(sum(t.steps_per_task.values()) for t in result.trials)
    scores["autoaux"] = {
        "test": result.test_score,
        "dev": result.best_dev_score,
        "steps": s1_steps + s2_steps,
        "seconds": sel.seconds + result.mixture.seconds,
        "ratios": dict(result.ratios),
        "trial_dev": [t.score for t in result.trials],
    }
    out: dict[str, Any] = {
        "seed": seed,
        "selection": {
            "selected": list(sel.selected),
            "rule": sel.rule,
            "utilities": dict(sel.utilities),
            "mean_cosines": dict(sel.mean_cosines),
            "pulls": dict(sel.pulls),
            "control_selected": CONTROL in sel.selected,
            "seconds": sel.seconds,
            "initial_dev": sel.initial_dev_score,
        },
        "device": result.device,
    }
    if b.random_search:
        log(f"real: seed {seed}: random ratio search")
        rconfig = make_config(seed, b, encoder, ws, search="random")
        rres = autoaux.run(
            rconfig.with_overrides({"baselines.run": []}),
            tracker=autoaux.NullTracker(),
            progress=False,
        )
        r2_steps = sum(sum(t.steps_per_task.values()) for t in rres.trials)
        scores["random-search"] = {
            "test": rres.test_score,
            "dev": rres.best_dev_score,
            "steps": s1_steps + r2_steps,
            "seconds": rres.selection.seconds + rres.mixture.seconds,
            "ratios": dict(rres.ratios),
            "trial_dev": [t.score for t in rres.trials],
            "same_selection": list(rres.selected) == list(sel.selected),
        }
    if b.exhaustive:
        subsets = []
        known = {
            (): scores["main-only"],
            tuple(sorted(b.candidates)): scores["uniform"],
        }
        for k in range(len(b.candidates) + 1):
            for combo in itertools.combinations(sorted(b.candidates), k):
                if combo in known:
                    s = known[combo]
                    subsets.append(
                        {"subset": list(combo), "test": s["test"], "dev": s["dev"],
                         "steps": s["steps"], "seconds": s["seconds"], "reused": True}
                    )  # fmt: skip
                    continue
                log(f"real: seed {seed}: subset {list(combo)}")
                subsets.append(score_subset(config, combo, ws))
        best = max(subsets, key=lambda s: -math.inf if s["dev"] is None else s["dev"])
        hindsight = max(subsets, key=lambda s: -math.inf if s["test"] is None else s["test"])
        scores["exhaustive-oracle"] = {
            "test": best["test"],
            "dev": best["dev"],
            "subset": best["subset"],
            "steps": sum(s["steps"] for s in subsets),
            "seconds": sum(s["seconds"] for s in subsets),
        }
        out["exhaustive"] = {
            "subsets": subsets,
            "best_by_dev": best["subset"],
            "hindsight_best_test": hindsight["test"],
            "hindsight_subset": hindsight["subset"],
            "selection_rank_by_dev": _rank(subsets, sel.selected, b.candidates),
        }
    out["scores"] = scores
    out["wall_seconds"] = time.perf_counter() - t0
    return out


def _rank(
    subsets: Sequence[Mapping[str, Any]], selected: Sequence[str], candidates: Sequence[str]
) -> int | None:
    """1-based rank (by main dev score) of the stage-1 selection among the subsets."""
    chosen = sorted(t for t in selected if t in candidates)
    ordered = sorted(subsets, key=lambda s: -(s["dev"] if s["dev"] is not None else -1))
    for i, s in enumerate(ordered, 1):
        if sorted(s["subset"]) == chosen:
            return i
    return None


def run_sweep(
    runs: Sequence[Mapping[str, Any]], b: Budget, encoder: str, ws: Workspace
) -> dict[str, Any]:
    """Stage-1 variants per seed; each selection scored from that seed's exhaustive table."""
    import autoaux

    table: dict[str, list[dict[str, Any]]] = {v: [] for v in b.sweep}
    for run in runs:
        seed = run["seed"]
        subsets = {
            tuple(sorted(s["subset"])): s for s in run.get("exhaustive", {}).get("subsets", [])
        }
        best_dev = max((s["dev"] for s in subsets.values() if s["dev"] is not None), default=None)
        config = make_config(seed, b, encoder, ws)
        for variant in b.sweep:
            if variant == "autoaux (default)":
                selected = list(run["selection"]["selected"])
                seconds = run["selection"]["seconds"]
            else:
                log(f"real sweep: seed {seed}, {variant}")
                sel = autoaux.select(
                    config.replace(output_dir=ws.folder()),
                    tracker=autoaux.NullTracker(),
                    progress=False,
                    **SWEEP[variant],
                )
                selected, seconds = list(sel.selected), sel.seconds
            key = tuple(sorted(t for t in selected if t in b.candidates))
            scored = subsets.get(key, {})
            table[variant].append(
                {
                    "seed": seed,
                    "selected": selected,
                    "test": scored.get("test"),
                    "dev": scored.get("dev"),
                    "rank_by_dev": _rank(list(subsets.values()), selected, b.candidates)
                    if subsets
                    else None,
                    "dev_regret": (best_dev - scored["dev"])
                    if scored.get("dev") is not None and best_dev is not None
                    else None,
                    "seconds": seconds,
                }
            )
            log(f"  {variant}: {selected} test={scored.get('test')}")
    return {
        "variants": {
            v: {
                "settings": SWEEP[v],
                "stage1_only_test": summary([r["test"] for r in rows]),
                "dev_regret": summary([r["dev_regret"] for r in rows]),
                "ranks": [r["rank_by_dev"] for r in rows],
                "selections": [r["selected"] for r in rows],
                "runs": rows,
            }
            for v, rows in table.items()
        }
    }


def run_search(seeds: Sequence[int], b: Budget, encoder: str, ws: Workspace) -> dict[str, Any]:
    """GP against random ratio search over all candidates (no stage 1), same trial budget and
    the same first trial (every ratio 1): compares the two searches where stage 1 leaves
    nothing to search."""
    import autoaux

    rows: dict[str, list[dict[str, Any]]] = {"gp": [], "random": []}
    for seed in seeds:
        config = make_config(seed, b, encoder, ws)
        for search in rows:
            log(f"real search: seed {seed}, {search} over {list(b.candidates)}")
            mixed = autoaux.mix(
                config.replace(output_dir=ws.folder()),
                tasks=list(b.candidates),
                search=search,
                tracker=autoaux.NullTracker(),
                progress=False,
            )
            rows[search].append(
                {
                    "seed": seed,
                    "test": mixed.test_score,
                    "dev": mixed.best_dev_score,
                    "ratios": dict(mixed.ratios),
                    "trial_dev": [t.score for t in mixed.trials],
                    "steps": sum(sum(t.steps_per_task.values()) for t in mixed.trials),
                    "seconds": mixed.seconds,
                }
            )
            log(f"  {search}: test={mixed.test_score} dev={mixed.best_dev_score}")
    return {
        "trials": b.trials,
        "steps": b.steps,
        "methods": {
            k: {
                "test": summary([r["test"] for r in v]),
                "dev": summary([r["dev"] for r in v]),
                "runs": v,
            }
            for k, v in rows.items()
        },
        "paired_gp_minus_random": paired(
            [r["test"] for r in rows["gp"]], [r["test"] for r in rows["random"]]
        ),
    }


def aggregate(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    methods = [m for m in METHODS if m in runs[0]["scores"]]
    figures, versus = method_summaries(runs, methods)
    out: dict[str, Any] = {"methods": figures, "paired_vs_autoaux": versus}
    out["selections"] = [r["selection"]["selected"] for r in runs]
    out["control_selected"] = sum(r["selection"]["control_selected"] for r in runs)
    if "exhaustive" in runs[0]:
        out["hindsight_best_test"] = summary([r["exhaustive"]["hindsight_best_test"] for r in runs])
        out["selection_rank_by_dev"] = [r["exhaustive"]["selection_rank_by_dev"] for r in runs]
        # mean test accuracy of each subset over seeds (for the "which tasks help" table)
        table: dict[str, list[float]] = {}
        for r in runs:
            for s in r["exhaustive"]["subsets"]:
                table.setdefault(" + ".join(s["subset"]) or "(main only)", []).append(s["test"])
        out["subset_test"] = {k: summary(v) for k, v in table.items()}
    return out


def markdown(data: Mapping[str, Any]) -> str:
    if data.get("skipped"):
        return f"**Real suite** skipped: {data['skipped']}\n"
    b = data["budget"]
    s = data["summary"]
    runs = data["runs"]
    parts = [
        f"**Real suite**: main `{MAIN}` ({b['main_train']} training examples), candidates "
        f"{', '.join(f'`{c}`' for c in b['candidates'])} (each at most {b['aux_train']} examples) "
        f"and the control `{CONTROL}`; encoder `{data['encoder']}`; {len(runs)} seeds, "
        f"mean ± sd. Stage 1: {b['pulls']} pulls x {b['steps_per_pull']} steps; stage 2 and "
        f"random search: {b['trials']} trials x {b['steps']} steps; baselines {b['steps']} "
        "steps each."
    ]
    n = len(b["candidates"])
    labels = {
        "main-only": "main only",
        "uniform": f"uniform over the {n} candidates",
        "temperature": "temperature sampling (T = 2)",
        "stage1-only": "stage 1 only (selection, ratio 1)",
        "autoaux": "autoaux (stage 1 + GP stage 2)",
        "random-search": "stage 1 + random ratio search (same trials)",
        "exhaustive-oracle": f"exhaustive oracle (best dev of {2**n} subsets)",
    }
    parts.append(method_table(s, labels))
    sels = "; ".join(
        f"seed {r['seed']}: {', '.join(r['selection']['selected']) or 'nothing'}" for r in runs
    )
    parts.append(
        f"Stage-1 selections: {sels}. Control selected in {s['control_selected']} of "
        f"{len(runs)} runs."
    )
    if "subset_test" in s:
        parts.append(
            f"Hindsight best of the {2**n} subsets (by test): {fmt(s['hindsight_best_test'])}; "
            f"rank of the stage-1 selection among the {2**n} by dev: "
            f"{s['selection_rank_by_dev']}."
        )
        rows = sorted(
            ([k, fmt(v)] for k, v in s["subset_test"].items()),
            key=lambda row: row[0],
        )
        parts.append(md_table(["auxiliary subset (ratio 1)", "main test accuracy"], rows))
    search = data.get("search")
    if search:
        g, r = search["methods"]["gp"], search["methods"]["random"]
        d = search["paired_gp_minus_random"]
        parts.append(
            f"Ratio search over all {n} candidates without stage 1 ({search['trials']} trials x "
            f"{search['steps']} steps, first trial every ratio 1): GP {fmt(g['test'])} against "
            f"random {fmt(r['test'])} main test accuracy (best dev {fmt(g['dev'])} against "
            f"{fmt(r['dev'])}); GP − random {d['mean']:+.3f} "
            f"({d['wins']}/{d['ties']}/{d['losses']} W/T/L)."
        )
    sweep = data.get("sweep")
    if sweep:
        rows = []
        for name, v in sweep["variants"].items():
            rows.append(
                [name, fmt(v["stage1_only_test"]), fmt(v["dev_regret"]),
                 str(v["ranks"]), "; ".join(", ".join(x) or "nothing" for x in v["selections"])]
            )  # fmt: skip
        parts.append(
            f"Stage-1 settings on the real suite (selection scored by the same seed's subset "
            f"table: main test accuracy at ratio 1, dev-score regret against the best of the "
            f"{2**n} subsets, rank by dev):"
        )
        parts.append(
            md_table(
                ["stage 1 setting", "stage-1-only test", "dev regret", "rank by dev",
                 "selections per seed"],
                rows,
            )
        )  # fmt: skip
    return "\n\n".join(parts) + "\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--budget", choices=tuple(BUDGETS), default="quick")
    parser.add_argument("--smoke", action="store_const", const="smoke", dest="budget")
    parser.add_argument("--quick", action="store_const", const="quick", dest="budget")
    parser.add_argument("--full", action="store_const", const="full", dest="budget")
    parser.add_argument("--encoder", default="auto", help="auto, minilm-cached or tiny")
    parser.add_argument("--seeds", type=int, default=None, help="override the number of seeds")
    parser.add_argument("--no-exhaustive", action="store_true", help="skip the 16 subsets")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--markdown", type=Path, default=None)
    parser.add_argument(
        "--search-only",
        action="store_true",
        help="add GP vs random ratio search over all candidates to the results in --json",
    )
    parser.add_argument(
        "--sweep-only",
        default=None,
        help="semicolon-separated stage-1 variants (names in SWEEP) to add to the sweep of "
        "the runs already in --json (no other training)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    return parser


def _search_only(
    parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str], b: Budget
) -> int:
    """``--search-only``: add the ratio-search comparison to the runs in ``--json``."""
    import json

    if args.json is None or not args.json.exists():
        parser.error("--search-only needs --json with the runs of an earlier real.py")
    data = json.loads(args.json.read_text())
    setup(args.threads)
    ws = Workspace("autoaux-real-")
    try:
        data["search"] = run_search(data["budget"]["seeds"], b, data["encoder"], ws)
    finally:
        ws.close()
    data.setdefault("extra_commands", []).append("python -m benchmarks.real " + " ".join(argv))
    write_json(args.json, data)
    print(markdown(data))
    return 0


def _sweep_only(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str]) -> int:
    """``--sweep-only``: add stage-1 variants to the sweep of the runs in ``--json``."""
    if args.json is None or not args.json.exists():
        parser.error("--sweep-only needs --json with the runs of an earlier real.py")
    import json

    data = json.loads(args.json.read_text())
    names = tuple(v.strip() for v in args.sweep_only.split(";") if v.strip())
    b = Budget(
        **{
            **data["budget"],
            "seeds": tuple(data["budget"]["seeds"]),
            "candidates": tuple(data["budget"]["candidates"]),
            "sweep": names,
        }
    )
    unknown = [v for v in b.sweep if v not in SWEEP]
    if unknown:
        parser.error(f"unknown variants {unknown}; have {list(SWEEP)}")
    ws = Workspace("autoaux-real-")
    try:
        extra = run_sweep(data["runs"], b, data["encoder"], ws)
    finally:
        ws.close()
    data.setdefault("sweep", {"variants": {}})["variants"].update(extra["variants"])
    data.setdefault("extra_commands", []).append(
        "python -m benchmarks.real " + " ".join(repr(a) if " " in a else a for a in argv or [])
    )
    write_json(args.json, data)
    print(markdown(data))
    return 0


def _run_all_seeds(data: dict[str, Any], b: Budget, encoder: str, json_path: Path | None) -> None:
    """Every seed of the budget, then the summary and the stage-1 sweep, into ``data``."""
    ws = Workspace("autoaux-real-")
    runs = []
    try:
        for seed in b.seeds:
            log(f"real: seed {seed} (encoder {encoder})")
            runs.append(run_seed(seed, b, encoder, ws))
            r = runs[-1]
            log(
                f"  selected {r['selection']['selected']}; test: "
                + ", ".join(f"{m}={v['test']:.3f}" for m, v in r["scores"].items())
                + f"; {r['wall_seconds']:.0f}s"
            )
            data["runs"] = runs
            if json_path:
                write_json(json_path, data)
    finally:
        ws.close()
    data["runs"] = runs
    data["summary"] = aggregate(runs)
    if b.sweep and runs:
        ws = Workspace("autoaux-real-")
        try:
            data["sweep"] = run_sweep(runs, b, encoder, ws)
        finally:
            ws.close()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = _parser()
    args = parser.parse_args(argv)
    b = BUDGETS[args.budget]
    if args.seeds is not None:
        b = dataclasses.replace(b, seeds=tuple(range(args.seeds)))
    if args.no_exhaustive:
        b = dataclasses.replace(b, exhaustive=False)
    info = setup(args.threads)
    encoder = args.encoder
    if encoder == "auto":
        encoder = "minilm-cached" if cached_supported() else "tiny"
    data: dict[str, Any] = {
        "benchmark": "real",
        "budget": dataclasses.asdict(b),
        "machine": info,
        "encoder": encoder,
        "command": "python -m benchmarks.real " + " ".join(argv or []),
    }
    if args.search_only:
        return _search_only(parser, args, argv, b)
    if args.sweep_only:
        return _sweep_only(parser, args, argv)
    start = time.perf_counter()
    reason = data_available(b.candidates)
    if reason is not None:
        data["skipped"] = f"the built-in tasks could not be loaded ({reason})"
        log(data["skipped"])
    else:
        _run_all_seeds(data, b, encoder, args.json)
    data["seconds"] = time.perf_counter() - start
    publish(data, markdown(data), json_path=args.json, markdown_path=args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
