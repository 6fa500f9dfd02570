"""Distribution distances and GAN losses against independent references.

References (never the implementation copied):

* ``scipy.stats.wasserstein_distance`` (W_1, from the CDFs rather than the quantiles);
* W_p^p of unequal sample sizes by replication: u repeated m times and v repeated n times are
  equal-size uniform samples, whose W_p^p is the mean of |sorted differences|^p;
* a float64 numpy quantile-function integral on the merged breakpoints (weighted p=2);
* POT (test-only, skipped when missing): ``ot.wasserstein_1d`` (which returns W_p^p) and the
  entropic plans of ``ot.sinkhorn`` (matrix scaling, fine at these blurs) on the cost matrix
  ``|x - y|^2 / 2`` with ``reg = blur^2``; the entropic cost <P, C> + eps KL(P | a x b) is then
  evaluated from the plans (POT's ``sinkhorn2`` returns <P, C> only, without the entropy);
* a float64 numpy Sinkhorn by matrix scaling (u = a / K v, not the log domain), and the exact
  value S(alpha, alpha + t) = |t|^2 / 2 of the debiased divergence under a translation;
* naive double loops for MMD; torch's ``binary_cross_entropy_with_logits`` for the GAN losses;
  the gradient penalty of a linear critic by hand (gradient norm = |w| everywhere).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

import losslab.functional as LF
import losslab.nn as LN


def g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=g(seed), dtype=dtype)


# -- wasserstein_1d ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_w1_matches_scipy_with_weights(seed):
    u, v = randn(7, seed=seed), 2 * randn(4, seed=seed + 10) + 1
    uw, vw = (
        torch.rand(7, generator=g(seed)).double(),
        torch.rand(4, generator=g(seed + 1)).double(),
    )
    ref = scipy.stats.wasserstein_distance(u.numpy(), v.numpy(), uw.numpy(), vw.numpy())
    got = LF.wasserstein_1d(u, v, u_weights=uw, v_weights=vw)
    assert got.item() == pytest.approx(ref, rel=1e-12)
    assert LF.wasserstein_1d(u, v, u_weights=uw, v_weights=vw, root=True).item() == pytest.approx(
        ref, rel=1e-12
    )


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
def test_unequal_sizes_match_replication(p):
    u, v = randn(3, seed=1), randn(5, seed=2) * 3
    # repeat each sample so both sides have 15 equally weighted samples
    uu, vv = np.sort(np.repeat(u.numpy(), 5)), np.sort(np.repeat(v.numpy(), 3))
    ref = np.mean(np.abs(uu - vv) ** p)
    assert LF.wasserstein_1d(u, v, p=p).item() == pytest.approx(ref, rel=1e-12)
    assert LF.wasserstein_1d(u, v, p=p, root=True).item() == pytest.approx(
        ref ** (1 / p), rel=1e-12
    )


def np_quantile_wpp(u, v, uw, vw, p):
    """Integrate |F_u^-1 - F_v^-1|^p over [0, 1], piecewise constant between merged breakpoints."""
    iu, iv = np.argsort(u), np.argsort(v)
    cu, cv = np.cumsum(uw[iu]) / uw.sum(), np.cumsum(vw[iv]) / vw.sum()
    points = np.unique(np.concatenate([[0.0], cu, cv, [1.0]]))
    total = 0.0
    for lo, hi in zip(points[:-1], points[1:]):
        t = 0.5 * (lo + hi)  # F^-1 is constant on (lo, hi]
        qu = u[iu][min(np.searchsorted(cu, t), len(u) - 1)]
        qv = v[iv][min(np.searchsorted(cv, t), len(v) - 1)]
        total += (hi - lo) * abs(qu - qv) ** p
    return total


@pytest.mark.parametrize("seed", range(3))
def test_weighted_w2_matches_numpy_quantiles(seed):
    u, v = randn(6, seed=seed), randn(9, seed=seed + 5) + 0.5
    uw, vw = (
        torch.rand(6, generator=g(seed)).double(),
        torch.rand(9, generator=g(seed + 7)).double(),
    )
    ref = np_quantile_wpp(u.numpy(), v.numpy(), uw.numpy(), vw.numpy(), 2.0)
    got = LF.wasserstein_1d(u, v, u_weights=uw, v_weights=vw, p=2)
    assert got.item() == pytest.approx(ref, rel=1e-10)


def test_pot_wasserstein_1d_is_wpp():
    ot = pytest.importorskip("ot")
    u, v = randn(8, seed=3), randn(5, seed=4)
    uw, vw = torch.rand(8, generator=g(1)).double(), torch.rand(5, generator=g(2)).double()
    for p in (1.0, 2.0):
        ref = ot.wasserstein_1d(
            u.numpy(), v.numpy(), (uw / uw.sum()).numpy(), (vw / vw.sum()).numpy(), p=p
        )
        assert LF.wasserstein_1d(u, v, u_weights=uw, v_weights=vw, p=p).item() == pytest.approx(
            float(ref), rel=1e-10
        )


def test_batched_equals_loop_and_reductions():
    u, v = randn(2, 3, 6, seed=5), randn(2, 3, 4, seed=6)
    per = LF.wasserstein_1d(u, v, p=2, reduction="none")
    assert per.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            assert per[i, j].item() == pytest.approx(
                LF.wasserstein_1d(u[i, j], v[i, j], p=2).item(), rel=1e-13
            )
    assert LF.wasserstein_1d(u, v, p=2).item() == pytest.approx(per.mean().item())


@pytest.mark.parametrize("p", [1.0, 1.5, 2.0])
def test_ties_give_finite_gradients(p):
    u = torch.tensor(
        [[0.0, 0.0, 1.0, 1.0], [2.0, 2.0, 2.0, 2.0]], dtype=torch.float64, requires_grad=True
    )
    v = torch.tensor([[0.0, 1.0, 0.0, 1.0], [2.0, 2.0, 2.0, 2.0]], dtype=torch.float64)
    loss = LF.wasserstein_1d(u, v, p=p, reduction="sum")
    assert loss.item() == 0.0
    (gu,) = torch.autograd.grad(loss, u)
    assert torch.isfinite(gu).all()
    out = LF.wasserstein_1d(u, v, p=p, root=True, reduction="sum")  # the root at W = 0
    (gr,) = torch.autograd.grad(out, u)
    assert torch.isfinite(gr).all()


@settings(max_examples=20, deadline=None)
@given(
    lead=st.lists(st.integers(0, 3), max_size=2),
    n=st.integers(1, 6),
    m=st.integers(1, 6),
    p=st.sampled_from([1.0, 2.0, 2.5]),
    seed=st.integers(0, 1000),
)
def test_w1d_any_shape_matches_replication(lead, n, m, p, seed):
    u, v = randn(*lead, n, seed=seed), randn(*lead, m, seed=seed + 1)
    out = LF.wasserstein_1d(u, v, p=p, reduction="none")
    assert out.shape == tuple(lead)
    flat_u, flat_v, flat_out = u.reshape(-1, n).numpy(), v.reshape(-1, m).numpy(), out.reshape(-1)
    for i in range(flat_out.numel()):
        uu, vv = np.sort(np.repeat(flat_u[i], m)), np.sort(np.repeat(flat_v[i], n))
        assert flat_out[i].item() == pytest.approx(
            np.mean(np.abs(uu - vv) ** p), rel=1e-10, abs=1e-12
        )


def test_weights_get_gradients():
    u, v = randn(5, seed=1), randn(4, seed=2)
    w = torch.rand(5, generator=g(3)).double().requires_grad_(True)
    LF.wasserstein_1d(u, v, u_weights=w).backward()
    assert w.grad is not None and torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0


def test_w1d_half_precision_is_float32():
    u, v = randn(3, 5, seed=1).half(), randn(3, 4, seed=2).half()
    out = LF.wasserstein_1d(u, v)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, LF.wasserstein_1d(u.float(), v.float()))


def test_w1d_validation_messages():
    with pytest.raises(
        ValueError,
        match=r"^wasserstein_1d: 'v_values' must be of shape \(\.\.\., m\) with the leading",
    ):
        LF.wasserstein_1d(torch.zeros(2, 3), torch.zeros(3, 3))
    with pytest.raises(
        ValueError, match=r"^wasserstein_1d: 'u_values' must be of shape \(\.\.\., n\) with n >= 1"
    ):
        LF.wasserstein_1d(torch.zeros(2, 0), torch.zeros(2, 3))
    with pytest.raises(
        ValueError, match=r"^wasserstein_1d: 'u_weights' must be weights with a positive sum"
    ):
        LF.wasserstein_1d(torch.zeros(3), torch.zeros(2), u_weights=torch.zeros(3))
    with pytest.raises(
        ValueError, match=r"^wasserstein_1d: 'v_weights' must be broadcastable to \(2,\)"
    ):
        LF.wasserstein_1d(torch.zeros(3), torch.zeros(2), v_weights=torch.ones(4))
    with pytest.raises(
        ValueError, match=r"^wasserstein_1d: 'p' must be a finite real number >= 1, got 0.5"
    ):
        LF.wasserstein_1d(torch.zeros(3), torch.zeros(2), p=0.5)


# -- sinkhorn_loss -----------------------------------------------------------------------------


def np_entropic_ot(x, y, a, b, eps):
    """Entropic OT <P, C> + eps KL(P | a b^T) with C = |x - y|^2 / 2, by plain matrix scaling."""
    cost = 0.5 * ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    kernel = np.exp(-cost / eps)
    u, v = np.ones_like(a), np.ones_like(b)
    for _ in range(20_000):
        u_new = a / (kernel @ v)
        v = b / (kernel.T @ u_new)
        if np.max(np.abs(u_new - u) / u_new) < 1e-15:
            u = u_new
            break
        u = u_new
    plan = u[:, None] * kernel * v[None, :]
    pos = plan > 0
    kl = np.sum(plan[pos] * np.log(plan[pos] / np.outer(a, b)[pos]))
    return float(np.sum(plan * cost) + eps * kl)


def np_sinkhorn_divergence(x, y, a, b, eps):
    return (
        np_entropic_ot(x, y, a, b, eps)
        - 0.5 * np_entropic_ot(x, x, a, a, eps)
        - 0.5 * np_entropic_ot(y, y, b, b, eps)
    )


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("blur", [0.7, 1.5])
def test_sinkhorn_matches_numpy_matrix_scaling(seed, blur):
    x, y = randn(6, 2, seed=seed), randn(4, 2, seed=seed + 9) + 0.5
    a = torch.rand(6, generator=g(seed)).double() + 0.1
    b = torch.rand(4, generator=g(seed + 1)).double() + 0.1
    an, bn = (a / a.sum()).numpy(), (b / b.sum()).numpy()
    eps = blur**2
    got = LF.sinkhorn_loss(x, y, blur=blur, tol=1e-12, x_weights=a, y_weights=b)
    assert got.item() == pytest.approx(
        np_sinkhorn_divergence(x.numpy(), y.numpy(), an, bn, eps), rel=1e-9
    )
    biased = LF.sinkhorn_loss(x, y, blur=blur, tol=1e-12, x_weights=a, y_weights=b, debias=False)
    assert biased.item() == pytest.approx(
        np_entropic_ot(x.numpy(), y.numpy(), an, bn, eps), rel=1e-9
    )


def test_sinkhorn_matches_pot_plans():
    ot = pytest.importorskip("ot")
    x, y = randn(7, 3, seed=1), randn(5, 3, seed=2) * 1.5
    a, b = np.full(7, 1 / 7), np.full(5, 1 / 5)
    blur = 0.8
    eps = blur**2  # POT's reg on the cost |x - y|^2 / 2 (POT's ot.dist alone is |x - y|^2)

    def pot_ot(u, v, wu, wv):
        cost = ot.dist(u, v, metric="sqeuclidean") / 2
        plan = ot.sinkhorn(wu, wv, cost, eps, method="sinkhorn", stopThr=1e-13, numItermax=20_000)
        return float(np.sum(plan * cost) + eps * np.sum(plan * np.log(plan / np.outer(wu, wv))))

    xn, yn = x.numpy(), y.numpy()
    ref = pot_ot(xn, yn, a, b) - 0.5 * pot_ot(xn, xn, a, a) - 0.5 * pot_ot(yn, yn, b, b)
    assert LF.sinkhorn_loss(x, y, blur=blur, tol=1e-12).item() == pytest.approx(ref, rel=1e-8)


@pytest.mark.parametrize("blur", [0.05, 0.5, 5.0])
def test_translation_gives_half_squared_shift_at_any_blur(blur):
    # C(x, y + t) = C(x, y) - <x - y, t> + |t|^2/2 and the linear term is fixed by the marginals,
    # so S(alpha, alpha + t) = |t|^2 / 2 exactly, whatever the blur
    # a jittered grid: no two points nearly coincide (near-duplicates make every Sinkhorn solver,
    # POT's included, converge very slowly at intermediate blurs)
    grid = torch.cartesian_prod(torch.arange(3.0), torch.arange(2.0)).double()
    x = grid + 0.1 * randn(2, 6, 2, seed=4)
    t = torch.tensor([0.3, -1.2], dtype=torch.float64)
    got = LF.sinkhorn_loss(x, x + t, blur=blur, tol=1e-12, max_iter=2000, reduction="none")
    torch.testing.assert_close(
        got, torch.full((2,), 0.5 * float(t @ t), dtype=torch.float64), rtol=1e-7, atol=1e-9
    )


@pytest.mark.parametrize(
    "x, y",
    [
        (randn(5, 2, seed=1), randn(5, 2, seed=1)),  # identical clouds
        (
            torch.zeros(4, 2, dtype=torch.float64),
            torch.zeros(3, 2, dtype=torch.float64),
        ),  # all coincide
        (
            torch.ones(1, 3, dtype=torch.float64),
            torch.ones(1, 3, dtype=torch.float64),
        ),  # one point each
        (randn(3, 2, seed=2).repeat(2, 1), randn(3, 2, seed=2)),  # duplicated points, same measure
    ],
)
@pytest.mark.parametrize("blur", [0.01, 1.0])
def test_sinkhorn_is_zero_on_degenerate_equal_measures(x, y, blur):
    x = x.clone().requires_grad_(True)
    out = LF.sinkhorn_loss(x, y, blur=blur)
    assert abs(out.item()) <= 1e-6
    out.backward()
    assert torch.isfinite(x.grad).all()


def test_sinkhorn_nonnegative_at_small_blur_and_p1():
    for seed in range(4):
        x, y = randn(3, 8, 2, seed=seed), randn(3, 6, 2, seed=seed + 50)
        for p in (1.0, 2.0):
            x_ = x.clone().requires_grad_(True)
            out = LF.sinkhorn_loss(x_, y, blur=0.02, p=p, reduction="none")
            assert (out >= -1e-8).all()
            out.sum().backward()
            assert torch.isfinite(x_.grad).all()


def test_sinkhorn_small_blur_approaches_w2():
    # 1-D clouds: W_2^2 / 2 from the sorted samples is the blur -> 0 limit
    u, v = randn(6, seed=3), randn(6, seed=4) + 1
    w2 = LF.wasserstein_1d(u, v, p=2).item()
    s = LF.sinkhorn_loss(u[:, None], v[:, None], blur=0.01, max_iter=5000).item()
    assert s == pytest.approx(w2 / 2, rel=2e-2)


def test_sinkhorn_half_precision_and_batches():
    x, y = randn(2, 5, 2, seed=1), randn(2, 4, 2, seed=2)
    out = LF.sinkhorn_loss(x.half(), y.half(), blur=1.0)
    assert out.dtype == torch.float32
    per = LF.sinkhorn_loss(x, y, blur=1.0, tol=1e-12, reduction="none")
    for i in range(2):
        assert per[i].item() == pytest.approx(
            LF.sinkhorn_loss(x[i], y[i], blur=1.0, tol=1e-12).item(), rel=1e-9
        )


def test_sinkhorn_weight_gradient_is_finite_and_mass_neutral():
    x, y = randn(5, 2, seed=1), randn(4, 2, seed=2)
    w = torch.rand(5, generator=g(1)).double().add(0.1).requires_grad_(True)
    LF.sinkhorn_loss(x, y, blur=0.5, x_weights=w).backward()
    assert torch.isfinite(w.grad).all()
    # the loss depends on the weights only through w / sum(w): scaling them changes nothing
    assert float(w.grad @ w.detach()) == pytest.approx(0.0, abs=1e-9)


def test_sinkhorn_nan_problem_leaves_the_others_alone():
    x, y = randn(3, 4, 2, seed=1), randn(3, 5, 2, seed=2)
    clean = LF.sinkhorn_loss(x, y, blur=0.3, reduction="none")
    x[1, 0, 0] = math.nan
    dirty = LF.sinkhorn_loss(x, y, blur=0.3, reduction="none")
    assert math.isnan(dirty[1].item())
    torch.testing.assert_close(dirty[[0, 2]], clean[[0, 2]], rtol=0, atol=0)  # same iterations


def test_sinkhorn_validation_messages():
    with pytest.raises(ValueError, match=r"^sinkhorn_loss: 'y' must be of shape \(\.\.\., M, D\)"):
        LF.sinkhorn_loss(torch.zeros(3, 2), torch.zeros(3, 3))
    with pytest.raises(
        ValueError, match=r"^sinkhorn_loss: 'x' must be of shape \(\.\.\., N, D\) with N >= 1"
    ):
        LF.sinkhorn_loss(torch.zeros(3), torch.zeros(3, 1))
    with pytest.raises(
        ValueError, match=r"^sinkhorn_loss: 'blur' must be a finite real number > 0, got 0.0"
    ):
        LF.sinkhorn_loss(torch.zeros(3, 2), torch.zeros(3, 2), blur=0.0)


@settings(max_examples=15, deadline=None)
@given(
    b=st.integers(0, 2),
    n=st.integers(1, 5),
    m=st.integers(1, 5),
    d=st.integers(1, 3),
    seed=st.integers(0, 1000),
    spread=st.floats(0.01, 10.0),
)
def test_sinkhorn_any_shape_finite_and_nonnegative(b, n, m, d, seed, spread):
    x, y = spread * randn(b, n, d, seed=seed), randn(b, m, d, seed=seed + 1)
    out = LF.sinkhorn_loss(x, y, blur=0.5, reduction="none")
    assert out.shape == (b,)
    assert torch.isfinite(out).all() and (out >= -1e-8).all()
    mean = LF.sinkhorn_loss(x, y, blur=0.5)
    assert mean.dim() == 0 and torch.isfinite(mean)


# -- mmd_loss ----------------------------------------------------------------------------------


def naive_mmd(x, y, kernel, sigma, unbiased):
    def k(p, q):
        r = math.dist(p, q)
        return {
            "rbf": math.exp(-r * r / (2 * sigma * sigma)),
            "laplacian": math.exp(-r / sigma),
            "imq": 1 / math.sqrt(1 + r * r / (sigma * sigma)),
        }[kernel]

    xs, ys = x.tolist(), y.tolist()
    n, m = len(xs), len(ys)
    sxx = sum(k(xs[i], xs[j]) for i in range(n) for j in range(n) if not (unbiased and i == j))
    syy = sum(k(ys[i], ys[j]) for i in range(m) for j in range(m) if not (unbiased and i == j))
    sxy = sum(k(xs[i], ys[j]) for i in range(n) for j in range(m))
    dx, dy = (n * (n - 1), m * (m - 1)) if unbiased else (n * n, m * m)
    return sxx / dx + syy / dy - 2 * sxy / (n * m)


@pytest.mark.parametrize("kernel", ["rbf", "laplacian", "imq"])
@pytest.mark.parametrize("unbiased", [True, False])
def test_mmd_matches_naive_loop(kernel, unbiased):
    x, y = randn(6, 3, seed=1), randn(4, 3, seed=2) + 0.3
    got = LF.mmd_loss(x, y, kernel=kernel, bandwidth=1.3, unbiased=unbiased)
    assert got.item() == pytest.approx(naive_mmd(x, y, kernel, 1.3, unbiased), rel=1e-12)


def test_mmd_biased_is_nonnegative_and_zero_at_equal_samples():
    x = randn(5, 2, seed=3)
    assert LF.mmd_loss(x, x, unbiased=False).item() == pytest.approx(0.0, abs=1e-15)
    for seed in range(5):
        assert (
            LF.mmd_loss(randn(4, 2, seed=seed), randn(6, 2, seed=seed + 9), unbiased=False).item()
            >= 0
        )
    # the U-statistic at equal samples is -(2/N)(1 - mean off-diagonal kernel), below 0
    kxx = torch.exp(-(torch.cdist(x, x) ** 2) / 2)
    off = (kxx.sum() - 5) / 20
    assert LF.mmd_loss(x, x).item() == pytest.approx(-(2 / 5) * (1 - off.item()), rel=1e-12)


def test_mmd_coincident_points_finite_gradients():
    x = torch.zeros(3, 2, dtype=torch.float64, requires_grad=True)
    for kernel in ("rbf", "laplacian", "imq"):
        out = LF.mmd_loss(x, torch.zeros(2, 2, dtype=torch.float64), kernel=kernel)
        (gx,) = torch.autograd.grad(out, x)
        assert torch.isfinite(gx).all()


def test_mmd_validation_and_half_precision():
    with pytest.raises(ValueError, match=r"^mmd_loss: 'y' must be a sample of at least 2 points"):
        LF.mmd_loss(torch.zeros(3, 2), torch.zeros(1, 2))
    assert LF.mmd_loss(torch.zeros(3, 2), torch.zeros(1, 2), unbiased=False).item() == 0.0
    with pytest.raises(
        ValueError, match=r"^mmd_loss: 'kernel' must be one of 'rbf', 'laplacian', 'imq'"
    ):
        LF.mmd_loss(torch.zeros(3, 2), torch.zeros(3, 2), kernel="gauss")
    x, y = randn(4, 2, seed=1), randn(3, 2, seed=2)
    out = LF.mmd_loss(x.half(), y.half())
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, LF.mmd_loss(x.half().float(), y.half().float()))


# -- GAN losses ----------------------------------------------------------------------------------


def test_gan_losses_match_torch_bce():
    r, f = 5 * randn(8, seed=1), 5 * randn(8, seed=2)
    ones, zeros = torch.ones(8, dtype=torch.float64), torch.zeros(8, dtype=torch.float64)
    ref_d = TF.binary_cross_entropy_with_logits(r, ones) + TF.binary_cross_entropy_with_logits(
        f, zeros
    )
    torch.testing.assert_close(LF.gan_discriminator_loss(r, f), ref_d)
    torch.testing.assert_close(
        LF.gan_generator_loss(f), TF.binary_cross_entropy_with_logits(f, ones)
    )


def test_gan_losses_extreme_logits_finite():
    big = torch.tensor([-1e4, 1e4, 0.0], requires_grad=True)
    for out in (LF.gan_discriminator_loss(big, big), LF.gan_generator_loss(big)):
        (gb,) = torch.autograd.grad(out, big)
        assert torch.isfinite(out) and torch.isfinite(gb).all()
    # non-saturating: the generator still gets a full gradient when the discriminator wins
    f = torch.tensor([-30.0], requires_grad=True)
    LF.gan_generator_loss(f).backward()
    assert f.grad.item() == pytest.approx(-1.0)


def test_wgan_losses_values_and_pairing():
    real, fake = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.0, 0.0, 3.0])
    assert LF.wgan_critic_loss(real, fake).item() == pytest.approx(fake.mean() - real.mean())
    assert LF.wgan_generator_loss(fake).item() == pytest.approx(-1.0)
    with pytest.raises(
        ValueError, match=r"^wgan_critic_loss: 'fake_scores' must be of the same shape"
    ):
        LF.wgan_critic_loss(real, fake[:2])


# -- gradient penalty ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "w, one_sided",
    [((3.0, 4.0), False), ((0.3, 0.4), False), ((0.3, 0.4), True), ((3.0, 4.0), True)],
)
def test_gradient_penalty_linear_critic_by_hand(w, one_sided):
    weight = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    norm = math.hypot(*w)
    real, fake = randn(6, 2, seed=1), randn(6, 2, seed=2)
    gp = LF.gradient_penalty(lambda x: x @ weight, real, fake, one_sided=one_sided)
    excess = max(norm - 1, 0.0) if one_sided else norm - 1
    assert gp.item() == pytest.approx(10 * excess**2, rel=1e-12)
    # create_graph: the penalty trains the critic; d/dw 10 (|w| - 1)^2 = 20 (|w| - 1) w / |w|
    (gw,) = torch.autograd.grad(gp, weight)
    expected = [20 * excess * wi / norm for wi in w]
    assert gw.tolist() == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_gradient_penalty_reproducible_and_stacked():
    net = torch.nn.Sequential(
        torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)
    ).double()
    real, fake = randn(5, 2, seed=1), randn(5, 2, seed=2)
    a = LF.gradient_penalty(net, real, fake, generator=g(7))
    b = LF.gradient_penalty(net, real, fake, generator=g(7))
    c = LF.gradient_penalty(net, real, fake, generator=g(8))
    assert a.item() == b.item() and a.item() != c.item()
    # sample_dims=2: (models, batch, D) inputs, one penalty per (model, sample)
    stacked = LF.gradient_penalty(
        net,
        real.expand(3, 5, 2),
        fake.expand(3, 5, 2),
        sample_dims=2,
        generator=g(7),
        reduction="none",
    )
    assert stacked.shape == (3, 5)
    module = LN.GradientPenalty(weight=10.0)
    assert module(net, real, fake, generator=g(7)).item() == a.item()


def test_gradient_penalty_validation():
    real = torch.zeros(3, 2)
    with pytest.raises(TypeError, match=r"^gradient_penalty: 'critic' must be a callable"):
        LF.gradient_penalty("critic", real, real)
    with pytest.raises(
        TypeError, match=r"^gradient_penalty: 'generator' must be a torch.Generator"
    ):
        LF.gradient_penalty(lambda x: x.sum(-1), real, real, generator=0)
    with pytest.raises(
        ValueError, match=r"^gradient_penalty: 'fake' must be of the same shape as 'real'"
    ):
        LF.gradient_penalty(lambda x: x.sum(-1), real, torch.zeros(2, 2))
    with pytest.raises(
        ValueError, match=r"^gradient_penalty: 'weight' must be a finite real number >= 0"
    ):
        LN.GradientPenalty(weight=-1.0)
    # a constant critic has gradient 0: penalty weight * 1 with a finite (zero) gradient
    assert LF.gradient_penalty(lambda x: 0 * x.sum(-1), real, real).item() == pytest.approx(10.0)
