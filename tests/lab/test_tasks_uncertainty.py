"""The uncertainty and calibration tasks: data, heads built with the right units, metrics,
temperature rows, stored curves. (Stacked == alone: tests/lab/test_stacked_equals_alone.py.)"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from losslab.lab import tasks as T
from losslab.lab.systems.uncertainty import UncertaintySystem
from losslab.lab.tasks_uncertainty import (
    QUANTILE_LEVELS,
    heteroscedastic,
    heteroscedastic_arrays,
    noise_sd,
)
from losslab.lab.train import RunKey, TrainConfig

KEYS = [RunKey(0, 0.01), RunKey(1, 0.01)]


def _small(ds, n: int = 96):
    return dataclasses.replace(ds, x_train=ds.x_train[:n], y_train=ds.y_train[:n])


def test_heteroscedastic_data_has_the_stated_noise():
    x, y = heteroscedastic_arrays(0, n=20_000)
    assert x.min() >= -3 and x.max() <= 3
    z = (y - x * np.sin(x)) / noise_sd(x)
    assert abs(z.mean()) < 0.03 and abs(z.std() - 1) < 0.03
    # the noise grows with |x| as stated: residual sd near x = +-2.5 vs near 0
    far, near = np.abs(np.abs(x) - 2.5) < 0.2, np.abs(x) < 0.2
    r = y - x * np.sin(x)
    assert r[far].std() == pytest.approx(0.85, rel=0.1) and r[near].std() == pytest.approx(
        0.13, rel=0.15
    )
    ds = heteroscedastic(0, n=50)
    assert ds.y_train.tolist() == heteroscedastic(0, n=50).y_train.tolist()
    assert ds.y_train.tolist() != heteroscedastic(1, n=50).y_train.tolist()
    assert abs(float(ds.y_train.mean())) < 1e-5 and ds.meta["target_std"] > 0


#: loss -> output units the system must build (digits: 10 classes)
UNITS = {
    "mse_loss": 1,
    "beta_nll_loss": 2,
    "evidential_regression_loss": 4,
    "crps_gaussian_loss": 2,
    "quantile_set_loss": len(QUANTILE_LEVELS),
    "cross_entropy": 10,
    "softmax_focal_loss": 10,
    "evidential_classification_loss": 10,
}


@pytest.mark.parametrize("task_name", ["uncertainty", "calibration"])
def test_each_head_is_built_with_its_units(task_name):
    task = T.get_task(task_name)
    data = {s: _small(task.load(s)) for s in (0, 1)}
    cfg = TrainConfig(epochs=1, batch_size=32, hidden=(8,))
    for comp in task.competitors:
        system = UncertaintySystem(task, comp, KEYS, data, cfg)
        z = system.model(system.data.x_val)
        assert z.shape == (2, data[0].x_val.shape[0], UNITS[comp.loss]), comp.label
        loss = system.loss_of(z, system.data.y_val)
        assert loss.shape == (2,) and torch.isfinite(loss).all()


def test_regression_metrics_and_pit_curve_are_recorded():
    task = T.get_task("uncertainty")
    data = {s: _small(task.load(s)) for s in (0, 1)}
    cfg = TrainConfig(epochs=2, batch_size=32, hidden=(8,))
    comp = next(c for c in task.competitors if c.loss == "evidential_regression_loss")
    results = task.trainer(task, comp, KEYS, data, cfg)
    for res in results:
        assert set(task.metrics) <= set(res.metrics)
        assert 0 <= res.metrics["coverage_50"] <= res.metrics["coverage_90"] <= 1
        assert 0 < res.metrics["width_50"] < res.metrics["width_90"]
        pit = res.curves["pit"]
        assert len(pit) == 10 and sum(f for _, f in pit) == pytest.approx(1.0)


def test_temperature_rows_train_the_same_model_and_keep_accuracy():
    task = T.get_task("calibration")
    data = {s: _small(task.load(s), 200) for s in (0, 1)}
    cfg = TrainConfig(epochs=3, batch_size=32, hidden=(16,))
    for loss in ("cross_entropy", "evidential_classification_loss"):
        raw, tempered = (
            c
            for c in task.competitors
            if c.loss == loss and not c.kwargs.get("label_smoothing", 0.0)
        )
        plain = task.trainer(task, raw, KEYS, data, cfg)
        scaled = tempered.trainer(task, tempered, KEYS, data, cfg)
        assert tempered.group == "after temperature scaling" and raw.group == ""
        for a, b in zip(plain, scaled, strict=True):
            assert a.history == b.history  # the same training
            assert a.metrics["accuracy"] == b.metrics["accuracy"]
            assert a.metrics["nll"] != b.metrics["nll"]
            assert a.curves["reliability"] and all(0 <= c <= 1 for c, _ in b.curves["reliability"])


def test_a_task_that_cannot_build_a_multi_output_head_refuses_the_loss():
    with pytest.raises(ValueError, match=r"^compare: loss 'beta_nll_loss' needs a head with"):
        T.competitor_for_loss(T.get_task("regression"), "beta_nll_loss")
    with pytest.raises(ValueError, match="use --task uncertainty"):
        T.competitor_for_loss(T.get_task("multiclass"), "evidential_classification_loss")
    comp = T.competitor_for_loss(T.get_task("uncertainty"), "beta_nll_loss")
    assert comp.loss == "beta_nll_loss"


def test_an_interval_head_is_read_as_the_gaussian_with_that_central_interval():
    task = T.get_task("uncertainty")
    comp = T.competitor_for_loss(task, "interval_score_loss")
    data = {s: _small(task.load(s)) for s in (0, 1)}
    system = UncertaintySystem(task, comp, KEYS, data, TrainConfig(epochs=1, hidden=(8,)))
    z = system.model(system.data.x_test)
    pred = system.predictive(z, 0)
    lower, upper = system.outputs(z)
    lo, hi = pred.interval(0.9)  # alpha = 0.1 (the default): the interval itself
    np.testing.assert_allclose(
        lo, torch.minimum(lower[0], upper[0]).detach().double().numpy(), atol=1e-5
    )
    np.testing.assert_allclose(
        hi, torch.maximum(lower[0], upper[0]).detach().double().numpy(), atol=1e-5
    )
