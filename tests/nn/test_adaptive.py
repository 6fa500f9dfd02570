"""AdaptiveRobustLoss: log Z against independent quadrature, frozen reduction, gradients, learning."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, special

import losslab.functional as LF
from losslab.nn import AdaptiveRobustLoss
from losslab.nn._adaptive import LOG_Z_MAX_ERROR, adaptive_robust_nll, log_partition


def _reference_log_z(alpha: float) -> float:
    """log Z by quadrature of Barron's density written directly with powers (float64)."""
    if alpha == 0.0:

        def f(x):
            return 1.0 / (1.0 + 0.5 * x * x)
    else:
        b = abs(alpha - 2.0)

        def f(x):
            return math.exp(-(b / alpha) * ((x * x / b + 1.0) ** (alpha / 2.0) - 1.0))

    value = integrate.quad(f, -np.inf, 0.0, epsabs=1e-14, epsrel=1e-12, limit=400)[0]
    return math.log(2.0 * value)


def test_log_z_closed_forms():
    # alpha = 0: 1 / (1 + x^2/2) integrates to sqrt(2) pi; alpha = 2: Gaussian sqrt(2 pi);
    # alpha = 1: exp(1 - sqrt(1 + x^2)) integrates to 2 e K1(1)
    exact = [
        math.log(math.sqrt(2) * math.pi),
        math.log(2 * math.e * special.k1(1.0)),
        0.5 * math.log(2 * math.pi),
    ]
    got = log_partition(torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64))
    torch.testing.assert_close(got, torch.tensor(exact, dtype=torch.float64), rtol=0, atol=1e-9)


def test_log_z_matches_quadrature_off_grid():
    rng = np.random.default_rng(0)
    alphas = np.concatenate(
        [rng.uniform(0.0, 2.0, 12), [1e-4, 0.0049, 0.013, 1.2345, 1.99, 1.9995]]
    )
    got = log_partition(torch.tensor(alphas, dtype=torch.float64)).numpy()
    ref = np.array([_reference_log_z(float(a)) for a in alphas])
    assert np.abs(got - ref).max() < LOG_Z_MAX_ERROR


@pytest.mark.parametrize("alpha", [0.05, 0.7, 1.5, 1.99])
def test_log_z_slope_matches_finite_difference(alpha):
    a = torch.tensor(alpha, dtype=torch.float64, requires_grad=True)
    log_partition(a).backward()
    h = 1e-4
    fd = (_reference_log_z(alpha + h) - _reference_log_z(alpha - h)) / (2 * h)
    assert float(a.grad) == pytest.approx(fd, abs=2e-3)


def test_log_z_rejects_out_of_range():
    with pytest.raises(ValueError, match=r"log_partition: 'alpha' must be in \[0, 2\], got -0.5"):
        log_partition(torch.tensor([1.0, -0.5]))


def test_frozen_reduces_to_general_loss_plus_constants():
    torch.manual_seed(0)
    loss_fn = AdaptiveRobustLoss(3, alpha_init=0.7, scale_init=0.4, reduction="none")
    for p in loss_fn.parameters():
        p.requires_grad_(False)
    x, y = torch.randn(16, 3, dtype=torch.float64) * 3, torch.randn(16, 3, dtype=torch.float64)
    out = loss_fn.double()(x, y)
    a, c = loss_fn.alpha(), loss_fn.scale()
    torch.testing.assert_close(a, torch.full((3,), 0.7, dtype=torch.float64))
    torch.testing.assert_close(c, torch.full((3,), 0.4, dtype=torch.float64))
    const = math.log(0.4) + _reference_log_z(0.7)
    expected = LF.general_robust_loss(x, y, alpha=0.7, scale=0.4, reduction="none")
    torch.testing.assert_close(out - const, expected, rtol=0, atol=LOG_Z_MAX_ERROR)


def test_fixed_alpha_is_a_buffer():
    loss_fn = AdaptiveRobustLoss(2, alpha_lo=1.0, alpha_hi=1.0, alpha_init=1.0)
    names = [n for n, _ in loss_fn.named_parameters()]
    assert names == ["latent_scale"]
    assert loss_fn.alpha().tolist() == [1.0, 1.0]


def test_reductions_and_weight():
    loss_fn = AdaptiveRobustLoss(2, reduction="none")
    x, y = torch.randn(5, 2), torch.randn(5, 2)
    per = loss_fn(x, y)
    assert per.shape == (5, 2)
    w = torch.rand(5, 1)
    torch.testing.assert_close(
        AdaptiveRobustLoss(2, reduction="sum")(x, y, weight=w), (per * w).sum()
    )
    torch.testing.assert_close(AdaptiveRobustLoss(2)(x, y), per.mean())


