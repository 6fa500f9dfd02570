"""Classification losses and imbalance helpers against independent references.

References used here are never the implementation copied: float64 numpy formulations written
from probabilities (not log space), naive per-sample loops, torch's own losses where a loss
reduces to one (gamma = 0, epsilon = 0, tau = 0), scipy's Jensen-Shannon distance, and
hand-computed values whose derivation is stated next to them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon

import losslab.functional as LF
import losslab.nn as LN

CLASS_LOSSES = [
    LF.softmax_focal_loss,
    LF.poly1_cross_entropy,
    LF.multiclass_hinge_loss,
    LF.generalized_cross_entropy,
    LF.symmetric_cross_entropy,
]


def g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def class_data(n=7, c=5, *, seed=0, scale=2.0, dtype=torch.float64, extra=()):
    x = scale * torch.randn(n, c, *extra, generator=g(seed), dtype=dtype)
    y = torch.randint(0, c, (n, *extra), generator=g(seed + 1))
    return x, y


def np_softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def la_kwargs(c):
    return {"class_prior": torch.arange(1, c + 1, dtype=torch.float64)}


# -- sigmoid focal ----------------------------------------------------------------------------


def np_sigmoid_focal(x, t, alpha=0.25, gamma=2.0):
    """Focal loss written from probabilities in float64 (fine at moderate logits)."""
    p = 1.0 / (1.0 + np.exp(-x))
    ce = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    p_t = p * t + (1 - p) * (1 - t)
    a_t = 1.0 if alpha is None else alpha * t + (1 - alpha) * (1 - t)
    return a_t * (1 - p_t) ** gamma * ce


@pytest.mark.parametrize("alpha", [0.25, 0.6, None])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 3.5])
def test_sigmoid_focal_matches_probability_reference(alpha, gamma):
    x = 3 * torch.randn(4, 5, generator=g(1), dtype=torch.float64)
    t = torch.rand(4, 5, generator=g(2), dtype=torch.float64)  # soft targets
    t[0] = (t[0] > 0.5).double()  # and hard ones
    out = LF.sigmoid_focal_loss(x, t, alpha=alpha, gamma=gamma, reduction="none")
    ref = np_sigmoid_focal(x.numpy(), t.numpy(), alpha, gamma)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12, atol=1e-14)
    assert LF.sigmoid_focal_loss(x, t, alpha=alpha, gamma=gamma).item() == pytest.approx(
        ref.mean(), rel=1e-12
    )
    assert LF.sigmoid_focal_loss(
        x, t, alpha=alpha, gamma=gamma, reduction="sum"
    ).item() == pytest.approx(ref.sum(), rel=1e-12)


def test_sigmoid_focal_gamma_zero_is_alpha_weighted_bce_exactly():
    x = 4 * torch.randn(64, generator=g(3))
    t = torch.randint(0, 2, (64,), generator=g(4)).float()
    bce = TF.binary_cross_entropy_with_logits(x, t, reduction="none")
    alpha_t = 0.25 * t + 0.75 * (1 - t)
    assert torch.equal(LF.sigmoid_focal_loss(x, t, gamma=0.0, reduction="none"), alpha_t * bce)
    assert torch.equal(
        LF.sigmoid_focal_loss(x, t, gamma=0.0, alpha=None),
        TF.binary_cross_entropy_with_logits(x, t),
    )
    pw = torch.tensor([3.0])
    assert torch.equal(
        LF.sigmoid_focal_loss(x, t, gamma=0.0, alpha=None, pos_weight=pw, reduction="sum"),
        TF.binary_cross_entropy_with_logits(x, t, pos_weight=pw, reduction="sum"),
    )


def test_sigmoid_focal_weight_and_pos_weight():
    x = torch.randn(3, 4, generator=g(5), dtype=torch.float64)
    t = torch.randint(0, 2, (3, 4), generator=g(6)).double()
    w = torch.rand(3, 4, generator=g(7), dtype=torch.float64)
    pw = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    out = LF.sigmoid_focal_loss(x, t, weight=w, pos_weight=pw, reduction="none")
    p = torch.sigmoid(x).numpy()
    tn = t.numpy()
    ce = -(pw.numpy() * tn * np.log(p) + (1 - tn) * np.log(1 - p))
    p_t = p * tn + (1 - p) * (1 - tn)
    ref = w.numpy() * (0.25 * tn + 0.75 * (1 - tn)) * (1 - p_t) ** 2 * ce
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_sigmoid_focal_extreme_logits_finite_float32(gamma):
    # +-1e4 logits, p_t rounding to 1 (x = 30, t = 1 in float32) and soft targets
    x = torch.tensor([1e4, -1e4, 1e4, -1e4, 30.0, -30.0, 1e4, 0.0], requires_grad=True)
    t = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.3, 1.0])
    loss = LF.sigmoid_focal_loss(x, t, gamma=gamma, reduction="none")
    assert torch.isfinite(loss).all()
    (grad,) = torch.autograd.grad(loss.sum(), x)
    assert torch.isfinite(grad).all()
    # confidently right: loss and gradient 0; confidently wrong: ~alpha_t * |x|, gradient ~ -+alpha_t
    assert loss[0] == 0 and loss[1] == 0 and grad[0] == 0
    assert loss[2].item() == pytest.approx(0.75 * 1e4) and grad[2].item() == pytest.approx(0.75)
    assert loss[3].item() == pytest.approx(0.25 * 1e4) and grad[3].item() == pytest.approx(-0.25)


def test_sigmoid_focal_gamma_below_one_gradient_near_pt_one():
    # (1 - sigmoid(x)) ** 0.5 has an infinite derivative as p_t -> 1; the log-space factor has not
    x = torch.tensor([8.0, 15.0, 40.0, 90.0], dtype=torch.float64, requires_grad=True)
    loss = LF.sigmoid_focal_loss(x, torch.ones(4, dtype=torch.float64), gamma=0.5, reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    assert torch.isfinite(grad).all() and (grad <= 0).all()
    naive = x.detach().clone().requires_grad_(True)
    p = torch.sigmoid(naive.float())
    (ng,) = torch.autograd.grad((0.25 * (1 - p) ** 0.5 * -torch.log(p)).sum(), naive)
    assert not torch.isfinite(ng).all()  # the trap this formulation avoids


# -- softmax focal ----------------------------------------------------------------------------


def loop_softmax_focal(x, y, alpha, gamma, ignore_index=-100):
    """Naive per-sample loop, float64, from probabilities. Returns (per-sample, weighted mean)."""
    p = np_softmax(x)
    per, num, den = [], 0.0, 0.0
    for i in range(x.shape[0]):
        if y[i] == ignore_index:
            per.append(0.0)
            continue
        a = 1.0 if alpha is None else alpha[y[i]]
        li = -a * (1 - p[i, y[i]]) ** gamma * math.log(p[i, y[i]])
        per.append(li)
        num += li
        den += a
    return np.array(per), num / den


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("with_alpha", [False, True])
def test_softmax_focal_matches_loop(gamma, with_alpha):
    x, y = class_data(9, 4, seed=3)
    y[2] = -100
    alpha = torch.tensor([0.1, 0.5, 1.0, 2.0], dtype=torch.float64) if with_alpha else None
    per, mean = loop_softmax_focal(
        x.numpy(), y.numpy(), None if alpha is None else alpha.numpy(), gamma
    )
    out = LF.softmax_focal_loss(x, y, alpha=alpha, gamma=gamma, reduction="none")
    np.testing.assert_allclose(out.numpy(), per, rtol=1e-12, atol=1e-15)
    assert LF.softmax_focal_loss(x, y, alpha=alpha, gamma=gamma).item() == pytest.approx(
        mean, rel=1e-12
    )


@pytest.mark.parametrize("extra", [(), (3,), (4, 5)])
@pytest.mark.parametrize("with_alpha", [False, True])
def test_softmax_focal_gamma_zero_is_cross_entropy_exactly(extra, with_alpha):
    x, y = class_data(16, 5, seed=4, dtype=torch.float32, extra=extra)
    y.view(-1)[1] = -100
    alpha = torch.tensor([0.2, 1.0, 3.0, 0.5, 1.5]) if with_alpha else None
    for r in ("none", "mean", "sum"):  # "mean": sum(alpha[y]) over non-ignored, as torch
        assert torch.equal(
            LF.softmax_focal_loss(x, y, gamma=0.0, alpha=alpha, reduction=r),
            TF.cross_entropy(x, y, weight=alpha, reduction=r),
        )


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_softmax_focal_extreme_logits_finite(gamma):
    x = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0], [50.0, 0.0, 0.0]], requires_grad=True)
    y = torch.tensor([0, 0, 0])
    loss = LF.softmax_focal_loss(x, y, gamma=gamma, reduction="none")
    (grad,) = torch.autograd.grad(loss.sum(), x)
    assert torch.isfinite(loss).all() and torch.isfinite(grad).all()
    assert loss[0] == 0 and loss[1].item() == pytest.approx(2e4)


# -- poly-1 -----------------------------------------------------------------------------------


def loop_poly1(x, y, eps, smoothing, ignore_index=-100):
    """Per-sample loop from the paper's definition with a smoothed one-hot label."""
    p = np_softmax(x)
    c = x.shape[1]
    out, count = [], 0
    for i in range(x.shape[0]):
        if y[i] == ignore_index:
            out.append(0.0)
            continue
        label = np.full(c, smoothing / c)
        label[y[i]] += 1 - smoothing
        ce = -(label * np.log(p[i])).sum()
        pt = (label * p[i]).sum()
        out.append(ce + eps * (1 - pt))
        count += 1
    return np.array(out), sum(out) / count


