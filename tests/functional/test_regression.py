"""Regression losses against independent references (float64 numpy/mpmath, naive loops).

No reference here reuses the implementation's formulation: log-cosh is checked against
``np.log(np.cosh(d))`` at moderate errors and its asymptote at huge ones, the pinball loss
against a Python loop, MSLE against ``log((1+x)/(1+y))``, and Barron's loss against
``np.power`` and high-precision (mpmath) limits alpha -> 2, 0, -inf.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

import losslab.functional as LF
import losslab.nn as LN
from losslab._validation import content_checks

mpmath = pytest.importorskip("mpmath")

REDUCTIONS = ("none", "mean", "sum")


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def pair(seed: int = 0, shape=(5, 3), scale: float = 2.0) -> tuple[torch.Tensor, torch.Tensor]:
    g = gen(seed)
    y = torch.randn(shape, generator=g, dtype=torch.float64)
    x = y + scale * torch.randn(shape, generator=g, dtype=torch.float64)
    return x, y


def reduce_np(values: np.ndarray, reduction: str, weight: np.ndarray | None = None) -> np.ndarray:
    v = values if weight is None else values * weight
    return {"none": v, "mean": np.mean(v), "sum": np.sum(v)}[reduction]


def close(actual: torch.Tensor, expected, rtol: float = 1e-10, atol: float = 1e-12) -> None:
    exp = torch.as_tensor(np.asarray(expected, dtype=np.float64))
    torch.testing.assert_close(actual.double(), exp, rtol=rtol, atol=atol)


def msg(loss: str, arg: str) -> str:
    return rf"^{re.escape(loss)}: '{arg}' must be"


# -- shared behaviour -------------------------------------------------------------------------

LOSSES = {
    "log_cosh_loss": {},
    "quantile_loss": {"quantile": 0.3},
    "msle_loss": {},
    "mape_loss": {},
    "general_robust_loss": {"alpha": 0.5},
}


def valid_pair(name: str, seed: int = 0, shape=(4, 3)) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = pair(seed, shape)
    if name == "msle_loss":
        return x.abs(), y.abs()
    if name == "mape_loss":
        return x, y.sign() * (y.abs() + 0.5)
    return x, y


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_weight_multiplies_and_mean_divides_by_count(name):
    fn = getattr(LF, name)
    x, y = valid_pair(name)
    w = torch.rand(3, generator=gen(9), dtype=torch.float64)  # broadcast over rows
    per = fn(x, y, reduction="none", **LOSSES[name])
    assert per.shape == x.shape
    close(fn(x, y, reduction="none", weight=w, **LOSSES[name]), (per * w).numpy())
    close(fn(x, y, reduction="sum", weight=w, **LOSSES[name]), (per * w).sum().item())
    close(fn(x, y, weight=w, **LOSSES[name]), (per * w).sum().item() / x.numel())
    close(fn(x, y, reduction="sum", **LOSSES[name]), per.sum().item())
    close(fn(x, y, **LOSSES[name]), per.mean().item())


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_weight_that_would_enlarge_the_loss_is_rejected(name):
    fn = getattr(LF, name)
    x, y = valid_pair(name)
    with pytest.raises(ValueError, match=msg(name, "weight") + r" broadcastable to the loss shape"):
        fn(x, y, weight=torch.ones(2, 4, 3, dtype=torch.float64), **LOSSES[name])
    with pytest.raises(ValueError, match=msg(name, "weight")):
        fn(x, y, weight=torch.ones(5, dtype=torch.float64), **LOSSES[name])


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_shape_mismatch_and_dtype_errors(name):
    fn = getattr(LF, name)
    x, y = valid_pair(name)
    with pytest.raises(ValueError, match=msg(name, "target") + r" of the same shape as 'input'"):
        fn(x, y[:, :2], **LOSSES[name])
    with pytest.raises(TypeError, match=msg(name, "input") + " a floating-point tensor"):
        fn(x.long(), y, **LOSSES[name])
    with pytest.raises(ValueError, match=msg(name, "reduction") + " one of"):
        fn(x, y, reduction="avg", **LOSSES[name])


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_inputs_are_computed_in_float32(name, dtype):
    fn = getattr(LF, name)
    x, y = valid_pair(name)
    xh, yh = x.to(dtype), y.to(dtype)
    out = fn(xh, yh, **LOSSES[name])
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, fn(xh.float(), yh.float(), **LOSSES[name]), rtol=0, atol=0)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_empty_mean_is_connected_zero(name):
    x = torch.zeros(0, 3, requires_grad=True)
    out = getattr(LF, name)(x, torch.zeros(0, 3), **LOSSES[name])
    assert out.item() == 0.0 and out.requires_grad
    out.backward()
    assert x.grad is not None and x.grad.shape == (0, 3)


@pytest.mark.parametrize(
    "name, module",
    [
        ("log_cosh_loss", LN.LogCoshLoss),
        ("quantile_loss", LN.QuantileLoss),
        ("msle_loss", LN.MSLELoss),
        ("mape_loss", LN.MAPELoss),
        ("general_robust_loss", LN.GeneralRobustLoss),
    ],
)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_module_equals_function(name, module, reduction):
    x, y = valid_pair(name)
    m = module(reduction=reduction, **LOSSES[name])
    torch.testing.assert_close(
        m(x, y), getattr(LF, name)(x, y, reduction=reduction, **LOSSES[name])
    )


# -- log-cosh ---------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_log_cosh_matches_numpy_at_moderate_errors(reduction):
    x, y = pair(1, (7, 4), scale=5.0)
    d = (x - y).numpy()
    close(LF.log_cosh_loss(x, y, reduction=reduction), reduce_np(np.log(np.cosh(d)), reduction))
    w = np.random.default_rng(0).random((7, 4))
    close(
        LF.log_cosh_loss(x, y, reduction=reduction, weight=torch.from_numpy(w)),
        reduce_np(np.log(np.cosh(d)), reduction, w),
    )


def test_log_cosh_gradient_is_tanh():
    x, y = pair(2, (6, 3), scale=4.0)
    x.requires_grad_(True)
    LF.log_cosh_loss(x, y, reduction="sum").backward()
    close(x.grad, np.tanh((x - y).detach().numpy()), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("d", [1e4, -1e4, 89.0, 100.0, 1e30])
def test_log_cosh_does_not_overflow_in_float32(d):
    # log cosh d = |d| - log 2 + log1p(exp(-2|d|)); the last term is < 1e-77 here
    x = torch.tensor([d], dtype=torch.float32, requires_grad=True)
    out = LF.log_cosh_loss(x, torch.zeros(1), reduction="sum")
    assert torch.isfinite(out)
    assert out.item() == pytest.approx(abs(d) - math.log(2), rel=1e-6)
    out.backward()
    assert x.grad.item() == math.copysign(1.0, d)


def test_log_cosh_is_accurate_for_tiny_errors_in_float32():
    # log cosh d = d^2/2 - d^4/12 + ...; a cancelling |d| + log(...) form loses most digits here
    d = torch.tensor([1e-4, -3e-3, 2e-6], dtype=torch.float32)
    out = LF.log_cosh_loss(d, torch.zeros(3), reduction="none").double()
    dd = d.double()
    torch.testing.assert_close(out, dd**2 / 2 - dd**4 / 12, rtol=1e-6, atol=0)


def test_log_cosh_is_continuous_at_the_branch_switch():
    d = torch.tensor([1 - 1e-12, 1.0, 1 + 1e-12], dtype=torch.float64, requires_grad=True)
    out = LF.log_cosh_loss(d, torch.zeros(3), reduction="none")
    close(out, np.log(np.cosh(d.detach().numpy())), rtol=1e-14)
    out.sum().backward()
    close(d.grad, np.tanh(d.detach().numpy()), rtol=1e-14)


finite = st.floats(-1e3, 1e3, allow_nan=False, width=64)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, array_shapes(max_dims=3, max_side=5), elements=finite))
def test_log_cosh_bounds(d):
    out = LF.log_cosh_loss(
        torch.from_numpy(d), torch.zeros(d.shape, dtype=torch.float64), reduction="none"
    ).numpy()
    a = np.abs(d)
    assert out.shape == d.shape
    assert np.all(out >= 0)
    assert np.all(out <= np.minimum(a, a**2 / 2) + 1e-12)
    assert np.all(out >= np.maximum(a - math.log(2), a**2 / 2 - a**4 / 12) - 1e-9)


# -- quantile ---------------------------------------------------------------------------------


def pinball_loop(x: np.ndarray, y: np.ndarray, taus) -> np.ndarray:
    out = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        tau = taus[idx[-1]] if isinstance(taus, (list, tuple)) else taus
        err = y[idx] - x[idx]
        out[idx] = tau * err if err >= 0 else (tau - 1) * err
    return out


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("tau", [0.1, 0.5, 0.97])
def test_quantile_matches_loop_float(reduction, tau):
    x, y = pair(3, (6, 3))
    w = np.random.default_rng(1).random((6, 1))
    expected = pinball_loop(x.numpy(), y.numpy(), tau)
    close(LF.quantile_loss(x, y, quantile=tau, reduction=reduction), reduce_np(expected, reduction))
    close(
        LF.quantile_loss(x, y, quantile=tau, reduction=reduction, weight=torch.from_numpy(w)),
        reduce_np(expected, reduction, w),
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_quantile_matches_loop_tensor_levels(reduction):
    taus = [0.05, 0.5, 0.8, 0.99]
    x, y = pair(4, (2, 5, 4))
    out = LF.quantile_loss(
        x, y, quantile=torch.tensor(taus, dtype=torch.float32), reduction=reduction
    )
    assert out.dtype == torch.float64
    close(out, reduce_np(pinball_loop(x.numpy(), y.numpy(), taus), reduction), rtol=1e-6)


def test_quantile_minimiser_is_the_empirical_quantile():
    y = torch.arange(1.0, 11.0, dtype=torch.float64)  # 1..10
    grid = torch.linspace(0, 11, 1101, dtype=torch.float64)
    losses = torch.stack([LF.quantile_loss(torch.full_like(y, g), y, quantile=0.3) for g in grid])
    best = grid[losses == losses.min()]
    assert best.min() >= 3.0 - 1e-9 and best.max() <= 4.0 + 1e-9  # any point in [3, 4]


@pytest.mark.parametrize("tau", [0.1, 0.5, 0.9])
def test_quantile_subgradient_at_zero_is_half_minus_tau(tau):
    x = torch.tensor([1.0, 0.0, 2.0], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64)
    LF.quantile_loss(x, y, quantile=tau, reduction="sum").backward()
    close(x.grad, [0.5 - tau, -tau, 1 - tau], rtol=1e-15)


def test_quantile_rejects_bad_levels():
    x, y = pair(0, (4, 3))
    with pytest.raises(
        ValueError,
        match=msg("quantile_loss", "quantile")
        + r" .*length matches input\.shape\[-1\] \(input\.shape\[-1\] = 3\), got tensor\(\[0\.2\d*, 0\.8\d*\]\)",
    ):
        LF.quantile_loss(x, y, quantile=torch.tensor([0.2, 0.8]))
    with pytest.raises(ValueError, match=msg("quantile_loss", "quantile") + r" .*\(a 0-d input\)"):
        LF.quantile_loss(x[0, 0], y[0, 0], quantile=torch.tensor([0.5]))
    with pytest.raises(
        ValueError,
        match=msg("quantile_loss", "quantile")
        + r" .*tensor > 0 and < 1, got tensor of shape \(4, 3\)",
    ):
        LF.quantile_loss(x, y, quantile=torch.full((4, 3), 0.5))
    for bad in (0.0, 1.0, -0.2, 1.5, math.nan):
        with pytest.raises(
            ValueError, match=msg("quantile_loss", "quantile") + r" .*> 0 and < 1, got"
        ):
            LF.quantile_loss(x, y, quantile=bad)
    with pytest.raises(ValueError, match=msg("quantile_loss", "quantile")):
        LF.quantile_loss(x, y, quantile=torch.tensor([0.2, 1.0, 0.5]))
    with pytest.raises(TypeError, match=msg("quantile_loss", "quantile")):
        LF.quantile_loss(x, y, quantile="0.5")


def test_quantile_module_keeps_levels_as_a_buffer():
    m = LN.QuantileLoss(quantile=torch.tensor([0.1, 0.9]))
    assert "quantile" in dict(m.named_buffers())
    x, y = pair(5, (3, 2))
    torch.testing.assert_close(m(x, y), LF.quantile_loss(x, y, quantile=torch.tensor([0.1, 0.9])))


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, array_shapes(max_dims=3, max_side=5), elements=finite),
    st.data(),
    st.floats(0.01, 0.99),
)
def test_quantile_properties(x, data, tau):
    y = data.draw(arrays(np.float64, x.shape, elements=finite))
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    half = LF.quantile_loss(xt, yt, quantile=0.5, reduction="none")
    close(half, 0.5 * np.abs(x - y), rtol=1e-12, atol=1e-12)
    # pinball(tau) + pinball(1 - tau) = |error|, and swapping tau mirrors the error
    a = LF.quantile_loss(xt, yt, quantile=tau, reduction="none")
    b = LF.quantile_loss(xt, yt, quantile=1 - tau, reduction="none")
    close(a + b, np.abs(x - y), rtol=1e-9, atol=1e-9)
    close(
        LF.quantile_loss(2 * yt - xt, yt, quantile=1 - tau, reduction="none"),
        a.numpy(),
        rtol=1e-9,
        atol=1e-9,
    )


# -- MSLE -------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_msle_matches_numpy(reduction):
    g = gen(6)
    x = torch.rand(5, 4, generator=g, dtype=torch.float64) * 100 - 0.99
    y = torch.rand(5, 4, generator=g, dtype=torch.float64) * 100 - 0.99
    w = np.random.default_rng(2).random((5, 4))
    expected = np.log((1 + x.numpy()) / (1 + y.numpy())) ** 2
    close(LF.msle_loss(x, y, reduction=reduction), reduce_np(expected, reduction))
    close(
        LF.msle_loss(x, y, reduction=reduction, weight=torch.from_numpy(w)),
        reduce_np(expected, reduction, w),
    )


def test_msle_gradient():
    x = torch.tensor([0.0, 3.0, -0.5], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64)
    LF.msle_loss(x, y, reduction="sum").backward()
    xn = x.detach().numpy()
    close(x.grad, 2 * np.log((1 + xn) / 2) / (1 + xn), rtol=1e-12)


@pytest.mark.parametrize("arg", ["input", "target"])
@pytest.mark.parametrize("bad", [-1.0, -2.5, math.nan])
def test_msle_rejects_values_at_or_below_minus_one(arg, bad):
    x, y = torch.ones(3), torch.ones(3)
    (x if arg == "input" else y)[1] = bad
    with pytest.raises(ValueError, match=msg("msle_loss", arg) + r" > -1 everywhere .*, got"):
        LF.msle_loss(x, y)


def test_msle_content_check_can_be_switched_off():
    with content_checks(False):
        out = LF.msle_loss(torch.tensor([-2.0]), torch.tensor([0.0]))
    assert torch.isnan(out)  # no silent clamping: the caller asked for no check


def test_msle_penalises_under_prediction_more():
    y = torch.tensor([10.0])
    under = LF.msle_loss(torch.tensor([5.0]), y)
    over = LF.msle_loss(torch.tensor([15.0]), y)
    assert under > over


# -- MAPE -------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mape_matches_numpy(reduction):
    x, y = pair(7, (5, 3))
    y = y + torch.sign(y)  # |y| >= 1
    w = np.random.default_rng(3).random((1, 3))
    expected = np.abs((y.numpy() - x.numpy()) / y.numpy())
    close(LF.mape_loss(x, y, reduction=reduction), reduce_np(expected, reduction))
    close(
        LF.mape_loss(x, y, reduction=reduction, weight=torch.from_numpy(w)),
        reduce_np(expected, reduction, w),
    )


def test_mape_is_a_fraction_not_a_percentage():
    out = LF.mape_loss(torch.tensor([110.0, 90.0]), torch.tensor([100.0, 100.0]))
    assert out.item() == pytest.approx(0.1)


def test_mape_floors_the_denominator_at_eps():
    x = torch.tensor([1.0, 1.0], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0.0, -1e-9], dtype=torch.float64)
    out = LF.mape_loss(x, y, eps=1e-3, reduction="none")
    close(out, [1.0 / 1e-3, (1.0 + 1e-9) / 1e-3], rtol=1e-12)
    out.sum().backward()
    close(x.grad, [1e3, 1e3], rtol=1e-12)
    default = LF.mape_loss(torch.tensor([1.0]), torch.tensor([0.0]))
    assert torch.isfinite(default) and default.item() == pytest.approx(1 / 1.17e-6, rel=1e-6)


@pytest.mark.parametrize("bad", [0.0, -1e-6, math.nan, math.inf])
def test_mape_rejects_bad_eps(bad):
    with pytest.raises(
        ValueError, match=msg("mape_loss", "eps") + r" a finite real number > 0, got"
    ):
        LF.mape_loss(torch.ones(2), torch.ones(2), eps=bad)


# -- Barron's general robust loss ---------------------------------------------------------------


def barron_np(z: np.ndarray, alpha: float) -> np.ndarray:
    """The paper's formula with np.power (no expm1/log1p), for alpha away from 0 and 2."""
    b = abs(alpha - 2)
    return b / alpha * (np.power(z**2 / b + 1, alpha / 2) - 1)


