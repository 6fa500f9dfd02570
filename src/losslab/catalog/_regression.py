"""Catalog entries of the regression family (log-cosh, quantile, MSLE, MAPE, general robust)."""

from __future__ import annotations

import math

import torch

from .. import functional as LF
from .. import nn as LN
from ._common import REAL_HEAD
from ._registry import register
from ._samplers import REGRESSION, D, N
from ._spec import Case, Head, LossSpec, Sampler, When

# -- samplers ---------------------------------------------------------------------------------


def _randn(gen: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=torch.float64)


def _above_minus_one(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Cast to ``dtype`` keeping every value > -1 after rounding (sampler side, not the loss)."""
    t = t.to(dtype)
    floor = torch.nextafter(torch.tensor(-1.0, dtype=dtype), torch.tensor(0.0, dtype=dtype))
    return torch.maximum(t, floor)


def _log_make(gen: torch.Generator, dtype: torch.dtype, scale: float) -> Case:
    # 1 + y is log-normal; 1 + x is 1 + y multiplied or divided by (1 + scale * |z|), so the
    # error grows with scale in both directions: over-predictions without bound, and
    # under-predictions towards -1 (where the MSLE gradient blows up).
    log1p_y = _randn(gen, N, D)
    factor = torch.log1p(scale * _randn(gen, N, D).abs())
    sign = 2 * torch.randint(0, 2, (N, D), generator=gen).to(torch.float64) - 1
    x = torch.expm1(log1p_y + sign * factor)
    return Case((_above_minus_one(x, dtype), _above_minus_one(torch.expm1(log1p_y), dtype)))


def _log_perfect(gen: torch.Generator, dtype: torch.dtype) -> Case:
    y = _above_minus_one(torch.expm1(_randn(gen, N, D)), dtype)
    return Case((y.clone(), y))


def _log_mirror(case: Case) -> Case:
    # the additive error mirrored (x -> 2y - x) wherever the mirrored prediction stays > -1;
    # elements whose mirror would leave the domain are kept as they are
    x, y = case.args[:2]
    m = 2 * y - x
    return Case((torch.where(m > -1, m, x), y, *case.args[2:]), case.kwargs)


ABOVE_MINUS_ONE = Sampler(
    "above_minus_one",
    make=_log_make,
    perfect=_log_perfect,
    mirror=_log_mirror,
    empty=lambda dtype: Case((torch.zeros(0, D, dtype=dtype), torch.zeros(0, D, dtype=dtype))),
)


def _away_target(gen: torch.Generator) -> torch.Tensor:
    # |target| >= 0.5 with random sign
    sign = 2 * torch.randint(0, 2, (N, D), generator=gen).to(torch.float64) - 1
    return sign * (0.5 + _randn(gen, N, D).abs())


def _away_make(gen: torch.Generator, dtype: torch.dtype, scale: float) -> Case:
    t = _away_target(gen)
    x = t + scale * _randn(gen, N, D)
    return Case((x.to(dtype), t.to(dtype)))


def _away_perfect(gen: torch.Generator, dtype: torch.dtype) -> Case:
    t = _away_target(gen).to(dtype)
    return Case((t.clone(), t))


TARGET_AWAY_FROM_ZERO = Sampler(
    "target_away_from_zero",
    make=_away_make,
    perfect=_away_perfect,
    mirror=REGRESSION.mirror,
    kink=lambda dtype: Case((torch.ones(N, D, dtype=dtype), torch.ones(N, D, dtype=dtype))),
    empty=lambda dtype: Case((torch.zeros(0, D, dtype=dtype), torch.zeros(0, D, dtype=dtype))),
)

# -- derivatives of the reduction="sum" losses w.r.t. the input, written from the math ----------


def _log_cosh_grad(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.tanh(x - y)


def _quantile_grad(x: torch.Tensor, y: torch.Tensor, *, quantile=0.5) -> torch.Tensor:
    tau = torch.as_tensor(quantile, dtype=x.dtype)
    u = y - x
    return torch.where(u > 0, -tau, torch.where(u < 0, 1 - tau, 0.5 - tau))


def _msle_grad(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return 2 * (torch.log1p(x) - torch.log1p(y)) / (1 + x)


def _mape_grad(x: torch.Tensor, y: torch.Tensor, *, eps: float = 1.17e-6) -> torch.Tensor:
    return torch.sign(x - y) / torch.clamp(y.abs(), min=eps)


def _robust_grad(x: torch.Tensor, y: torch.Tensor, *, alpha, scale=1.0) -> torch.Tensor:
    c = torch.as_tensor(scale, dtype=x.dtype)
    a = torch.as_tensor(alpha, dtype=x.dtype)
    z = (x - y) / c
    b = (a - 2).abs()
    power = torch.pow(z * z / b + 1, a / 2 - 1)  # the general case, alpha not in {2, 0, -inf}
    g = torch.where(a == 2, torch.ones_like(z), power)
    g = torch.where(a == 0, 1 / (0.5 * z * z + 1), g)
    g = torch.where(a == -math.inf, torch.exp(-0.5 * z * z), g)
    return z / c * g


# -- entries ----------------------------------------------------------------------------------

register(
    LossSpec(
        name="log_cosh_loss",
        function=LF.log_cosh_loss,
        module=LN.LogCoshLoss,
        family="regression",
        tasks=("regression",),
        input_kind="real",
        heads={"regression": REAL_HEAD},
        formula=r"\ell = \log\cosh(x - y)",
        derivative=r"\frac{\partial \ell}{\partial x} = \tanh(x - y)",
        derivative_fn=_log_cosh_grad,
        properties=dict(
            nonnegative=True,
            zero_at_perfect=True,
            convex=True,
            smooth=True,
            bounded=False,
            robust_to_outliers=True,
            symmetric=True,
        ),
        references=(
            "Chen, Tian, Zheng, Log Hyperbolic Cosine Loss Improves Variational Auto-Encoder, "
            "ICLR 2019 submission",
            "Saleh and Saleh, Statistical Properties of the log-cosh Loss Function Used in "
            "Machine Learning, arXiv:2208.04564, 2022",
        ),
        summary="Log-cosh of the error: quadratic near 0, linear with slope 1 for large errors, "
        "smooth everywhere.",
        when_to_use="Regression where a few targets may be wrong: like Huber it grows only "
        "linearly for large errors (gradient bounded by 1), unlike MSE, the most "
        "outlier-sensitive common loss; unlike Huber and L1 it is twice differentiable and has no "
        "threshold to tune, but its transition sits at |error| ~ 1, so standardise targets "
        "first.",
        sampler=REGRESSION,
    )
)

register(
    LossSpec(
        name="quantile_loss",
        function=LF.quantile_loss,
        module=LN.QuantileLoss,
        family="regression",
        tasks=("regression",),
        input_kind="real",
        heads={
            "regression": Head(
                "identity", "Q", "one unit per quantile level; repeat the target Q times"
            )
        },
        formula=r"\ell = \max\big(\tau (y - x),\ (\tau - 1)(y - x)\big)",
        derivative=r"\frac{\partial \ell}{\partial x} = \begin{cases} -\tau & x < y \\ "
        r"\tfrac12 - \tau & x = y \\ 1 - \tau & x > y \end{cases}",
        derivative_fn=_quantile_grad,
        properties=dict(
            nonnegative=True,
            zero_at_perfect=True,
            convex=True,
            smooth=False,
            bounded=False,
            robust_to_outliers=True,
            symmetric=When("quantile == 0.5"),
        ),
        references=("Koenker and Bassett, Regression Quantiles, Econometrica 1978",),
        summary="Pinball loss: its minimiser is the tau-quantile of the target; several levels "
        "at once give a prediction interval.",
        when_to_use="Prediction intervals and asymmetric costs (under-stocking costs more than "
        "over-stocking): train one output per level, e.g. 0.1/0.5/0.9. Robust to outliers like "
        "L1 (constant-size gradients); symmetric only at tau = 0.5, where it is half the L1 loss. "
        "Separately trained levels can cross; sort them or penalise crossings if that matters.",
        sampler=REGRESSION,
        test_kwargs={"quantile": torch.tensor([0.1, 0.5, 0.9])},
        notes="Catalog tests use the levels (0.1, 0.5, 0.9) on the last dimension (D = 3); "
        "symmetric is False because tau != 0.5 weighs over- and under-prediction differently.",
    )
)

register(
    LossSpec(
        name="msle_loss",
        function=LF.msle_loss,
        module=LN.MSLELoss,
        family="regression",
        tasks=("regression",),
        input_kind="real",
        heads={
            "regression": Head(
                "softplus", "1", "keeps predictions > -1 (and >= 0 for non-negative targets)"
            )
        },
        formula=r"\ell = \big(\log(1 + x) - \log(1 + y)\big)^2",
        derivative=r"\frac{\partial \ell}{\partial x} = \frac{2\,(\log(1 + x) - \log(1 + y))}{1 + x}",
        derivative_fn=_msle_grad,
        properties=dict(
            nonnegative=True,
            zero_at_perfect=True,
            convex=False,
            smooth=True,
            bounded=False,
            robust_to_outliers=False,
            symmetric=False,
        ),
        references=(
            "Pedregosa et al., Scikit-learn: Machine Learning in Python, JMLR 2011 "
            "(mean_squared_log_error)",
        ),
        summary="Squared error of log(1 + value): penalises ratios, not differences.",
        when_to_use="Non-negative targets spanning orders of magnitude (counts, prices, "
        "durations) where relative error matters. Under-prediction costs more than "
        "over-prediction by the same amount, and the gradient explodes as a prediction "
        "approaches -1, so use a head that keeps predictions >= 0. Often simpler: train MSE on "
        "log1p(target).",
        sampler=ABOVE_MINUS_ONE,
        notes="Not convex in x once log1p(x) exceeds log1p(y) + 1. Not robust: the gradient is "
        "unbounded as x -> -1. The sampler mirrors the additive error where the mirror stays "
        "> -1.",
    )
)

register(
    LossSpec(
        name="mape_loss",
        function=LF.mape_loss,
        module=LN.MAPELoss,
        family="regression",
        tasks=("regression",),
        input_kind="real",
        heads={"regression": REAL_HEAD},
        formula=r"\ell = \frac{|x - y|}{\max(|y|, \varepsilon)}",
        derivative=r"\frac{\partial \ell}{\partial x} = "
        r"\frac{\operatorname{sign}(x - y)}{\max(|y|, \varepsilon)}",
        derivative_fn=_mape_grad,
        properties=dict(
            nonnegative=True,
            zero_at_perfect=True,
            convex=True,
            smooth=False,
            bounded=False,
            robust_to_outliers=True,
            symmetric=True,
        ),
        references=(
            "de Myttenaere, Golden, Le Grand, Rossi, Mean Absolute Percentage Error for "
            "regression models, Neurocomputing 2016",
        ),
        summary="Absolute error relative to the target, as a fraction (0.1 = 10%).",
        when_to_use="Targets bounded away from 0 where errors are judged relative to size "
        "(demand, revenue). It is an L1 loss weighted by 1/|y|: robust to large errors but "
        "dominated by small targets (and enormous near y = 0), and it rewards under-forecasting "
        "of non-negative quantities (an under-forecast costs at most 100%, an over-forecast "
        "without limit).",
        sampler=TARGET_AWAY_FROM_ZERO,
        notes="For a fixed target the loss depends on |x - y| only, so mirroring the error "
        "(x -> 2y - x) leaves it unchanged: symmetric=True in the catalog's sense. The well-known "
        "asymmetry of MAPE is between prediction and target (swapping them changes the loss) "
        "and, for non-negative predictions, the bounded cost of under-forecasts.",
    )
)

register(
    LossSpec(
        name="general_robust_loss",
        function=LF.general_robust_loss,
        module=LN.GeneralRobustLoss,
        family="regression",
        tasks=("regression", "noisy_labels"),
        input_kind="real",
        heads={"*": REAL_HEAD},
        formula=r"\ell = \frac{|\alpha - 2|}{\alpha}\left[\left(\frac{(x - y)^2 / c^2}"
        r"{|\alpha - 2|} + 1\right)^{\alpha/2} - 1\right]",
        derivative=r"\frac{\partial \ell}{\partial x} = \frac{x - y}{c^2}\left(\frac{(x - y)^2 "
        r"/ c^2}{|\alpha - 2|} + 1\right)^{\alpha/2 - 1}",
        derivative_fn=_robust_grad,
        properties=dict(
            nonnegative=True,
            zero_at_perfect=True,
            convex=When("alpha >= 1"),
            smooth=True,
            bounded=When("alpha < 0"),
            robust_to_outliers=When("alpha <= 1"),
            symmetric=True,
        ),
        references=("Barron, A General and Adaptive Robust Loss Function, CVPR 2019",),
        summary="One shape parameter alpha spans L2 (2), pseudo-Huber (1), Cauchy (0), "
        "Geman-McClure (-2) and Welsch (-inf).",
        when_to_use="Regression with outliers when the right amount of robustness is unknown: "
        "tune alpha (or learn it). alpha = 2 is MSE, the most outlier-sensitive; alpha <= 1 "
        "bounds the gradient (like Huber or log-cosh); alpha < 1 makes large errors' gradients "
        "vanish and alpha < 0 bounds the loss, which ignores gross outliers but is non-convex, "
        "so start from a reasonable fit. scale c sets the error size where the quadratic bowl "
        "ends.",
        sampler=REGRESSION,
        test_kwargs={"alpha": 1.0},
        notes="convex, bounded and robust_to_outliers depend on alpha (``losslab show "
        "general_robust_loss --param alpha=0``); the catalog's tests run at alpha = 1 (pseudo-Huber). "
        "Bounded needs alpha < 0 strictly: at alpha = 0 the Cauchy loss log(x^2/2 + 1) grows without "
        "bound (13.1 at |x| = 1e3, 26.9 at 1e6), while alpha = -0.5 stays below 5.",
    )
)
