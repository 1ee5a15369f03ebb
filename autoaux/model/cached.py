"""A cached, frozen pretrained encoder with a small trainable shared top (encoder mode
``"minilm-cached"`` or ``"cached:<local model folder>"``).

Selection runs hundreds of short trainings; fine-tuning a whole pretrained encoder for each is
far too slow on a CPU (about one second a step for MiniLM-L6 on 2 cores). As in AutoSem's own
"cached ELMo" setting, this mode runs the frozen pretrained encoder **once per example** and
trains only a small network on top of its outputs, so a training step costs milliseconds::

    u   = mean_{l: mask[l]=1} frozen(text)[l]            # (D,) sentence vector, computed once
    x   = [u, 0, 0, 0]                                  # single text          (4D,)
        | [u, v, |u - v|, u * v]                        # sentence pair (u, v) (4D,)
    h   = top(x) = GELU(W2 . dropout(GELU(W1 x + b1)) + b2)  # (H,) shared, trainable
    out = head_task(dropout(h))                         # per task (MultiTaskModel)

The pair combination is the usual one for sentence-pair classifiers over sentence vectors
(InferSent, Sentence-BERT). A single text fills only the first block, so single-text and pair
tasks share one input layer: the ``u`` block of ``W1`` is the same for both.

Pieces, which plug into the ordinary :class:`~autoaux.model.multitask.MultiTaskModel` and
:class:`~autoaux.training.trainer.Trainer` without any change there:

- :class:`FeatureStore`: the on-disk, content-addressed cache of sentence vectors of one frozen
  encoder (model folder, number of layers kept, ``max_length``), under
  ``autoaux.paths.cache_dir() / "features"``. Vectors are looked up by a hash of the text, so a
  second run on the same tasks encodes nothing and a task that shares texts with another
  reuses them. Missing texts are encoded in length-sorted batches (tqdm progress bar) and
  written as they come, one shard file per ``shard_rows`` texts; only one batch of token states
  exists at a time. Processes encoding the same texts at once split the work through per-claim
  lock files instead of each encoding everything. Each shard carries a header (format, model
  key, dimension, count) and a SHA-256 of its payload; a corrupted, truncated or stale shard is
  detected, removed and its texts are encoded again.
- :class:`CachedTokenizer`: a duck-typed tokenizer for :func:`tasks.encoding.encode_split`
  that maps each example (a text, or a text pair) to ONE id, its row in a
  :class:`FeatureTable`; id 0 is padding.
- :class:`CachedEncoder`: an ``nn.Module`` holding the table's vectors as *non-persistent
  buffers* (never parameters, never in ``state_dict``, so snapshots and checkpoints stay small)
  and the trainable :class:`SharedTop`. ``forward(input_ids, attention_mask)`` returns a
  ``last_hidden_state`` of shape ``(B, L, H)`` (``L = 1`` here), so the masked-mean pooling and
  the heads of :class:`~autoaux.model.multitask.MultiTaskModel` work unchanged, and
  ``shared_parameters()`` (what gradient gating acts on) is exactly the top's parameters.
- :func:`precompute_features`: encodes, in one pass with one progress bar, every text a run
  will use (all training splits, the main task's dev and test splits). Rows that were not
  precomputed are encoded on first use, so the encoder is always correct, only slower then.

Only the pooled vectors are cached; trainable top *transformer* layers would need the token
states of the last frozen layer (``max_length`` times more storage, about 3 GB for the
built-in suite in float32) and a transformer step per batch, which is what this mode avoids.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import re
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from autoaux._device import resolve_device
from autoaux._seeding import isolated_seed
from autoaux.model.multitask import ModelSpec, build_plain_encoder, minilm_path
from autoaux.paths import cache_dir as default_cache_dir

__all__ = [
    "CACHED_ENCODER",
    "CACHED_PREFIX",
    "FORMAT_VERSION",
    "CacheStats",
    "CachedEncoder",
    "CachedEncoderConfig",
    "CachedEncoderOutput",
    "CachedTokenizer",
    "FeatureStore",
    "FeatureTable",
    "SharedTop",
    "build_cached_encoder",
    "cached_model_path",
    "finetune_encoder_name",
    "is_cached_encoder",
    "model_key",
    "precompute_features",
    "text_hash",
]

log = logging.getLogger(__name__)

CACHED_ENCODER = "minilm-cached"
"""Encoder name of the cached mode over the packaged all-MiniLM-L6-v2."""
CACHED_PREFIX = "cached:"
"""``"cached:<folder>"``: the cached mode over any local Hugging Face model folder."""
FORMAT_VERSION = 1
"""Version of the shard file format and of the feature recipe; part of every cache key."""

_MAGIC = b"AUXFEAT\x00"
_CLAIMS = 16  # at most this many claims (locks) per batch of missing texts
_CLAIM_WAIT = 3600.0  # seconds to wait for a claim another process holds
_DIGEST = 16  # bytes of the per-text BLAKE2b hash
_SUFFIX = ".feat"


# --------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------


def is_cached_encoder(name: str) -> bool:
    """Whether ``name`` selects the cached mode (``"minilm-cached"`` or ``"cached:<folder>"``)."""
    return name == CACHED_ENCODER or name.startswith(CACHED_PREFIX)


def cached_model_path(name: str) -> Path:
    """The model folder of a cached encoder name.

    Raises ``ValueError`` when ``name`` is not a cached encoder name, when the MiniLM package is
    missing, or when the folder does not exist or has no ``config.json``.
    """
    if name == CACHED_ENCODER:
        return minilm_path()
    if not name.startswith(CACHED_PREFIX):
        raise ValueError(
            f"{name!r} is not a cached encoder: expected {CACHED_ENCODER!r} or "
            f"'{CACHED_PREFIX}<local model folder>'"
        )
    folder = name[len(CACHED_PREFIX) :].strip()
    if not folder:
        raise ValueError(f"encoder {name!r}: name a local model folder after {CACHED_PREFIX!r}")
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise ValueError(f"encoder {name!r}: {path} is not a folder")
    if not (path / "config.json").is_file():
        raise ValueError(f"encoder {name!r}: {path} has no config.json")
    return path


def finetune_encoder_name(name: str) -> str:
    """The full (unfrozen) encoder that corresponds to a selection encoder name:
    ``"minilm-cached"`` -> ``"minilm"``, ``"cached:<folder>"`` -> ``"<folder>"``, others as they
    are."""
    if name == CACHED_ENCODER:
        return "minilm"
    if name.startswith(CACHED_PREFIX):
        return name[len(CACHED_PREFIX) :].strip()
    return name


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
    return sorted(
        p for p in folder.iterdir() if not _NOT_READ.fullmatch(p.name) and p.is_file()
    )


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


# --------------------------------------------------------------------------------------------
# The on-disk store
# --------------------------------------------------------------------------------------------


@dataclass
class CacheStats:
    """Counters of one :class:`FeatureStore` (for logs and tests).

    Attributes:
        requested: texts asked for (with repeats removed per call).
        hits: of those, found in the cache.
        encoded: texts run through the frozen encoder.
        forward_calls: forward passes of the frozen encoder (batches).
        shards_written: shard files written.
        discarded: shard files found corrupted or stale, removed and rebuilt.
        seconds_encoding: wall-clock time spent loading the encoder and encoding.
    """

    requested: int = 0
    hits: int = 0
    encoded: int = 0
    forward_calls: int = 0
    shards_written: int = 0
    discarded: int = 0
    seconds_encoding: float = 0.0


@dataclass
class _Shard:
    path: Path
    count: int
    offset: int  # byte offset of the payload
    checksum: str
    vectors: np.ndarray | None = None  # loaded and verified on first use


class _BadShard(Exception):
    pass


class FeatureStore:
    """Content-addressed disk cache of the sentence vectors of one frozen encoder.

    Layout: ``<cache_dir>/features/<model name>-<key[:16]>/`` holds ``model.json`` (what the
    key stands for, for people) and shard files ``*.feat``. A shard is::

        8 bytes   magic b"AUXFEAT\\0"
        4 bytes   header length n (little-endian uint32)
        n bytes   header, JSON: format, model_key, dim, count, dtype "float32",
                  digest_size 16, sha256 (of the payload)
        payload   count x 16 bytes of text hashes, then count x dim float32 vectors

    A shard is trusted only if the magic, format, model key, dimension, dtype and file size
    match and, before its vectors are first used, the payload's SHA-256 matches the header;
    otherwise it is deleted and its texts are encoded again. Writes go to a temporary file
    that is renamed into place, so readers never see half a shard. Processes that need the
    same missing texts at once share the work through claims (lock files, see
    :meth:`_encode_shared`): each text is encoded by one of them and read by the others.

    Args:
        model_path: the local Hugging Face model folder.
        num_layers: keep only the first ``num_layers`` transformer layers (``None``: all).
        max_length: truncation length in tokens.
        batch_size: texts per forward pass of the frozen encoder.
        device: where the frozen encoder runs (``"auto"``: CUDA when present). The vectors are
            computed in float32 on every device.
        cache_dir: root cache folder (default :func:`autoaux.paths.cache_dir`).
        shard_rows: texts per shard file (a shard is written as soon as it is full).
        progress: show a progress bar while encoding.
        label: the encoder's name in the progress bar and the cache folder name (default: the
            model folder's name).

    The frozen encoder is loaded on the first encoding and kept until :meth:`release`.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        *,
        num_layers: int | None = None,
        max_length: int = 64,
        batch_size: int = 64,
        device: str = "auto",
        cache_dir: str | os.PathLike[str] | None = None,
        shard_rows: int = 4096,
        progress: bool = True,
        label: str | None = None,
    ) -> None:
        if max_length < 2:
            raise ValueError(f"max_length must be >= 2, got {max_length}")
        if num_layers is not None and num_layers < 1:
            raise ValueError(f"num_layers must be >= 1 or None, got {num_layers}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if shard_rows < 1:
            raise ValueError(f"shard_rows must be >= 1, got {shard_rows}")
        self.model_path = Path(model_path).expanduser().resolve()
        if not (self.model_path / "config.json").is_file():
            raise ValueError(f"{self.model_path} is not a model folder (no config.json)")
        self.num_layers = num_layers
        self.max_length = int(max_length)
        self.batch_size = int(batch_size)
        self.device = device
        self.shard_rows = int(shard_rows)
        self.progress = progress
        self.dim = _read_hidden_size(self.model_path)
        root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.key = model_key(
            self.model_path,
            num_layers=num_layers,
            max_length=max_length,
            memo=root / "features" / "file-digests.json",
        )
        self.label = label or self.model_path.name
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.label) or "model"
        self.folder = root / "features" / f"{name}-{self.key[:16]}"
        self.stats = CacheStats()
        self._shards: dict[str, _Shard] = {}  # file name -> shard
        self._index: dict[bytes, tuple[str, int]] = {}  # text hash -> (file name, row)
        self._ignored: set[str] = set()  # names in the folder that are not shard files
        self._loaded: tuple[nn.Module, Any, torch.device] | None = None

    # ----------------------------------------------------------------- reading

    def _header(self, path: Path) -> tuple[dict[str, Any], int]:
        """The validated header of ``path`` and the payload offset; raises :class:`_BadShard`."""
        try:
            size = path.stat().st_size
            with path.open("rb") as handle:
                head = handle.read(len(_MAGIC) + 4)
                if len(head) < len(_MAGIC) + 4 or head[: len(_MAGIC)] != _MAGIC:
                    raise _BadShard("not a feature shard (bad magic)")
                length = int.from_bytes(head[len(_MAGIC) :], "little")
                if length > 1 << 20:
                    raise _BadShard("header too long")
                raw = handle.read(length)
            header = json.loads(raw.decode("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise _BadShard(f"unreadable header ({error})") from None
        if not isinstance(header, dict):
            raise _BadShard("header is not a JSON object")
        expected = {
            "format": FORMAT_VERSION,
            "model_key": self.key,
            "dim": self.dim,
            "dtype": "float32",
            "digest_size": _DIGEST,
        }
        for key, value in expected.items():
            if header.get(key) != value:
                raise _BadShard(f"stale: {key} is {header.get(key)!r}, expected {value!r}")
        count = header.get("count")
        if not isinstance(count, int) or count < 0 or not isinstance(header.get("sha256"), str):
            raise _BadShard("header has no valid count or checksum")
        offset = len(_MAGIC) + 4 + length
        if size != offset + count * (_DIGEST + 4 * self.dim):
            raise _BadShard(f"truncated or padded: {size} bytes for {count} vectors")
        return header, offset

    def _discard(self, path: Path, reason: str) -> None:
        log.warning(
            "feature cache: discarding %s (%s); its texts will be encoded again", path, reason
        )
        self.stats.discarded += 1
        self._shards.pop(path.name, None)
        self._index = {h: loc for h, loc in self._index.items() if loc[0] != path.name}
        try:
            path.unlink(missing_ok=True)
        except OSError as error:  # never fail a run over a file it could not remove
            log.warning("feature cache: could not remove %s (%s)", path, error)
            self._ignored.add(path.name)

    def _scan(self) -> None:
        """Index the text hashes of shard files not seen yet (another process may add some)."""
        if not self.folder.is_dir():
            return
        for path in sorted(self.folder.glob(f"*{_SUFFIX}")):
            if path.name in self._shards or path.name in self._ignored:
                continue
            if path.is_symlink() or not path.is_file():  # a folder or a link: not a shard
                log.warning("feature cache: ignoring %s (not a plain shard file)", path)
                self._ignored.add(path.name)
                continue
            try:
                header, offset = self._header(path)
                with path.open("rb") as handle:
                    handle.seek(offset)
                    raw = handle.read(header["count"] * _DIGEST)
            except _BadShard as error:
                self._discard(path, str(error))
                continue
            except OSError:  # removed meanwhile
                continue
            self._add_shard(_Shard(path, header["count"], offset, header["sha256"]), raw)

    def _add_shard(self, shard: _Shard, hashes: bytes) -> None:
        self._shards[shard.path.name] = shard
        for row in range(shard.count):
            digest = hashes[row * _DIGEST : (row + 1) * _DIGEST]
            self._index.setdefault(digest, (shard.path.name, row))

    def _vectors(self, shard: _Shard) -> np.ndarray:
        """The shard's vectors, checksum-verified on first use (raises :class:`_BadShard`)."""
        if shard.vectors is None:
            try:
                data = shard.path.read_bytes()
            except OSError as error:
                raise _BadShard(f"unreadable ({error})") from None
            payload = memoryview(data)[shard.offset :]
            if hashlib.sha256(payload).hexdigest() != shard.checksum:
                raise _BadShard("checksum mismatch (corrupted)")
            start = shard.count * _DIGEST
            vectors = np.frombuffer(payload[start:], dtype="<f4").reshape(shard.count, self.dim)
            if not np.all(np.isfinite(vectors)):
                raise _BadShard("non-finite vectors")
            shard.vectors = vectors
        return shard.vectors

    def contains(self, texts: Iterable[str]) -> np.ndarray:
        """Whether each text has a vector in the cache, shape ``(n,)`` bool (nothing encoded;
        shards are not checksum-verified by this call)."""
        self._scan()
        return np.asarray([text_hash(t) in self._index for t in texts], dtype=bool)

    def get(self, texts: Sequence[str]) -> np.ndarray:
        """The vectors of ``texts``, shape ``(n, dim)`` float32, encoding the missing ones.

        Cached texts are read from verified shards; the others (and those of any shard found
        corrupted or stale on the way) are encoded in length-sorted batches and written as new
        shards before this returns.
        """
        texts = list(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        hashes = [text_hash(t) for t in texts]
        first: dict[bytes, int] = {}
        for i, digest in enumerate(hashes):
            first.setdefault(digest, i)
        self.stats.requested += len(first)
        self._scan()
        found = self._read_cached(first, out)
        self.stats.hits += len(found)
        missing = [i for digest, i in first.items() if digest not in found]
        if missing:
            self._encode_shared(texts, hashes, missing, out)
        for i, digest in enumerate(hashes):  # repeated texts copy their first occurrence
            j = first[digest]
            if j != i:
                out[i] = out[j]
        return out

    def _read_cached(self, first: Mapping[bytes, int], out: np.ndarray) -> set[bytes]:
        """Fill ``out`` rows of cached texts; returns their hashes. Bad shards are discarded
        (and the lookup retried, since another shard may hold the same texts)."""
        while True:
            by_shard: dict[str, list[tuple[int, int]]] = {}
            for digest, i in first.items():
                loc = self._index.get(digest)
                if loc is not None:
                    by_shard.setdefault(loc[0], []).append((i, loc[1]))
            try:
                for name, pairs in by_shard.items():
                    vectors = self._vectors(self._shards[name])
                    rows = np.asarray([r for _, r in pairs])
                    out[np.asarray([i for i, _ in pairs])] = vectors[rows]
            except _BadShard as error:
                self._discard(self._shards[name].path, str(error))
                # Re-index what remains: a duplicate of a lost entry may sit in another shard.
                self._shards.clear()
                self._index.clear()
                self._scan()
                continue
            return {d for d in first if d in self._index}

    # ----------------------------------------------------------------- writing

    def _write_shard(self, hashes: list[bytes], vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype="<f4")
        payload = b"".join(hashes) + vectors.tobytes()
        header = json.dumps(
            {
                "format": FORMAT_VERSION,
                "model_key": self.key,
                "dim": self.dim,
                "count": len(hashes),
                "dtype": "float32",
                "digest_size": _DIGEST,
                "sha256": hashlib.sha256(payload).hexdigest(),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            },
            sort_keys=True,
        ).encode()
        self.folder.mkdir(parents=True, exist_ok=True)
        self._write_description()
        name = f"shard-{time.time_ns()}-{os.getpid()}-{uuid.uuid4().hex[:8]}{_SUFFIX}"
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(_MAGIC)
                handle.write(len(header).to_bytes(4, "little"))
                handle.write(header)
                handle.write(payload)
            os.replace(tmp, self.folder / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        offset = len(_MAGIC) + 4 + len(header)
        shard = _Shard(self.folder / name, len(hashes), offset, "", vectors=vectors)
        self._add_shard(shard, payload[: len(hashes) * _DIGEST])
        self.stats.shards_written += 1

    def _write_description(self) -> None:
        path = self.folder / "model.json"
        if path.is_file():
            return
        description = {
            "format": FORMAT_VERSION,
            "model_key": self.key,
            "model_path": str(self.model_path),
            "num_layers": self.num_layers,
            "max_length": self.max_length,
            "dim": self.dim,
            "pooling": "masked mean of the last kept layer's token states",
        }
        tmp = path.with_name(f".model-{uuid.uuid4().hex[:8]}.json")
        tmp.write_text(json.dumps(description, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)

    # ----------------------------------------------------------------- sharing the work

    def _claim_buckets(self, count: int) -> int:
        """Into how many claims ``count`` missing texts are cut: one per ``shard_rows`` (at
        least ``8 * batch_size``) texts, at most :data:`_CLAIMS`."""
        per_claim = max(self.shard_rows, 8 * self.batch_size)
        return max(1, min(_CLAIMS, count // per_claim))

    def _encode_shared(
        self, texts: Sequence[str], hashes: Sequence[bytes], missing: list[int], out: np.ndarray
    ) -> None:
        """Fill ``out[missing]``, encoding only what no other process encodes meanwhile.

        The missing texts are cut by hash into claims (:meth:`_claim_buckets`); a claim is an
        exclusive lock file ``.claim-<n>-<k>.lock`` in the cache folder (released by the
        operating system if its holder dies). A process takes the free claims first, one at a
        time, and for each one reads again what the cache now holds and encodes the rest; a
        claim another process holds is waited for last, and then mostly read from the shards
        that process wrote. Two processes that ask for the same texts at once therefore split
        the encoding between them, and each text is encoded once.
        """
        from filelock import FileLock, Timeout
        from tqdm.auto import tqdm

        n = self._claim_buckets(len(missing))
        claims: dict[int, list[int]] = {}
        for i in missing:
            claims.setdefault(int.from_bytes(hashes[i][:4], "little") % n, []).append(i)
        self.folder.mkdir(parents=True, exist_ok=True)
        bar = tqdm(
            total=len(missing),
            desc=f"encoding with {self.label}",
            unit="text",
            disable=not self.progress,
        )
        try:
            waiting = sorted(claims)
            while waiting:
                for k in list(waiting):  # the claims no other process holds, first
                    lock = FileLock(str(self.folder / f".claim-{n}-{k}.lock"))
                    try:
                        lock.acquire(timeout=0)
                    except Timeout:
                        continue
                    try:
                        self._fill_claim(texts, hashes, claims[k], out, bar)
                    finally:
                        lock.release()
                    waiting.remove(k)
                if waiting:  # held elsewhere: wait for one, then read what it wrote
                    k = waiting.pop(0)
                    lock = FileLock(str(self.folder / f".claim-{n}-{k}.lock"))
                    try:
                        lock.acquire(timeout=_CLAIM_WAIT)
                    except Timeout:
                        log.warning("feature cache: a claim stayed held; encoding it here too")
                        self._fill_claim(texts, hashes, claims[k], out, bar)
                        continue
                    try:
                        self._fill_claim(texts, hashes, claims[k], out, bar)
                    finally:
                        lock.release()
        finally:
            bar.close()

    def _fill_claim(
        self,
        texts: Sequence[str],
        hashes: Sequence[bytes],
        rows: list[int],
        out: np.ndarray,
        bar: Any,
    ) -> None:
        """``out[rows]`` from the cache as it is now, encoding (and storing) the rest."""
        self._scan()
        first = {hashes[i]: i for i in rows}
        found = self._read_cached(first, out)
        self.stats.hits += len(found)
        bar.update(len(found))
        todo = [i for digest, i in first.items() if digest not in found]
        if todo:
            out[todo] = self._encode_and_store([texts[i] for i in todo], bar=bar)

    # ----------------------------------------------------------------- encoding

    def _load_model(self) -> tuple[nn.Module, Any, torch.device]:
        if self._loaded is not None:
            return self._loaded
        spec = ModelSpec(
            encoder=str(self.model_path), max_length=self.max_length, num_layers=self.num_layers
        )
        encoder, tokenizer = build_plain_encoder(spec, texts=(), seed=0)
        device = resolve_device(self.device)
        encoder.eval().requires_grad_(False).to(device)
        self._loaded = (encoder, tokenizer, device)
        return self._loaded

    def release(self) -> None:
        """Drop the loaded frozen encoder (it is loaded again if more texts need encoding)."""
        self._loaded = None

    def iter_encode(self, texts: Sequence[str]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Encode ``texts`` without the cache: yields ``(positions, vectors)`` per batch.

        Texts are tokenised once (truncated to ``max_length``), sorted by length (longest
        first, so the memory peak comes at once) and run in batches of ``batch_size``, each
        padded to its own longest text; ``vectors[k]`` is the masked mean of the last kept
        layer's token states of ``texts[positions[k]]``, float32. Only one batch of token
        states is alive at a time.
        """
        if not texts:
            return
        encoder, tokenizer, device = self._load_model()
        ids = tokenizer(list(texts), truncation=True, max_length=self.max_length)["input_ids"]
        lengths = np.fromiter((len(r) for r in ids), dtype=np.int64, count=len(ids))
        order = np.argsort(-lengths, kind="stable")
        pad = int(tokenizer.pad_token_id)
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            width = int(lengths[index].max())
            batch = np.full((len(index), width), pad, dtype=np.int64)
            mask = np.zeros((len(index), width), dtype=np.int64)
            for k, i in enumerate(index):
                batch[k, : lengths[i]] = ids[i]
                mask[k, : lengths[i]] = 1
            input_ids = torch.from_numpy(batch).to(device)
            attention = torch.from_numpy(mask).to(device)
            with torch.inference_mode():
                hidden = encoder(input_ids=input_ids, attention_mask=attention).last_hidden_state
                weights = attention.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)
            self.stats.forward_calls += 1
            yield index, pooled.float().cpu().numpy()

    def _encode_and_store(self, texts: list[str], *, bar: Any) -> np.ndarray:
        start = time.perf_counter()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        pending: list[int] = []
        try:
            for index, vectors in self.iter_encode(texts):
                out[index] = vectors
                pending.extend(int(i) for i in index)
                self.stats.encoded += len(index)
                bar.update(len(index))
                while len(pending) >= self.shard_rows:
                    chunk, pending = pending[: self.shard_rows], pending[self.shard_rows :]
                    self._write_shard([text_hash(texts[i]) for i in chunk], out[chunk])
            if pending:
                self._write_shard([text_hash(texts[i]) for i in pending], out[pending])
        finally:
            self.stats.seconds_encoding += time.perf_counter() - start
        return out

    # ----------------------------------------------------------------- maintenance

    def verify(self) -> int:
        """Check every shard now (header and checksum); remove the bad ones. Returns how many
        were removed."""
        before = self.stats.discarded
        self._scan()
        for shard in list(self._shards.values()):
            try:
                self._vectors(shard)
            except _BadShard as error:
                self._discard(shard.path, str(error))
        return self.stats.discarded - before

    def size_bytes(self) -> int:
        """Bytes on disk of this encoder's cache folder."""
        if not self.folder.is_dir():
            return 0
        return sum(p.stat().st_size for p in self.folder.iterdir() if p.is_file())

    def __len__(self) -> int:
        """Distinct texts in the cache."""
        self._scan()
        return len(self._index)


# --------------------------------------------------------------------------------------------
# The table of registered examples, and the tokenizer that fills it
# --------------------------------------------------------------------------------------------


class FeatureTable:
    """The examples registered so far and, once materialised, their texts' vectors.

    Example ids start at 1 (0 is padding). Example ``e`` refers to text rows
    ``(a, b)``: ``b = 0`` (the all-zero row) for a single text. ``vectors[r]`` is text row
    ``r``'s sentence vector once ``r`` is *ready* (fetched from the :class:`FeatureStore`).
    Registration and materialisation bump :attr:`version`, which tells a
    :class:`CachedEncoder` to refresh its buffers. The table is append-only and shared: a deep
    copy (``MultiTaskModel.clone``) returns the table itself.
    """

    def __init__(self, store: FeatureStore) -> None:
        self.store = store
        self.dim = store.dim
        self._text_rows: dict[str, int] = {}
        self._texts: list[str] = [""]
        self._example_ids: dict[tuple[int, int, bool], int] = {}
        self._examples: list[tuple[int, int]] = [(0, 0)]
        self._is_pair: list[bool] = [False]
        self._vectors = np.zeros((1024, self.dim), dtype=np.float32)
        self._ready = np.zeros(1024, dtype=bool)
        self._ready[0] = True
        self.version = 0

    def __deepcopy__(self, memo: dict[int, Any]) -> FeatureTable:
        return self

    def __len__(self) -> int:
        """Number of example ids, padding included."""
        return len(self._examples)

    @property
    def num_texts(self) -> int:
        """Distinct registered texts."""
        return len(self._texts) - 1

    def _text_row(self, text: str) -> int:
        row = self._text_rows.get(text)
        if row is None:
            row = len(self._texts)
            self._texts.append(text)
            self._text_rows[text] = row
            if row >= len(self._ready):
                grow = max(1024, len(self._ready))
                self._vectors = np.concatenate(
                    [self._vectors, np.zeros((grow, self.dim), dtype=np.float32)]
                )
                self._ready = np.concatenate([self._ready, np.zeros(grow, dtype=bool)])
        return row

    def register(self, text: str, text_pair: str | None = None) -> int:
        """The example id of ``text`` (or the pair ``(text, text_pair)``), new if unseen."""
        a = self._text_row(str(text))
        b = self._text_row(str(text_pair)) if text_pair is not None else 0
        key = (a, b, text_pair is not None)
        example = self._example_ids.get(key)
        if example is None:
            example = len(self._examples)
            self._examples.append((a, b))
            self._is_pair.append(text_pair is not None)
            self._example_ids[key] = example
            self.version += 1
        return example

    def example_texts(self, example: int) -> tuple[str, str | None]:
        """The text (and pair text) of example id ``example``."""
        a, b = self._examples[example]
        return self._texts[a], (self._texts[b] if self._is_pair[example] else None)

    def ready(self, examples: Iterable[int] | None = None) -> bool:
        """Whether every text of ``examples`` (default: all registered) has its vector."""
        if examples is None:
            return bool(self._ready[: len(self._texts)].all())
        rows = np.asarray([r for e in examples for r in self._examples[int(e)]], dtype=np.int64)
        return bool(self._ready[rows].all()) if rows.size else True

    def materialize(self, examples: Iterable[int] | None = None) -> int:
        """Fetch (or encode) the vectors of ``examples``' texts (default: every registered
        example) that are not ready yet; returns the number of texts fetched."""
        if examples is None:
            rows = np.flatnonzero(~self._ready[: len(self._texts)])
        else:
            wanted = {r for e in examples for r in self._examples[int(e)]}
            rows = np.asarray(sorted(r for r in wanted if not self._ready[r]), dtype=np.int64)
        if rows.size == 0:
            return 0
        self._vectors[rows] = self.store.get([self._texts[int(r)] for r in rows])
        self._ready[rows] = True
        self.version += 1
        return int(rows.size)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(examples (N, 2) int64, is_pair (N,) bool, vectors (T, D) float32,
        example_ready (N,) bool)`` for the ``N`` example ids and ``T`` text rows so far."""
        examples = np.asarray(self._examples, dtype=np.int64).reshape(-1, 2)
        is_pair = np.asarray(self._is_pair, dtype=bool)
        n_texts = len(self._texts)
        ready = self._ready[:n_texts]
        example_ready = ready[examples[:, 0]] & ready[examples[:, 1]]
        return examples, is_pair, self._vectors[:n_texts].copy(), example_ready


class CachedTokenizer:
    """A tokenizer for the cached mode: each example becomes the single id of its table row.

    Duck-types the call that :func:`tasks.encoding.encode_split` makes of a Hugging Face fast
    tokenizer: ``tokenizer(texts, text_pair=pairs, truncation=True, max_length=m)`` returns
    ``{"input_ids": [[id], [id], ...]}`` (a single ``str`` gives ``{"input_ids": [id]}``).
    ``truncation`` and ``max_length`` are accepted and ignored here: truncation happens inside
    the frozen encoder, at the store's ``max_length``. ``pad_token_id`` is 0.
    """

    pad_token_id = 0

    def __init__(self, table: FeatureTable) -> None:
        self.table = table

    def __call__(
        self,
        text: str | Sequence[str],
        text_pair: str | Sequence[str] | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        if isinstance(text, str):
            if text_pair is not None and not isinstance(text_pair, str):
                raise TypeError("a single text takes a single text_pair")
            return {"input_ids": [self.table.register(text, text_pair)]}
        texts = list(text)
        if text_pair is None:
            pairs: list[str | None] = [None] * len(texts)
        elif isinstance(text_pair, str):
            raise TypeError("a list of texts takes a list of text_pair values")
        else:
            pairs = list(text_pair)
            if len(pairs) != len(texts):
                raise ValueError(f"{len(texts)} texts but {len(pairs)} text_pair values")
        return {
            "input_ids": [[self.table.register(t, p)] for t, p in zip(texts, pairs, strict=True)]
        }

    def __len__(self) -> int:
        return len(self.table)


# --------------------------------------------------------------------------------------------
# The encoder module
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CachedEncoderConfig:
    """What a :class:`CachedEncoder` is (read by ``MultiTaskModel`` and ``describe_encoder``).

    ``hidden_size`` is the top's output width (the heads' input), ``num_hidden_layers`` the
    number of trainable top layers; ``feature_dim`` the frozen encoder's width ``D`` and
    ``input_dim = 4 D`` the top's input.
    """

    source: str
    model_path: str
    model_key: str
    feature_dim: int
    input_dim: int
    hidden_size: int
    num_hidden_layers: int
    frozen_layers: int | None
    max_length: int
    dropout: float


@dataclass
class CachedEncoderOutput:
    """``last_hidden_state``: ``(B, L, H)``, like a transformers encoder output."""

    last_hidden_state: Tensor


class SharedTop(nn.Module):
    """The trainable shared network: ``layers`` linear layers with GELU, dropout between them.

    ``(..., input_dim) -> (..., hidden)``; ``layers = 2`` is
    ``GELU(W2 . dropout(GELU(W1 x + b1)) + b2)``.

    :meth:`forward_leading` computes the same function for an input whose every block after the
    first ``d`` entries is zero (``x = [u, 0, 0, 0]``): ``W1 x = W1[:, :d] u``, so the first
    layer multiplies only the non-zero block (a quarter of the work for single texts). Outputs
    and gradients equal the plain path's up to float rounding; the gradient of ``W1[:, d:]`` is
    exactly zero on both.
    """

    def __init__(self, input_dim: int, hidden: int, *, layers: int = 2, dropout: float = 0.1):
        super().__init__()
        if layers < 1:
            raise ValueError(f"the shared top needs at least one layer, got {layers}")
        modules: list[nn.Module] = []
        width = input_dim
        for i in range(layers):
            if i:
                modules.append(nn.Dropout(dropout))
            modules += [nn.Linear(width, hidden), nn.GELU()]
            width = hidden
        self.net = nn.Sequential(*modules)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.net(x)
        return out

    def forward_leading(self, u: Tensor) -> Tensor:
        """``forward([u, 0, ..., 0])`` for ``u`` of shape ``(..., d)``, ``d <= input_dim``,
        with the first layer computed on the ``d`` non-zero inputs only."""
        first = self.net[0]
        assert isinstance(first, nn.Linear)
        h = F.linear(u, first.weight[:, : u.shape[-1]], first.bias)
        for module in itertools.islice(self.net, 1, None):
            h = module(h)
        return h


class CachedEncoder(nn.Module):
    """Frozen cached sentence vectors (buffers) and a trainable :class:`SharedTop`.

    ``forward(input_ids, attention_mask=None)``: ``input_ids`` ``(B, L)`` are example ids from
    the :class:`CachedTokenizer` (``L = 1`` in practice; 0 is padding); returns
    ``last_hidden_state = top([u, m v, m |u - v|, m u v])`` of shape ``(B, L, H)``, with ``u``,
    ``v`` the vectors of the example's texts and ``m`` 1 for pairs, 0 for single texts.
    Examples whose vectors are not in the buffers yet are fetched from the table (and so from
    the disk cache or the frozen encoder) on first use.

    The vectors live in non-persistent buffers: they move with ``.to(device)`` but stay out of
    ``state_dict()``, so snapshots, checkpoints and saved models hold only the top (and the
    heads). Only the top has parameters, so ``MultiTaskModel.shared_parameters()`` (gating) is
    exactly the top's.

    A batch of single texts only (every ``m = 0``, as in every batch of a single-text task)
    goes through :meth:`SharedTop.forward_leading`: the first layer multiplies ``u`` alone
    instead of ``[u, 0, 0, 0]``, a quarter of its work, with the same outputs and gradients up
    to float rounding. ``skip_zero_blocks = False`` forces the plain product (for comparison).
    """

    examples: Tensor
    is_pair: Tensor
    vectors: Tensor
    example_ready: Tensor

    def __init__(
        self,
        table: FeatureTable,
        *,
        source: str,
        hidden: int = 256,
        layers: int = 2,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.table = table
        store = table.store
        self.config = CachedEncoderConfig(
            source=source,
            model_path=str(store.model_path),
            model_key=store.key,
            feature_dim=table.dim,
            input_dim=4 * table.dim,
            hidden_size=hidden,
            num_hidden_layers=layers,
            frozen_layers=store.num_layers,
            max_length=store.max_length,
            dropout=dropout,
        )
        self.top = SharedTop(4 * table.dim, hidden, layers=layers, dropout=dropout)
        self.register_buffer("examples", torch.zeros(1, 2, dtype=torch.long), persistent=False)
        self.register_buffer("is_pair", torch.zeros(1, dtype=torch.bool), persistent=False)
        self.register_buffer("vectors", torch.zeros(1, table.dim), persistent=False)
        self.register_buffer("example_ready", torch.ones(1, dtype=torch.bool), persistent=False)
        self.skip_zero_blocks = True
        self._version = -1
        self._complete = False
        self._any_pair = False

    def _sync(self) -> None:
        """Copy the table into the buffers if it changed since the last copy."""
        if self._version == self.table.version:
            return
        examples, is_pair, vectors, ready = self.table.arrays()
        device = self.vectors.device
        with torch.inference_mode(False), torch.no_grad():
            self.examples = torch.from_numpy(examples).to(device)
            self.is_pair = torch.from_numpy(is_pair).to(device)
            self.vectors = torch.from_numpy(vectors).to(device)
            self.example_ready = torch.from_numpy(ready).to(device)
        self._version = self.table.version
        self._complete = bool(ready.all())
        self._any_pair = bool(is_pair.any())

    def materialize(self, examples: Iterable[int] | None = None) -> int:
        """Fetch the vectors of ``examples`` (default: every registered one); see
        :meth:`FeatureTable.materialize`."""
        count = self.table.materialize(examples)
        self._sync()
        return count

    def forward(
        self, input_ids: Tensor, attention_mask: Tensor | None = None, **_: Any
    ) -> CachedEncoderOutput:
        self._sync()
        if input_ids.numel() and int(input_ids.max()) >= len(self.examples):
            raise IndexError(
                f"example id {int(input_ids.max())} is not in the feature table "
                f"({len(self.examples)} ids); were these ids made by another CachedTokenizer?"
            )
        if not self._complete and not bool(self.example_ready[input_ids].all()):
            self.materialize(torch.unique(input_ids).tolist())
        rows = self.examples[input_ids]  # (B, L, 2)
        u = self.vectors[rows[..., 0]]  # (B, L, D)
        if self.skip_zero_blocks and (
            not self._any_pair or not bool(self.is_pair[input_ids].any())
        ):  # single texts only: x = [u, 0, 0, 0]
            return CachedEncoderOutput(last_hidden_state=self.top.forward_leading(u))
        v = self.vectors[rows[..., 1]]
        m = self.is_pair[input_ids].unsqueeze(-1).to(u.dtype)  # (B, L, 1)
        x = torch.cat([u, m * v, m * (u - v).abs(), m * u * v], dim=-1)  # (B, L, 4D)
        return CachedEncoderOutput(last_hidden_state=self.top(x))


# --------------------------------------------------------------------------------------------
# Building and precomputing
# --------------------------------------------------------------------------------------------


def build_cached_encoder(
    encoder: str,
    *,
    max_length: int = 64,
    num_layers: int | None = None,
    hidden: int = 256,
    layers: int = 2,
    dropout: float = 0.1,
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
    device: str = "auto",
    batch_size: int | None = None,
    progress: bool = True,
) -> tuple[CachedEncoder, CachedTokenizer]:
    """The cached encoder ``encoder`` (``"minilm-cached"`` or ``"cached:<folder>"``) and its
    tokenizer.

    Nothing is encoded here: vectors are fetched when :func:`precompute_features` (or the
    first forward pass over an example) asks for them. ``seed`` fixes the top's initial
    weights (the global torch random state is left unchanged). ``batch_size`` of the frozen
    encoder defaults to 64 on the CPU and 256 on CUDA.
    """
    path = cached_model_path(encoder)
    if batch_size is None:
        batch_size = 256 if resolve_device(device).type == "cuda" else 64
    store = FeatureStore(
        path,
        num_layers=num_layers,
        max_length=max_length,
        batch_size=batch_size,
        device=device,
        cache_dir=cache_dir,
        progress=progress,
        label="minilm" if encoder == CACHED_ENCODER else None,
    )
    table = FeatureTable(store)
    with isolated_seed(seed):
        module = CachedEncoder(table, source=encoder, hidden=hidden, layers=layers, dropout=dropout)
    module.train()
    return module, CachedTokenizer(table)


def precompute_features(
    model: nn.Module, data: Mapping[str, Any], *, main: str | None = None
) -> int:
    """Fetch, in one pass with one progress bar, the vectors a run will use.

    ``model`` is a :class:`CachedEncoder` or a model holding one as ``.encoder`` (anything else
    is left alone and 0 returned). Covers every training split of ``data`` and the dev and test
    splits of ``main`` (of every task when ``main`` is ``None``); the auxiliary tasks' dev and
    test splits are never scored by the pipeline, so they are encoded only if used. Returns the
    number of texts fetched (cached or encoded).
    """
    encoder = model if isinstance(model, CachedEncoder) else getattr(model, "encoder", None)
    if not isinstance(encoder, CachedEncoder):
        return 0
    ids: set[int] = set()
    for name, td in data.items():
        splits = ("train", "dev", "test") if main is None or name == main else ("train",)
        for split in splits:
            ids.update(row[0] for row in td.split(split).input_ids if row)
    start = time.perf_counter()
    count = encoder.materialize(sorted(ids))
    encoder.table.store.release()
    stats = encoder.table.store.stats
    log.info(
        "cached features: %d texts fetched in %.1fs (%d from the cache, %d encoded)",
        count,
        time.perf_counter() - start,
        stats.hits,
        stats.encoded,
    )
    return count
