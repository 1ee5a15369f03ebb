"""The on-disk, content-addressed store of the sentence vectors of one frozen encoder."""

from __future__ import annotations

import hashlib
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
from torch import nn

from autoaux._device import resolve_device
from autoaux.model.cached._key import (
    _DIGEST,
    FORMAT_VERSION,
    _read_hidden_size,
    model_key,
    text_hash,
)
from autoaux.model.multitask import ModelSpec, build_plain_encoder
from autoaux.paths import cache_dir as default_cache_dir

log = logging.getLogger(__name__)

_MAGIC = b"AUXFEAT\x00"
_CLAIMS = 16  # at most this many claims (locks) per batch of missing texts
_CLAIM_WAIT = 3600.0  # seconds to wait for a claim another process holds
_SUFFIX = ".feat"


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