def barron_mpf(z: float, alpha, base: float = 0.0):
    """High-precision general formula at alpha = base + alpha (alpha may be a string such as
    "1e-30"), used extremely close to the special values; an 80-digit mpf."""
    with mpmath.workdps(80):
        alpha = mpmath.mpf(base) + mpmath.mpf(alpha)
        b = abs(alpha - 2)
        return b / alpha * (mpmath.power(mpmath.mpf(z) ** 2 / b + 1, alpha / 2) - 1)


def barron_mp(z: float, alpha, base: float = 0.0) -> float:
    return float(barron_mpf(z, alpha, base))


Z = np.array([0.0, 1e-3, -0.3, 1.0, -2.5, 7.0, 40.0])


@pytest.mark.parametrize("alpha", [1.0, -2.0, 0.5, 1.5, 3.0, -7.0, -0.5])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_robust_matches_numpy_formula(alpha, reduction):
    x = torch.from_numpy(Z * 1.5)
    y = torch.zeros_like(x)
    expected = barron_np(Z, alpha)
    out = LF.general_robust_loss(x, y, alpha=alpha, scale=1.5, reduction=reduction)
    close(out, reduce_np(expected, reduction), rtol=1e-10, atol=1e-15)
    w = np.linspace(0, 2, Z.size)
    out_w = LF.general_robust_loss(
        x, y, alpha=alpha, scale=1.5, reduction=reduction, weight=torch.from_numpy(w)
    )
    close(out_w, reduce_np(expected, reduction, w), rtol=1e-10, atol=1e-15)