@pytest.mark.parametrize("eps", [-1.0, 0.5, 1.0, 4.0])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_poly1_matches_loop_with_ignore_and_smoothing(eps, smoothing):
    x, y = class_data(8, 4, seed=5)
    y[[1, 6]] = -100
    per, mean = loop_poly1(x.numpy(), y.numpy(), eps, smoothing)
    kw = dict(epsilon=eps, label_smoothing=smoothing)
    np.testing.assert_allclose(
        LF.poly1_cross_entropy(x, y, **kw, reduction="none").numpy(), per, rtol=1e-12, atol=1e-15
    )
    # mean over the 6 non-ignored targets, smoothing term included
    assert LF.poly1_cross_entropy(x, y, **kw).item() == pytest.approx(mean, rel=1e-12)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_poly1_epsilon_zero_is_cross_entropy(smoothing):
    x, y = class_data(10, 6, seed=6, dtype=torch.float32)
    y[3] = -100
    w = torch.rand(6, generator=g(9)) + 0.1
    kw = dict(weight=w, label_smoothing=smoothing)
    for r in ("none", "sum", "mean"):
        assert torch.equal(
            LF.poly1_cross_entropy(x, y, epsilon=0.0, **kw, reduction=r),
            TF.cross_entropy(x, y, **kw, reduction=r),
        )


