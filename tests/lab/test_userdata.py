"""User data (`compare --data FILE --target COL`): validation messages, kind inference, encoding,
Parquet, label mapping, a tiny training run, and the CLI path."""

from __future__ import annotations

import math
import pickle
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from markupsafe import escape as html_escape

from losslab.lab import tasks as T
from losslab.lab.train import RunKey, TrainConfig, train_stack
from losslab.lab.userdata import (
    UserDataError,
    _encode,
    explain_kind,
    infer_kind,
    load_user_data,
    register_user_task,
    small_data_warning,
)


def _frame(n: int = 60, seed: int = 0, classes: tuple = ("no", "yes")) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "a": a,
            "b": rng.normal(size=n) * 10 + 3,
            "colour": rng.choice(["red", "green", "blue"], size=n),
        }
    )
    # a learnable target: bins of `a`
    order = np.argsort(np.argsort(a))
    frame["y"] = np.asarray(classes, dtype=object)[order * len(classes) // n]
    return frame


def _csv(tmp_path: Path, frame: pd.DataFrame, name: str = "d.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def _raises(path, target: str, match: str, **kw) -> str:
    with pytest.raises(UserDataError, match=match) as info:
        register_user_task(path, target, **kw)
    message = str(info.value)
    assert message.startswith("compare: "), message
    return message


# -- error paths -------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    _raises(
        tmp_path / "nope.csv",
        "y",
        r"'--data' must be an existing CSV or Parquet file, got .*nope\.csv.*no such file",
    )


def test_directory_is_not_a_file(tmp_path):
    (tmp_path / "dir.csv").mkdir()
    _raises(tmp_path / "dir.csv", "y", r"'--data' must be a CSV or Parquet file, got .*not a file")


@pytest.mark.parametrize("name", ["d.txt", "d.xlsx", "d"])
def test_unsupported_suffix(tmp_path, name):
    (tmp_path / name).write_text("a,y\n1,2\n")
    _raises(
        tmp_path / name, "y", rf"'--data' must be a file ending in \.csv, .*\.parquet.*got '{name}'"
    )


def test_empty_file(tmp_path):
    (tmp_path / "e.csv").write_text("")
    _raises(
        tmp_path / "e.csv",
        "y",
        r"'--data' must hold a header and at least one row, got an empty file",
    )


def test_header_only(tmp_path):
    (tmp_path / "h.csv").write_text("a,b,y\n")
    _raises(
        tmp_path / "h.csv",
        "y",
        r"'--data' must have at least one data row, got 0 rows .*columns: 'a', 'b', 'y'",
    )


def test_unreadable_parquet(tmp_path):
    (tmp_path / "bad.parquet").write_bytes(b"this is not parquet at all")
    _raises(
        tmp_path / "bad.parquet",
        "y",
        r"'--data' must be a readable Parquet file, got .*could not be read",
    )


def test_unreadable_csv(tmp_path):
    (tmp_path / "bad.csv").write_bytes(b'a,b\n1,"unterminated\n')
    _raises(
        tmp_path / "bad.csv", "y", r"'--data' must be a readable CSV file, got .*could not be read"
    )


def test_missing_target_lists_columns_and_suggests(tmp_path):
    frame = _frame().rename(columns={"y": "label"})
    msg = _raises(_csv(tmp_path, frame), "labl", r"'--target' must be a column of 'd\.csv'")
    assert "columns: 'a', 'b', 'colour', 'label'" in msg
    assert "got 'labl'. Did you mean 'label'?" in msg
    _raises(tmp_path / "d.csv", "LABEL ", r"got 'LABEL '\. Did you mean 'label'\?")
    msg = _raises(tmp_path / "d.csv", "zzz", r"got 'zzz'\.$")
    assert "Did you mean" not in msg


def test_constant_target(tmp_path):
    frame = _frame().assign(y="same")
    _raises(
        _csv(tmp_path, frame),
        "y",
        r"'--target' column 'y' must take at least two distinct values, got only 'same' in all 60 rows",
    )


def test_nan_target_counts_rows(tmp_path):
    frame = _frame()
    frame.loc[[3, 7], "y"] = None
    _raises(
        _csv(tmp_path, frame),
        "y",
        r"'--target' column 'y' must have no missing values, got 2 of 60 rows missing \(data rows 4, 8\)",
    )


def test_nan_features_named_not_imputed(tmp_path):
    frame = _frame()
    frame.loc[[1, 2, 3], "a"] = np.nan
    frame.loc[[5], "colour"] = None
    msg = _raises(
        _csv(tmp_path, frame),
        "y",
        r"feature columns must have no missing values, got missing values in 2 column\(s\): "
        r"'a' \(3 rows\), 'colour' \(1 row\)",
    )
    assert "does not impute" in msg and "clean the file" in msg


def test_infinite_feature(tmp_path):
    frame = _frame()
    frame.loc[4, "b"] = np.inf
    _raises(_csv(tmp_path, frame), "y", r"feature column 'b' must be finite, got 1 infinite values")


def test_infinite_regression_target(tmp_path):
    frame = _frame().assign(y=lambda f: f["a"] * 1.5)
    frame.loc[[0, 9], "y"] = [np.inf, -np.inf]
    _raises(
        _csv(tmp_path, frame),
        "y",
        r"'--target' column 'y' must be finite for regression, got 2 infinite values",
    )


def test_too_few_rows_per_class(tmp_path):
    frame = _frame(n=40, classes=("a", "b", "c"))
    frame.loc[:2, "y"] = "rare"  # 3 rows of a fourth class
    _raises(
        _csv(tmp_path, frame),
        "y",
        r"'--target' needs at least 5 rows of every class for a stratified .*got fewer for 1 of 4 classes \('rare': 3\)",
    )


def test_too_few_rows(tmp_path):
    frame = pd.DataFrame({"a": np.arange(6.0), "y": np.linspace(0, 1, 6)})
    _raises(_csv(tmp_path, frame), "y", r"'--data' must have at least 10 rows .*got 6")


def test_target_is_the_only_column(tmp_path):
    frame = pd.DataFrame({"y": np.linspace(0, 1, 20)})
    _raises(_csv(tmp_path, frame), "y", r"at least one feature column besides the target 'y'")


def test_identifier_column_refused(tmp_path):
    frame = _frame().assign(name=[f"person-{i}" for i in range(60)])
    _raises(
        _csv(tmp_path, frame),
        "y",
        r"categorical column 'name' .*got 60 distinct values in 60 rows.*identifier",
    )


def test_regression_needs_numeric_target(tmp_path):
    _raises(
        _csv(tmp_path, _frame()),
        "y",
        r"'--kind regression' needs a numeric '--target', got column 'y' of dtype",
        kind="regression",
    )


def test_unknown_kind(tmp_path):
    _raises(
        _csv(tmp_path, _frame()),
        "y",
        r"'--kind' must be one of 'binary', 'multiclass', 'regression', got 'ordinal'",
        kind="ordinal",
    )


def test_binary_kind_needs_two_classes(tmp_path):
    frame = _frame(classes=("a", "b", "c"))
    _raises(
        _csv(tmp_path, frame),
        "y",
        r"'--kind binary' needs exactly 2 distinct '--target' values, got 3 \('a', 'b', 'c'\)",
        kind="binary",
    )


def test_multiclass_kind_needs_three_classes(tmp_path):
    _raises(
        _csv(tmp_path, _frame()),
        "y",
        r"'--kind multiclass' needs at least 3 distinct .*got 2.*use '--kind binary'",
        kind="multiclass",
    )


def test_user_data_error_is_a_value_error():
    assert issubclass(UserDataError, ValueError)


# -- kind inference ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values, kind",
    [
        (["a", "b"] * 10, "binary"),
        (["a", "b", "c"] * 10, "multiclass"),
        ([True, False] * 10, "binary"),
        ([0, 1] * 10, "binary"),
        ([0.0, 1.0] * 10, "binary"),  # integer-valued floats are labels
        (list(range(5)) * 4, "multiclass"),
        (list(range(10)) * 2, "multiclass"),  # 10 distinct integers, half the rows: still classes
        (list(range(11)) * 4, "regression"),  # 11 distinct integers: a count-like number
        (
            list(range(6)) + [0] * 5,
            "regression",
        ),  # 6 distinct in 11 rows: more than half are distinct
        (list(range(20)), "regression"),  # every row its own value: not classes
        (list(np.linspace(0, 1, 30)), "regression"),
        ([0.5, 1.5] * 10, "regression"),  # two non-integer values: a measurement
    ],
)
def test_infer_kind(values, kind):
    assert infer_kind(pd.Series(values)) == kind


