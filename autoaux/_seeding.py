"""Seeding: the one place torch random state is touched.

Every random component of autoaux owns a ``numpy.random.Generator`` built from its ``seed``;
torch randomness (weight initialisation, dropout) is handled here:

- :func:`seed_torch` seeds the global torch generators (for scripts that want that) and returns
  a private CPU ``torch.Generator``;
- :func:`isolated_seed` runs a block (e.g. building a model) under a given seed and restores the
  global torch random state afterwards, so building a model never changes anyone else's
  random stream;
- :class:`TorchRngState` holds a private copy of the global torch random state that a trainer
  swaps in for the duration of its own calls (dropout cannot take a generator argument).
- :func:`derive_seed` turns a seed and a few keys (task names...) into an independent seed, so
  that, say, the head of task ``"a"`` starts the same whatever other tasks exist.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

__all__ = ["TorchRngState", "derive_seed", "isolated_seed", "seed_torch"]


def seed_torch(seed: int) -> torch.Generator:
    """Seed torch's global generators (CPU and CUDA) with ``seed``; return a CPU generator.

    This changes global state on purpose; library code uses :func:`isolated_seed` or
    :class:`TorchRngState` instead.
    """
    torch.manual_seed(seed)
    generator = torch.Generator(device="cpu")
    generator.manual_seed(seed)
    return generator


def derive_seed(seed: int, *keys: str | int) -> int:
    """A 63-bit seed derived from ``seed`` and ``keys`` (strings hashed with CRC-32)."""
    words = [int(seed) & 0xFFFFFFFFFFFFFFFF]
    for key in keys:
        words.append(zlib.crc32(key.encode("utf-8")) if isinstance(key, str) else int(key))
    state = np.random.SeedSequence(words).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


def _cuda_devices(devices: list[torch.device] | None) -> list[int]:
    if not torch.cuda.is_available() or not devices:
        return []
    indices = []
    for device in devices:
        if device.type == "cuda":
            indices.append(
                device.index if device.index is not None else torch.cuda.current_device()
            )
    return sorted(set(indices))


def _seed_generators(seed: int, cuda: list[int]) -> None:
    """Seed the CPU generator and the listed CUDA devices' generators (no others)."""
    torch.random.default_generator.manual_seed(seed)
    for index in cuda:
        with torch.cuda.device(index):
            torch.cuda.manual_seed(seed)


@contextmanager
def isolated_seed(seed: int, *, devices: list[torch.device] | None = None) -> Iterator[None]:
    """Run the block with torch seeded by ``seed``; restore the previous global state after.

    The CPU generator is always seeded and restored (models are initialised on the CPU);
    ``devices`` adds CUDA devices whose generators are seeded and restored too.
    """
    cuda = _cuda_devices(devices)
    with torch.random.fork_rng(devices=cuda):
        _seed_generators(seed, cuda)
        yield


class TorchRngState:
    """A private torch random state (CPU, and one CUDA device if given) swapped in on demand.

    Usage: ``with state.active(): ...`` installs this state as the global torch state, runs the
    block, saves the advanced state back here and restores whatever was global before. Costs two
    small copies per ``with``, so wrap whole training calls, not single steps.
    """

    def __init__(self, seed: int, *, device: torch.device | None = None) -> None:
        self._cuda = _cuda_devices([device] if device is not None else None)
        with torch.random.fork_rng(devices=self._cuda):
            _seed_generators(seed, self._cuda)
            self._cpu = torch.get_rng_state()
            self._gpu = [torch.cuda.get_rng_state(i) for i in self._cuda]

    @contextmanager
    def active(self) -> Iterator[None]:
        """Install this state for the block, then save it back and restore the global one."""
        saved_cpu = torch.get_rng_state()
        saved_gpu = [torch.cuda.get_rng_state(i) for i in self._cuda]
        torch.set_rng_state(self._cpu)
        for i, state in zip(self._cuda, self._gpu, strict=True):
            torch.cuda.set_rng_state(state, i)
        try:
            yield
        finally:
            self._cpu = torch.get_rng_state()
            self._gpu = [torch.cuda.get_rng_state(i) for i in self._cuda]
            torch.set_rng_state(saved_cpu)
            for i, state in zip(self._cuda, saved_gpu, strict=True):
                torch.cuda.set_rng_state(state, i)

    def state_dict(self) -> dict[str, Any]:
        """Copies of the held states (uint8 tensors)."""
        return {"cpu": self._cpu.clone(), "cuda": [s.clone() for s in self._gpu]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Adopt states from :meth:`state_dict` (CUDA states only when the device counts match)."""
        self._cpu = state["cpu"].clone().to(torch.uint8)
        cuda = list(state.get("cuda", []))
        if len(cuda) == len(self._cuda):
            self._gpu = [s.clone().to(torch.uint8) for s in cuda]