def test_poly1_weighted_mean_normaliser():
    x, y = class_data(6, 3, seed=7)
    y[0] = -100
    w = torch.tensor([0.5, 2.0, 4.0], dtype=torch.float64)
    per = LF.poly1_cross_entropy(x, y, weight=w, reduction="none")
    unweighted = LF.poly1_cross_entropy(x, y, reduction="none")
    valid = y != -100
    torch.testing.assert_close(per[valid], unweighted[valid] * w[y[valid]], rtol=1e-14, atol=0)
    assert LF.poly1_cross_entropy(x, y, weight=w).item() == pytest.approx(
        (per.sum() / w[y[valid]].sum()).item(), rel=1e-14
    )


# -- hinge ------------------------------------------------------------------------------------


def test_hinge_and_squared_hinge_values():
    x = torch.tensor([-2.0, -0.5, 0.0, 0.3, 1.0, 2.5], dtype=torch.float64)
    y = torch.tensor([1, 1, -1, -1, 1, -1])
    m = 1.5
    ref = np.maximum(0.0, m - y.numpy() * x.numpy())
    np.testing.assert_allclose(LF.hinge_loss(x, y, margin=m, reduction="none").numpy(), ref)
    np.testing.assert_allclose(
        LF.squared_hinge_loss(x, y, margin=m, reduction="none").numpy(), ref**2
    )
    assert LF.hinge_loss(x, y, margin=m).item() == pytest.approx(ref.mean())
    w = torch.arange(6, dtype=torch.float64)
    assert LF.squared_hinge_loss(x, y, margin=m, weight=w, reduction="sum").item() == pytest.approx(
        (w.numpy() * ref**2).sum()
    )


def test_hinge_zero_one_labels_map_to_signed():
    x = torch.randn(20, generator=g(10))
    y01 = torch.randint(0, 2, (20,), generator=g(11))
    signed = 2 * y01 - 1
    assert torch.equal(
        LF.hinge_loss(x, y01, reduction="none"), LF.hinge_loss(x, signed, reduction="none")
    )
    assert torch.equal(
        LF.squared_hinge_loss(x, y01.float(), reduction="none"),
        LF.squared_hinge_loss(x, signed.float(), reduction="none"),
    )


@pytest.mark.parametrize("fn", [LF.hinge_loss, LF.squared_hinge_loss])
def test_hinge_rejects_bad_labels(fn):
    name = fn.__losslab_name__
    with pytest.raises(
        ValueError,
        match=rf"^{name}: 'target' must be labels in \{{-1, 1\}} or in \{{0, 1\}}, got 2.0",
    ):
        fn(torch.zeros(3), torch.tensor([1, 2, -1]))
    with pytest.raises(ValueError, match=rf"^{name}: 'target' must be labels in .* not a mix"):
        fn(torch.zeros(3), torch.tensor([1, 0, -1]))
    with pytest.raises(
        ValueError, match=rf"^{name}: 'target' must be of the same shape as 'input'"
    ):
        fn(torch.zeros(3), torch.tensor([1, 1]))


# -- multiclass hinge -------------------------------------------------------------------------


def loop_crammer_singer(x, y, margin, w=None, ignore_index=-100):
    out, den = [], 0.0
    for i in range(x.shape[0]):
        if y[i] == ignore_index:
            out.append(0.0)
            continue
        best = max(x[i, j] for j in range(x.shape[1]) if j != y[i])
        wi = 1.0 if w is None else w[y[i]]
        out.append(wi * max(0.0, margin + best - x[i, y[i]]))
        den += wi
    return np.array(out), sum(out) / den


