"""Per-step cost of the product's trainer on cached features, against minimal hand-written loops.

The shapes of the default run in the cached encoder mode: batch 16, MiniLM-sized sentence vectors
(384 dims), the shared top ``1536 -> 256 -> 256`` (GELU, dropout 0.1), heads of 2 outputs, AdamW
(fused), gradient clipping at 1. The vectors are synthetic (seeded random normal, served by a
:class:`~autoaux.model.cached.FeatureStore` whose ``get`` draws them instead of running an
encoder), so nothing is encoded. Every task is a single-text task, as in the default pool, so the
top's input is ``[u, 0, 0, 0]``.

One *episode* is what a race episode does (:func:`autoaux.stages.race.run_episode`): a fresh
:class:`~autoaux.training.trainer.Trainer` over the initial weights, 150 steps of main + one
auxiliary task drawn 1:1 (``train_mixture``), and one evaluation of the whole main dev split.
Rows, all in this process on one torch thread, timed in alternating rounds (median of rounds):

* ``product, before``: the trainer with ``CachedEncoder.skip_zero_blocks = False`` (the first
  layer multiplies all 1536 inputs) and the evaluation as before (batches of 64, built by every
  new trainer); the pooling shortcut for one state per example (exact, about 2%) is in both;
* ``product``: the trainer as shipped (the first layer multiplies the 384 non-zero inputs, and
  the optimiser of single-text tasks leaves out the other 1152 columns, which no step trains; the
  dev split in one pass over batches built once). Both product rows hold the first layer as two
  parameters, so the "before" row is no longer the old product: the old product's figures are
  those of this script at an earlier commit (benchmarks/results/RESULTS.md);
* ``hand loop, plain``: a minimal loop of the same shapes and data, on its own copies of the
  initial weights (index the vectors, build
  ``[u, 0, 0, 0]``, forward, cross-entropy, backward, clip, AdamW step, zero grads; then one
  no-grad pass over the dev vectors);
* ``hand loop, skip zeros``: the same loop with the first layer on the 384 non-zero inputs only
  (``u @ W1[:, :384].T + b1``; the same weights and optimiser state as the plain loop);
* ``hand loop, 384-input first layer``: a loop whose first layer *is* ``384 -> 256`` (a
  different model: the other 1152 input columns are no parameter, so AdamW, clipping and the
  gradient never touch them): what the step would cost if the pair blocks were not part of the
  model.

Also printed: the product's whole-dev evaluation alone, on a fresh trainer (as in every episode):
in batches of 64 that each new trainer builds (before) and in one pass over batches built once per
split (after). Times are CPU seconds of this process (one thread: the work itself, less sensitive
to other load than wall-clock time); they still depend on the machine and its load, and the
output names both.

Usage::

    python -m benchmarks.speed            # 7 rounds of 3 episodes each (under 2 minutes)
    python -m benchmarks.speed --smoke    # 1 round of 1 short episode (a few seconds)
    python -m benchmarks.speed --json out.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from benchmarks import _common  # noqa: F401  (sets the environment first)
from benchmarks._common import md_table, setup, write_json

DIM, HIDDEN, HEADS, BATCH, STEPS = 384, 256, 2, 16, 150
MAIN, AUX = "main", "aux"
SIZES = {MAIN: (100, 1000), AUX: (1000, 100)}  # task -> (train rows, dev rows)


def _synthetic_store(folder: Path, *, seed: int) -> Any:
    """A FeatureStore that draws each text's vector (seeded by the text) instead of encoding."""
    import numpy as np

    from autoaux.model.cached import FeatureStore, text_hash

    class SyntheticStore(FeatureStore):
        def get(self, texts: Sequence[str]) -> np.ndarray:
            rows = [
                np.random.default_rng([seed, *text_hash(t)]).standard_normal(self.dim)
                for t in texts
            ]
            return np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dim)

        def release(self) -> None:
            pass

    model = folder / "model"
    model.mkdir(parents=True, exist_ok=True)
    (model / "config.json").write_text(json.dumps({"hidden_size": DIM}))
    return SyntheticStore(model, cache_dir=folder / "cache", progress=False, device="cpu")


