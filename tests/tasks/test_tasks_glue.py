from __future__ import annotations

from pathlib import Path

import pytest

from tasks import GLUE_TASKS, TaskDataError, from_glue

N_TRAIN, N_DEV = 30, 6


def _nli(i: int, y: str) -> str:
    return ("neutral" if y == "0" else "entailment") if i % 3 else "contradiction"


MNLI_TRAIN = [
    "index",
    "promptID",
    "pairID",
    "genre",
    "sentence1_binary_parse",
    "sentence2_binary_parse",
    "sentence1_parse",
    "sentence2_parse",
    "sentence1",
    "sentence2",
    "label1",
    "gold_label",
]
MNLI_DEV = [*MNLI_TRAIN[:10], "label1", "label2", "label3", "label4", "label5", "gold_label"]
LAYOUTS = {
    # name: (header or None, row maker, dev file name, dev header or None)
    "CoLA": (
        None,
        lambda i, y: ["gj04", y, "" if y == "1" else "*", f'He said "hi {i}'],
        "dev.tsv",
        None,
    ),
    "SST-2": (
        ["sentence", "label"],
        lambda i, y: [f'it \'s a "charming" film {i} ', y],
        "dev.tsv",
        None,
    ),
    "MRPC": (
        ["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"],
        lambda i, y: [y, str(i), str(i + 1), f"first {i}", f"second {i}"],
        "dev.tsv",
        None,
    ),
    "QQP": (
        ["id", "qid1", "qid2", "question1", "question2", "is_duplicate"],
        lambda i, y: [str(i), "1", "2", f"how do i {i}?", f"what is {i}?", y],
        "dev.tsv",
        None,
    ),
    "STS-B": (
        [
            "index",
            "genre",
            "filename",
            "year",
            "old_index",
            "source1",
            "source2",
            "sentence1",
            "sentence2",
            "score",
        ],
        lambda i, y: [
            str(i),
            "main-captions",
            "MSRvid",
            "2012test",
            "1",
            "none",
            "none",
            f"a plane {i}",
            f"an air plane {i}",
            f"{(i % 6) * 0.8:.3f}",
        ],
        "dev.tsv",
        None,
    ),
    "MNLI": (
        MNLI_TRAIN,
        lambda i, y: [
            str(i),
            "1",
            "2",
            "fiction",
            "( x )",
            "( y )",
            "(ROOT x)",
            "(ROOT y)",
            f"premise {i}",
            f"hypothesis {i}",
            *[_nli(i, y)] * 2,
        ],
        "dev_matched.tsv",
        MNLI_DEV,
    ),
    "QNLI": (
        ["index", "question", "sentence", "label"],
        lambda i, y: [str(i), f"when {i}?", f"in {i}.", ["not_entailment", "entailment"][int(y)]],
        "dev.tsv",
        None,
    ),
    "RTE": (
        ["index", "sentence1", "sentence2", "label"],
        lambda i, y: [str(i), f"s1 {i}", f"s2 {i}", ["not_entailment", "entailment"][int(y)]],
        "dev.tsv",
        None,
    ),
    "WNLI": (
        ["index", "sentence1", "sentence2", "label"],
        lambda i, y: [str(i), f"s1 {i}", f"s2 {i}", y],
        "dev.tsv",
        None,
    ),
}


def _mnli_dev_row(row: list[str]) -> list[str]:
    gold = row[-1]
    return [*row[:10], gold, gold, gold, gold, gold, gold]


def make_glue(root: Path, name: str) -> Path:
    header, make, dev_name, dev_header = LAYOUTS[name]
    folder = root / name
    folder.mkdir()
    for file_name, n, hdr in (
        ("train.tsv", N_TRAIN, header),
        (dev_name, N_DEV, dev_header or header),
    ):
        lines = [] if hdr is None else ["\t".join(hdr)]
        for i in range(n):
            row = make(i, str(i % 2))
            if name == "MNLI" and file_name == dev_name:
                row = _mnli_dev_row(row)
            lines.append("\t".join(row))
        (folder / file_name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_from_glue_reads_each_layout(tmp_path, name):
    folder = make_glue(tmp_path, name)
    task = from_glue(folder, name, seed=0)
    layout = GLUE_TASKS[name.lower().replace("-", "")]
    assert task.name == layout.name
    assert len(task.test) == N_DEV  # the official dev file
    assert len(task.train) + len(task.dev) == N_TRAIN
    assert len(task.dev) >= 1
    assert task.is_pair == (len(layout.text) == 2)
    assert task.metric == layout.metric
    assert "official dev used as test" in task.source
    if name == "STS-B":
        assert task.kind == "regression"
        assert {e.label for e in task.train} <= {0.0, 0.8, 1.6, 2.4, 3.2, 4.0}
    else:
        assert task.labels == layout.labels
    first = task.test[0]
    if name == "CoLA":
        assert first.text == 'He said "hi 0'  # bare quote kept, no header row in CoLA
    if name == "SST-2":
        assert '"charming"' in first.text
    if task.is_pair:
        assert first.text_pair


def test_glue_names_are_case_and_dash_insensitive(tmp_path):
    folder = make_glue(tmp_path, "SST-2")
    assert from_glue(folder, "sst2") == from_glue(folder, "SST-2")
    with pytest.raises(ValueError, match="unknown GLUE task"):
        from_glue(folder, "squad")


def test_glue_errors_name_file_and_line(tmp_path):
    folder = make_glue(tmp_path, "RTE")
    dev = folder / "dev.tsv"
    dev.write_text(dev.read_text() + "99\tx\ty\tcontradiction\n")
    with pytest.raises(TaskDataError) as info:
        from_glue(folder, "RTE")
    assert f"{dev}, line {N_DEV + 2}:" in str(info.value) and "contradiction" in str(info.value)
    (folder / "train.tsv").unlink()
    with pytest.raises(TaskDataError, match=r"train\.tsv: file not found"):
        from_glue(folder, "RTE")
    with pytest.raises(TaskDataError, match="GLUE folder not found"):
        from_glue(tmp_path / "missing", "RTE")


def test_mnli_uses_dev_matched(tmp_path):
    folder = make_glue(tmp_path, "MNLI")
    (folder / "dev_matched.tsv").rename(folder / "dev.tsv")
    with pytest.raises(TaskDataError, match=r"dev_matched\.tsv: file not found"):
        from_glue(folder, "MNLI")