def test_robust_closed_forms():
    z = torch.from_numpy(Z)
    zero = torch.zeros_like(z)
    close(
        LF.general_robust_loss(z, zero, alpha=1.0, reduction="none"),
        np.sqrt(Z**2 + 1) - 1,
        rtol=1e-12,
        atol=1e-16,
    )
    close(
        LF.general_robust_loss(z, zero, alpha=-2.0, reduction="none"),
        2 * Z**2 / (Z**2 + 4),
        rtol=1e-12,
        atol=1e-16,
    )


@pytest.mark.parametrize(
    "special, near",
    [(2.0, "-1e-30"), (2.0, "1e-30"), (0.0, "1e-30"), (0.0, "-1e-30"), (-math.inf, "-1e30")],
)
def test_robust_special_cases_are_the_limits(special, near):
    # the limit of the general formula, evaluated in 80-digit arithmetic next to the special value
    base = 0.0 if math.isinf(special) else special
    expected = [barron_mp(z, near, base) for z in Z]
    out = LF.general_robust_loss(
        torch.from_numpy(Z),
        torch.zeros(Z.size, dtype=torch.float64),
        alpha=special,
        reduction="none",
    )
    close(out, expected, rtol=1e-12, atol=1e-20)


@pytest.mark.parametrize("special", [2.0, 0.0])
@pytest.mark.parametrize("offset", [1e-4, -1e-4, 1e-7, -1e-7])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_robust_is_continuous_near_special_alpha(special, offset, dtype):
    z = torch.from_numpy(Z[:6]).to(dtype)  # |z| <= 7
    zero = torch.zeros_like(z)
    at = LF.general_robust_loss(z, zero, alpha=special, reduction="none")
    near = LF.general_robust_loss(z, zero, alpha=special + offset, reduction="none")
    torch.testing.assert_close(near, at, rtol=abs(offset) * 50 + 1e-5, atol=1e-7)
    expected = [barron_mp(v, special + offset) for v in Z[:6]]
    close(near, expected, rtol=1e-12 if dtype == torch.float64 else 2e-5, atol=1e-12)