def _tasks(seed: int) -> list[Any]:
    import numpy as np

    from tasks import Example, Task

    rng = np.random.default_rng(seed)
    out = []
    for name, (n_train, n_dev) in SIZES.items():
        splits = {
            split: tuple(Example(f"{name} {split} {i}", int(rng.integers(HEADS))) for i in range(n))
            for split, n in (("train", n_train), ("dev", n_dev), ("test", 16))
        }
        out.append(Task(name, "classification", labels=("a", "b"), **splits))
    return out


class Bench:
    """The product's model and data on synthetic cached features, and the hand loops' tensors."""

    def __init__(self, folder: Path, *, seed: int = 0) -> None:
        import torch

        from autoaux._seeding import derive_seed, isolated_seed
        from autoaux.model.cached import (
            CachedEncoder,
            CachedTokenizer,
            FeatureTable,
            precompute_features,
        )
        from autoaux.model.multitask import MultiTaskModel
        from autoaux.training.trainer import prepare_tasks

        table = FeatureTable(_synthetic_store(folder, seed=seed))
        tokenizer = CachedTokenizer(table)
        with isolated_seed(derive_seed(seed, "encoder")):
            encoder = CachedEncoder(table, source="synthetic", hidden=HIDDEN, layers=2)
        self.encoder = encoder
        self.model = MultiTaskModel(
            encoder, dict.fromkeys(SIZES, HEADS), dropout=0.1, seed=derive_seed(seed, "heads")
        )
        self.data = prepare_tasks(
            _tasks(seed), tokenizer, max_length=64, batch_size=BATCH, seed=seed
        )
        precompute_features(self.model, self.data, main=MAIN)
        self.initial = self.model.snapshot()
        self.seed = seed
        # the hand loops' tensors: vectors and labels per task, dev of the main task
        vectors = encoder.vectors
        examples = encoder.examples

        def rows(split: Any) -> Any:
            ids = torch.tensor([r[0] for r in split.input_ids])
            return vectors[examples[ids, 0]].clone()

        self.train_x = {n: rows(td.train) for n, td in self.data.items()}
        self.train_y = {n: torch.from_numpy(td.train.labels) for n, td in self.data.items()}
        self.dev_x = rows(self.data[MAIN].dev)
        self.dev_y = torch.from_numpy(self.data[MAIN].dev.labels)

    def trainer(self, episode: int, steps: int) -> Any:
        from autoaux._seeding import derive_seed
        from autoaux.training.trainer import Trainer, TrainerSpec

        self.model.restore(self.initial)
        spec = TrainerSpec(batch_size=BATCH, total_steps=steps, device="cpu")
        seed = derive_seed(self.seed, f"stage1-round-{episode}")
        return Trainer(self.model, self.data, main=MAIN, spec=spec, seed=seed)

    def product_episode(self, episode: int, steps: int, *, before: bool) -> float:
        """A race episode on the product's trainer; returns its best main dev accuracy.
        ``before``: the plain first layer and the per-trainer evaluation batches of 64."""
        self.encoder.skip_zero_blocks = not before
        with _evaluation_as_before(before):
            trainer = self.trainer(episode, steps)
            report = trainer.train_mixture({MAIN: 1.0, AUX: 1.0}, steps, eval_every=steps)
        return float(report.best_dev)

    def hand_episode(self, episode: int, steps: int, *, first: str) -> float:
        """The same episode written by hand: same shapes, same initial weights. ``first``:
        ``"plain"`` (``[u, 0, 0, 0] @ W1.T``), ``"skip"`` (``u @ W1[:, :384].T``) or
        ``"narrow"`` (a first layer of 384 inputs: the zero block is no parameter at all)."""
        import numpy as np
        import torch
        import torch.nn.functional as F

        self.model.restore(self.initial)
        top = self.encoder.top.net

        def own(t: torch.Tensor) -> torch.nn.Parameter:  # the loop's own leaf, same values
            return torch.nn.Parameter(t.detach().clone())

        # plain tensors of the product's initial weights (the first layer as one 256 x 1536
        # weight, however the product holds it)
        w1, b1, w2, b2 = (own(t) for t in (top[0].weight, top[0].bias, top[3].weight, top[3].bias))
        heads = {n: torch.nn.Linear(HIDDEN, HEADS) for n in SIZES}
        for n, head in heads.items():
            head.load_state_dict(self.model.heads[n].state_dict())
        params = [w1, b1, w2, b2, *(p for h in heads.values() for p in h.parameters())]
        skip = first != "plain"
        if first == "narrow":
            narrow = own(w1[:, :DIM])
            params = [narrow if p is w1 else p for p in params]
        decay = [p for p in params if p.ndim >= 2]
        rest = [p for p in params if p.ndim < 2]
        opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}],
            lr=5e-4,
            fused=True,
        )
        rng = np.random.default_rng(episode)
        tasks = rng.choice(list(SIZES), size=steps)
        batches = {n: rng.integers(len(x), size=(steps, BATCH)) for n, x in self.train_x.items()}
        zeros = torch.zeros(BATCH, 3 * DIM)

        def hidden(u: torch.Tensor, train: bool) -> torch.Tensor:
            if first == "narrow":
                h = F.linear(u, narrow, b1)
            elif skip:
                h = F.linear(u, w1[:, :DIM], b1)
            else:
                pad = zeros if len(u) == BATCH else torch.zeros(len(u), 3 * DIM)
                h = F.linear(torch.cat([u, pad], dim=1), w1, b1)
            h = F.dropout(F.gelu(h), 0.1, train)
            return F.dropout(F.gelu(F.linear(h, w2, b2)), 0.1, train)

        for step, task in enumerate(tasks):
            index = torch.from_numpy(batches[task][step])
            out = heads[task](hidden(self.train_x[task][index], True))
            loss = F.cross_entropy(out, self.train_y[task][index])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            predictions = heads[MAIN](hidden(self.dev_x, False)).argmax(-1)
        return float((predictions == self.dev_y).float().mean())

    def evaluation(self, *, before: bool) -> float:
        """CPU seconds of a fresh trainer's whole-dev evaluation (``before``: in batches of 64
        that the trainer builds)."""
        with _evaluation_as_before(before):
            trainer = self.trainer(0, STEPS)
            return _timed(lambda: trainer.evaluate(MAIN, "dev"), 1)