def test_multiclass_hinge_matches_loop():
    x, y = class_data(10, 4, seed=12, scale=1.0)
    y[4] = -100
    w = torch.tensor([1.0, 0.5, 2.0, 3.0], dtype=torch.float64)
    per, mean = loop_crammer_singer(x.numpy(), y.numpy(), 0.7, w.numpy())
    np.testing.assert_allclose(
        LF.multiclass_hinge_loss(x, y, margin=0.7, weight=w, reduction="none").numpy(), per
    )
    assert LF.multiclass_hinge_loss(x, y, margin=0.7, weight=w).item() == pytest.approx(
        mean, rel=1e-14
    )


def test_multiclass_hinge_is_not_torch_multi_margin():
    # scores [2, 1.5, 1.8], y = 0: Crammer-Singer max(0, 1 + 1.8 - 2) = 0.8;
    # Weston-Watkins (torch) (max(0, 1 + 1.5 - 2) + max(0, 1 + 1.8 - 2)) / 3 = 1.3 / 3
    x = torch.tensor([[2.0, 1.5, 1.8]])
    y = torch.tensor([0])
    assert LF.multiclass_hinge_loss(x, y).item() == pytest.approx(0.8)
    assert TF.multi_margin_loss(x, y).item() == pytest.approx(1.3 / 3)


# -- GCE / SCE --------------------------------------------------------------------------------


@pytest.mark.parametrize("q", [0.1, 0.7, 1.0])
def test_generalized_cross_entropy_values(q):
    x, y = class_data(8, 5, seed=13)
    p_y = np_softmax(x.numpy())[np.arange(8), y.numpy()]
    ref = (1 - p_y**q) / q
    np.testing.assert_allclose(
        LF.generalized_cross_entropy(x, y, q=q, reduction="none").numpy(), ref, rtol=1e-12
    )
    if q == 1.0:  # q = 1 is the MAE between the one-hot label and softmax, halved: 1 - p_y
        np.testing.assert_allclose(ref, 1 - p_y)


def test_generalized_cross_entropy_limits():
    x, y = class_data(8, 5, seed=14)
    # q -> 0 recovers cross entropy ((1 - p^q)/q = -log p + O(q log^2 p))
    torch.testing.assert_close(
        LF.generalized_cross_entropy(x, y, q=1e-7, reduction="none"),
        TF.cross_entropy(x, y, reduction="none"),
        rtol=1e-5,
        atol=0,
    )
    # bounded by 1/q however wrong the prediction
    xw = torch.tensor([[-1e4, 1e4, 0.0]], requires_grad=True)
    loss = LF.generalized_cross_entropy(xw, torch.tensor([0]), q=0.5)
    assert loss.item() == pytest.approx(2.0)
    loss.backward()
    assert torch.isfinite(xw.grad).all()


def test_symmetric_cross_entropy_literal_reverse_ce():
    # RCE written literally: -sum_k p_k log(onehot_k) with log 0 := A
    x, y = class_data(7, 4, seed=15)
    y[5] = -100
    a, b, A = 0.3, 0.8, -6.0
    p = np_softmax(x.numpy())
    per, count = [], 0
    for i in range(7):
        if y[i] == -100:
            per.append(0.0)
            continue
        log_label = np.where(np.arange(4) == y[i].item(), 0.0, A)
        rce = -(p[i] * log_label).sum()
        per.append(-a * math.log(p[i, y[i]]) + b * rce)
        count += 1
    out = LF.symmetric_cross_entropy(x, y, alpha=a, beta=b, log_zero=A, reduction="none")
    np.testing.assert_allclose(out.numpy(), per, rtol=1e-12, atol=1e-15)
    assert LF.symmetric_cross_entropy(x, y, alpha=a, beta=b, log_zero=A).item() == pytest.approx(
        sum(per) / count
    )
    # beta = 0 is alpha * CE
    torch.testing.assert_close(
        LF.symmetric_cross_entropy(x, y, alpha=1.0, beta=0.0),
        TF.cross_entropy(x, y),
        rtol=1e-14,
        atol=0,
    )


# -- logit adjustment -------------------------------------------------------------------------


def test_logit_adjusted_balanced_softmax_form():
    # -log( pi_y^tau e^{x_y} / sum_j pi_j^tau e^{x_j} ), written with probabilities
    x, y = class_data(6, 4, seed=16, scale=1.0)
    counts = torch.tensor([50.0, 20.0, 5.0, 1.0], dtype=torch.float64)
    pi = (counts / counts.sum()).numpy()
    tau = 1.5
    num = pi[y.numpy()] ** tau * np.exp(x.numpy()[np.arange(6), y.numpy()])
    den = (pi**tau * np.exp(x.numpy())).sum(axis=1)
    ref = -np.log(num / den)
    out = LF.logit_adjusted_cross_entropy(x, y, class_prior=counts, tau=tau, reduction="none")
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12)
    # counts and normalised frequencies give the same loss; tau = 0 is plain CE
    torch.testing.assert_close(
        out,
        LF.logit_adjusted_cross_entropy(
            x, y, class_prior=torch.tensor(pi), tau=tau, reduction="none"
        ),
    )
    torch.testing.assert_close(
        LF.logit_adjusted_cross_entropy(x, y, class_prior=counts, tau=0.0),
        TF.cross_entropy(x, y),
        rtol=1e-14,
        atol=0,
    )