def test_registered_task_follows_inferred_kind(tmp_path):
    binary = register_user_task(_csv(tmp_path, _frame(), "bin.csv"), "y")
    assert (binary.name, binary.kind, binary.primary) == ("data:bin.csv", "binary", "accuracy")
    assert binary.metrics == T.BINARY_METRICS
    assert [c.loss for c in binary.competitors] == [
        "binary_cross_entropy_with_logits",
        "hinge_loss",
        "sigmoid_focal_loss",
        "mse_loss",
    ]
    assert T.get_task("data:bin.csv") is binary

    multi = register_user_task(_csv(tmp_path, _frame(classes=tuple("abc")), "multi.csv"), "y")
    assert multi.kind == "multiclass" and multi.metrics == ("top1", "macro_f1")  # C <= 5: no top-5
    assert multi.competitors[1].kwargs == {"label_smoothing": 0.1}
    many = register_user_task(
        _csv(tmp_path, _frame(n=90, classes=tuple("abcdef")), "many.csv"), "y"
    )
    assert many.metrics == ("top1", "top5", "macro_f1")

    frame = _frame().assign(y=lambda f: f["a"] * 3.0 + 1.0)
    reg = register_user_task(_csv(tmp_path, frame, "reg.csv"), "y")
    assert (reg.kind, reg.metrics, reg.higher_is_better) == ("regression", ("rmse", "mae"), False)
    assert [c.loss for c in reg.competitors] == [
        "mse_loss",
        "l1_loss",
        "huber_loss",
        "log_cosh_loss",
    ]