@contextlib.contextmanager
def _evaluation_as_before(before: bool) -> Iterator[None]:
    """With ``before``, evaluate as before the one-pass change: batches of ``eval_batch_size``
    (64), built anew by each trainer (the shared batches are dropped before and after)."""
    import autoaux.training.trainer as trainer_module

    if not before:
        yield
        return
    rows = trainer_module.ONE_ID_EVAL_ROWS
    trainer_module.ONE_ID_EVAL_ROWS = 1
    trainer_module._EVAL_BATCHES.clear()
    try:
        yield
    finally:
        trainer_module.ONE_ID_EVAL_ROWS = rows
        trainer_module._EVAL_BATCHES.clear()


def _timed(fn: Callable[[], Any], repeats: int) -> float:
    """CPU seconds of this process per call (one torch thread: the work itself, less sensitive
    than wall-clock time to what else runs on a shared machine)."""
    start = time.process_time()
    for _ in range(repeats):
        fn()
    return (time.process_time() - start) / repeats


def measure(*, rounds: int, episodes: int, steps: int, seed: int = 0) -> dict[str, Any]:
    """Milliseconds per episode of each row (median over ``rounds`` alternating rounds of
    ``episodes`` episodes each) and of the evaluation alone."""
    with tempfile.TemporaryDirectory(prefix="autoaux-speed-") as tmp:
        bench = Bench(Path(tmp), seed=seed)
        rows: dict[str, Callable[[int], Any]] = {
            "product, before": lambda e: bench.product_episode(e, steps, before=True),
            "product": lambda e: bench.product_episode(e, steps, before=False),
            "hand loop, plain": lambda e: bench.hand_episode(e, steps, first="plain"),
            "hand loop, skip zeros": lambda e: bench.hand_episode(e, steps, first="skip"),
            "hand loop, 384-input first layer": lambda e: bench.hand_episode(
                e, steps, first="narrow"
            ),
        }
        for fn in rows.values():  # warm-up (allocator, first-call costs)
            fn(0)
        times: dict[str, list[float]] = {name: [] for name in rows}
        for r in range(rounds):
            for name, fn in rows.items():
                times[name].append(_timed(lambda fn=fn, r=r: fn(r), episodes))
        same = [
            bench.product_episode(e, steps, before=True)
            == bench.product_episode(e, steps, before=False)
            for e in range(min(rounds, 3))
        ]
        bench.encoder.skip_zero_blocks = True
        evaluation: dict[str, list[float]] = {
            "batches of 64, built per trainer": [],
            "one pass": [],
        }
        for _ in range(max(3, 2 * rounds)):
            for name, before in zip(evaluation, (True, False), strict=True):
                evaluation[name].append(bench.evaluation(before=before))
        dev_rows = len(bench.data[MAIN].dev)
    ms = {name: 1000 * statistics.median(v) for name, v in times.items()}
    return {
        "shapes": {
            "batch": BATCH,
            "feature_dim": DIM,
            "top": f"{4 * DIM} -> {HIDDEN} -> {HIDDEN}",
            "heads": HEADS,
            "steps": steps,
            "dev_rows": dev_rows,
        },
        "rounds": rounds,
        "episodes_per_round": episodes,
        "ms_per_episode": ms,
        "ms_per_step": {name: v / steps for name, v in ms.items()},
        "eval_ms": {name: 1000 * statistics.median(v) for name, v in evaluation.items()},
        "same_dev_score_before_after": same,
    }