def test_logit_adjusted_ignore_smoothing_weight_follow_torch():
    x, y = class_data(9, 4, seed=17, extra=(2,))
    y[0, 0] = -100
    y[3, 1] = -100
    prior = torch.tensor([0.4, 0.3, 0.2, 0.1], dtype=torch.float64)
    w = torch.tensor([1.0, 2.0, 0.5, 3.0], dtype=torch.float64)
    out = LF.logit_adjusted_cross_entropy(x, y, class_prior=prior, weight=w, label_smoothing=0.1)
    # independent: smoothed-label CE loop on the adjusted logits, weighted mean over non-ignored
    z = x.numpy() + np.log(prior.numpy())[None, :, None]
    num = den = 0.0
    for i in range(9):
        for k in range(2):
            yi = y[i, k].item()
            if yi == -100:
                continue
            logp = z[i, :, k] - np.log(np.exp(z[i, :, k]).sum())
            num += -(1 - 0.1) * w[yi].item() * logp[yi] - 0.1 / 4 * (w.numpy() * logp).sum()
            den += w[yi].item()
    assert out.item() == pytest.approx(num / den, rel=1e-12)


# -- Jensen-Shannon ---------------------------------------------------------------------------


def test_js_div_matches_scipy():
    x = torch.randn(5, 6, generator=g(18), dtype=torch.float64)
    log_q = torch.log_softmax(3 * x, dim=1)
    p = torch.softmax(torch.randn(5, 6, generator=g(19), dtype=torch.float64), dim=1)
    p[0, :2] = 0.0  # zeros in the target
    p[0] /= p[0].sum()
    ref = np.array([jensenshannon(p[i].numpy(), log_q[i].exp().numpy()) ** 2 for i in range(5)])
    rows = LF.js_div(log_q, p, reduction="none").sum(dim=1)
    np.testing.assert_allclose(rows.numpy(), ref, rtol=1e-10, atol=1e-15)
    assert LF.js_div(log_q, p).item() == pytest.approx(ref.mean(), rel=1e-10)  # batchmean
    assert LF.js_div(log_q, p, reduction="sum").item() == pytest.approx(ref.sum(), rel=1e-10)
    assert LF.js_div(log_q, p, reduction="mean").item() == pytest.approx(ref.sum() / 30, rel=1e-10)
    torch.testing.assert_close(LF.js_div(log_q, p.log(), log_target=True), LF.js_div(log_q, p))


def test_js_div_extremes_and_symmetry():
    p = torch.tensor([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5]], dtype=torch.float64)
    q = torch.tensor([[0.0, 0.0, 1.0], [0.2, 0.3, 0.5]], dtype=torch.float64)
    log_q = q.log().requires_grad_(True)
    rows = LF.js_div(log_q, p, reduction="none").sum(dim=1)
    assert rows[0].item() == pytest.approx(math.log(2))  # disjoint supports
    assert abs(rows[1].item()) < 1e-15  # identical
    rows.sum().backward()
    assert torch.isfinite(log_q.grad).all()  # including where p = q = 0
    torch.testing.assert_close(
        LF.js_div(q.log(), p, reduction="none"), LF.js_div(p.log(), q, reduction="none")
    )


def test_js_div_dim_and_batchmean():
    # (N, C, L) with the distribution on dim=1: batchmean divides by N * L distributions
    logits = torch.randn(2, 4, 3, generator=g(20), dtype=torch.float64)
    log_q = torch.log_softmax(logits, dim=1)
    p = torch.softmax(torch.randn(2, 4, 3, generator=g(21), dtype=torch.float64), dim=1)
    total = LF.js_div(log_q, p, reduction="sum")
    assert LF.js_div(log_q, p, dim=1).item() == pytest.approx(total.item() / 6)
    moved = LF.js_div(log_q.movedim(1, -1), p.movedim(1, -1))
    assert moved.item() == pytest.approx(total.item() / 6)
    with pytest.raises(ValueError, match=r"^js_div: 'dim' must be a valid dimension"):
        LF.js_div(log_q, p, dim=3)


# -- ignore_index, empty batches, dtypes ------------------------------------------------------


def _kw(fn, c):
    return la_kwargs(c) if fn is LF.logit_adjusted_cross_entropy else {}


@pytest.mark.parametrize("fn", [*CLASS_LOSSES, LF.logit_adjusted_cross_entropy])
def test_all_ignored_mean_is_connected_zero(fn):
    x = torch.randn(4, 3, generator=g(22), requires_grad=True)
    y = torch.full((4,), -100)
    out = fn(x, y, **_kw(fn, 3))
    assert out.item() == 0.0 and out.requires_grad
    out.backward()
    assert torch.equal(x.grad, torch.zeros_like(x))
    assert torch.equal(fn(x, y, reduction="none", **_kw(fn, 3)), torch.zeros(4))