def test_robust_gradient_matches_analytic_form():
    z = torch.from_numpy(Z * 2.0).requires_grad_(True)
    for alpha in (2.0, 1.0, 0.0, -2.0, 0.3, -math.inf):
        (g,) = torch.autograd.grad(
            LF.general_robust_loss(z, torch.zeros_like(z), alpha=alpha, scale=2.0, reduction="sum"),
            z,
        )
        zz = Z
        if alpha == -math.inf:
            factor = np.exp(-0.5 * zz**2)
        elif alpha == 2:
            factor = np.ones_like(zz)
        elif alpha == 0:
            factor = 1 / (0.5 * zz**2 + 1)
        else:
            factor = (zz**2 / abs(alpha - 2) + 1) ** (alpha / 2 - 1)
        close(g, zz / 2.0 * factor, rtol=1e-10, atol=1e-15)


def test_robust_gradients_finite_for_tensor_alpha_and_scale():
    alphas = [2.0, 0.0, -math.inf, 1.0, -2.0, 2.0 + 1e-9, 1e-9, 5.0, -1e6]
    zs = [0.0, 1e-8, 1.0, 30.0, 1e4]
    a = torch.tensor(alphas, dtype=torch.float32).repeat_interleave(len(zs)).requires_grad_(True)
    c = torch.full_like(a, 0.7).requires_grad_(True)
    x = torch.tensor(zs * len(alphas), dtype=torch.float32, requires_grad=True)
    out = LF.general_robust_loss(x, torch.zeros_like(x), alpha=a, scale=c, reduction="none")
    assert torch.isfinite(out).all()
    out.sum().backward()
    for t in (x, a, c):
        assert t.grad is not None and torch.isfinite(t.grad).all(), t.grad


