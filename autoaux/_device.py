"""Device choice: one function, so every component resolves ``"auto"`` the same way."""

from __future__ import annotations

import torch

__all__ = ["DEVICES", "autocast_context", "resolve_device"]

DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """The torch device for ``device``: ``"auto"`` is CUDA when available, else CPU.

    ``"cuda"`` (or ``"cuda:N"``) raises ``ValueError`` when no CUDA device is present, so a
    configuration that asks for a GPU never silently falls back to the CPU.
    """
    text = str(device) if isinstance(device, torch.device) else str(device).strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "cuda" or text.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} was asked for but CUDA is not available")
        return torch.device(text)
    raise ValueError(f"device {device!r}: expected one of {DEVICES} (or 'cuda:N')")


def autocast_context(device: torch.device) -> torch.autocast | None:
    """A bf16 autocast context for CUDA devices, ``None`` on the CPU (full fp32 there)."""
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return None