@pytest.mark.parametrize("fn", [*CLASS_LOSSES, LF.logit_adjusted_cross_entropy])
def test_custom_ignore_index_never_indexes(fn):
    # 255 (a segmentation "void" label) is out of range for C = 3 and must be masked, not gathered
    x, y = class_data(2, 3, seed=23, extra=(4, 4))
    y[:, 0, :] = 255
    out = fn(x, y, ignore_index=255, reduction="none", **_kw(fn, 3))
    assert (out[:, 0, :] == 0).all() and (out[:, 1:, :] > 0).any()
    keep = fn(x[:, :, 1:], y[:, 1:], ignore_index=255, reduction="sum", **_kw(fn, 3))
    assert fn(x, y, ignore_index=255, reduction="sum", **_kw(fn, 3)).item() == pytest.approx(
        keep.item()
    )


@pytest.mark.parametrize("fn", CLASS_LOSSES)
def test_class_weight_normaliser(fn):
    x, y = class_data(8, 3, seed=24)
    y[2] = -100
    if fn is LF.symmetric_cross_entropy:
        pytest.skip("no class weight")
    key = "alpha" if fn is LF.softmax_focal_loss else "weight"
    w = torch.tensor([0.5, 2.0, 3.0], dtype=torch.float64)
    per = fn(x, y, reduction="none", **{key: w})
    valid = y != -100
    assert fn(x, y, **{key: w}).item() == pytest.approx(
        (per.sum() / w[y[valid]].sum()).item(), rel=1e-14
    )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_inputs_give_float32(dtype):
    x, y = class_data(5, 3, seed=25, dtype=torch.float32)
    for fn in CLASS_LOSSES:
        out = fn(x.to(dtype), y)
        assert out.dtype == torch.float32
        torch.testing.assert_close(out, fn(x.to(dtype).float(), y))
    t = torch.randint(0, 2, (5, 3), generator=g(26)).to(dtype)
    assert LF.sigmoid_focal_loss(x.to(dtype), t).dtype == torch.float32


