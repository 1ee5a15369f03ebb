"""The identity of cached features: the text hash and the key of a frozen encoder's folder."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
"""Version of the shard file format and of the feature recipe; part of every cache key."""

_DIGEST = 16  # bytes of the per-text BLAKE2b hash


def text_hash(text: str) -> bytes:
    """The 16-byte BLAKE2b digest of ``text`` (UTF-8) that addresses its cached vector."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=_DIGEST).digest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_key(
    path: str | os.PathLike[str],
    *,
    num_layers: int | None,
    max_length: int,
    memo: str | os.PathLike[str] | None = None,
) -> str:
    """The identity of a frozen encoder's features, as a SHA-256 hex string.

    Covers the feature recipe (:data:`FORMAT_VERSION`, masked-mean pooling, float32), the
    resolved model folder, the number of layers kept, ``max_length`` and the **content** of
    every file of the folder that a loader may read (see :func:`_model_files`: ``config.json``,
    single or sharded weights and their index, WordPiece, BPE and SentencePiece tokenizer
    files...). Any change gives a new key, hence a fresh cache folder (a stale one is never
    read). The sha256 of each file is memoised in the JSON file ``memo`` (when given) by the
    file's path, size, modification time and inode, so a large model is hashed once.

    Raises:
        ValueError: the folder has no ``config.json``.
    """
    folder = Path(path).expanduser().resolve()
    config = folder / "config.json"
    if not config.is_file():
        raise ValueError(f"{folder} has no config.json")
    memo_path = Path(memo) if memo is not None else None
    known = _read_memo(memo_path)
    files: dict[str, str] = {}
    for file in _model_files(folder):
        info = file.stat()  # a linked file (a hub snapshot) counts by its target's content
        ident = f"{file}|{info.st_size}|{info.st_mtime_ns}|{info.st_ino}"
        digest = known.get(ident)
        if not isinstance(digest, str):
            digest = known[ident] = _file_sha256(file)
        files[file.name] = digest
    if memo_path is not None:
        _write_memo(memo_path, known)
    parts: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "pooling": "mean",
        "dtype": "float32",
        "folder": str(folder),
        "num_layers": num_layers,
        "max_length": int(max_length),
        "files": files,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


#: Files of a model folder that no loader reads (left out of :func:`model_key`).
_NOT_READ = re.compile(r"(?i)(readme.*|license.*|.*\.md|\..*)")


def _model_files(folder: Path) -> list[Path]:
    """Every regular file at the top of ``folder`` (the loaders read no sub-folder), whatever
    its name, except documentation and hidden files: weights in any number of shards, shard
    indices, tokenizer vocabularies, merges and SentencePiece models all count."""
    return sorted(p for p in folder.iterdir() if not _NOT_READ.fullmatch(p.name) and p.is_file())


_MEMO_LIMIT = 4096  # entries kept in the digest memo


def _read_memo(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return dict(data) if isinstance(data, dict) else {}


def _write_memo(path: Path, known: dict[str, Any]) -> None:
    """Write the memo (atomically; a failure only costs hashing again next time)."""
    entries = list(known.items())[-_MEMO_LIMIT:]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".digests-", suffix=".part", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(dict(entries), handle)
        os.replace(tmp, path)
    except OSError as error:
        log.debug("feature cache: could not write the digest memo %s (%s)", path, error)


def _read_hidden_size(folder: Path) -> int:
    data = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    for name in ("hidden_size", "dim", "d_model"):
        value = data.get(name)
        if isinstance(value, int) and value > 0:
            return value
    raise ValueError(f"cannot read the hidden size from {folder / 'config.json'}")