def test_registering_again_replaces(tmp_path):
    path = _csv(tmp_path, _frame())
    first = register_user_task(path, "y")
    _csv(tmp_path, _frame(classes=tuple("abc")))
    second = register_user_task(path, "y")
    assert first.kind == "binary" and second.kind == "multiclass"
    assert T.get_task("data:d.csv") is second


def test_explicit_kind_is_kept(tmp_path):
    frame = _frame().assign(y=lambda f: (f["a"] > 0).astype(int))
    task = register_user_task(_csv(tmp_path, frame), "y", kind="regression")
    assert task.kind == "regression"
    assert task.load(0).num_classes is None


# -- encoding and label mapping ----------------------------------------------------------------


def test_categorical_columns_are_one_hot_and_numeric_standardised(tmp_path):
    frame = _frame(n=80).assign(flag=lambda f: f["a"] > 1)
    ds = register_user_task(_csv(tmp_path, frame), "y").load(0)
    names = ds.meta["features"]
    assert names[:2] == ["a", "b"]
    assert {"colour_blue", "colour_green", "colour_red", "flag_False", "flag_True"} <= set(names)
    assert ds.num_features == len(names) == 7
    torch.testing.assert_close(ds.x_train.mean(0), torch.zeros(7), atol=1e-5, rtol=0)
    assert ds.x_train.dtype == torch.float32
    # a standardised one-hot column is positive exactly where the indicator is 1: one colour a row
    cols = [names.index(c) for c in ("colour_blue", "colour_green", "colour_red")]
    assert torch.equal(
        (ds.x_train[:, cols] > 0).sum(1), torch.ones(len(ds.x_train), dtype=torch.long)
    )
    for c in cols:
        assert ds.x_train[:, c].unique().numel() == 2