def table(result: dict[str, Any]) -> str:
    s = result["shapes"]
    ms = result["ms_per_episode"]
    reference = ms["hand loop, skip zeros"]
    body = [
        [name, f"{value:.0f}", f"{value / s['steps']:.2f}", f"{value / reference:.2f}"]
        for name, value in ms.items()
    ]
    lines = [
        f"batch {s['batch']}, features {s['feature_dim']}, top {s['top']}, heads of {s['heads']}, "
        f"{s['steps']}-step episodes + one evaluation of {s['dev_rows']} dev rows; one torch "
        f"thread; median of {result['rounds']} rounds x {result['episodes_per_round']} episodes",
        "",
        md_table(
            ["what", "CPU ms per episode", "CPU ms per step", "vs hand loop, skip zeros"], body
        ),
        "",
        md_table(
            ["whole-dev evaluation (product, fresh trainer)", "CPU ms"],
            [[name, f"{value:.2f}"] for name, value in result["eval_ms"].items()],
        ),
        "",
        "same best dev score, before and after (first episodes): "
        + ", ".join(str(x) for x in result["same_dev_score_before_after"]),
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.speed", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--smoke", action="store_true", help="one short round (a few seconds)")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds (default 7)")
    parser.add_argument("--episodes", type=int, default=3, help="episodes per round (default 3)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.episodes < 1:
        parser.error("--rounds and --episodes must be >= 1")
    info = setup(threads=1)
    if args.smoke:
        result = measure(rounds=1, episodes=1, steps=20)
    else:
        result = measure(rounds=args.rounds, episodes=args.episodes, steps=STEPS)
    result["machine"] = info
    result["command"] = "python -m benchmarks.speed" + (" --smoke" if args.smoke else "")
    print(table(result))
    print(f"\nmachine: {info.get('cpu_model')}, nproc {info.get('nproc')}, "
          f"load {info.get('load_average')}")  # fmt: skip
    if args.json is not None:
        write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
