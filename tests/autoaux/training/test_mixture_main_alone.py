"""A result that recommends the main task alone gives a mixture that draws only the main task."""

from __future__ import annotations

import json
from pathlib import Path

from autoaux.training.mixture import Mixture


def test_a_main_alone_result_draws_only_the_main_task(tmp_path: Path) -> None:
    result = {
        "main_task": "m",
        "ratios": {"m": 1.0, "a": 0.0, "b": 0.0},
        "recommendation": "train the main task alone: no mixture beat it on dev",
        "main_alone": True,
    }
    path = tmp_path / "result.json"
    path.write_text(json.dumps(result))
    mixture = Mixture.from_result(path)
    assert mixture.tasks == ("m",)
    assert mixture.probabilities() == {"m": 1.0}
    mixed = Mixture.from_result({**result, "ratios": {"m": 1.0, "a": 1.0, "b": 0.0}})
    assert mixed.tasks == ("m", "a") and mixed.probabilities() == {"m": 0.5, "a": 0.5}
