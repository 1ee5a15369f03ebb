from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from tasks import TaskDataError, from_dataframe, from_file, from_hf, load_task, split_indices


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def _csv(tmp_path: Path, n: int = 40, name: str = "data.csv") -> Path:
    lines = ["text,label"] + [f"sentence number {i},{'pos' if i % 4 else 'neg'}" for i in range(n)]
    return _write(tmp_path / name, "\n".join(lines) + "\n")


def test_csv_single_split_is_seeded_and_stratified(tmp_path):
    path = _csv(tmp_path)
    task = from_file(path, name="toy", text="text", label="label")
    assert task.name == "toy" and task.kind == "classification"
    assert task.labels == ("neg", "pos")
    assert (len(task.train), len(task.dev), len(task.test)) == (32, 4, 4)
    assert task.label_counts("dev") == {"neg": 1, "pos": 3}
    assert task.metric == "accuracy" and task.text_fields == ("text",)
    again = from_file(path, name="toy")
    assert again == task
    other = from_file(path, name="toy", seed=1)
    assert other.train != task.train
    texts = {e.text for s in ("train", "dev", "test") for e in task.split(s)}
    assert len(texts) == 40
    assert str(path) in task.source


def test_split_indices_deterministic_and_disjoint():
    a = split_indices(100, dev_fraction=0.1, test_fraction=0.2, seed=3)
    b = split_indices(100, dev_fraction=0.1, test_fraction=0.2, seed=3)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert [len(x) for x in a] == [70, 10, 20]
    assert sorted(np.concatenate(a).tolist()) == list(range(100))
    with pytest.raises(ValueError):
        split_indices(10, dev_fraction=0.6, test_fraction=0.5, seed=0)


def test_name_defaults_to_file_stem_and_numeric_labels_sort_numerically(tmp_path):
    rows = ["text,label"] + [f"t{i},{[2, 10, 1][i % 3]}" for i in range(30)]
    task = from_file(_write(tmp_path / "scores.tsv.csv", "\n".join(rows)))
    assert task.name == "scores"
    assert task.labels == ("1", "2", "10")


def test_tsv_pairs_and_explicit_labels(tmp_path):
    lines = ["premise\thypothesis\tgold"] + [
        f"a man sleeps {i}\tsomeone rests {i}\t{'yes' if i % 2 else 'no'}" for i in range(20)
    ]
    path = _write(tmp_path / "nli.tsv", "\n".join(lines))
    task = from_file(
        path, name="nli", text=["premise", "hypothesis"], label="gold", labels=["yes", "no"]
    )
    assert task.is_pair and task.text_fields == ("premise", "hypothesis")
    assert task.labels == ("yes", "no")
    ex = task.train[0]
    assert ex.text.startswith("a man sleeps") and ex.text_pair.startswith("someone rests")
    assert task.labels[ex.label] == ("yes" if int(ex.text.split()[-1]) % 2 else "no")


def test_jsonl_regression_with_split_column(tmp_path):
    rows = [
        {"s": f"text {i}", "y": i / 10, "part": ["train", "train", "validation", "test"][i % 4]}
        for i in range(40)
    ]
    path = _write(tmp_path / "reg.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    task = from_file(
        path,
        name="reg",
        text="s",
        label="y",
        kind="regression",
        split_column="part",
        metric="spearman",
    )
    assert task.kind == "regression" and task.labels == () and task.metric == "spearman"
    assert (len(task.train), len(task.dev), len(task.test)) == (20, 10, 10)
    assert task.dev[0].label == pytest.approx(0.2)


def test_separate_dev_and_test_files_and_gzip(tmp_path):
    train = _csv(tmp_path, 20, "train.csv")
    dev = _csv(tmp_path, 6, "dev.csv")
    test_path = tmp_path / "test.csv.gz"
    test_path.write_bytes(gzip.compress((tmp_path / "dev.csv").read_bytes()))
    task = from_file(train, name="t", dev_file=dev, test_file=test_path)
    assert (len(task.train), len(task.dev), len(task.test)) == (20, 6, 6)
    only_dev = from_file(train, name="t", dev_file=dev, test_fraction=0.25)
    assert (len(only_dev.train), len(only_dev.dev), len(only_dev.test)) == (15, 6, 5)


def test_empty_text_rows_are_skipped_and_counted(tmp_path):
    lines = ["text,label", "good one,pos", ",neg", "   ,pos", "fine,neg", "\n"]
    lines += [f"more {i},{'pos' if i % 2 else 'neg'}" for i in range(20)]
    task = from_file(_write(tmp_path / "gaps.csv", "\n".join(lines)), name="gaps")
    assert task.skipped == 2
    assert len(task.train) + len(task.dev) + len(task.test) == 22


def test_quoted_multiline_field_keeps_line_numbers(tmp_path):
    text = 'text,label\n"first\nsecond line",a\nthird,b\nfourth,zzz\n'
    dev = _write(tmp_path / "dev.csv", text)
    train = _write(tmp_path / "train.csv", "text,label\nx,a\ny,b\n")
    with pytest.raises(TaskDataError) as info:
        from_file(train, name="t", dev_file=dev, test_file=train)
    assert info.value.line == 5 and "zzz" in str(info.value)


