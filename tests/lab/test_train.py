"""Batched training: equals training each model alone; optimisers equal torch's; diagnostics."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from losslab.lab import tasks as T
from losslab.lab.models import StackedAdam, StackedMLP, StackedSGD
from losslab.lab.train import RunKey, TrainConfig, _first_within, _overfit_flag, train_stack


@pytest.fixture(scope="module")
def binary_data():
    task = T.get_task("binary")
    return task, {s: task.load(s) for s in range(3)}


def _lone_mlp(seed: int, dims: list[int]) -> torch.nn.Sequential:
    """An ordinary nn.Sequential MLP with the same initial values as model `seed` of a stack."""
    stack = StackedMLP([seed], dims[0], dims[1:-1], dims[-1])
    layers: list[torch.nn.Module] = []
    for i, (w, b) in enumerate(zip(stack.weights, stack.biases)):
        lin = torch.nn.Linear(dims[i], dims[i + 1])
        with torch.no_grad():
            lin.weight.copy_(w[0].T)
            lin.bias.copy_(b[0])
        layers += [lin, torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])


def test_stack_initialisation_matches_nn_linear_bounds():
    stack = StackedMLP([0, 1], 30, [16], 1)
    bound = 1 / math.sqrt(30)
    assert stack.weights[0].abs().max() <= bound
    assert not torch.equal(stack.weights[0][0], stack.weights[0][1])  # seeds differ
    again = StackedMLP([1], 30, [16], 1)
    assert torch.equal(again.weights[0][0], stack.weights[0][1])  # same seed, same init


@pytest.mark.parametrize("opt_name", ["adam", "sgd"])
def test_stacked_optimiser_equals_torch_on_lone_models(opt_name):
    torch.manual_seed(0)
    x, y = torch.randn(40, 5), torch.randn(40, 1)
    lrs = [0.01, 0.1]
    stack = StackedMLP([3, 3], 5, [8], 1)
    lr = torch.tensor(lrs, dtype=torch.float64)
    opt = (
        StackedAdam(list(stack.parameters()), lr)
        if opt_name == "adam"
        else StackedSGD(list(stack.parameters()), lr)
    )
    lone = [_lone_mlp(3, [5, 8, 1]) for _ in lrs]
    topts = [
        torch.optim.Adam(m.parameters(), lr=lr_)
        if opt_name == "adam"
        else torch.optim.SGD(m.parameters(), lr=lr_, momentum=0.9)
        for m, lr_ in zip(lone, lrs)
    ]
    for _ in range(25):
        for p in stack.parameters():
            p.grad = None
        ((stack(x) - y) ** 2).mean(dim=(1, 2)).sum().backward()
        opt.step(torch.ones(2, dtype=torch.bool))
        for m, o in zip(lone, topts):
            o.zero_grad()
            ((m(x) - y) ** 2).mean().backward()
            o.step()
    for i, m in enumerate(lone):
        torch.testing.assert_close(stack.weights[0][i], m[0].weight.T, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(stack.biases[1][i], m[2].bias, rtol=1e-5, atol=1e-6)


def test_inactive_models_do_not_move():
    stack = StackedMLP([0, 1], 3, [4], 1)
    before = [p.detach().clone() for p in stack.parameters()]
    opt = StackedAdam(list(stack.parameters()), torch.tensor([0.1, 0.1], dtype=torch.float64))
    stack(torch.randn(5, 3)).sum().backward()
    opt.step(torch.tensor([True, False]))
    for b, p in zip(before, stack.parameters()):
        assert not torch.equal(b[0], p[0])
        assert torch.equal(b[1], p[1])


def test_batched_training_equals_training_each_model_alone(binary_data):
    task, data = binary_data
    comp = task.competitors[1]  # BCE
    cfg = TrainConfig(epochs=4, hidden=(16,), batch_size=64)
    keys = [RunKey(s, lr) for lr in (0.01, 0.05) for s in range(3)]
    together = train_stack(task, comp, keys, data, cfg)
    for key, res in zip(keys, together):
        alone = train_stack(task, comp, [key], data, cfg)[0]
        assert (res.seed, res.lr) == (key.seed, key.lr)
        for name in ("train_loss", "val_loss", "val_accuracy"):
            torch.testing.assert_close(
                torch.tensor(res.history[name]),
                torch.tensor(alone.history[name]),
                rtol=1e-4,
                atol=1e-5,
            )
        for name in task.metrics:
            assert res.metrics[name] == pytest.approx(alone.metrics[name], abs=1e-4)


def test_every_default_competitor_trains_finite(binary_data):
    task, data = binary_data
    cfg = TrainConfig(epochs=2, hidden=(8,))
    for comp in task.competitors:
        (res,) = train_stack(task, comp, [RunKey(0, 0.01)], data, cfg)
        assert res.status == "finished"
        assert all(math.isfinite(v) for v in res.metrics.values())
        assert 0.5 < res.metrics["roc_auc"] <= 1.0


def test_divergence_is_recorded_and_other_runs_go_on(binary_data):
    task, data = binary_data
    comp = T.Competitor("MSE on raw output", "mse_loss")
    # identity head so nothing bounds the output; an absurd learning rate blows it up
    weird = T.Task(
        name="binary-raw",
        kind="regression",
        description="",
        load=task.load,
        competitors=(comp,),
        metrics=("rmse",),
        primary="rmse",
        higher_is_better=False,
    )
    cfg = TrainConfig(epochs=5, hidden=(16,), optimizer="sgd")
    res = train_stack(weird, comp, [RunKey(0, 1e-3), RunKey(0, 1e6)], data, cfg)
    assert res[0].status == "finished" and math.isfinite(res[0].metrics["rmse"])
    assert res[1].status == "diverged" and res[1].diverged_epoch is not None
    assert res[1].metrics == {}
    assert math.isnan(res[1].history["val_loss"][-1])
    assert len(res[1].history["val_loss"]) == res[1].diverged_epoch  # the history ends there


def test_early_stopping_batched_equals_alone(binary_data):
    task, data = binary_data
    cfg = TrainConfig(epochs=25, hidden=(16,), early_stopping=3)
    keys = [RunKey(s, 0.05) for s in range(3)]
    together = train_stack(task, task.competitors[1], keys, data, cfg)
    for key, res in zip(keys, together):
        alone = train_stack(task, task.competitors[1], [key], data, cfg)[0]
        assert res.epochs_run == alone.epochs_run == len(res.history["val_loss"])
        torch.testing.assert_close(
            torch.tensor(res.history["grad_norm"]),
            torch.tensor(alone.history["grad_norm"]),
            rtol=1e-4,
            atol=1e-6,
        )
        for k in ("grad_norm_median", "overfitting", "epochs_to_converge", "accuracy"):
            assert res.metrics[k] == pytest.approx(alone.metrics[k], abs=1e-4), k
    assert len({r.epochs_run for r in together}) > 1 or together[0].epochs_run < 25  # it did stop


def test_early_stopping_restores_best_epoch(binary_data):
    task, data = binary_data
    cfg = TrainConfig(epochs=30, hidden=(16,), early_stopping=2)
    (res,) = train_stack(task, task.competitors[1], [RunKey(1, 0.05)], data, cfg)
    assert 1 <= res.best_epoch <= len(res.history["val_accuracy"])
    assert max(res.history["val_accuracy"]) == res.history["val_accuracy"][res.best_epoch - 1]


def test_convergence_and_overfitting_rules():
    assert _first_within([0.5, 0.8, 0.95, 0.99, 1.0], 1.0, 0.01, True) == 4
    assert _first_within([3.0, 1.2, 1.005, 1.0], 1.0, 0.01, False) == 3
    train = [5, 4, 3, 2, 1, 0.5]
    assert _overfit_flag(train, [5, 4, 4.1, 4.2, 4.3, 4.4], patience=3)
    assert not _overfit_flag(train, [5, 4, 3, 2.5, 2.6, 2.4], patience=3)


def test_metrics_agree_with_scikit_learn():
    from sklearn import metrics as skm

    from losslab.lab.metrics import compute_metrics

    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (200,), generator=g)
    s = torch.rand(200, generator=g) * 0.6 + 0.4 * y  # informative scores
    got = compute_metrics(
        ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "fpr"), s, y, num_classes=2
    )
    pred = (s >= 0.5).int().numpy()
    yn = y.numpy()
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(yn, pred), abs=1e-6)
    assert got["precision"] == pytest.approx(skm.precision_score(yn, pred), abs=1e-6)
    assert got["recall"] == pytest.approx(skm.recall_score(yn, pred), abs=1e-6)
    assert got["f1"] == pytest.approx(skm.f1_score(yn, pred), abs=1e-6)
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(yn, s.numpy()), abs=1e-5)
    assert got["pr_auc"] == pytest.approx(skm.average_precision_score(yn, s.numpy()), abs=1e-5)
    tn, fp, fn, tp = skm.confusion_matrix(yn, pred).ravel()
    assert got["fpr"] == pytest.approx(fp / (fp + tn), abs=1e-6)

    probs = torch.softmax(torch.randn(300, 10, generator=g), dim=1)
    yc = torch.randint(0, 10, (300,), generator=g)
    got = compute_metrics(("top1", "top5", "macro_f1"), probs, yc, num_classes=10)
    assert got["top1"] == pytest.approx(
        skm.accuracy_score(yc.numpy(), probs.argmax(1).numpy()), abs=1e-6
    )
    assert got["top5"] == pytest.approx(
        skm.top_k_accuracy_score(yc.numpy(), probs.numpy(), k=5), abs=1e-6
    )
    assert got["macro_f1"] == pytest.approx(
        skm.f1_score(yc.numpy(), probs.argmax(1).numpy(), average="macro"), abs=1e-6
    )

    pred_r, true_r = torch.randn(50, generator=g), torch.randn(50, generator=g)
    got = compute_metrics(("rmse", "mae"), pred_r, true_r, num_classes=None, target_std=2.0)
    assert got["rmse"] == pytest.approx(
        2.0 * skm.mean_squared_error(true_r, pred_r) ** 0.5, rel=1e-5
    )
    assert got["mae"] == pytest.approx(2.0 * skm.mean_absolute_error(true_r, pred_r), rel=1e-5)


def test_regression_task_corrupts_training_and_validation_but_not_test():
    from losslab.lab.data import diabetes_with_outliers

    dirty, clean = diabetes_with_outliers(0), diabetes_with_outliers(0, fraction=0.0)
    again = diabetes_with_outliers(0)
    assert torch.equal(dirty.y_train, again.y_train)  # reproducible

    def raw(ds, split):
        return getattr(ds, f"y_{split}") * ds.meta["target_std"] + ds.meta["target_mean"]

    for split in ("train", "val"):
        changed = (raw(dirty, split) - raw(clean, split)).abs() > 1.0
        assert 0.08 < changed.float().mean().item() < 0.12, split  # about 10% corrupted
    torch.testing.assert_close(
        raw(dirty, "test"), raw(clean, "test"), rtol=1e-5, atol=1e-3
    )  # clean test set
    # scaled with the corrupted training targets' statistics, not the clean ones
    assert dirty.meta["target_std"] > 1.5 * clean.meta["target_std"]


def test_stacked_cnn_models_are_independent_and_match_a_plain_cnn():
    from losslab.lab.models import StackedCNN

    stack = StackedCNN([0, 1, 2], (1, 8, 8), 10)
    x = torch.randn(3, 5, 64)
    out = stack(x)
    f = torch.nn.functional
    for m in range(3):  # a plain CNN with model m's weights gives model m's output
        img = x[m].reshape(5, 1, 8, 8)
        z = f.max_pool2d(torch.relu(f.conv2d(img, stack.w1[m], stack.b1[m], padding=1)), 2)
        z = f.max_pool2d(torch.relu(f.conv2d(z, stack.w2[m], stack.b2[m], padding=1)), 2)
        ref = z.reshape(5, -1) @ stack.w3[m] + stack.b3[m]
        torch.testing.assert_close(out[m], ref, rtol=1e-5, atol=1e-6)
    # changing model 1's input changes only model 1's output
    x2 = x.clone()
    x2[1] += 1
    out2 = stack(x2)
    assert (
        torch.equal(out2[0], out[0])
        and torch.equal(out2[2], out[2])
        and not torch.equal(out2[1], out[1])
    )


def test_cnn_batched_equals_alone():
    task = T.get_task("multiclass")
    data = {s: task.load(s) for s in range(2)}
    cfg = TrainConfig(epochs=2, batch_size=128, architecture="cnn")
    keys = [RunKey(0, 0.01), RunKey(1, 0.01)]
    together = train_stack(task, task.competitors[0], keys, data, cfg)
    for key, res in zip(keys, together):
        alone = train_stack(task, task.competitors[0], [key], data, cfg)[0]
        torch.testing.assert_close(
            torch.tensor(res.history["val_loss"]),
            torch.tensor(alone.history["val_loss"]),
            rtol=1e-4,
            atol=1e-5,
        )
        assert res.metrics["top1"] == pytest.approx(alone.metrics["top1"], abs=1e-3)
    assert together[0].metrics["top1"] > 0.5  # it learns


@pytest.mark.parametrize(
    "name, shape",
    [("accuracy", (4, 50)), ("f1", (4, 50)), ("top1", (4, 50, 10)), ("roc_auc", (4, 50))],
)
def test_vectorised_metric_equals_one_model_at_a_time(name, shape):
    from losslab.lab.metrics import compute_metrics, metric_per_model

    g = torch.Generator().manual_seed(1)
    scores = torch.rand(*shape, generator=g)
    nc = shape[2] if len(shape) == 3 else 2
    y = torch.randint(0, nc, shape[:2], generator=g)
    got = metric_per_model(name, scores, y, num_classes=nc)
    want = [
        compute_metrics((name,), scores[i], y[i], num_classes=nc)[name] for i in range(shape[0])
    ]
    assert got == pytest.approx(want, abs=1e-6)


# -- model selection and penalties (lab/engine.py) -----------------------------------------------


def _test_part(metrics: dict[str, float], task: T.Task) -> dict[str, float]:
    return {k: metrics[k] for k in task.metrics}


def test_select_best_reports_the_best_epoch_model_and_keeps_the_final_one(binary_data):
    task, data = binary_data
    comp, key = task.competitors[1], RunKey(1, 0.05)
    best_cfg = TrainConfig(epochs=10, hidden=(16,))
    assert best_cfg.select == "best"  # the default
    (best,) = train_stack(task, comp, [key], data, best_cfg)
    (final,) = train_stack(task, comp, [key], data, dataclasses.replace(best_cfg, select="final"))
    assert best.best_epoch < best.epochs_run == 10  # otherwise this test shows nothing
    assert best.history == final.history and best.best_epoch == final.best_epoch
    assert best.final_metrics == final.final_metrics == _test_part(final.metrics, task)
    # the best checkpoint is the model trained for best_epoch epochs and no more
    (stopped,) = train_stack(
        task, comp, [key], data, TrainConfig(epochs=best.best_epoch, hidden=(16,), select="final")
    )
    assert _test_part(best.metrics, task) == pytest.approx(stopped.final_metrics, abs=1e-6)
    assert best.history["val_accuracy"][best.best_epoch - 1] == max(best.history["val_accuracy"])
    with pytest.raises(ValueError, match="'--select' must be one of best, final, got 'last'"):
        train_stack(task, comp, [key], data, dataclasses.replace(best_cfg, select="last"))


def test_a_penalty_that_cannot_apply_is_an_error(binary_data):
    from losslab.lab.engine import train_system
    from losslab.lab.systems.mlp import MLPSystem

    class NoWeights(MLPSystem):
        def penalized_weights(self):
            return []

    task, data = binary_data
    comp, keys = task.competitors[1], [RunKey(0, 0.01)]
    cfg = TrainConfig(epochs=1, hidden=(8,), l2=0.01)
    with pytest.raises(ValueError, match="'--l1'/'--l2' need weights to penalise.*NoWeights"):
        train_system(NoWeights(task, comp, keys, data, cfg), task, comp, keys, cfg)
    # without a penalty it trains
    (res,) = train_system(
        NoWeights(task, comp, keys, data, dataclasses.replace(cfg, l2=0.0)),
        task,
        comp,
        keys,
        dataclasses.replace(cfg, l2=0.0),
    )
    assert res.status == "finished"


@pytest.mark.parametrize(
    "task_name, label",
    [("regression", "adaptive robust (learned alpha, scale)"), ("segmentation", "Dice")],
)
def test_l2_applies_to_every_ported_trainer(task_name, label):
    from losslab.lab.tasks_segmentation import synthetic_shapes

    task = T.get_task(task_name)
    comp = next(c for c in task.competitors if c.label == label)
    load = (
        (lambda s: synthetic_shapes(s, n_train=8, n_val=4, n_test=4))
        if task_name == "segmentation"
        else task.load
    )
    data = {0: load(0)}
    trainer = comp.trainer or task.trainer
    cfg = TrainConfig(epochs=1, batch_size=task.batch_size, hidden=task.hidden)
    (plain,) = trainer(task, comp, [RunKey(0, 0.0)], data, cfg)  # lr 0: the weights never move
    (pen,) = trainer(task, comp, [RunKey(0, 0.0)], data, dataclasses.replace(cfg, l2=0.5))
    # lr 0 freezes the weights: the loss is the same, and the gradient gains the penalty's 2*l2*w
    assert (
        pen.history["train_loss"] == plain.history["train_loss"]
    )  # train_loss excludes the penalty
    assert pen.history["grad_norm"][0] > plain.history["grad_norm"][0] + 1e-3
