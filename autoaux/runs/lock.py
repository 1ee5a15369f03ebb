"""One run per output folder: a lock held for the life of a run, a resume, a select or a mix.

The lock is ``<output_dir>/.autoaux.lock`` (the ``filelock`` package: an OS lock, released by
the kernel when its process dies, so a killed run never leaves the folder locked). Beside it,
``.autoaux.lock.holder`` says who holds it (process id, host, start time, command), so that a
second process on the same folder stops at once with one line naming the folder and the holder.
Neither is ever opened through a symbolic link: the lock is opened with ``O_NOFOLLOW`` and the
holder file is written under a temporary name and renamed (a link at either name is refused).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from autoaux._secrets import redact_text
from autoaux.errors import AutoauxError
from autoaux.runs._files import UnsafeOutput, refuse_link, write_text

__all__ = ["LOCK_FILE", "FolderInUse", "folder_lock"]

LOCK_FILE = ".autoaux.lock"
HOLDER_FILE = ".autoaux.lock.holder"


class FolderInUse(AutoauxError):
    """Another autoaux process holds the output folder (the message names it)."""


@contextlib.contextmanager
def folder_lock(output_dir: str | Path) -> Iterator[Path]:
    """Hold the lock of ``output_dir`` (created if missing) while the body runs.

    Raises:
        FolderInUse: another process holds it; raised at once, without waiting.
        UnsafeOutput: the lock or its holder file is a symbolic link (or cannot be opened).
    """
    from filelock import FileLock, Timeout

    folder = Path(output_dir).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    refuse_link(folder / LOCK_FILE)  # the lock is opened with O_NOFOLLOW: say why it fails
    refuse_link(folder / HOLDER_FILE)
    lock = FileLock(str(folder / LOCK_FILE), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise FolderInUse(
            f"output folder {folder} is in use by another autoaux run ({_holder(folder)}); "
            "wait for it to end or choose another output folder"
        ) from None
    except OSError as error:
        raise UnsafeOutput(
            f"{folder / LOCK_FILE}: cannot open the folder's lock ({error.strerror or error}); "
            "remove it or choose another output folder"
        ) from None
    holder = folder / HOLDER_FILE
    try:
        text = json.dumps(
            {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "since": time.strftime("%Y-%m-%d %H:%M:%S"),
                "command": redact_text(" ".join(sys.argv[:3])),
            }
        )
        # a temporary file renamed over the holder name: a link there is replaced, never followed
        write_text(holder, text)
        yield folder
    finally:
        with contextlib.suppress(OSError):
            holder.unlink()  # unlink removes a link itself, never its target
        lock.release()


def _holder(folder: Path) -> str:
    try:
        data = json.loads((folder / HOLDER_FILE).read_text(encoding="utf-8"))
        return f"process {int(data['pid'])} on {data['host']} since {data['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "holder unknown"
