"""Files of the checkpoint folder: atomic tensor writes, checksums, temporary-file cleanup."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from autoaux.runs._files import (
    atomic_write,
    fsync_folder,
    plain_folder,
)


def _jsonable(value: Any) -> Any:
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return item()
    tolist = getattr(value, "tolist", None)  # numpy arrays
    if callable(tolist):
        return tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _temp_prefix(path: Path) -> str:
    """Temporary files are named after their writer (process id), so that cleanup removes
    only its own."""
    return f".{path.name}.{os.getpid()}."


def _atomic_torch_save(obj: Any, path: Path) -> str:
    """Write ``obj`` with ``torch.save`` atomically; return the file's sha256."""
    import torch

    atomic_write(
        path, lambda handle: torch.save(obj, handle), mode=0o600, prefix=_temp_prefix(path)
    )
    fsync_folder(path.parent)
    return _sha256(path)


def _remove_others(folder: Path, pattern: str, *, keep: str | None) -> None:
    plain_folder(folder, create=False)  # never clean a folder a link points to
    for path in folder.glob(pattern):
        if path.name != keep:
            path.unlink(missing_ok=True)
    _remove_temps(folder)


def _remove_temps(folder: Path, *, everyone: bool = False) -> None:
    """Remove temporary files left by a kill during a write: this process's own, or with
    ``everyone`` (only while the folder's lock is held, when no other writer can be alive)
    every writer's."""
    plain_folder(folder, create=False)
    pattern = ".*.tmp" if everyone else f".*.{os.getpid()}.*.tmp"
    for tmp in folder.glob(pattern):
        tmp.unlink(missing_ok=True)
