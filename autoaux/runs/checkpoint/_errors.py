"""The two ways a resumable run stops early: a refused resume and a Ctrl-C."""

from __future__ import annotations

from pathlib import Path

from autoaux._hints import resume_hint
from autoaux.errors import AutoauxError


class CheckpointError(AutoauxError):
    """A run cannot be resumed from the given folder (the message says why)."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a run; its checkpoint is written. ``command``: the shell line that resumes
    it (with the run's store, :mod:`autoaux._hints`); ``advice``: how to resume, ending with it.
    ``tracking_uri``: the store the run logs to (``None``: no tracking)."""

    def __init__(self, output_dir: str | Path, tracking_uri: str | None = None) -> None:
        self.output_dir = str(output_dir)
        self.tracking_uri = tracking_uri
        hint = resume_hint(self.output_dir, tracking_uri)
        self.command = hint.command
        self.advice = hint.say("resume")
        super().__init__(f"interrupted; the checkpoint is saved; {self.advice}")