# -- validation messages ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, exc, message",
    [
        (
            lambda: LF.sigmoid_focal_loss(torch.zeros(2), torch.tensor([0.5, 1.5])),
            ValueError,
            r"^sigmoid_focal_loss: 'targets' must be probabilities in \[0, 1\], got 1.5",
        ),
        (
            lambda: LF.sigmoid_focal_loss(torch.zeros(2), torch.zeros(3)),
            ValueError,
            r"^sigmoid_focal_loss: 'targets' must be of the same shape as 'logits' \(2,\), got shape \(3,\)",
        ),
        (
            lambda: LF.sigmoid_focal_loss(torch.zeros(2), torch.zeros(2), gamma=-1.0),
            ValueError,
            r"^sigmoid_focal_loss: 'gamma' must be a finite real number >= 0, got -1.0",
        ),
        (
            lambda: LF.sigmoid_focal_loss(torch.zeros(2), torch.zeros(2), alpha=1.5),
            ValueError,
            r"^sigmoid_focal_loss: 'alpha' must be a finite real number >= 0 and <= 1 \(or None\), got 1.5",
        ),
        (
            lambda: LF.sigmoid_focal_loss([0.0], torch.zeros(1)),
            TypeError,
            r"^sigmoid_focal_loss: 'logits' must be a torch.Tensor, got list",
        ),
        (
            lambda: LF.softmax_focal_loss(torch.zeros(2, 3), torch.tensor([0, 3])),
            ValueError,
            r"^softmax_focal_loss: 'target' must be class indices in \[0, 2\] or ignore_index=-100, got 3",
        ),
        (
            lambda: LF.softmax_focal_loss(
                torch.zeros(2, 3), torch.tensor([0, 1]), alpha=torch.ones(2)
            ),
            ValueError,
            r"^softmax_focal_loss: 'alpha' must be of shape \(C,\) = \(3,\), got shape \(2,\)",
        ),
        (
            lambda: LF.softmax_focal_loss(torch.zeros(2, 3), torch.tensor([0.0, 1.0])),
            TypeError,
            r"^softmax_focal_loss: 'target' must be integer class indices, got float32$",
        ),
        (
            lambda: LF.softmax_focal_loss(torch.zeros(3), torch.tensor([0, 1, 2])),
            ValueError,
            r"^softmax_focal_loss: 'logits' must be of shape \(N, C\)",
        ),
        (
            lambda: LF.poly1_cross_entropy(torch.zeros(2, 3), torch.tensor([0, 1]), epsilon=-1.5),
            ValueError,
            r"^poly1_cross_entropy: 'epsilon' must be a finite real number >= -1, got -1.5",
        ),
        (
            lambda: LF.poly1_cross_entropy(torch.zeros(2, 3), torch.tensor([0, 1, 1])),
            ValueError,
            r"^poly1_cross_entropy: 'target' must be of shape \(N, d1, ...\) = \(2,\)",
        ),
        (
            lambda: LF.poly1_cross_entropy(
                torch.zeros(2, 3), torch.tensor([0, 1]), weight=torch.ones(4)
            ),
            ValueError,
            r"^poly1_cross_entropy: 'weight' must be of shape \(C,\) = \(3,\), got shape \(4,\)",
        ),
        (
            lambda: LF.multiclass_hinge_loss(torch.zeros(2, 3), torch.tensor([0, 1]), margin=-1.0),
            ValueError,
            r"^multiclass_hinge_loss: 'margin' must be a finite real number >= 0, got -1.0",
        ),
        (
            lambda: LF.generalized_cross_entropy(torch.zeros(2, 3), torch.tensor([0, 1]), q=0.0),
            ValueError,
            r"^generalized_cross_entropy: 'q' must be a finite real number > 0 and <= 1, got 0.0",
        ),
        (
            lambda: LF.symmetric_cross_entropy(
                torch.zeros(2, 3), torch.tensor([0, 1]), log_zero=0.0
            ),
            ValueError,
            r"^symmetric_cross_entropy: 'log_zero' must be a finite real number < 0, got 0.0",
        ),
        (
            lambda: LF.logit_adjusted_cross_entropy(
                torch.zeros(2, 3), torch.tensor([0, 1]), class_prior=torch.ones(2)
            ),
            ValueError,
            r"^logit_adjusted_cross_entropy: 'class_prior' must be of shape \(C,\) = \(3,\), got shape \(2,\)",
        ),
        (
            lambda: LF.logit_adjusted_cross_entropy(
                torch.zeros(2, 3), torch.tensor([0, 1]), class_prior=torch.tensor([1.0, 0.0, 1.0])
            ),
            ValueError,
            r"^logit_adjusted_cross_entropy: 'class_prior' must be a floating-point tensor with 1 dimension\(s\) > 0",
        ),
        (
            lambda: LF.logit_adjusted_cross_entropy(torch.zeros(2, 3), torch.tensor([0, 1])),
            TypeError,
            r"missing 1 required keyword-only argument: 'class_prior'",
        ),
        (
            lambda: LF.js_div(torch.zeros(2, 3), torch.full((2, 3), 2.0)),
            ValueError,
            r"^js_div: 'target' must be probabilities in \[0, 1\], got 2.0",
        ),
        (
            lambda: LF.js_div(torch.zeros(2, 3), torch.zeros(2, 3), reduction="avg"),
            ValueError,
            r"^js_div: 'reduction' must be one of 'none', 'mean', 'sum', 'batchmean', got 'avg'",
        ),
    ],
)
def test_validation_messages(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def test_modules():
    alpha = torch.tensor([1.0, 2.0, 3.0])
    m = LN.SoftmaxFocalLoss(alpha=alpha, gamma=1.0)
    assert "alpha" in dict(m.named_buffers())
    x, y = class_data(4, 3, seed=27, dtype=torch.float32)
    assert torch.equal(m(x, y), LF.softmax_focal_loss(x, y, alpha=alpha, gamma=1.0))
    with pytest.raises(
        TypeError,
        match="LogitAdjustedCrossEntropyLoss: missing required hyperparameter 'class_prior'",
    ):
        LN.LogitAdjustedCrossEntropyLoss()
    with pytest.raises(ValueError, match=r"^generalized_cross_entropy: 'q' must be"):
        LN.GeneralizedCrossEntropyLoss(q=2.0)


# -- imbalance helpers ------------------------------------------------------------------------


def test_class_counts():
    y = torch.tensor([[0, 2, 2], [-100, 2, 1]])
    assert torch.equal(LF.class_counts(y, 4), torch.tensor([1, 1, 3, 0]))
    with pytest.raises(
        ValueError, match=r"^class_counts: 'target' must be class indices in \[0, 3\]"
    ):
        LF.class_counts(torch.tensor([0, 4]), 4)
    with pytest.raises(
        ValueError, match=r"^class_counts: 'target' must be class indices in \[0, 1\], got -100"
    ):
        LF.class_counts(torch.tensor([0, -100]), 2, ignore_index=None)


def test_inverse_frequency_weights_hand_values():
    # counts (10, 30, 60): 1/n = (0.1, 1/30, 1/60), sum 0.15; scaled by C / sum = 20 -> (2, 2/3, 1/3)
    w = LF.inverse_frequency_weights(torch.tensor([10, 30, 60]))
    torch.testing.assert_close(w, torch.tensor([2.0, 2 / 3, 1 / 3], dtype=torch.float64))
    assert w.mean().item() == pytest.approx(1.0)
    raw = LF.inverse_frequency_weights(torch.tensor([4.0, 8.0]), normalize=False)
    torch.testing.assert_close(raw, torch.tensor([0.25, 0.125]))


def test_effective_number_weights_hand_values():
    # Cui et al. eq. (class-balanced term): w ~ (1 - b) / (1 - b^n). b = 0.5, n = (1, 2):
    # (0.5 / 0.5, 0.5 / 0.75) = (1, 2/3), sum 5/3; normalised to sum C = 2 -> (1.2, 0.8)
    w = LF.effective_number_weights(torch.tensor([1, 2]), beta=0.5)
    torch.testing.assert_close(w, torch.tensor([1.2, 0.8], dtype=torch.float64))
    # b = 0: equal weights; b -> 1: inverse frequency (paper, Sec. 3)
    torch.testing.assert_close(
        LF.effective_number_weights(torch.tensor([3, 70]), beta=0.0),
        torch.ones(2, dtype=torch.float64),
    )
    counts = torch.tensor([10, 100, 1000])
    torch.testing.assert_close(
        LF.effective_number_weights(counts, beta=1 - 1e-9),
        LF.inverse_frequency_weights(counts),
        rtol=1e-5,
        atol=0,
    )
    assert LF.effective_number_weights(counts, beta=0.999).sum().item() == pytest.approx(3.0)


@pytest.mark.parametrize("fn", [LF.inverse_frequency_weights, LF.effective_number_weights])
def test_weights_reject_zero_counts(fn):
    with pytest.raises(
        ValueError,
        match=rf"^{fn.__name__}: 'counts' must be finite and > 0 for every class \(class 1 has none",
    ):
        fn(torch.tensor([3, 0, 5]))


def test_effective_number_beta_validated():
    with pytest.raises(
        ValueError,
        match=r"^effective_number_weights: 'beta' must be a finite real number >= 0 and < 1, got 1.0",
    ):
        LF.effective_number_weights(torch.tensor([1, 2]), beta=1.0)


# -- property-based ---------------------------------------------------------------------------

shapes = st.tuples(st.integers(1, 5), st.integers(2, 6), st.integers(0, 2))


@settings(max_examples=40, deadline=None)
@given(shape=shapes, scale=st.floats(0.01, 1e4), seed=st.integers(0, 10_000), gamma=st.floats(0, 4))
def test_hypothesis_focal_bounds(shape, scale, seed, gamma):
    n, c, extra = shape
    x, y = class_data(n, c, seed=seed, scale=scale, dtype=torch.float32, extra=(2,) * extra)
    focal = LF.softmax_focal_loss(x, y, gamma=gamma, reduction="none")
    ce = TF.cross_entropy(x, y, reduction="none")
    assert torch.isfinite(focal).all()
    assert (focal >= 0).all() and (focal <= ce * (1 + 1e-6)).all()
    t = torch.randint(0, 2, x.shape, generator=g(seed)).float()
    sf = LF.sigmoid_focal_loss(x, t, gamma=gamma, alpha=None, reduction="none")
    bce = TF.binary_cross_entropy_with_logits(x, t, reduction="none")
    assert torch.isfinite(sf).all() and (sf >= 0).all() and (sf <= bce * (1 + 1e-6)).all()


@settings(max_examples=40, deadline=None)
@given(
    shape=shapes, scale=st.floats(0.01, 1e4), seed=st.integers(0, 10_000), q=st.floats(0.05, 1.0)
)
def test_hypothesis_gce_and_hinge_relations(shape, scale, seed, q):
    n, c, extra = shape
    x, y = class_data(n, c, seed=seed, scale=scale, dtype=torch.float64, extra=(2,) * extra)
    gce = LF.generalized_cross_entropy(x, y, q=q, reduction="none")
    assert (gce >= 0).all() and (gce <= 1 / q + 1e-12).all()
    # Crammer-Singer (max over wrong classes) <= Weston-Watkins (sum) = C * multi_margin_loss
    if extra == 0:
        cs = LF.multiclass_hinge_loss(x, y, reduction="none")
        ww = c * TF.multi_margin_loss(x, y, reduction="none")
        assert (cs <= ww + 1e-9 * (1 + ww)).all() and (cs * (c - 1) >= ww - 1e-9 * (1 + ww)).all()


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 5),
    c=st.integers(2, 8),
    scale=st.floats(0.01, 1e3),
    seed=st.integers(0, 10_000),
)
def test_hypothesis_js_bounds_and_symmetry(n, c, scale, seed):
    a = torch.log_softmax(scale * torch.randn(n, c, generator=g(seed), dtype=torch.float64), dim=1)
    b = torch.log_softmax(
        scale * torch.randn(n, c, generator=g(seed + 1), dtype=torch.float64), dim=1
    )
    terms = LF.js_div(a, b.exp(), reduction="none")
    rows = terms.sum(dim=1)
    assert (terms >= -1e-15).all()
    assert (rows <= math.log(2) + 1e-12).all()
    torch.testing.assert_close(
        rows, LF.js_div(b, a.exp(), reduction="none").sum(dim=1), rtol=1e-9, atol=1e-12
    )