# ---- errors: each names the file, the line where there is one, and the problem


def test_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    with pytest.raises(TaskDataError, match="file not found") as info:
        from_file(path, name="x")
    assert str(path) in str(info.value)


def test_missing_column_lists_columns_found(tmp_path):
    path = _csv(tmp_path)
    with pytest.raises(TaskDataError) as info:
        from_file(path, name="x", text="sentence")
    message = str(info.value)
    assert str(path) in message and "'sentence'" in message and "['text', 'label']" in message


def test_missing_column_in_a_jsonl_line(tmp_path):
    path = _write(tmp_path / "x.jsonl", '{"text": "a", "label": "p"}\n{"text": "b"}\n')
    with pytest.raises(TaskDataError) as info:
        from_file(path, name="x")
    assert f"{path}, line 2: missing column 'label'" in str(info.value)


def test_empty_split(tmp_path):
    path = _write(tmp_path / "empty.csv", "text,label\n")
    with pytest.raises(TaskDataError, match="empty split") as info:
        from_file(path, name="x")
    assert str(path) in str(info.value)
    dev = _write(tmp_path / "dev.csv", "text,label\n,pos\n")
    with pytest.raises(TaskDataError, match="empty split: no usable dev rows") as info:
        from_file(_csv(tmp_path), name="x", dev_file=dev)
    assert str(dev) in str(info.value)
    with pytest.raises(TaskDataError, match="empty split"):
        from_file(_write(tmp_path / "two.csv", "text,label\na,x\nb,y\n"), name="x")


def test_dev_label_never_seen_in_training(tmp_path):
    train = _csv(tmp_path, 10, "train.csv")
    dev = _write(tmp_path / "dev.csv", "text,label\nok,pos\nstrange,maybe\n")
    with pytest.raises(TaskDataError) as info:
        from_file(train, name="x", dev_file=dev)
    message = str(info.value)
    assert f"{dev}, line 3:" in message and "'maybe'" in message and "never occurs" in message


def test_label_outside_explicit_labels(tmp_path):
    with pytest.raises(TaskDataError, match="not one of the labels") as info:
        from_file(_csv(tmp_path), name="x", labels=["pos", "other"])
    assert info.value.line is not None


def test_single_label_is_an_error(tmp_path):
    path = _write(tmp_path / "one.csv", "text,label\n" + "".join(f"t{i},a\n" for i in range(20)))
    with pytest.raises(TaskDataError, match="at least two labels"):
        from_file(path, name="x")


def test_non_numeric_regression_target(tmp_path):
    path = _write(tmp_path / "reg.csv", "text,score\na,1.5\nb,2\nc,high\n")
    with pytest.raises(TaskDataError) as info:
        from_file(path, name="x", label="score", kind="regression")
    assert f"{path}, line 4:" in str(info.value) and "'high'" in str(info.value)
    assert "not a number" in str(info.value)
    nan = _write(tmp_path / "nan.csv", "text,score\na,1.5\nb,nan\n")
    with pytest.raises(TaskDataError, match=r"line 3: .*not finite"):
        from_file(nan, name="x", label="score", kind="regression")
    empty = _write(tmp_path / "empty.csv", "text,score\na,\n")
    with pytest.raises(TaskDataError, match="line 2: missing regression target"):
        from_file(empty, name="x", label="score", kind="regression")


def test_undecodable_bytes_name_the_line(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"text,label\nfine,a\ncaf\xe9 au lait,b\n")
    with pytest.raises(TaskDataError) as info:
        from_file(path, name="x")
    assert f"{path}, line 3:" in str(info.value) and "0xe9" in str(info.value)


def test_encoding_option_reads_latin1(tmp_path):
    rows = "text,label\n" + "".join(f"caf\xe9 {i},{'ab'[i % 2]}\n" for i in range(20))
    path = _write(tmp_path / "latin.csv", rows, encoding="latin-1")
    task = from_file(path, name="x", encoding="latin-1")
    assert any("café" in e.text for e in task.train)


def test_bad_rows_and_formats(tmp_path):
    ragged = _write(tmp_path / "ragged.csv", "text,label\na,b\nc,d,e\n")
    with pytest.raises(TaskDataError, match=r"line 3: expected 2 fields"):
        from_file(ragged, name="x")
    bad_json = _write(tmp_path / "bad.jsonl", '{"text": "a", "label": "b"}\n{oops\n')
    with pytest.raises(TaskDataError, match=r"bad.jsonl, line 2: invalid JSON"):
        from_file(bad_json, name="x")
    not_object = _write(tmp_path / "list.jsonl", "[1, 2]\n")
    with pytest.raises(TaskDataError, match="line 1: expected a JSON object"):
        from_file(not_object, name="x")
    unknown = _write(tmp_path / "data.xlsx", "")
    with pytest.raises(TaskDataError, match="cannot tell the format"):
        from_file(unknown, name="x")
    no_label = _write(tmp_path / "nolabel.csv", "text,label\na,\n")
    with pytest.raises(TaskDataError, match="line 2: empty label"):
        from_file(no_label, name="x")
    split = _write(tmp_path / "split.csv", "text,label,split\na,x,train\nb,y,holdout\n")
    with pytest.raises(TaskDataError, match="line 3: unknown split 'holdout'"):
        from_file(split, name="x", split_column="split")
    with pytest.raises(TaskDataError, match="the file is empty"):
        from_file(_write(tmp_path / "blank.csv", ""), name="x")


