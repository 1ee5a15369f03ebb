"""GLUE task folders: the layout of each GLUE task and :func:`from_glue`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ._loaders import PathArg, _assemble, _Table, parse_delimited, read_bytes_text
from ._types import Task, TaskDataError


@dataclass(frozen=True)
class GlueLayout:
    """Where one GLUE task keeps its text and labels (``fieldnames`` for header-less files)."""

    name: str
    text: tuple[str, ...]
    label: str
    kind: str
    metric: str
    labels: tuple[str, ...]
    dev_file: str = "dev.tsv"
    fieldnames: tuple[str, ...] | None = None


GLUE_TASKS: dict[str, GlueLayout] = {
    "cola": GlueLayout(
        "cola",
        ("sentence",),
        "label",
        "classification",
        "matthews",
        ("0", "1"),
        fieldnames=("source", "label", "original_label", "sentence"),
    ),
    "sst2": GlueLayout("sst-2", ("sentence",), "label", "classification", "accuracy", ("0", "1")),
    "mrpc": GlueLayout(
        "mrpc", ("#1 String", "#2 String"), "Quality", "classification", "accuracy", ("0", "1")
    ),
    "qqp": GlueLayout(
        "qqp", ("question1", "question2"), "is_duplicate", "classification", "accuracy", ("0", "1")
    ),
    "stsb": GlueLayout("sts-b", ("sentence1", "sentence2"), "score", "regression", "pearson", ()),
    "mnli": GlueLayout(
        "mnli",
        ("sentence1", "sentence2"),
        "gold_label",
        "classification",
        "accuracy",
        ("contradiction", "entailment", "neutral"),
        dev_file="dev_matched.tsv",
    ),
    "qnli": GlueLayout(
        "qnli",
        ("question", "sentence"),
        "label",
        "classification",
        "accuracy",
        ("entailment", "not_entailment"),
    ),
    "rte": GlueLayout(
        "rte",
        ("sentence1", "sentence2"),
        "label",
        "classification",
        "accuracy",
        ("entailment", "not_entailment"),
    ),
    "wnli": GlueLayout(
        "wnli", ("sentence1", "sentence2"), "label", "classification", "accuracy", ("0", "1")
    ),
}


def glue_layout(glue_task: str) -> GlueLayout:
    """The layout of a GLUE task named like "SST-2", "sst2" or "STS-B" (case-insensitive)."""
    key = glue_task.lower().replace("-", "").replace("_", "")
    if key not in GLUE_TASKS:
        names = ", ".join(layout.name.upper() for layout in GLUE_TASKS.values())
        raise ValueError(f"unknown GLUE task {glue_task!r}; known: {names}")
    return GLUE_TASKS[key]


def from_glue(
    folder: PathArg,
    glue_task: str,
    *,
    name: str | None = None,
    seed: int = 0,
    dev_fraction: float = 0.1,
) -> Task:
    """Load a GLUE task from its folder (``train.tsv`` and ``dev.tsv``; MNLI ``dev_matched.tsv``).

    GLUE's test labels are hidden, so the official dev file becomes the **test** split and a
    seeded, stratified ``dev_fraction`` of train becomes dev. Files are read as plain TSV without
    quote handling (GLUE text contains bare quotes); CoLA has no header row. Metrics: CoLA
    Matthews correlation, STS-B Pearson (regression on the 0-5 score), the rest accuracy.
    """
    layout = glue_layout(glue_task)
    root = Path(folder)
    if not root.is_dir():
        raise TaskDataError("GLUE folder not found", path=root)
    tables: dict[str, _Table | None] = {}
    for split_name, file_name in (("train", "train.tsv"), ("test", layout.dev_file)):
        p = root / file_name
        tables[split_name] = parse_delimited(
            read_bytes_text(p, "utf-8"),
            str(p),
            delimiter="\t",
            quoting=False,
            fieldnames=layout.fieldnames,
        )
    return _assemble(
        tables,
        name=name or layout.name,
        text_columns=layout.text,
        label=layout.label,
        kind=layout.kind,
        metric=layout.metric,
        labels=layout.labels or None,
        seed=seed,
        dev_fraction=dev_fraction,
        test_fraction=0.0,
        split_column=None,
        source=f"GLUE {layout.name.upper()} from {root} (official dev used as test)",
    )
