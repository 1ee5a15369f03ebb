"""Mixture.probabilities is the normalisation stage 2 records and trains with: the same values,
bit for bit, as bayesopt's MixingRatioSpace.probabilities, zero-ratio tasks included."""

from __future__ import annotations

import numpy as np

from autoaux.training.mixture import Mixture
from bayesopt import MixingRatioSpace


def test_stage2_probabilities_are_the_ratio_space_ones_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    for n in range(1, 14):
        names = [f"t{i}" for i in range(n)]
        space = MixingRatioSpace(names)
        for _ in range(200):
            values = rng.uniform(0.0, 5.0, size=n) * (rng.random(n) > 0.3)
            ratios = dict(zip(names, values.tolist(), strict=True))
            expected = space.probabilities(ratios).tolist()
            mixed = Mixture("main", ratios).probabilities(keep_zero=True)
            assert list(mixed) == ["main", *names]
            assert list(mixed.values()) == expected
            drawn = Mixture("main", ratios).probabilities()
            assert drawn == {k: v for k, v in mixed.items() if v > 0}
