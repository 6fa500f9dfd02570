"""Bootstrapping, normalized / reverse cross entropy and the active-passive losses against
independent references.

References are float64 numpy formulations written from probabilities and literal label
vectors (the mixed target of bootstrapping written out and dotted with log p, the one-hot label
with log 0 replaced by A, the normaliser summed as a loop over every label), torch's own
cross entropy where a loss reduces to it, and hand-computed values derived next to them.
The catalog contract (derivatives vs autograd, properties, extremes, validation) runs in
``tests/catalog/test_contract.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import losslab.functional as LF
import losslab.nn as LN

NEW = [
    LF.soft_bootstrapped_cross_entropy,
    LF.hard_bootstrapped_cross_entropy,
    LF.normalized_cross_entropy,
    LF.reverse_cross_entropy,
    LF.nce_rce_loss,
    LF.nce_mae_loss,
]


def g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def class_data(n=7, c=5, *, seed=0, scale=2.0, extra=()):
    x = scale * torch.randn(n, c, *extra, generator=g(seed), dtype=torch.float64)
    y = torch.randint(0, c, (n, *extra), generator=g(seed + 1))
    return x, y


def np_softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# -- bootstrapping ----------------------------------------------------------------------------


def test_soft_bootstrapping_is_ce_against_the_mixed_target():
    x, y = class_data(8, 4, seed=1)
    beta = 0.7
    p = np_softmax(x.numpy())
    ref = []
    for i in range(8):
        target = beta * np.eye(4)[y[i]] + (1 - beta) * p[i]  # Reed et al. eq. (soft)
        ref.append(-(target * np.log(p[i])).sum())
    out = LF.soft_bootstrapped_cross_entropy(x, y, beta=beta, reduction="none")
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12)


def test_soft_bootstrapping_beta_one_is_cross_entropy():
    x, y = class_data(9, 6, seed=2)
    torch.testing.assert_close(
        LF.soft_bootstrapped_cross_entropy(x, y, beta=1.0),
        TF.cross_entropy(x, y),
        rtol=1e-14,
        atol=0,
    )


def test_soft_bootstrapping_gradient_flows_through_the_prediction():
    # not detached: the gradient is beta (p - e) plus the entropy term's, which is not 0 (a
    # detached prediction would give exactly beta times CE's gradient)
    x, y = class_data(5, 4, seed=3)
    x.requires_grad_(True)
    LF.soft_bootstrapped_cross_entropy(x, y, beta=0.5, reduction="sum").backward()
    ce_grad = torch.softmax(x, 1) - TF.one_hot(y, 4).double()
    assert (x.grad - 0.5 * ce_grad).abs().max() > 1e-3


def test_hard_bootstrapping_uses_the_argmax_class():
    x = torch.tensor([[0.0, 2.0, 0.0], [3.0, 1.0, -1.0]], dtype=torch.float64)
    y = torch.tensor([0, 0])
    p = np_softmax(x.numpy())
    beta = 0.8
    # row 0: predicted class 1, label 0; row 1: prediction agrees with the label (CE)
    ref = [-beta * np.log(p[0, 0]) - (1 - beta) * np.log(p[0, 1]), -np.log(p[1, 0])]
    out = LF.hard_bootstrapped_cross_entropy(x, y, beta=beta, reduction="none")
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12)
    # the worked value of the docstring: 0.8 * 2.2395 + 0.2 * 0.2395 (log(e^2 + 2) = 2.2395)
    assert out[0].item() == pytest.approx(
        0.8 * math.log(math.e**2 + 2) + 0.2 * (math.log(math.e**2 + 2) - 2)
    )


def test_hard_bootstrapping_no_gradient_through_the_choice():
    x = torch.tensor([[0.0, 2.0, 0.0]], dtype=torch.float64, requires_grad=True)
    LF.hard_bootstrapped_cross_entropy(x, torch.tensor([0]), beta=0.8, reduction="sum").backward()
    p = np_softmax(x.detach().numpy())[0]
    np.testing.assert_allclose(x.grad[0].numpy(), p - 0.8 * np.eye(3)[0] - 0.2 * np.eye(3)[1])


# -- normalized / reverse cross entropy --------------------------------------------------------


def test_nce_by_its_definition():
    # NCE = CE(y) / sum over every label j of CE(j): the denominator as a loop over labels
    x, y = class_data(7, 5, seed=4)
    p = np_softmax(x.numpy())
    ref = []
    for i in range(7):
        ce = [-math.log(p[i, j]) for j in range(5)]  # CE against each label j
        ref.append(ce[y[i].item()] / sum(ce))
    out = LF.normalized_cross_entropy(x, y, reduction="none")
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12)
    # a normalised loss sums to 1 over the labels
    total = sum(
        LF.normalized_cross_entropy(x, torch.full((7,), j), reduction="none") for j in range(5)
    )
    np.testing.assert_allclose(total.numpy(), np.ones(7), rtol=1e-12)


@pytest.mark.parametrize("c", [2, 3, 10])
def test_nce_of_a_uniform_prediction_is_one_over_c(c):
    x = torch.zeros(3, c, dtype=torch.float64)
    out = LF.normalized_cross_entropy(x, torch.tensor([0, 1, c - 1]), reduction="none")
    np.testing.assert_allclose(out.numpy(), np.full(3, 1.0 / c), rtol=1e-14)


def test_nce_needs_two_classes():
    with pytest.raises(
        ValueError,
        match=r"^normalized_cross_entropy: 'logits' must be of shape \(N, C, \.\.\.\) with C >= 2 classes, got C = 1",
    ):
        LF.normalized_cross_entropy(torch.zeros(3, 1), torch.zeros(3, dtype=torch.long))


def test_rce_is_minus_a_times_one_minus_p_y():
    # the literal definition: -sum_k p_k log(onehot_k) with log 0 := A, log 1 = 0
    x, y = class_data(6, 4, seed=5)
    A = -4.0
    p = np_softmax(x.numpy())
    ref = [-(p[i] * np.where(np.arange(4) == y[i].item(), 0.0, A)).sum() for i in range(6)]
    out = LF.reverse_cross_entropy(x, y, reduction="none")  # default log_zero = -4
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12)
    np.testing.assert_allclose(out.numpy(), 4.0 * (1 - p[np.arange(6), y.numpy()]), rtol=1e-12)
    # the authors' code clamps the label at 1e-4: A = ln 1e-4
    code = LF.reverse_cross_entropy(x, y, log_zero=math.log(1e-4), reduction="none")
    np.testing.assert_allclose(
        code.numpy(), -math.log(1e-4) * (1 - p[np.arange(6), y.numpy()]), rtol=1e-12
    )


def test_rce_equals_symmetric_ce_without_its_ce_part():
    x, y = class_data(6, 4, seed=6)
    torch.testing.assert_close(
        LF.reverse_cross_entropy(x, y, log_zero=-6.0),
        LF.symmetric_cross_entropy(x, y, alpha=0.0, beta=1.0, log_zero=-6.0),
        rtol=1e-14,
        atol=0,
    )


def test_active_passive_combinations():
    x, y = class_data(8, 10, seed=7)
    x[3] = 0.0  # a uniform row: NCE = 1/10, 1 - p_y = 0.9
    y[5] = -100
    p = np_softmax(x.numpy())
    lp = np.log(p)
    valid = y.numpy() != -100
    ys = np.where(valid, y.numpy(), 0)
    nce = lp[np.arange(8), ys] / lp.sum(axis=1)
    mae = 1 - p[np.arange(8), ys]
    a, b, A = 2.0, 0.5, -3.0
    rce_ref = np.where(valid, a * nce - b * A * mae, 0.0)
    mae_ref = np.where(valid, a * nce + b * mae, 0.0)
    out_rce = LF.nce_rce_loss(x, y, alpha=a, beta=b, log_zero=A, reduction="none")
    out_mae = LF.nce_mae_loss(x, y, alpha=a, beta=b, reduction="none")
    np.testing.assert_allclose(out_rce.numpy(), rce_ref, rtol=1e-12)
    np.testing.assert_allclose(out_mae.numpy(), mae_ref, rtol=1e-12)
    assert out_mae[3].item() == pytest.approx(2.0 * 0.1 + 0.5 * 0.9, rel=1e-12)
    assert LF.nce_rce_loss(x, y, alpha=a, beta=b, log_zero=A).item() == pytest.approx(
        rce_ref.sum() / 7
    )


# -- shared conventions -----------------------------------------------------------------------


@pytest.mark.parametrize("fn", NEW)
def test_spatial_equals_flattened(fn):
    x, y = class_data(2, 3, seed=8, extra=(4, 5))
    flat_x = x.permute(0, 2, 3, 1).reshape(-1, 3)
    torch.testing.assert_close(
        fn(x, y, reduction="none").reshape(-1), fn(flat_x, y.reshape(-1), reduction="none")
    )


@pytest.mark.parametrize("fn", NEW)
def test_ignore_index_masks_and_mean_counts_the_rest(fn):
    x, y = class_data(8, 4, seed=9)
    y[[1, 4]] = 255
    out = fn(x, y, ignore_index=255, reduction="none")
    assert (out[[1, 4]] == 0).all()
    assert fn(x, y, ignore_index=255).item() == pytest.approx(out.sum().item() / 6, rel=1e-12)


@pytest.mark.parametrize("fn", NEW)
def test_module_is_generated(fn):
    cls = {
        LF.soft_bootstrapped_cross_entropy: LN.SoftBootstrappedCrossEntropyLoss,
        LF.hard_bootstrapped_cross_entropy: LN.HardBootstrappedCrossEntropyLoss,
        LF.normalized_cross_entropy: LN.NormalizedCrossEntropyLoss,
        LF.reverse_cross_entropy: LN.ReverseCrossEntropyLoss,
        LF.nce_rce_loss: LN.NCERCELoss,
        LF.nce_mae_loss: LN.NCEMAELoss,
    }[fn]
    x, y = class_data(5, 3, seed=10)
    torch.testing.assert_close(cls(reduction="sum")(x, y), fn(x, y, reduction="sum"))


@pytest.mark.parametrize(
    "fn", [LF.soft_bootstrapped_cross_entropy, LF.hard_bootstrapped_cross_entropy]
)
def test_bootstrapping_rejects_beta_outside_0_1(fn):
    name = fn.__name__
    with pytest.raises(
        ValueError, match=rf"^{name}: 'beta' must be a finite real number > 0 and <= 1, got 1.5"
    ):
        fn(torch.zeros(2, 3), torch.tensor([0, 1]), beta=1.5)