def test_encoder_fit_on_training_rows_only():
    frame = pd.DataFrame({"n": np.arange(6.0), "c": ["u", "v", "u", "v", "u", "new"]})
    x, names = _encode(frame, ["n"], ["c"], train_rows=np.arange(5))
    assert names == ["n", "c_u", "c_v"]  # 'new' appears only outside the training rows
    np.testing.assert_array_equal(x[5], [5.0, 0.0, 0.0])  # unseen category: all zeros
    np.testing.assert_array_equal(x[:2, 1:], [[1.0, 0.0], [0.0, 1.0]])


def test_unseen_category_in_test_split_is_finite(tmp_path):
    frame = _frame(n=60)
    frame.loc[10, "colour"] = (
        "violet"  # one row: it lands in the training split for some seeds only
    )
    task = register_user_task(_csv(tmp_path, frame), "y")
    fitted_without = 0
    for seed in range(8):
        ds = task.load(seed)
        assert all(torch.isfinite(t).all() for t in (ds.x_train, ds.x_val, ds.x_test))
        fitted_without += "colour_violet" not in ds.meta["features"]
    assert 0 < fitted_without < 8  # in the encoder exactly when the row is a training row


def test_label_mapping(tmp_path):
    frame = _frame(n=75, classes=("emu", "cat", "dog"))
    ds = register_user_task(_csv(tmp_path, frame), "y").load(3)
    assert ds.meta["classes"] == ["cat", "dog", "emu"]  # sorted, mapped to 0..C-1
    assert ds.num_classes == 3
    y = torch.cat([ds.y_train, ds.y_val, ds.y_test])
    assert y.dtype == torch.int64
    counts = frame["y"].value_counts()
    for i, name in enumerate(ds.meta["classes"]):
        assert int((y == i).sum()) == counts[name]
    # stratified: every class in every split
    for part in (ds.y_train, ds.y_val, ds.y_test):
        assert set(part.tolist()) == {0, 1, 2}


def test_binary_positive_class_and_bool_target(tmp_path):
    frame = _frame().assign(y=lambda f: f["a"] > 0)
    ds = register_user_task(_csv(tmp_path, frame), "y").load(0)
    assert ds.meta["classes"] == [False, True] and ds.meta["positive"] == "True"
    y = torch.cat([ds.y_train, ds.y_val, ds.y_test])
    assert int(y.sum()) == int(frame["y"].sum())


def test_regression_target_standardised_with_training_statistics(tmp_path):
    frame = _frame().assign(y=lambda f: f["a"] * 50.0 + 1000.0)
    ds = register_user_task(_csv(tmp_path, frame), "y").load(1)
    assert ds.meta["target_std"] == pytest.approx(50.0, rel=0.3)
    assert float(ds.y_train.mean()) == pytest.approx(0.0, abs=1e-6)
    assert float(ds.y_train.std(unbiased=False)) == pytest.approx(1.0, abs=1e-5)
    original = (
        torch.cat([ds.y_train, ds.y_val, ds.y_test]) * ds.meta["target_std"]
        + ds.meta["target_mean"]
    )
    np.testing.assert_allclose(np.sort(original.numpy()), np.sort(frame["y"].to_numpy()), rtol=1e-5)


def test_parquet_round_trip_matches_csv(tmp_path):
    frame = _frame(n=50).assign(flag=lambda f: f["b"] > 3)
    csv = register_user_task(_csv(tmp_path, frame), "y")
    frame.to_parquet(tmp_path / "d.parquet")
    pq = register_user_task(tmp_path / "d.parquet", "y")
    assert pq.name == "data:d.parquet"
    a, b = csv.load(2), pq.load(2)
    assert a.meta["features"] == b.meta["features"] and a.meta["classes"] == b.meta["classes"]
    for attr in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        torch.testing.assert_close(getattr(a, attr), getattr(b, attr))


def test_splits_are_deterministic_and_seed_dependent(tmp_path):
    task = register_user_task(_csv(tmp_path, _frame()), "y")
    a, b, c = task.load(0), task.load(0), task.load(1)
    assert torch.equal(a.x_train, b.x_train)
    assert not torch.equal(a.x_train, c.x_train)
    assert len(a.y_train) + len(a.y_val) + len(a.y_test) == 60


