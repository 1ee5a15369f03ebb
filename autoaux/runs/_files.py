"""Writes and deletes inside an output folder that never go through a symbolic link.

An output folder may have been prepared by someone else (a shared disk, an unpacked archive).
A link placed at a name autoaux writes (``result.json``, a plot, the lock's holder file, the
``checkpoint`` folder) would redirect a write or a delete to a file of the link's choosing, so:

- every file is written under a temporary name in its folder and renamed over the target
  (``rename`` replaces a link, never the file it points to), after :func:`refuse_link` has
  refused a link at the target name with a one-line :class:`UnsafeOutput` (exit 2);
- a folder autoaux creates or cleans (``checkpoint/``) must be a real folder, not a link;
- deletions remove the directory entry itself (``unlink`` never follows a final link) and only
  inside a folder checked by :func:`plain_folder`.

Every file autoaux writes in an output folder goes through :func:`atomic_write`; text and JSON
through :func:`write_text` and :func:`write_json`. This module imports nothing else from
``autoaux.runs`` (an import-linter contract in ``pyproject.toml``), so every record module can
use it without an import circle.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import stat
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from autoaux.errors import AutoauxError

__all__ = [
    "UnsafeOutput",
    "atomic_write",
    "clean_json",
    "fsync_folder",
    "plain_folder",
    "refuse_link",
    "write_json",
    "write_text",
]


class UnsafeOutput(AutoauxError):
    """A name autoaux writes or deletes in an output folder is a symbolic link (or not the
    kind of entry expected); the message names it."""


def refuse_link(path: str | Path) -> Path:
    """``path``, after checking that it is not a symbolic link.

    Raises:
        UnsafeOutput: ``path`` is a symbolic link.
    """
    path = Path(path)
    if path.is_symlink():
        raise UnsafeOutput(
            f"{path}: is a symbolic link; autoaux never writes or deletes through a link in an "
            "output folder (remove the link or choose another output folder)"
        )
    return path


def plain_folder(path: str | Path, *, create: bool = True) -> Path:
    """``path`` as a real folder (created when missing and ``create``), never a link.

    Raises:
        UnsafeOutput: ``path`` is a symbolic link or exists and is not a folder.
    """
    path = refuse_link(path)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        if create:
            raise
        return path
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeOutput(f"{path}: exists and is not a folder; choose another output folder")
    return path


def atomic_write(
    path: str | Path,
    write: Callable[[IO[bytes]], object],
    *,
    mode: int = 0o644,
    prefix: str | None = None,
    suffix: str = ".tmp",
) -> Path:
    """Write ``path`` with ``write(handle)``: a temporary file beside it (created with
    ``O_EXCL``, never through a link), fsynced, given file mode ``mode`` and renamed over
    ``path``. A link at ``path`` is refused; the folder is taken as it is (the output folder
    the user named may be a link; folders autoaux creates inside it are checked by their
    writers with :func:`plain_folder`).

    Raises:
        UnsafeOutput: ``path`` is a symbolic link.
    """
    path = refuse_link(path)
    folder = path.parent  # the user's own folder may be reached through a link
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=prefix if prefix is not None else f".{path.name}.{os.getpid()}.",
        suffix=suffix,
        dir=folder,
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
            os.fchmod(handle.fileno(), mode)  # per file; the process umask is never touched
        refuse_link(path)  # a link put there while the file was written
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def write_text(
    path: str | Path,
    text: str,
    *,
    mode: int = 0o644,
    prefix: str | None = None,
    sync_folder: bool = False,
) -> Path:
    """Write ``text`` (UTF-8) to ``path`` with :func:`atomic_write`; with ``sync_folder``,
    fsync the folder afterwards too, so that the rename itself survives a crash.

    Raises:
        UnsafeOutput: ``path`` is a symbolic link.
    """
    written = atomic_write(
        path, lambda handle: handle.write(text.encode("utf-8")), mode=mode, prefix=prefix
    )
    if sync_folder:
        fsync_folder(written.parent)
    return written


def write_json(path: str | Path, data: Mapping[str, Any], *, mode: int = 0o644) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically, with file mode ``mode``; ``nan``
    becomes ``null`` (:func:`clean_json`). A symbolic link at ``path`` is refused.

    Raises:
        autoaux.runs.UnsafeOutput: ``path`` is a symbolic link.
    """
    text = json.dumps(clean_json(data), indent=2, allow_nan=False) + "\n"
    return write_text(path, text, mode=mode)


def clean_json(value: Any) -> Any:
    """JSON-safe copy: tuples -> lists, non-finite floats -> None, numpy scalars -> Python."""
    if isinstance(value, Mapping):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return clean_json(item())
    return str(value)


def fsync_folder(folder: str | Path) -> None:
    """fsync ``folder`` itself (its entries), ignoring a system that refuses it."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