@pytest.mark.parametrize("alpha", [1e-300, -1e-300, 5e-324, 1e-12, -3e-9])
def test_robust_alpha_next_to_zero_is_finite_with_the_right_alpha_gradient(alpha):
    # rho and d rho / d alpha at alpha ~ 0, from an 80-digit central difference around alpha = 0
    z = np.array([0.0, 0.5, 3.0, 1e3])
    a = torch.tensor(alpha, dtype=torch.float64, requires_grad=True)
    out = LF.general_robust_loss(
        torch.from_numpy(z), torch.zeros(4, dtype=torch.float64), alpha=a, reduction="none"
    )
    close(out, np.log1p(z**2 / 2), rtol=1e-8, atol=0)
    for i, zi in enumerate(z):
        (g,) = torch.autograd.grad(out[i], a, retain_graph=True)
        with mpmath.workdps(80):
            h = mpmath.mpf("1e-30")
            expected = (barron_mpf(zi, "1e-30") - barron_mpf(zi, "-1e-30")) / (2 * h)
        assert torch.isfinite(g)
        assert g.item() == pytest.approx(float(expected), rel=1e-6, abs=1e-12)


@pytest.mark.parametrize("alpha", [1.0, 0.5, 0.0, -2.0, -math.inf])
def test_robust_huge_errors_stay_finite_in_float32(alpha):
    # z^2 overflows float32 beyond 1.8e19; the loss itself is representable for alpha <= 1
    d = np.array([1e4, -1e20, 3e38])
    x = torch.tensor(d, dtype=torch.float32, requires_grad=True)
    out = LF.general_robust_loss(x, torch.zeros(3), alpha=alpha, reduction="none")
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()
    with mpmath.workdps(50):
        if alpha == 0:
            ref = [float(mpmath.log1p(mpmath.mpf(v) ** 2 / 2)) for v in d]
        elif alpha == -math.inf:
            ref = [float(1 - mpmath.exp(-(mpmath.mpf(v) ** 2) / 2)) for v in d]
        else:
            ref = [float(barron_mpf(v, str(alpha))) for v in d]
    close(out, ref, rtol=1e-5, atol=0)


