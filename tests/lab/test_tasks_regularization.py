"""The regularization and cost-sensitive lab tasks: their metrics, trainer and settings."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from sklearn.metrics import confusion_matrix

from losslab.lab import tasks_regularization as R
from losslab.lab.tasks import get_task
from losslab.lab.train import RunKey, TrainConfig, train_stack


def test_tasks_are_registered_with_a_setting_per_competitor():
    for name in ("regularization", "regularization-regression"):
        task = get_task(name)
        labels = [c.label for c in task.competitors]
        assert len(labels) == 1 + 3 * len(R.STRENGTHS)
        settings = [R.SETTINGS[(name, label)] for label in labels]
        assert settings[0] == R.Setting()
        assert R.Setting(l1=1e-3, l2=1e-3) in settings and R.Setting(l2=1e-2) in settings
        assert "weight_sparsity" in task.metrics and task.trainer is R.train_regularized
    task = get_task("cost-sensitive")
    assert task.primary == "total_cost" and not task.higher_is_better
    assert R.BAYES_THRESHOLD == pytest.approx(1 / 11)
    assert R.SETTINGS[("cost-sensitive", task.competitors[1].label)].threshold == R.BAYES_THRESHOLD


def test_total_cost_matches_a_confusion_matrix():
    g = torch.Generator().manual_seed(0)
    scores, y = torch.rand(200, generator=g), torch.randint(0, 2, (200,), generator=g)
    for threshold in (0.5, R.BAYES_THRESHOLD):
        tn, fp, fn, tp = confusion_matrix(
            y.numpy(), (scores >= threshold).numpy(), labels=[0, 1]
        ).ravel()
        expected = 1000 * (10 * fn + 1 * fp) / 200
        assert R.total_cost(scores, y, threshold) == pytest.approx(expected)


def test_weight_sparsity_counts_small_entries_per_model():
    w1 = torch.tensor([[[0.0, 1.0], [5e-4, -2e-3]], [[1.0, 1.0], [1.0, 1.0]]])  # (M=2, 2, 2)
    w2 = torch.tensor([[0.0, -1e-4], [2.0, 0.0]])  # (M=2, 2)
    torch.testing.assert_close(
        R.weight_sparsity([w1, w2]), torch.tensor([4 / 6, 1 / 6], dtype=torch.float64)
    )


@pytest.fixture(scope="module")
def binary():
    task = get_task("regularization")
    return task, {s: task.load(s) for s in range(2)}


def test_thin_trainer_equals_train_stack_without_penalty(binary):
    task, data = binary
    runs = [RunKey(0, 0.01), RunKey(1, 0.01)]
    config = TrainConfig(epochs=3, batch_size=task.batch_size, hidden=task.hidden)
    comp = task.competitors[0]
    ours = R.train_keep_model(task, comp, runs, data, config, R.Setting()).results
    theirs = train_stack(
        dataclasses.replace(task, metrics=("accuracy", "f1", "roc_auc")), comp, runs, data, config
    )
    for a, b in zip(ours, theirs):
        assert a.history == b.history
        for k, v in b.metrics.items():
            assert a.metrics[k] == pytest.approx(v, rel=1e-6), k


def test_thin_trainer_penalty_equals_train_stack_with_l1_l2(binary):
    task, data = binary
    runs = [RunKey(0, 0.01)]
    config = TrainConfig(epochs=2, batch_size=task.batch_size, hidden=task.hidden, l1=1e-3, l2=1e-3)
    comp = task.competitors[0]
    ours = R.train_keep_model(task, comp, runs, data, config, R.Setting(l1=1e-3, l2=1e-3)).results
    theirs = train_stack(dataclasses.replace(task, metrics=("accuracy",)), comp, runs, data, config)
    assert ours[0].history == theirs[0].history


def test_strong_l1_makes_weights_sparser(binary):
    task, data = binary
    runs = [RunKey(0, 0.01)]
    config = TrainConfig(epochs=15, batch_size=task.batch_size, hidden=task.hidden)
    by_label = {c.label: c for c in task.competitors}
    plain = R.train_regularized(task, by_label["no penalty"], runs, data, config)[0]
    lasso = R.train_regularized(task, by_label["L1 0.01"], runs, data, config)[0]
    assert lasso.metrics["weight_sparsity"] > plain.metrics["weight_sparsity"] + 0.02
    assert 0.0 <= plain.metrics["weight_sparsity"] <= 1.0


def test_moved_threshold_uses_the_same_model_and_flags_more_positives():
    task = get_task("cost-sensitive")
    data = {0: task.load(0)}
    runs = [RunKey(0, 0.01)]
    config = TrainConfig(epochs=3, batch_size=task.batch_size, hidden=task.hidden)
    plain, moved = (
        R.train_cost_sensitive(task, c, runs, data, config)[0] for c in task.competitors[:2]
    )
    assert (
        plain.history["train_loss"] == moved.history["train_loss"]
    )  # same training, other decision
    assert moved.metrics["recall"] >= plain.metrics["recall"]
    assert moved.metrics["fpr"] >= plain.metrics["fpr"]
    for res in (plain, moved):
        assert set(task.metrics) <= set(res.metrics)
        assert res.metrics["total_cost"] >= 0
