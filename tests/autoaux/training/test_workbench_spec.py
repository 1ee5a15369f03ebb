"""The one conversion from ``[model]`` to a ModelSpec keeps every setting."""

from __future__ import annotations

import dataclasses

from autoaux.config import ModelConfig
from autoaux.model import ModelSpec
from autoaux.training.workbench import model_spec


def test_model_spec_carries_every_model_setting_it_has_a_field_for() -> None:
    config = ModelConfig(encoder="minilm-cached", top_hidden=64, top_layers=1, dropout=0.2)
    spec = model_spec(config)
    assert (spec.top_hidden, spec.top_layers, spec.dropout) == (64, 1, 0.2)
    shared = {f.name for f in dataclasses.fields(ModelSpec)} & {
        f.name for f in dataclasses.fields(ModelConfig)
    }
    assert shared and all(getattr(spec, name) == getattr(config, name) for name in shared)
    assert model_spec(config, encoder="tiny", num_layers=1).encoder == "tiny"
