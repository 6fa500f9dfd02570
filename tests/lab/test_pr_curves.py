"""Rates at the decision threshold, average precision and the stored precision-recall curve:
against scikit-learn and hand-counted values; the curve written to the store and read back;
stores of schema versions 1 and 2 still open."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from losslab.lab.metrics import METRIC_LABELS, PR_LEVELS, compute_metrics, pr_curve
from losslab.lab.store import SCHEMA_VERSION, Store
from losslab.lab.tasks import get_task
from losslab.lab.train import RunKey, RunResult, TrainConfig, fit_stack

RATES = ("precision", "recall", "minority_recall", "tpr", "fpr", "balanced_accuracy")

# 3 positives, 7 negatives. At 0.5: flagged rows 0, 1 (positives) and 3 (a negative):
# TP = 2, FN = 1, FP = 1, TN = 6 (counted by hand)
Y = torch.tensor([1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
S = torch.tensor([0.9, 0.6, 0.3, 0.7, 0.4, 0.2, 0.1, 0.05, 0.45, 0.35])


def test_rates_at_the_threshold_by_hand_and_against_scikit_learn():
    got = compute_metrics((*RATES, "average_precision", "pr_auc"), S, Y, num_classes=2)
    assert got["precision"] == pytest.approx(2 / 3)
    assert got["recall"] == got["tpr"] == got["minority_recall"] == pytest.approx(2 / 3)
    assert got["fpr"] == pytest.approx(1 / 7)
    assert got["balanced_accuracy"] == pytest.approx((2 / 3 + 6 / 7) / 2)
    yn, pred = Y.numpy(), (S >= 0.5).int().numpy()
    assert got["precision"] == pytest.approx(skm.precision_score(yn, pred))
    assert got["recall"] == pytest.approx(skm.recall_score(yn, pred))
    assert got["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(yn, pred))
    tn, fp, fn, tp = skm.confusion_matrix(yn, pred).ravel()
    assert got["fpr"] == pytest.approx(fp / (fp + tn))
    ap = skm.average_precision_score(yn, S.numpy())
    assert got["average_precision"] == pytest.approx(ap, abs=1e-6)
    assert got["pr_auc"] == pytest.approx(ap, abs=1e-6)  # the older name of the same number


@pytest.mark.parametrize("threshold", [1 / 11, 0.5, 0.8])
def test_rates_follow_the_threshold(threshold):
    g = torch.Generator().manual_seed(1)
    y = torch.randint(0, 2, (300,), generator=g)
    s = torch.rand(300, generator=g) * 0.7 + 0.3 * y
    got = compute_metrics(RATES, s, y, num_classes=2, threshold=threshold)
    yn, pred = y.numpy(), (s >= threshold).int().numpy()
    tn, fp, fn, tp = skm.confusion_matrix(yn, pred, labels=[0, 1]).ravel()
    assert got["precision"] == pytest.approx(skm.precision_score(yn, pred, zero_division=0))
    assert got["recall"] == pytest.approx(tp / (tp + fn))
    assert got["fpr"] == pytest.approx(fp / (fp + tn))
    assert got["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(yn, pred))


def test_no_internal_key_in_the_labels_of_the_rate_tasks():
    names = {m for t in ("imbalanced", "cost-sensitive", "anomaly") for m in get_task(t).metrics}
    for required in ("precision", "fpr", "balanced_accuracy", "average_precision"):
        for t in ("imbalanced", "cost-sensitive", "anomaly"):
            assert required in get_task(t).metrics, (t, required)
    for name in names:
        label = METRIC_LABELS[name]
        assert "_" not in label, (name, label)
    assert METRIC_LABELS["minority_recall"] == "minority recall (TPR)"
    assert METRIC_LABELS["balanced_accuracy"] == "balanced accuracy"
    assert METRIC_LABELS["fpr"] == "FPR" and METRIC_LABELS["precision"] == "precision"


def test_pr_curve_by_hand():
    # thresholds 0.9: P 1, R 1/2; 0.8: P 1/2, R 1/2; 0.7: P 2/3, R 1; 0.1: P 1/2, R 1
    # interpolated precision: 1 up to recall 1/2, then 2/3
    points = pr_curve(torch.tensor([0.9, 0.8, 0.7, 0.1]), torch.tensor([1, 0, 1, 0]), levels=5)
    assert [r for r, _ in points] == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])
    assert [p for _, p in points] == pytest.approx([1.0, 1.0, 1.0, 2 / 3, 2 / 3])


def test_pr_curve_is_scikit_learns_interpolated_curve():
    g = torch.Generator().manual_seed(3)
    y = (torch.rand(400, generator=g) < 0.1).long()
    s = torch.randn(400, generator=g) + 1.5 * y  # unbounded scores work too
    precision, recall, _ = skm.precision_recall_curve(y.numpy(), s.numpy())
    points = pr_curve(s, y)
    assert len(points) == PR_LEVELS
    for level, (r, p) in zip(np.linspace(0, 1, PR_LEVELS), points, strict=True):
        assert r == pytest.approx(level)
        assert p == pytest.approx(precision[recall >= level - 1e-12].max())


def test_pr_curve_is_empty_without_positives_or_with_nan_scores_and_checks_levels():
    assert pr_curve(torch.rand(5), torch.zeros(5, dtype=torch.long)) == []
    assert pr_curve(torch.tensor([0.1, float("nan")]), torch.tensor([1, 0])) == []
    with pytest.raises(ValueError, match="lab.pr_curve: 'levels' must be >= 2, got 1"):
        pr_curve(torch.rand(4), torch.tensor([1, 0, 1, 0]), levels=1)


def _result(seed: int, curves: dict | None = None) -> RunResult:
    return RunResult(
        "imbalanced",
        "BCE",
        "binary_cross_entropy_with_logits",
        seed,
        0.01,
        "finished",
        epochs_run=2,
        best_epoch=2,
        history={"train_loss": [0.6, 0.4], "val_loss": [0.7, 0.5], "val_f1": [0.8, 0.9]},
        metrics={"f1": 0.9, "average_precision": 0.8, "epochs_to_converge": 2.0},
        curves=curves or {},
    )


def test_curves_are_stored_with_the_run_and_read_back(tmp_path):
    pts = [(0.0, 1.0), (0.5, 0.75), (1.0, 0.4)]
    with Store(tmp_path / "s.sqlite") as st:
        assert st.meta("schema_version") == SCHEMA_VERSION == 3
        rid = st.add_run(_result(0, {"pr": pts}))
        st.add_run(_result(1))  # a run without curves stores none
        rows = st.test_curves("pr")
        assert [(r["run_id"], r["idx"], r["x"], r["y"]) for r in rows] == [
            (rid, i, x, y) for i, (x, y) in enumerate(pts)
        ]
        assert {(r["task"], r["competitor"], r["seed"], r["curve"]) for r in rows} == {
            ("imbalanced", "BCE", 0, "pr")
        }
        assert st.test_curves("roc") == [] and len(st.test_curves()) == 3
        # the curve points are not training curves: the per-epoch history is unchanged
        assert all(r["split"] in ("train", "val") for r in st.curves())
        bad = _result(2, {"pr": [(0.0, object())]})  # fails mid-write: nothing of it stays
        with pytest.raises(TypeError):
            st.add_run(bad)
        assert len(st.runs()) == 2 and len(st.test_curves()) == 3


_OLD_SCHEMA = """
CREATE TABLE study (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (run_id INTEGER PRIMARY KEY, task TEXT NOT NULL, competitor TEXT NOT NULL,
    loss TEXT NOT NULL, seed INTEGER NOT NULL, lr REAL NOT NULL, status TEXT NOT NULL,
    epochs_run INTEGER NOT NULL, best_epoch INTEGER NOT NULL, diverged_epoch INTEGER,
    seconds REAL NOT NULL, finished_at REAL NOT NULL, UNIQUE (task, competitor, seed, lr));
CREATE TABLE metrics (run_id INTEGER NOT NULL REFERENCES runs(run_id), split TEXT NOT NULL,
    epoch INTEGER, name TEXT NOT NULL, value REAL);
INSERT INTO runs VALUES (1, 'imbalanced', 'BCE', 'bce', 0, 0.01, 'finished', 2, 2, NULL, 1.0, 0);
INSERT INTO metrics VALUES (1, 'test', NULL, 'f1', 0.9);
"""


@pytest.mark.parametrize("version", [None, 2])  # None: version 1 (no schema_version key)
def test_older_stores_open_and_have_no_curves(tmp_path, version):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(_OLD_SCHEMA)
    if version is not None:
        conn.execute("INSERT INTO study VALUES ('schema_version', ?)", (json.dumps(version),))
    conn.commit()
    conn.close()
    with Store(path) as st:
        assert st.meta("schema_version") == version
        assert st.test_curves() == []
        assert [(r["name"], r["value"]) for r in st.final_metrics()] == [("f1", 0.9)]
        st.add_run(_result(1, {"pr": [(0.0, 1.0), (1.0, 0.5)]}))  # resuming adds curves
        assert len(st.test_curves("pr")) == 2


def test_fit_stack_records_the_selected_models_curve_and_average_precision():
    task = get_task("imbalanced")
    comp = task.competitors[0]
    data = {s: task.load(s) for s in (0, 1)}
    cfg = TrainConfig(epochs=3, batch_size=task.batch_size, hidden=task.hidden)
    fitted = fit_stack(task, comp, [RunKey(0, 0.01), RunKey(1, 0.01)], data, cfg)
    for i, res in enumerate(fitted.results):
        y = fitted.y_test[i].numpy()
        s = fitted.test_scores[i].double().numpy()  # the selected epoch's test scores
        precision, recall, _ = skm.precision_recall_curve(y, s)
        curve = res.curves["pr"]
        assert len(curve) == PR_LEVELS
        for level, (r, p) in zip(np.linspace(0, 1, PR_LEVELS), curve, strict=True):
            assert r == pytest.approx(level)
            assert p == pytest.approx(precision[recall >= level - 1e-12].max())
        assert res.metrics["average_precision"] == pytest.approx(
            skm.average_precision_score(y, s), abs=1e-5
        )
        pred = (s >= 0.5).astype(int)
        assert res.metrics["balanced_accuracy"] == pytest.approx(
            skm.balanced_accuracy_score(y, pred), abs=1e-6
        )