def test_robust_alpha_tensor_broadcasts_per_column():
    x, y = pair(8, (4, 3))
    a = torch.tensor([2.0, 0.0, -math.inf], dtype=torch.float64)
    out = LF.general_robust_loss(x, y, alpha=a, reduction="none")
    for j, alpha in enumerate(a.tolist()):
        close(
            out[:, j],
            LF.general_robust_loss(x[:, j], y[:, j], alpha=alpha, reduction="none").numpy(),
        )


def test_robust_validation():
    x, y = pair(0, (4, 3))
    name = "general_robust_loss"
    with pytest.raises(TypeError, match="alpha"):
        LF.general_robust_loss(x, y)  # alpha is required
    with pytest.raises(TypeError, match="missing required hyperparameter 'alpha'"):
        LN.GeneralRobustLoss()
    for bad in (math.inf, math.nan):
        with pytest.raises(
            ValueError,
            match=msg(name, "alpha") + r" a real number or a floating-point tensor < inf, got",
        ):
            LF.general_robust_loss(x, y, alpha=bad)
    with pytest.raises(ValueError, match=msg(name, "alpha")):
        LF.general_robust_loss(x, y, alpha=torch.tensor([1.0, math.inf, 0.0], dtype=torch.float64))
    with pytest.raises(
        ValueError,
        match=msg(name, "alpha") + r" broadcastable to 'input' \(4, 3\), got shape \(4,\)$",
    ):
        LF.general_robust_loss(x, y, alpha=torch.ones(4, dtype=torch.float64))
    with pytest.raises(ValueError, match=msg(name, "alpha") + r" broadcastable to 'input'"):
        LF.general_robust_loss(x, y, alpha=torch.ones(2, 4, 3, dtype=torch.float64))
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(
            ValueError,
            match=msg(name, "scale") + r" a finite real number or a floating-point tensor > 0, got",
        ):
            LF.general_robust_loss(x, y, alpha=1.0, scale=bad)
    with pytest.raises(ValueError, match=msg(name, "scale")):
        LF.general_robust_loss(x, y, alpha=1.0, scale=torch.tensor([1.0, 0.0, 2.0]))
    with pytest.raises(TypeError, match=msg(name, "alpha")):
        LF.general_robust_loss(x, y, alpha="1")


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, array_shapes(max_dims=3, max_side=5), elements=finite),
    st.floats(-10, 1.99) | st.sampled_from([2.0, 0.0, -math.inf]),
    st.floats(0.01, 100),
)
def test_robust_properties(d, alpha, scale):
    dt = torch.from_numpy(d)
    zero = torch.zeros_like(dt)
    out = LF.general_robust_loss(dt, zero, alpha=alpha, scale=scale, reduction="none")
    assert out.shape == dt.shape and torch.isfinite(out).all() and (out >= 0).all()
    close(
        out,
        LF.general_robust_loss(-dt, zero, alpha=alpha, scale=scale, reduction="none").numpy(),
        rtol=1e-12,
        atol=0,
    )
    # never above the quadratic bowl for alpha <= 2, and increasing in |error|
    assert (out <= 0.5 * (dt / scale) ** 2 * (1 + 1e-12) + 1e-300).all()
    order = np.argsort(np.abs(d).ravel(), kind="stable")
    sorted_loss = out.flatten()[torch.from_numpy(order)]
    assert (sorted_loss[1:] >= sorted_loss[:-1] * (1 - 1e-12)).all()
    if alpha < 0:
        assert (
            out <= abs(alpha - 2) / abs(alpha) * (1 + 1e-12) if math.isfinite(alpha) else out <= 1
        ).all()
    if alpha == 2.0:
        close(out, 0.5 * (d / scale) ** 2, rtol=1e-12, atol=0)


