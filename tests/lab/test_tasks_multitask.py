"""The multi-task lab task and the regression task's adaptive robust row (tiny runs, seconds)."""

from __future__ import annotations

import dataclasses
import math
import pickle

import pytest
from typer.testing import CliRunner

from losslab.cli import app
from losslab.lab import study
from losslab.lab.tasks import get_task
from losslab.lab.tasks_multitask import METHODS, train_multitask
from losslab.lab.train import RunKey, TrainConfig
from losslab.lab.train_adaptive import ALPHA_RANGE

TINY = TrainConfig(epochs=2, batch_size=128, hidden=(16,))


@pytest.fixture(scope="module")
def multitask_data():
    task = get_task("multitask")
    return task, {s: task.load(s) for s in (0, 1)}


def test_multitask_task_registered_with_every_method():
    task = get_task("multitask")
    assert task.primary == "mean_accuracy"
    assert {c.trainer.__name__ for c in task.competitors} == {f"train_{m}" for m in METHODS}
    for comp in task.competitors:  # module-level trainers: the process pool pickles them
        assert pickle.loads(pickle.dumps(comp)) == comp


@pytest.mark.parametrize("comp_index", range(5))
def test_multitask_tiny_run_gives_finite_metrics(multitask_data, comp_index):
    task, data = multitask_data
    comp = task.competitors[comp_index]
    results = comp.trainer(task, comp, [RunKey(0, 0.01), RunKey(1, 0.01)], data, TINY)
    assert [r.seed for r in results] == [0, 1]
    for r in results:
        assert r.status == "finished" and r.epochs_run == 2
        for name in (*task.metrics, "epochs_to_converge", "generalization_gap", "grad_norm_max"):
            assert math.isfinite(r.metrics[name]), name
        assert 0.0 <= r.metrics["class_top1"] <= 1.0
        assert r.metrics["mean_accuracy"] == pytest.approx(
            0.5 * (r.metrics["class_top1"] + r.metrics["parity_accuracy"]))
        assert set(r.history) >= {"train_loss", "val_loss", "val_mean_accuracy", "grad_norm",
                                  "weight_class", "weight_parity"}
        assert all(len(v) == 2 for v in r.history.values())


def test_multitask_methods_differ_but_equal_is_deterministic(multitask_data):
    task, data = multitask_data
    comp = task.competitors[0]
    runs = [RunKey(0, 0.01)]
    a = train_multitask("equal", task, comp, runs, data, TINY)[0]
    b = train_multitask("equal", task, comp, runs, data, TINY)[0]
    g = train_multitask("gradnorm", task, comp, runs, data, TINY)[0]
    assert a.history["train_loss"] == b.history["train_loss"]
    assert g.history["train_loss"] != a.history["train_loss"]
    assert g.history["weight_class"][-1] != 1.0  # GradNorm moved its weights
    with pytest.raises(ValueError, match="multi-task 'method' must be one of"):
        train_multitask("magic", task, comp, runs, data, TINY)


def test_compare_cli_multitask_writes_report(tmp_path):
    res = CliRunner().invoke(app, ["compare", "--task", "multitask", "--seeds", "2", "--epochs", "2",
                                   "--quiet", "--out", str(tmp_path), "--name", "mt"],
                             env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert (tmp_path / "mt" / "report.html").exists()
    assert "PCGrad" in (tmp_path / "mt" / "report.md").read_text()


def test_study_prefers_competitor_trainer():
    task = get_task("multitask")  # its task-level trainer must lose to the competitor's
    called = {}

    def fake(*args):
        called["args"] = args
        return []

    comp = dataclasses.replace(task.competitors[1], trainer=fake)
    assert study._execute(study.Unit(task, comp, (RunKey(0, 0.01),), TINY)) == []
    assert called["args"][1] is comp


def test_regression_adaptive_row_reports_learned_alpha():
    task = get_task("regression")
    comp = next(c for c in task.competitors if c.label.startswith("adaptive robust"))
    assert pickle.loads(pickle.dumps(comp)) == comp  # module-level trainer: works in the pool
    data = {s: task.load(s) for s in (0, 1)}
    results = comp.trainer(task, comp, [RunKey(0, 0.01), RunKey(1, 0.05)], data,
                           TrainConfig(epochs=12, batch_size=64, hidden=(8,)))
    lo, hi = ALPHA_RANGE
    for r in results:
        assert r.status == "finished"
        assert lo < r.metrics["learned_alpha"] < hi
        assert r.metrics["learned_scale"] > 0
        assert math.isfinite(r.metrics["rmse"]) and math.isfinite(r.metrics["mae"])
        assert len(r.history["alpha"]) == 12 and len(r.history["val_rmse"]) == 12
    # alpha starts at the middle of the range; once the fit is reasonable the outliers (10% of
    # targets) push it below the middle (with lr 0.05 within a dozen epochs)
    assert results[1].history["alpha"][-1] < 0.5 * (lo + hi)
