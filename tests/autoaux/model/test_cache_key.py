"""The feature cache's key covers the content of every file a model loader reads, and the
cache survives entries that are not shard files. No model is loaded here."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from autoaux.model.cached import FeatureStore, model_key


def _model(folder: Path) -> Path:
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"hidden_size": 4}))
    (folder / "model-00001-of-00002.safetensors").write_bytes(b"a" * 64)
    (folder / "model-00002-of-00002.safetensors").write_bytes(b"b" * 64)
    (folder / "model.safetensors.index.json").write_text("{}")
    (folder / "vocab.json").write_text('{"a": 0}')
    (folder / "merges.txt").write_text("a b\n")
    (folder / "spiece.model").write_bytes(b"\x00sp")
    (folder / "README.md").write_text("about this model")
    return folder


def _key(folder: Path, memo: Path | None = None) -> str:
    return model_key(folder, num_layers=None, max_length=16, memo=memo)


def _same_size_and_time(path: Path, data: bytes) -> None:
    """Overwrite ``path`` in place with ``data`` (same length), keeping its mtime."""
    info = path.stat()
    assert len(data) == info.st_size
    with path.open("r+b") as handle:
        handle.write(data)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))


@pytest.mark.parametrize(
    "name",
    ["model-00002-of-00002.safetensors", "merges.txt", "vocab.json", "spiece.model"],
)
def test_every_file_the_loader_reads_is_in_the_key(tmp_path: Path, name: str) -> None:
    folder = _model(tmp_path / "model")
    before = _key(folder)
    path = folder / name
    data = path.read_bytes()
    _same_size_and_time(path, bytes(reversed(data)) if len(set(data)) > 1 else b"z" * len(data))
    assert _key(folder) != before


def test_documentation_is_not_in_the_key(tmp_path: Path) -> None:
    folder = _model(tmp_path / "model")
    before = _key(folder)
    (folder / "README.md").write_text("edited")
    assert _key(folder) == before


def test_digests_are_memoised_by_size_mtime_and_inode(tmp_path: Path) -> None:
    folder, memo = _model(tmp_path / "model"), tmp_path / "memo.json"
    first = _key(folder, memo)
    entries = json.loads(memo.read_text())
    assert len(entries) == 7  # one per file read, README left out
    assert _key(folder, memo) == first == _key(folder)
    # a replaced file (a new inode) is hashed again
    shard = folder / "model-00001-of-00002.safetensors"
    shard.unlink()
    shard.write_bytes(b"c" * 64)
    assert _key(folder, memo) != first
    memo.write_text("not json")  # a damaged memo only costs hashing again
    assert _key(folder, memo) == _key(folder)


def test_a_folder_named_like_a_shard_does_not_fail_the_store(tmp_path: Path) -> None:
    folder = _model(tmp_path / "model")
    store = FeatureStore(folder, cache_dir=tmp_path / "cache", progress=False)
    (store.folder / "junk.feat").mkdir(parents=True)
    (store.folder / "link.feat").symlink_to(tmp_path / "model" / "spiece.model")
    assert len(store) == 0
    assert len(store) == 0  # and again, on the next scan
    assert (store.folder / "junk.feat").is_dir()
    assert (tmp_path / "model" / "spiece.model").exists()
