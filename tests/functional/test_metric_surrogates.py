"""Soft F1 and soft MCC against sklearn (hard 0/1 probabilities) and float64 numpy references
written in another form (soft MCC as a Pearson-like covariance ratio)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, matthews_corrcoef

import losslab.functional as LF
import losslab.nn as LN


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.mark.parametrize("seed", range(5))
def test_soft_f1_on_hard_probabilities_is_sklearn_f1(seed):
    rng = _rng(seed)
    y = rng.integers(0, 2, 40)
    pred = rng.integers(0, 2, 40)
    loss = LF.soft_f1_loss(torch.tensor(pred, dtype=torch.float64), torch.tensor(y).double())
    assert loss.item() == pytest.approx(1 - f1_score(y, pred, zero_division=0), abs=1e-7)


@pytest.mark.parametrize("seed", range(5))
def test_soft_macro_f1_on_one_hot_probabilities_is_sklearn_macro_f1(seed):
    rng = _rng(seed)
    y = rng.integers(0, 4, 50)
    pred = rng.integers(0, 4, 50)
    probs = torch.nn.functional.one_hot(torch.tensor(pred), 4).double()
    loss = LF.soft_f1_loss(probs, torch.tensor(y))
    ref = f1_score(y, pred, average="macro", labels=[0, 1, 2, 3], zero_division=0)
    assert loss.item() == pytest.approx(1 - ref, abs=1e-7)
    per_class = LF.soft_f1_loss(probs, torch.tensor(y), reduction="none")
    ref_c = f1_score(y, pred, average=None, labels=[0, 1, 2, 3], zero_division=0)
    np.testing.assert_allclose(per_class.numpy(), 1 - ref_c, atol=1e-7)


def test_soft_f1_soft_probabilities_float64_reference():
    rng = _rng(7)
    p = rng.uniform(size=30)
    y = rng.integers(0, 2, 30).astype(float)
    # expected F1 written as a harmonic mean of soft precision and soft recall
    precision, recall = (p * y).sum() / p.sum(), (p * y).sum() / y.sum()
    ref = 1 - 2 * precision * recall / (precision + recall)
    out = LF.soft_f1_loss(torch.tensor(p), torch.tensor(y))
    assert out.item() == pytest.approx(ref, abs=1e-8)


def test_soft_f1_batch_without_positives_has_no_gradient():
    p = torch.tensor([0.3, 0.8], requires_grad=True)
    out = LF.soft_f1_loss(p, torch.zeros(2))
    out.backward()
    assert out.item() == 1.0
    assert torch.equal(p.grad, torch.zeros(2))


@pytest.mark.parametrize("seed", range(5))
def test_soft_mcc_on_hard_probabilities_is_sklearn_mcc(seed):
    rng = _rng(seed)
    y = rng.integers(0, 2, 40)
    pred = rng.integers(0, 2, 40)
    loss = LF.soft_mcc_loss(torch.tensor(pred, dtype=torch.float64), torch.tensor(y).double())
    assert loss.item() == pytest.approx(1 - matthews_corrcoef(y, pred), abs=1e-6)


def test_soft_mcc_soft_probabilities_float64_reference():
    rng = _rng(3)
    p = rng.uniform(size=25)
    y = rng.integers(0, 2, 25).astype(float)
    n = len(p)
    # covariance form: (n sum(p y) - sum p sum y) / sqrt(sum y (n - sum y) sum p (n - sum p))
    num = n * (p * y).sum() - p.sum() * y.sum()
    den = np.sqrt(y.sum() * (n - y.sum()) * p.sum() * (n - p.sum()))
    out = LF.soft_mcc_loss(torch.tensor(p), torch.tensor(y))
    assert out.item() == pytest.approx(1 - num / den, abs=1e-8)


def test_soft_mcc_one_class_batch_is_one_and_finite():
    p = torch.tensor([0.3, 0.8, 0.1], requires_grad=True)
    out = LF.soft_mcc_loss(p, torch.ones(3))
    out.backward()
    assert out.item() == pytest.approx(1.0)
    assert torch.isfinite(p.grad).all()


def test_bad_inputs_have_clear_messages():
    with pytest.raises(
        ValueError, match=r"^soft_f1_loss: 'probs' must be probabilities in \[0, 1\]"
    ):
        LF.soft_f1_loss(torch.tensor([1.5, 0.0]), torch.tensor([1.0, 0.0]))
    with pytest.raises(TypeError, match=r"^soft_f1_loss: 'target' must be integer class indices"):
        LF.soft_f1_loss(torch.full((2, 3), 1 / 3), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"^soft_mcc_loss: 'target' must be of the same shape"):
        LF.soft_mcc_loss(torch.full((2, 3), 1 / 3), torch.tensor([0.0, 1.0]))


def test_modules_equal_functions():
    p, y = torch.tensor([0.9, 0.2, 0.6]), torch.tensor([1.0, 0.0, 1.0])
    assert torch.equal(LN.SoftF1Loss()(p, y), LF.soft_f1_loss(p, y))
    assert torch.equal(
        LN.SoftMCCLoss(reduction="none")(p, y), LF.soft_mcc_loss(p, y, reduction="none")
    )