def _log_cosh_plain_autograd(d: torch.Tensor) -> torch.Tensor:
    """The two-branch formula differentiated by plain autograd (the reference of the fast path)."""
    a = d.abs()
    small = a <= 1.0
    ds = torch.where(small, d, torch.zeros_like(d))
    al = torch.where(small, torch.ones_like(a), a)
    near = torch.log1p(2.0 * torch.sinh(0.5 * ds).square())
    far = al + torch.log1p(torch.exp(-2.0 * al)) - math.log(2.0)
    return torch.where(small, near, far)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_log_cosh_fast_path_equals_plain_autograd(dtype):
    d = torch.tensor([0.0, 1e-8, -1e-3, 0.5, -1.0, 1.0, 1.0001, -7.0, 88.0, 1e4, -1e4], dtype=dtype)
    x1 = d.clone().requires_grad_(True)
    x2 = d.clone().requires_grad_(True)
    fast = LF.log_cosh_loss(x1, torch.zeros_like(d), reduction="none")
    plain = _log_cosh_plain_autograd(x2)
    torch.testing.assert_close(fast, plain, rtol=0, atol=0)
    w = torch.linspace(0.5, 2.0, len(d), dtype=dtype)
    (g1,) = torch.autograd.grad((fast * w).sum(), x1)
    (g2,) = torch.autograd.grad((plain * w).sum(), x2)
    torch.testing.assert_close(g1, g2, rtol=1e-6, atol=1e-7)


def test_log_cosh_fast_path_is_twice_differentiable():
    d = torch.randn(7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(
        lambda x: LF.log_cosh_loss(x, torch.zeros_like(x), reduction="sum"), (d,)
    )


@pytest.mark.parametrize("alpha", [2.0, 1.0, 0.5, 1e-300, 1e-5, 0.0, -2.0, -math.inf, 3.0, -50.0])
def test_general_robust_fixed_alpha_path_equals_tensor_alpha_path(alpha):
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(50, generator=g, dtype=torch.float64) * 5).requires_grad_(True)
    y = torch.randn(50, generator=g, dtype=torch.float64)
    fixed = LF.general_robust_loss(x, y, alpha=alpha, scale=0.7, reduction="none")
    tensor = LF.general_robust_loss(
        x, y, alpha=torch.tensor(alpha, dtype=torch.float64), scale=0.7, reduction="none"
    )
    torch.testing.assert_close(fixed, tensor, rtol=1e-12, atol=1e-14)
    (g1,) = torch.autograd.grad(fixed.sum(), x)
    (g2,) = torch.autograd.grad(tensor.sum(), x)
    torch.testing.assert_close(g1, g2, rtol=1e-10, atol=1e-12)
