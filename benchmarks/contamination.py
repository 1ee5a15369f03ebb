"""Benchmark of the contamination guard: overlap between built-in tasks, and the guard's cost.

Prints, and writes as JSON with ``--json``:

1. the overlap table of the built-in suite in a given cache (``--cache``, default
   ``$AUTOAUX_CACHE``): for every ordered pair of tasks (A, B), the training examples of A whose
   text is one of B's dev or test texts, exact (the text as stored) and normalised
   (:func:`tasks.normalise`, what the guard compares); only pairs with an overlap are listed.
   Point ``--cache`` at a cache built by an older version to see the table before a change;
2. the guard's cost on a synthetic pool (``--candidates`` tasks of ``--rows`` training rows in
   all, a main task with 1,000 dev and 1,000 test texts, 1% of each candidate's rows copied from
   them, half re-cased and re-punctuated): wall time of :func:`tasks.guard`, best of
   ``--repeats``, and the rows it found (which must equal the rows planted).

Usage::

    .venv/bin/python -m benchmarks.contamination                      # table + cost
    .venv/bin/python -m benchmarks.contamination --cache OLD --no-cost  # table of an old cache
    .venv/bin/python -m benchmarks.contamination --candidates 100 --rows 100000 --no-table
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import tasks
from tasks import Example, Task, example_key, guard


def _read(path: Path) -> Task:
    """A cached built-in task of any format version (the checksum is not needed here)."""
    splits: dict[str, list[Example]] = {"train": [], "dev": [], "test": []}
    with path.open(encoding="utf-8", newline="\n") as handle:
        header = json.loads(handle.readline())
        for line in handle:
            row = json.loads(line)
            splits[row["split"]].append(Example(row["text"], row["label"], row.get("text_pair")))
    return Task(header["name"], header["kind"], splits["train"], splits["dev"], splits["test"],
                tuple(header["labels"]), header["metric"])  # fmt: skip


def overlap_table(cache: Path) -> list[dict[str, Any]]:
    """Every ordered pair (A train, B dev+test) of the cached built-in tasks with an overlap."""
    found = sorted((cache / "data" / "tasks").glob("*.jsonl"))
    if not found:
        raise SystemExit(f"no parsed built-in tasks under {cache / 'data' / 'tasks'}")
    loaded = {path.name.split(".v")[0]: _read(path) for path in found}
    keys = {
        name: {s: [example_key(ex) for ex in task.split(s)] for s in ("train", "dev", "test")}
        for name, task in loaded.items()
    }
    exact = {
        name: {s: [(ex.text, ex.text_pair) for ex in task.split(s)] for s in ("dev", "test")}
        for name, task in loaded.items()
    }
    rows: list[dict[str, Any]] = []
    for a, task in loaded.items():
        train_exact = [(ex.text, ex.text_pair) for ex in task.train]
        for b in loaded:
            if a == b:
                continue
            held = set(keys[b]["dev"]) | set(keys[b]["test"])
            held_exact = set(exact[b]["dev"]) | set(exact[b]["test"])
            normalised = sum(k in held for k in keys[a]["train"])
            if not normalised:
                continue
            rows.append(
                {
                    "train_of": a,
                    "eval_of": b,
                    "exact": sum(t in held_exact for t in train_exact),
                    "normalised": normalised,
                    "in_test": sum(k in set(keys[b]["test"]) for k in keys[a]["train"]),
                    "eval_size": len(held),
                }
            )
    return rows


def _noisy(text: str, rng: np.random.Generator) -> str:
    return text.upper() + "!!" if rng.random() < 0.5 else text.replace(" ", " , ") + " ."


def guard_cost(candidates: int, rows: int, *, repeats: int, seed: int) -> dict[str, Any]:
    """Time :func:`tasks.guard` on a synthetic pool; check it finds exactly the planted rows."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(5000)]

    def sentence() -> str:
        return " ".join(rng.choice(words, size=int(rng.integers(6, 20))).tolist())

    dev = tuple(Example(f"dev {i} " + sentence(), i % 2) for i in range(1000))
    test = tuple(Example(f"test {i} " + sentence(), i % 2) for i in range(1000))
    main = Task("main", "classification", (Example("a b", 0),), dev, test, ("n", "p"))
    evaluation = [*dev, *test]
    per_task = max(rows // candidates, 1)
    planted = 0
    pool: dict[str, Task] = {}
    for c in range(candidates):
        train = []
        for i in range(per_task):
            if rng.random() < 0.01:
                held = evaluation[int(rng.integers(len(evaluation)))]
                train.append(Example(_noisy(held.text, rng), i % 2))
                planted += 1
            else:
                train.append(Example(f"cand {c} row {i} " + sentence(), i % 2))
        pool[f"cand-{c}"] = Task(f"cand-{c}", "classification", tuple(train), dev[:1], test[:1],
                                 ("n", "p"))  # fmt: skip
    times = []
    report = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        _, _, report = guard(main, pool)
        times.append(time.perf_counter() - t0)
    assert report is not None
    return {
        "candidates": candidates,
        "rows": per_task * candidates,
        "main_eval_texts": len(evaluation),
        "planted": planted,
        "found": report.found,
        "dropped": report.dropped,
        "seconds_best": min(times),
        "us_per_row": min(times) / (per_task * candidates + len(evaluation)) * 1e6,
        "repeats": repeats,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.contamination")
    parser.add_argument("--cache", type=Path, default=None, help="built-in cache root")
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-table", action="store_true")
    parser.add_argument("--no-cost", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    out: dict[str, Any] = {}
    if not args.no_table:
        cache = args.cache if args.cache is not None else tasks.default_cache_dir()
        table = overlap_table(cache)
        out["overlap"] = {"cache": str(cache), "rows": table}
        print(f"overlap in {cache} (A train rows whose text is a B dev/test text)")
        print(f"{'A (train)':<18} {'B (dev+test)':<18} {'exact':>7} {'normalised':>10} "
              f"{'of which B test':>15} {'B dev+test':>10}")  # fmt: skip
        for r in table:
            print(f"{r['train_of']:<18} {r['eval_of']:<18} {r['exact']:>7} "
                  f"{r['normalised']:>10} {r['in_test']:>15} {r['eval_size']:>10}")  # fmt: skip
        if not table:
            print("(no overlap between any two tasks)")
    if not args.no_cost:
        cost = guard_cost(args.candidates, args.rows, repeats=args.repeats, seed=args.seed)
        out["cost"] = cost
        print(
            f"guard: {cost['candidates']} candidates, {cost['rows']} rows, "
            f"{cost['main_eval_texts']} main dev+test texts: {cost['seconds_best']:.2f}s "
            f"(best of {cost['repeats']}, {cost['us_per_row']:.1f} us a text); "
            f"planted {cost['planted']}, found {cost['found']}, dropped {cost['dropped']}"
        )
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