@pytest.mark.parametrize("latent", [-40.0, 0.0, 40.0])  # alpha at alpha_lo, middle, alpha_hi
def test_gradients_finite_at_extremes(latent):
    loss_fn = AdaptiveRobustLoss(1, alpha_lo=0.0, alpha_hi=2.0, reduction="sum").double()
    with torch.no_grad():
        loss_fn.latent_alpha.fill_(latent)
        loss_fn.latent_scale.fill_(-30.0)  # scale at its floor too
    x = torch.tensor(
        [[0.0], [1e-30], [1.0], [1e8], [-1e30]], dtype=torch.float64, requires_grad=True
    )
    loss = loss_fn(x, torch.zeros_like(x))
    loss.backward()
    assert torch.isfinite(loss)
    for g in (x.grad, loss_fn.latent_alpha.grad, loss_fn.latent_scale.grad):
        assert torch.isfinite(g).all()


def test_gradients_finite_float32_default_range():
    loss_fn = AdaptiveRobustLoss(2, reduction="sum")
    with torch.no_grad():
        loss_fn.latent_alpha.copy_(torch.tensor([-50.0, 50.0]))
    x = torch.tensor([[0.0, 0.0], [1e4, -1e4], [-3.0, 3.0]], requires_grad=True)
    loss = loss_fn(x, torch.zeros_like(x))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(
        torch.isfinite(t).all()
        for t in (x.grad, loss_fn.latent_alpha.grad, loss_fn.latent_scale.grad)
    )


def test_nll_is_a_normalised_density():
    # exp(-nll) integrates to 1 over the residual for any alpha, scale
    for alpha, scale in [(0.3, 0.5), (1.6, 2.0)]:

        def density(r, a=alpha, c=scale):
            t = torch.tensor([r], dtype=torch.float64)
            nll = adaptive_robust_nll(
                t,
                torch.zeros_like(t),
                alpha=torch.tensor(a, dtype=torch.float64),
                scale=torch.tensor(c, dtype=torch.float64),
                reduction="sum",
            )
            return math.exp(-float(nll))

        mass = integrate.quad(density, -np.inf, np.inf, limit=400)[0]
        assert mass == pytest.approx(1.0, abs=5e-5)


def _fit(residuals: torch.Tensor, steps: int = 150) -> tuple[float, float]:
    loss_fn = AdaptiveRobustLoss(1)  # alpha starts at 1.0, scale at 1.0
    opt = torch.optim.Adam(loss_fn.parameters(), lr=0.1)
    r = residuals.reshape(-1, 1)
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(r, torch.zeros_like(r)).backward()
        opt.step()
    return float(loss_fn.alpha().detach()), float(loss_fn.scale().detach())


def test_alpha_falls_for_heavy_tails_and_rises_for_gaussian():
    g = torch.Generator().manual_seed(0)
    gauss = torch.randn(1000, generator=g) * 0.3
    cauchy = 0.3 * torch.tan(math.pi * (torch.rand(1000, generator=g) - 0.5))  # Cauchy(0, 0.3)
    a_gauss, s_gauss = _fit(gauss)
    a_cauchy, _ = _fit(cauchy)
    assert a_gauss > 1.6  # Gaussian residuals: alpha rises toward 2 (L2), scale toward the std
    assert s_gauss == pytest.approx(0.3, rel=0.2)
    assert a_cauchy < 0.3  # Cauchy residuals: alpha -> 0


def test_validation_messages():
    with pytest.raises(
        ValueError,
        match=r"AdaptiveRobustLoss: 'alpha_hi' must be a finite real number >= 0 and <= 2, got 2.5",
    ):
        AdaptiveRobustLoss(1, alpha_hi=2.5)
    with pytest.raises(
        ValueError, match=r"AdaptiveRobustLoss: 'alpha_init' must be strictly between"
    ):
        AdaptiveRobustLoss(1, alpha_init=1.999)
    with pytest.raises(
        ValueError, match=r"AdaptiveRobustLoss: 'scale_init' must be > scale_lo = 0.5, got 0.1"
    ):
        AdaptiveRobustLoss(1, scale_lo=0.5, scale_init=0.1)
    with pytest.raises(
        ValueError, match=r"AdaptiveRobustLoss: 'num_dims' must be an integer >= 1, got 0"
    ):
        AdaptiveRobustLoss(0)
    with pytest.raises(
        ValueError, match=r"AdaptiveRobustLoss: 'input' must be of shape \(\.\.\., num_dims=2\)"
    ):
        AdaptiveRobustLoss(2)(torch.zeros(4, 3), torch.zeros(4, 3))


def test_nll_weight_broadcasts_without_enlarging_the_loss():
    x, y = torch.randn(4, 3, dtype=torch.float64), torch.zeros(4, 3, dtype=torch.float64)
    kw = {
        "alpha": torch.tensor(1.0, dtype=torch.float64),
        "scale": torch.tensor(0.5, dtype=torch.float64),
    }
    row = torch.rand(4, 1, dtype=torch.float64)
    each = adaptive_robust_nll(x, y, **kw, reduction="none")
    weighted = adaptive_robust_nll(x, y, **kw, reduction="mean", weight=row)
    torch.testing.assert_close(weighted, (each * row).sum() / each.numel())
    with pytest.raises(
        ValueError,
        match=r"adaptive_robust_nll: 'weight' must be broadcastable to the "
        r"loss shape \(4, 3\), got shape \(2, 4, 3\)",
    ):
        adaptive_robust_nll(x, y, **kw, weight=torch.ones(2, 4, 3, dtype=torch.float64))