def test_load_is_picklable_and_rereads_the_file(tmp_path):
    path = _csv(tmp_path, _frame())
    task = register_user_task(path, "y")
    clone = pickle.loads(pickle.dumps(task))
    assert clone.load.func is load_user_data
    assert clone.load.args[0] == str(path.resolve())
    torch.testing.assert_close(clone.load(0).x_test, task.load(0).x_test)
    path.unlink()
    with pytest.raises(UserDataError, match="no such file"):
        clone.load(0)


@pytest.fixture
def one_thread():
    """The lab trains with one thread per process (as `compare` does); tiny models run faster."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# -- training ----------------------------------------------------------------------------------


@pytest.mark.parametrize("classes", [("no", "yes"), ("a", "b", "c"), None])
def test_tiny_end_to_end_training(tmp_path, classes, one_thread):
    frame = _frame(n=90, classes=classes or ("x",))
    if classes is None:
        frame["y"] = frame["a"] * 2.0 + np.sin(frame["b"])
    task = register_user_task(_csv(tmp_path, frame), "y")
    data = {s: task.load(s) for s in range(2)}
    runs = [RunKey(0, 0.01), RunKey(1, 0.01)]
    for comp in task.competitors:
        results = train_stack(
            task,
            comp,
            runs,
            data,
            TrainConfig(epochs=3, hidden=task.hidden, batch_size=task.batch_size),
        )
        assert [r.seed for r in results] == [0, 1]
        for r in results:
            assert r.status == "finished" and r.epochs_run == 3
            assert set(task.metrics) <= set(r.metrics)
            assert all(math.isfinite(r.metrics[m]) for m in task.metrics), (comp.label, r.metrics)


# -- the CLI -----------------------------------------------------------------------------------


def _report_ready() -> bool:
    try:
        from losslab.report import build_report, print_summary, write_report  # noqa: F401
    except ImportError:
        return False
    return True


cli = pytest.mark.skipif(
    not _report_ready(), reason="losslab.report (used by compare) is not written yet"
)


def _invoke(*args: str):
    from typer.testing import CliRunner

    from losslab.cli import app

    return CliRunner().invoke(app, ["compare", *args], env={"COLUMNS": "200"})


@cli
def test_cli_compare_on_user_data(tmp_path):
    csv = _csv(tmp_path, _frame())
    res = _invoke(
        "--data",
        str(csv),
        "--target",
        "y",
        "--seeds",
        "2",
        "--epochs",
        "2",
        "--out",
        str(tmp_path),
        "--name",
        "mine",
        "--quiet",
    )
    assert res.exit_code == 0, res.output
    db = tmp_path / "mine" / "results.sqlite"
    assert db.exists()
    from losslab.lab.store import Store

    with Store(db) as st:
        assert st.meta("tasks") == ["data:d.csv"]
        assert len(st.done()) == 4 * 2  # four competitors x two seeds


@cli
def test_cli_compare_on_user_data_default_name(tmp_path):
    csv = _csv(tmp_path, _frame())
    res = _invoke(
        "--data",
        str(csv),
        "--target",
        "y",
        "--seeds",
        "2",
        "--epochs",
        "2",
        "--out",
        str(tmp_path),
        "--quiet",
    )
    assert res.exit_code == 0, res.output
    assert len(list(tmp_path.glob("*/results.sqlite"))) == 1


@cli
@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "suffix",
        "target",
        "constant",
        "nan_target",
        "nan_feature",
        "kind",
        "binary",
        "regression",
    ],
)
def test_cli_compare_bad_user_data_exits_2(tmp_path, case):
    frame, target, extra = _frame(), "y", []
    if case == "constant":
        frame = frame.assign(y=1)
    elif case == "nan_target":
        frame.loc[0, "y"] = None
    elif case == "nan_feature":
        frame.loc[0, "a"] = np.nan
    elif case == "target":
        target = "why"
    elif case == "kind":
        extra = ["--kind", "ordinal"]
    elif case == "binary":
        frame, extra = _frame(classes=tuple("abc")), ["--kind", "binary"]
    elif case == "regression":
        extra = ["--kind", "regression"]
    path = _csv(tmp_path, frame)
    if case == "missing":
        path = tmp_path / "absent.csv"
    elif case == "suffix":
        path = path.rename(tmp_path / "d.txt")
    res = _invoke(
        "--data",
        str(path),
        "--target",
        target,
        *extra,
        "--seeds",
        "1",
        "--epochs",
        "1",
        "--out",
        str(tmp_path),
        "--quiet",
    )
    assert res.exit_code == 2, res.output
    assert "compare:" in res.output
    assert not list(tmp_path.glob("*/results.sqlite"))


@cli
def test_cli_compare_target_without_data(tmp_path):
    res = _invoke("--target", "y", "--out", str(tmp_path), "--quiet")
    assert res.exit_code == 2
    assert re.search(r"compare: '--target'/'--kind' need '--data FILE'", res.output)


# -- inference rule, hints towards --kind, small-data warnings ----------------------------------

#: linnerud's Weight column (scikit-learn's load_linnerud): integer-valued, 16 distinct in 20 rows
LINNERUD_WEIGHT = [
    191,
    189,
    193,
    162,
    189,
    182,
    211,
    167,
    176,
    154,
    169,
    166,
    154,
    247,
    193,
    202,
    176,
    157,
    156,
    138,
]


def test_a_weight_in_kg_is_a_quantity_not_twenty_classes(tmp_path):
    assert (len(LINNERUD_WEIGHT), len(set(LINNERUD_WEIGHT))) == (20, 16)
    kind, why = explain_kind(pd.Series(np.asarray(LINNERUD_WEIGHT, dtype=float)))
    assert kind == "regression"
    assert (
        why
        == "integers with 16 distinct values in 20 rows, more than 10 or more than half the rows: a quantity"
    )
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "Chins": rng.integers(1, 18, 20).astype(float),
            "Weight": np.asarray(LINNERUD_WEIGHT, float),
        }
    )
    task = register_user_task(_csv(tmp_path, frame, "linnerud.csv"), "Weight")
    assert task.kind == "regression"
    assert (
        "Kind 'regression' inferred from the target: integers with 16 distinct values in 20 rows, more "
        "than 10 or more than half the rows: a quantity; '--kind' overrides it."
    ) in task.notes


@pytest.mark.parametrize(
    "values, reason",
    [
        (["a", "b", "c"] * 4, "non-numeric values, 3 distinct"),
        ([0.5, 1.5] * 6, "numbers that are not all integers"),
        ([3, 7] * 6, "integers with 2 distinct values in 12 rows"),
        (
            [0, 1, 2] * 4,
            "integers with 3 distinct values in 12 rows, at most 10 and at most half the rows",
        ),
    ],
)
def test_explain_kind_gives_the_reason(values, reason):
    assert explain_kind(pd.Series(values))[1] == reason


def test_an_inferred_class_refusal_suggests_kind_regression(tmp_path):
    # integer scores 1..8 in 40 rows: read as 8 classes, several too rare for a stratified split
    y = np.r_[np.repeat([1, 2, 3, 4], 8), [5, 5, 6, 6, 7, 7, 8, 8]]
    frame = pd.DataFrame({"a": np.arange(40.0), "score": y})
    msg = _raises(
        _csv(tmp_path, frame), "score", r"'--target' needs at least 5 rows of every class"
    )
    assert msg.endswith(
        "; merge or drop rare classes; if 'score' is a quantity rather than class labels, "
        "pass '--kind regression'"
    )
    assert register_user_task(tmp_path / "d.csv", "score", kind="regression").kind == "regression"
    msg = _raises(
        tmp_path / "d.csv", "score", r"needs at least 5 rows of every class", kind="multiclass"
    )
    assert "--kind regression" not in msg  # the user chose the kind: no second-guessing


def test_text_labels_get_no_kind_hint(tmp_path):
    frame = _frame(n=40, classes=("a", "b", "c"))
    frame.loc[:2, "y"] = "rare"
    msg = _raises(_csv(tmp_path, frame), "y", r"rows of every class")
    assert "--kind" not in msg


@pytest.mark.parametrize("n, warned", [(149, True), (150, False)])
def test_small_data_rule_for_regression(n, warned):
    y = pd.Series(np.linspace(0, 1, n))
    message = small_data_warning(y, "regression", name="f.csv", hint="; HINT")
    assert (message is not None) == warned
    if warned:
        assert message == (
            f"small data: 'f.csv' gives about 30 test rows (20% of {n}; at least 30 wanted); "
            "the differences between losses will mostly be noise and the confidence intervals "
            "wide, so read this study as a smoke test"
        )  # no kind hint: not about classes


@pytest.mark.parametrize("rare, warned", [(24, True), (25, False)])
def test_small_data_rule_per_class(rare, warned):
    y = pd.Series(["big"] * 200 + ["rare"] * rare)
    message = small_data_warning(y, "binary", name="f.csv", hint="; HINT")
    assert (message is not None) == warned
    if warned:
        assert (
            f"about 5 test rows of class 'rare' (20% of its {rare}; at least 5 of every class wanted)"
            in message
        )
        assert message.endswith("smoke test; HINT") and "test rows (20% of" not in message


def test_small_data_warning_travels_with_the_data(tmp_path):
    task = register_user_task(_csv(tmp_path, _frame(n=60)), "y")
    (warning,) = task.load(0).meta["warnings"]
    assert warning.startswith(
        "small data: 'd.csv' gives about 12 test rows (20% of 60; at least 30 wanted)"
    )
    big = register_user_task(_csv(tmp_path, _frame(n=300), "big.csv"), "y")
    assert big.load(0).meta["warnings"] == []


@cli
def test_cli_small_data_warns_before_training_and_the_report_keeps_it(tmp_path):
    csv = _csv(tmp_path, _frame(n=60))
    res = _invoke(
        "--data",
        str(csv),
        "--target",
        "y",
        "--loss",
        "binary_cross_entropy_with_logits",
        "--seeds",
        "1",
        "--epochs",
        "1",
        "--out",
        str(tmp_path),
        "--name",
        "small",
        "--quiet",
    )
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "warning (data:d.csv): small data: 'd.csv' gives about 12 test rows" in text
    assert text.index("small data") < text.index("Study folder")
    folder = tmp_path / "small"
    expected = "small data: 'd.csv' gives about 12 test rows (20% of 60; at least 30 wanted)"
    md, html = (folder / "report.md").read_text(), (folder / "report.html").read_text()
    assert f"> **Warning:** {expected}" in md
    in_html = f'<p class="warning"><b>Warning:</b> {html_escape(expected)}'  # jinja2 escapes quotes
    assert in_html in html
    (folder / "report.md").unlink()
    (folder / "report.html").unlink()
    from typer.testing import CliRunner

    from losslab.cli import app

    res = CliRunner().invoke(app, ["report", str(folder)])
    assert res.exit_code == 0, res.output
    assert (folder / "report.md").read_text() == md  # rebuilt from the store alone
    assert in_html in (folder / "report.html").read_text()


@cli
def test_cli_large_enough_data_has_no_warning(tmp_path):
    csv = _csv(tmp_path, _frame(n=300))
    res = _invoke(
        "--data",
        str(csv),
        "--target",
        "y",
        "--loss",
        "binary_cross_entropy_with_logits",
        "--seeds",
        "1",
        "--epochs",
        "1",
        "--out",
        str(tmp_path),
        "--name",
        "big",
        "--quiet",
    )
    assert res.exit_code == 0, res.output
    assert "small data" not in res.output
    assert "Warning" not in (tmp_path / "big" / "report.md").read_text()


def test_kind_help_states_the_inference_rule():
    res = _invoke("--help")
    text = " ".join(res.output.replace("│", " ").split())
    assert (
        "integers with 2 values -> binary, with at most 10 distinct values and at most half the rows "
        "distinct -> multiclass, else regression"
    ) in text