def test_corrupt_compressed_file(tmp_path):
    path = _write(tmp_path / "data.csv.gz", "not gzip at all")
    with pytest.raises(TaskDataError, match=r"data\.csv\.gz: cannot decompress"):
        from_file(path, name="x")


def test_boolean_regression_target_in_jsonl(tmp_path):
    path = _write(
        tmp_path / "b.jsonl", '{"text": "a", "label": 1.5}\n{"text": "b", "label": true}\n'
    )
    with pytest.raises(TaskDataError, match=r"b\.jsonl, line 2: regression target True"):
        from_file(path, name="x", kind="regression")


def test_metric_must_suit_kind(tmp_path):
    with pytest.raises(TaskDataError, match="does not suit"):
        from_file(_csv(tmp_path), name="x", metric="pearson")


# ---- data frames


def test_from_dataframe():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(
        {
            "sentence": [f"row {i}" if i != 3 else None for i in range(30)],
            "y": ["a" if i % 3 else "b" for i in range(30)],
        }
    )
    task = from_dataframe(df, name="frame", text="sentence", label="y")
    assert task.skipped == 1
    assert len(task.train) + len(task.dev) + len(task.test) == 29
    assert task.source == "DataFrame 'frame'"
    bad = pd.DataFrame({"sentence": ["a", "b"], "y": [1.0, "x"]})
    with pytest.raises(TaskDataError, match=r"DataFrame 'frame', row 1: regression target 'x'"):
        from_dataframe(bad, name="frame", text="sentence", label="y", kind="regression")
    with pytest.raises(TaskDataError, match=r"missing column 'text'; columns found"):
        from_dataframe(df, name="frame", label="y")
    dev = pd.DataFrame({"sentence": ["x"], "y": ["c"]})
    with pytest.raises(TaskDataError, match=r"DataFrame 'frame' \(dev\), row 0: dev label 'c'"):
        from_dataframe(df, name="frame", text="sentence", label="y", dev=dev)


# ---- Hugging Face datasets (duck-typed stand-ins; the library is optional)


class _ClassLabel:
    def __init__(self, names):
        self.names = names


class _FakeDataset:
    def __init__(self, columns: dict[str, list], features: dict | None = None):
        self._columns = columns
        self.features = features or {}

    @property
    def column_names(self):
        return list(self._columns)

    def __len__(self):
        return len(next(iter(self._columns.values())))

    def __getitem__(self, key):
        return self._columns[key]


def test_from_hf_dataset_dict_with_class_labels():
    features = {"label": _ClassLabel(["neg", "pos"])}
    train = _FakeDataset(
        {"sentence": [f"s{i}" for i in range(20)], "label": [i % 2 for i in range(20)]}, features
    )
    validation = _FakeDataset({"sentence": ["v0", "v1"], "label": [0, 1]}, features)
    hidden = _FakeDataset({"sentence": ["t0", "t1", "t2"], "label": [-1, -1, -1]}, features)
    data = {"train": train, "validation": validation, "test": hidden}
    task = from_hf(data, name="hf", text="sentence")
    assert task.labels == ("neg", "pos")
    assert len(task.dev) == 2
    assert len(task.train) == 18 and len(task.test) == 2  # test carved from train
    assert task.skipped == 3  # the hidden-label rows are counted
    assert task.labels[task.dev[1].label] == "pos"


def test_from_hf_single_dataset_regression():
    ds = _FakeDataset(
        {
            "a": [f"x{i}" for i in range(10)],
            "b": [f"y{i}" for i in range(10)],
            "score": [float(i) for i in range(10)],
        }
    )
    task = from_hf(ds, name="sts", text=["a", "b"], label="score", kind="regression")
    assert task.is_pair and task.kind == "regression" and task.metric == "pearson"
    assert len(task.train) == 8


def test_from_hf_path_needs_datasets(tmp_path, monkeypatch):
    # None in sys.modules makes every way of importing the package fail (an installed one too)
    monkeypatch.setitem(__import__("sys").modules, "datasets", None)
    with pytest.raises(TaskDataError, match=r"needs the optional 'datasets' package"):
        from_hf(tmp_path, name="x")


# ---- names


def test_load_task_resolves_user_tasks_and_shuffled_prefix(tmp_path):
    task = from_file(_csv(tmp_path), name="mine")
    assert load_task("mine", tasks={"mine": task}) is task
    assert load_task(task) is task
    ctrl = load_task("shuffled:mine", tasks={"mine": task}, seed=4)
    assert ctrl.name == "shuffled:mine"
    assert [e.text for e in ctrl.train] == [e.text for e in task.train]
    with pytest.raises(ValueError, match="unknown task 'other'"):
        load_task("other", tasks={"mine": task})
