"""Gradient-cosine gating: hand-computed numbers and the no-conflict guarantee on a tiny model."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

from autoaux.model import ModelSpec, MultiTaskModel, build_encoder
from autoaux.training.gating import GATING_MODES, CosineGate, GateResult, gradient_cosine


def _params(*grads: list[list[float]] | list[float]) -> list[torch.nn.Parameter]:
    params = []
    for g in grads:
        t = torch.tensor(g, dtype=torch.float32)
        p = torch.nn.Parameter(torch.zeros_like(t))
        p.grad = t.clone()
        params.append(p)
    return params


# g_a = ([1, 2], [[0, -1], [3, 0]]), g_m = ([2, 0], [[1, 1], [1, -2]])
G_A = ([1.0, 2.0], [[0.0, -1.0], [3.0, 0.0]])
G_M = [torch.tensor([2.0, 0.0]), torch.tensor([[1.0, 1.0], [1.0, -2.0]])]
# <g_a, g_m> = 2 + 0 + 0 - 1 + 3 + 0 = 4
# |g_a|^2 = 1 + 4 + 1 + 9 = 15;  |g_m|^2 = 4 + 1 + 1 + 1 + 4 = 11
HAND_COS = 4.0 / math.sqrt(15.0 * 11.0)


def test_cosine_matches_hand_computation() -> None:
    params = _params(*G_A)
    cos = gradient_cosine([p.grad for p in params], G_M)
    assert float(cos) == pytest.approx(HAND_COS, rel=1e-6)
    flat = torch.nn.functional.cosine_similarity(
        torch.cat([p.grad.reshape(-1) for p in params if p.grad is not None]),
        torch.cat([g.reshape(-1) for g in G_M]),
        dim=0,
    )
    assert float(cos) == pytest.approx(float(flat), rel=1e-6)
    # None entries count as zeros; a zero gradient has cosine 0.
    assert float(gradient_cosine([None, params[1].grad], [G_M[0], None])) == 0.0
    assert float(gradient_cosine([torch.zeros(2)], [torch.ones(2)])) == 0.0


@pytest.mark.parametrize(
    ("mode", "scale"),
    [("off", 1.0), ("unweighted", 1.0), ("weighted", HAND_COS), ("smoothed", HAND_COS)],
)
def test_scale_and_gated_gradient_match_hand_computation(mode: str, scale: float) -> None:
    params = _params(*G_A)
    result = CosineGate(mode).apply("aux", params, G_M)
    assert isinstance(result, GateResult)
    assert result.cosine == pytest.approx(HAND_COS, rel=1e-6)
    assert result.scale == pytest.approx(scale, rel=1e-6)
    for p, g in zip(params, G_A, strict=True):
        torch.testing.assert_close(p.grad, scale * torch.tensor(g))


@pytest.mark.parametrize(("mode", "scale"), [("off", 1.0), ("unweighted", 0.0), ("weighted", 0.0)])
def test_conflicting_gradient_is_dropped(mode: str, scale: float) -> None:
    params = _params(*G_A)
    negated = [-g for g in G_M]
    result = CosineGate(mode).apply("aux", params, negated)
    assert result.cosine == pytest.approx(-HAND_COS, rel=1e-6)
    assert result.scale == scale
    for p, g in zip(params, G_A, strict=True):
        torch.testing.assert_close(p.grad, scale * torch.tensor(g))


def test_smoothed_mode_follows_bias_corrected_ema() -> None:
    s = 0.8
    gate = CosineGate("smoothed", smoothing=s)
    main = [torch.tensor([1.0, 0.0])]
    angles = [0.3, 2.0, 2.5, 0.1, 1.2]  # cosines cos(angle): some negative
    ema = 0.0
    for n, angle in enumerate(angles, start=1):
        params = _params([math.cos(angle), math.sin(angle)])
        result = gate.apply("aux", params, main)
        cos = math.cos(angle)
        ema = s * ema + (1 - s) * cos
        corrected = ema / (1 - s**n)
        assert result.cosine == pytest.approx(cos, abs=1e-6)
        assert result.scale == pytest.approx(max(0.0, corrected), abs=1e-6)
        assert gate.smoothed_cosine("aux") == pytest.approx(corrected, abs=1e-6)
    # Step 2 had a negative batch cosine but a positive average: the update went through.
    gate2 = CosineGate("smoothed", smoothing=s)
    gate2.apply("aux", _params([math.cos(0.3), math.sin(0.3)]), main)
    second = gate2.apply("aux", _params([math.cos(2.0), math.sin(2.0)]), main)
    assert second.cosine < 0 < second.scale
    # Tasks keep separate averages.
    assert gate.smoothed_cosine("other") is None


def test_state_dict_round_trip_and_validation() -> None:
    gate = CosineGate("smoothed", smoothing=0.5, refresh_every=3)
    for angle in (0.2, 1.9):
        gate.apply("t", _params([math.cos(angle), math.sin(angle)]), [torch.tensor([1.0, 0.0])])
    state = gate.state_dict()
    other = CosineGate("smoothed", smoothing=0.5, refresh_every=3)
    other.load_state_dict(state)
    a = gate.apply("t", _params([0.5, 0.5]), [torch.tensor([1.0, 0.0])])
    b = other.apply("t", _params([0.5, 0.5]), [torch.tensor([1.0, 0.0])])
    assert a == b
    with pytest.raises(ValueError, match="mode"):
        CosineGate("weighted").load_state_dict(state)
    with pytest.raises(ValueError, match="gating mode"):
        CosineGate("sometimes")
    with pytest.raises(ValueError, match="refresh_every"):
        CosineGate(refresh_every=0)
    with pytest.raises(ValueError, match="smoothing"):
        CosineGate(smoothing=1.0)
    assert set(GATING_MODES) == {"off", "unweighted", "weighted", "smoothed"}


def _grads(model: MultiTaskModel, task: str, batch: dict[str, torch.Tensor]) -> None:
    model.zero_grad(set_to_none=True)
    model.loss(task, batch, "classification").backward()


@pytest.mark.parametrize("mode", ["unweighted", "weighted"])
def test_gated_update_never_conflicts_with_main_gradient(
    mode: str, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOAUX_CACHE", str(tmp_path_factory.mktemp("cache")))
    words = [f"w{i}" for i in range(40)]
    encoder: Any
    encoder, _ = build_encoder(
        ModelSpec(max_length=12, vocab_size=80), texts=[" ".join(words)] * 5, seed=0
    )
    model = MultiTaskModel(encoder, {"main": 2, "aux": 3}, seed=0)
    shared = model.shared_parameters()
    gate = CosineGate(mode)
    rng = np.random.default_rng(0)
    vocab = encoder.config.vocab_size

    def batch(n_labels: int) -> dict[str, torch.Tensor]:
        ids = torch.from_numpy(rng.integers(5, vocab, size=(8, 12)))
        mask = torch.ones_like(ids)
        mask[:, int(rng.integers(4, 12)) :] = 0
        return {
            "input_ids": ids,
            "attention_mask": mask,
            "labels": torch.from_numpy(rng.integers(0, n_labels, size=8)),
        }

    signs = []
    for _ in range(40):
        _grads(model, "main", batch(2))
        g_m: list[Any] = [p.grad.clone() for p in shared if p.grad is not None]
        assert len(g_m) == len(shared)
        _grads(model, "aux", batch(3))
        head = [p.grad.clone() for p in model.head_parameters("aux") if p.grad is not None]
        result = gate.apply("aux", shared, g_m)
        g_gated: list[Any] = [p.grad for p in shared]
        dot = sum(float((a.double() * b.double()).sum()) for a, b in zip(g_gated, g_m, strict=True))
        norm = math.sqrt(sum(float(a.double().square().sum()) for a in g_gated))
        norm_m = math.sqrt(sum(float(b.double().square().sum()) for b in g_m))
        assert dot >= -1e-6 * norm * norm_m, (result, dot)
        if result.cosine <= 0:
            assert result.scale == 0.0 and norm == 0.0
        # The task's head keeps its own gradient.
        for p, h in zip(model.head_parameters("aux"), head, strict=True):
            assert p.grad is not None and torch.equal(p.grad, h)
        signs.append(result.cosine > 0)
    # The test is only meaningful if both signs occurred.
    assert any(signs) and not all(signs)
