"""Each vocabulary has one home; where a layer rule forces a second copy, the copies agree."""

from __future__ import annotations

import bandits
import bayesopt
import tasks
from autoaux.config import _vocab
from autoaux.model import multitask
from autoaux.model.cached import _names
from autoaux.stages import baselines, executors
from autoaux.training import gating


def test_the_library_vocabularies_are_the_libraries_own() -> None:
    assert _vocab.ACQUISITIONS is bayesopt.ACQUISITIONS
    assert set(_vocab.POLICIES) == set(bandits.POLICIES) and _vocab.POLICIES[0] == "racing"
    assert (_vocab.KINDS, _vocab.METRICS) == (tasks.KINDS, tasks.METRICS)
    assert _vocab.SHUFFLED_PREFIX == tasks.SHUFFLED_PREFIX == "shuffled:"


def test_the_code_that_implements_a_choice_reads_the_config_words() -> None:
    assert gating.GATING_MODES is _vocab.GATINGS
    assert executors.EXECUTORS is _vocab.EXECUTORS
    assert tuple(baselines.BASELINES) == _vocab.BASELINES


def test_the_model_layer_copies_agree_with_the_config() -> None:
    assert multitask.ENCODERS == _vocab.ENCODERS
    assert _names.CACHED_PREFIX == _vocab.CACHED_PREFIX
