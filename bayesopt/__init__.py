"""Mixing-ratio Bayesian optimisation on scikit-optimize.

Stage 2 of autoaux: given the auxiliary tasks chosen in stage 1, find how often to train each
one relative to the main task. :class:`MixingRatioSpace` defines the ratios (main task fixed
at 1) and turns them into sampling probabilities; :class:`MixingRatioOptimizer` searches them
with a Gaussian-process surrogate in ask/tell style; :class:`RandomRatioSearch` is the
random-search baseline with the same interface. Evaluations are recorded as frozen
:class:`Trial` records whose :class:`TrialState` is ``COMPLETE`` or ``FAILED``.

Example::

    space = MixingRatioSpace(["nli", "sentiment"], low=0.0, high=5.0)
    optimizer = MixingRatioOptimizer(space, seed=0)
    best = optimizer.run(lambda ratios: train_and_score(space.probabilities(ratios)), 20)
"""

from __future__ import annotations

from bayesopt._gp import ACQUISITIONS, INITIAL_DESIGNS, MixingRatioOptimizer
from bayesopt._random import RandomRatioSearch
from bayesopt._space import MixingRatioSpace
from bayesopt._trial import Trial, TrialState

__all__ = [
    "ACQUISITIONS",
    "INITIAL_DESIGNS",
    "MixingRatioOptimizer",
    "MixingRatioSpace",
    "RandomRatioSearch",
    "Trial",
    "TrialState",
]
