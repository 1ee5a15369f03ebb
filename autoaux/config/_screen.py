"""``[screen]``: the affinity screen that shortlists a large pool (:class:`ScreenConfig`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from autoaux.config._checks import _check_choice, _check_float, _check_int
from autoaux.config._vocab import SCREEN_WHEN

__all__ = ["ScreenConfig"]


@dataclass(frozen=True)
class ScreenConfig:
    """``[screen]``: the affinity screen that shortlists a large pool before stage 1.

    Each candidate and the null control get ``rounds`` *probes*: ``probe_steps`` steps of
    main + that task (1:1) from the run's initial weights, scored by the main task's dev loss
    on the whole dev split; the probes of one round share a seed. A candidate's affinity is
    the relative drop of that loss against the control's, averaged over rounds, with a
    one-sided interval at level ``alpha`` (:mod:`autoaux.stages.screen`). Candidates whose
    interval lies below 0 (no better than the control, with confidence) are dropped; the best
    ``shortlist`` of the rest by affinity go on to stage 1.

    ``when = "auto"`` screens a pool of more than ``min_candidates`` candidates (controls not
    counted), ``"always"`` every pool, ``"never"`` none. ``autoaux affinity`` always screens.
    """

    _section: ClassVar[str] = "screen"

    when: str = "auto"
    min_candidates: int = 8
    probe_steps: int = 150
    rounds: int = 3
    alpha: float = 0.05
    shortlist: int = 8

    def __post_init__(self) -> None:
        _check_choice(self, "when", SCREEN_WHEN)
        _check_int(self, "min_candidates", minimum=0)
        _check_int(self, "probe_steps", minimum=1)
        _check_int(self, "rounds", minimum=2, maximum=1000)
        _check_float(self, "alpha", above=0.0, maximum=0.5)
        _check_int(self, "shortlist", minimum=1)

    def applies(self, n_candidates: int) -> bool:
        """Whether a pool of ``n_candidates`` (controls not counted) is screened."""
        if self.when == "auto":
            return n_candidates > self.min_candidates
        return self.when == "always"
