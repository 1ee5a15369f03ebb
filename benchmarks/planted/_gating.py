"""The gating and facts sections: one helpful task, under each gate and against its control."""

from __future__ import annotations

import math
import time
from typing import Any

import autoaux
from autoaux import config_from_dict
from autoaux.model import ModelSpec, MultiTaskModel, build_encoder
from autoaux.training import derive_seed
from autoaux.training.gating import CosineGate
from autoaux.training.trainer import Trainer, TrainerSpec, prepare_tasks
from benchmarks._common import Workspace, log, summary
from tasks import make_planted_suite

from ._suites import Budget


def section_gating(b: Budget) -> dict[str, Any]:
    """Main + one helpful task (ratio 1:1) under each gate: what gating lets through, and what
    it costs the main task."""
    modes = ("off", "unweighted", "weighted", "smoothed")
    rows: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    for seed in b.gating_seeds:
        suite = make_planted_suite(
            n_helpful=1, n_neutral=0, n_harmful=0, main_train=b.main_train,
            aux_train=b.gating_aux_train, dev=b.dev, test=b.test, seed=seed,
        )  # fmt: skip
        helpful = suite.auxiliary[0].name
        texts = [ex.text for t in suite.tasks for ex in t.train]
        encoder, tokenizer = build_encoder(
            ModelSpec(encoder="tiny", max_length=b.max_length),
            texts=texts,
            seed=derive_seed(seed, "encoder"),
        )
        model = MultiTaskModel(
            encoder, {t.name: t.num_labels for t in suite.tasks}, seed=derive_seed(seed, "heads")
        )
        data = prepare_tasks(
            suite.tasks, tokenizer, max_length=b.max_length, batch_size=16,
            seed=derive_seed(seed, "data"),
        )  # fmt: skip
        initial = model.snapshot()
        for mode in modes:
            model.restore(initial)
            trainer = Trainer(
                model,
                data,
                main="main",
                spec=TrainerSpec(total_steps=b.gating_steps, device="cpu"),
                gate=CosineGate(mode),
                seed=derive_seed(seed, "gating"),
            )
            start = time.perf_counter()
            report = trainer.train_mixture(
                {"main": 1.0, helpful: 1.0}, b.gating_steps, eval_every=b.eval_every
            )
            rows[mode].append(
                {
                    "seed": seed,
                    "test": trainer.evaluate("main", "test"),
                    "dev": report.best_dev,
                    "helpful_mean_cosine": report.mean_cosine.get(helpful, math.nan),
                    "helpful_mean_scale": report.mean_scale.get(helpful, math.nan),
                    "seconds": time.perf_counter() - start,
                }
            )
            log(f"planted gating: seed {seed} {mode}: {rows[mode][-1]}")
    return {
        "setup": {
            "main_train": b.main_train,
            "helpful_train": b.gating_aux_train,
            "steps": b.gating_steps,
            "mixture": "main 1 : helpful 1",
            "seeds": list(b.gating_seeds),
        },
        "modes": {
            m: {
                "test": summary([r["test"] for r in v]),
                "helpful_mean_cosine": summary([r["helpful_mean_cosine"] for r in v]),
                "helpful_fraction_kept": summary([r["helpful_mean_scale"] for r in v]),
                "seconds": summary([r["seconds"] for r in v]),
                "runs": v,
            }
            for m, v in rows.items()
        },
    }


def section_facts(b: Budget, ws: Workspace) -> dict[str, Any]:
    """Does the literal AutoSem stage 1 tell a helpful task from its control? A pool of one
    helpful task (the main rule, ``gating_aux_train`` examples) and its shuffled control,
    ``pulls`` x ``steps_per_pull``; final utilities (decayed posterior and undecayed mean
    reward) and mean gradient cosines under the literal AutoSem preset and under the default
    preset."""
    presets: dict[str, dict[str, Any]] = {
        "autosem": {"preset": "autosem"},
        "autoaux (default)": {"preset": "bandit"},
    }
    rows: dict[str, list[dict[str, Any]]] = {p: [] for p in presets}
    for seed in b.gating_seeds:
        suite = make_planted_suite(
            n_helpful=1, n_neutral=0, n_harmful=0, main_train=b.main_train,
            aux_train=b.gating_aux_train, dev=b.dev, test=b.test, seed=seed,
        )  # fmt: skip
        helpful = suite.auxiliary[0].name
        control = f"shuffled:{helpful}"
        config = config_from_dict(
            {
                "seed": seed,
                "model": {"encoder": "tiny", "max_length": b.max_length},
                "main": {"task": "main"},
                "auxiliary": {"tasks": [helpful], "add_control": True},
                "stage1": {"pulls": b.pulls, "steps_per_pull": b.steps_per_pull},
                "tracking": {"enabled": False},
                "output_dir": ws.folder(),
                "device": "cpu",
            },
            source="benchmarks/planted",
            user_tasks=[t.name for t in suite.tasks],
        )
        for name, overrides in presets.items():
            sel = autoaux.select(
                config.replace(output_dir=ws.folder()),
                user_tasks=suite.tasks,
                tracker=autoaux.NullTracker(),
                progress=False,
                **overrides,
            )
            scales = [r.scale for r in sel.history if r.task == helpful and not math.isnan(r.scale)]
            rows[name].append(
                {
                    "seed": seed,
                    "posterior_helpful": sel.posterior[helpful],
                    "posterior_control": sel.posterior[control],
                    "mean_reward_helpful": sel.mean_rewards[helpful],
                    "mean_reward_control": sel.mean_rewards[control],
                    "cosine_helpful": sel.mean_cosines[helpful],
                    "cosine_control": sel.mean_cosines[control],
                    "helpful_gate_scale": sum(scales) / len(scales) if scales else math.nan,
                    "selected": list(sel.selected),
                }
            )
            log(f"planted facts: seed {seed} {name}: {rows[name][-1]}")
    return {
        "setup": {
            "main_train": b.main_train,
            "helpful_train": b.gating_aux_train,
            "pulls": b.pulls,
            "steps_per_pull": b.steps_per_pull,
            "seeds": list(b.gating_seeds),
        },
        "presets": {
            name: {
                **{
                    key: summary([r[key] for r in v])
                    for key in v[0]
                    if key not in ("seed", "selected")
                },
                "helpful_selected": sum(r["selected"] == ["helpful-0"] for r in v),
                "runs": v,
            }
            for name, v in rows.items()
        },
    }
