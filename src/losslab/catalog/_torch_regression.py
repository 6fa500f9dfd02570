"""Catalog entries of the torch regression drop-ins (MSE, L1, Huber, smooth L1, Poisson, Gaussian)."""

from __future__ import annotations

import torch

from .. import functional as LF
from .. import nn as LN
from ._common import PROB_HEAD, REAL_HEAD
from ._registry import register
from ._samplers import GAUSSIAN_MEAN_VAR, POISSON_LOG_RATE, REGRESSION
from ._spec import Head, LossSpec, When

register(
    LossSpec(
        name="mse_loss",
        function=LF.mse_loss,
        module=LN.MSELoss,
        family="regression",
        tasks=("regression", "binary"),
        input_kind="real",
        heads={"regression": REAL_HEAD, "binary": PROB_HEAD},
        formula=r"\ell = (x - y)^2",
        derivative=r"\frac{\partial \ell}{\partial x} = 2(x - y)",
        derivative_fn=lambda x, y: 2 * (x - y),
        properties=dict(
            nonnegative=True,
            zero_at_perfect=True,
            convex=True,
            smooth=True,
            bounded=False,
            robust_to_outliers=False,
            symmetric=True,
        ),
        references=("Gauss, Theoria motus corporum coelestium, 1809",),
        summary="Squared error: the maximum-likelihood loss under Gaussian noise.",
        when_to_use="Regression with clean, roughly Gaussian noise. Squared errors make it the most "
        "outlier-sensitive of the common regression losses: a few corrupted targets dominate it. "
        "On a binary task it needs a sigmoid head and trains more slowly than BCE.",
        sampler=REGRESSION,
        drop_in_for="torch.nn.functional.mse_loss",
    )
)


register(
    LossSpec(
        name="l1_loss",
        function=LF.l1_loss,
        module=LN.L1Loss,
        family="regression",
        tasks=("regression",),
        input_kind="real",
        heads={"regression": REAL_HEAD},
        formula=r"\ell = |x - y|",
        derivative=r"\frac{\partial \ell}{\partial x} = \operatorname{sign}(x - y)",
        derivative_fn=lambda x, y: torch.sign(x - y),
        properties=dict(
            nonnegative=True,
            zero_at_perfect=True,
            convex=True,
            smooth=False,
            bounded=False,
            robust_to_outliers=True,
            symmetric=True,
        ),
        references=("Laplace, Théorie analytique des probabilités, 1812",),
        summary="Absolute error: estimates the conditional median.",
        when_to_use="Regression with heavy-tailed noise or outliers in the targets; gradients have "
        "constant size, so learning rates matter more near the optimum.",
        sampler=REGRESSION,
        aliases=("mae_loss",),
        drop_in_for="torch.nn.functional.l1_loss",
    )
)


def _huber_grad(x, y, *, delta=1.0, **_):
    return torch.clamp(x - y, -delta, delta)


register(
    LossSpec(
        name="huber_loss",
        function=LF.huber_loss,
        module=LN.HuberLoss,
        family="regression",
        tasks=("regression",),
        input_kind="real",
        heads={"regression": REAL_HEAD},
        formula=r"\ell = \begin{cases} \tfrac12 (x - y)^2 & |x - y| \le \delta \\ "
        r"\delta\,(|x - y| - \tfrac12\delta) & \text{otherwise} \end{cases}",
        derivative=r"\frac{\partial \ell}{\partial x} = \operatorname{clamp}(x - y, -\delta, \delta)",
        derivative_fn=_huber_grad,
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
            "Huber, Robust Estimation of a Location Parameter, Annals of Mathematical Statistics 1964",
        ),
        summary="Quadratic for small errors, linear for large ones: squared error with bounded influence.",
        when_to_use="Regression with occasional outliers in the targets: behaves like MSE near the "
        "optimum and like L1 in the tails. Choose delta on the scale of the inlier noise.",
        sampler=REGRESSION,
        drop_in_for="torch.nn.functional.huber_loss",
        notes="Differentiable once (the second derivative jumps at |x - y| = delta).",
    )
)


def _smooth_l1_grad(x, y, *, beta=1.0, **_):
    if beta == 0:
        return torch.sign(x - y)
    return torch.clamp((x - y) / beta, -1.0, 1.0)


register(
    LossSpec(
        name="smooth_l1_loss",
        function=LF.smooth_l1_loss,
        module=LN.SmoothL1Loss,
        family="regression",
        tasks=("regression",),
        input_kind="real",
        heads={"regression": REAL_HEAD, "*": Head("identity", "4", "box offsets in detection")},
        formula=r"\ell = \begin{cases} \frac{(x - y)^2}{2\beta} & |x - y| < \beta \\ "
        r"|x - y| - \tfrac12\beta & \text{otherwise} \end{cases}",
        derivative=r"\frac{\partial \ell}{\partial x} = \operatorname{clamp}\!\left(\frac{x - y}{\beta}, -1, 1\right)",
        derivative_fn=_smooth_l1_grad,
        properties=dict(
            nonnegative=True,
            zero_at_perfect=True,
            convex=True,
            smooth=When("beta > 0"),
            bounded=False,
            robust_to_outliers=True,
            symmetric=True,
        ),
        references=("Girshick, Fast R-CNN, ICCV 2015",),
        summary="Huber loss divided by its threshold: slope 1 in the tails whatever beta.",
        when_to_use="Bounding-box regression in detectors, and regression with outliers. Equals "
        "huber_loss(delta=beta) / beta; beta=0 gives L1 (then not smooth).",
        sampler=REGRESSION,
        drop_in_for="torch.nn.functional.smooth_l1_loss",
        notes="Properties are for beta > 0 (the default 1); with beta = 0 it is the L1 loss.",
    )
)


register(
    LossSpec(
        name="poisson_nll_loss",
        function=LF.poisson_nll_loss,
        module=LN.PoissonNLLLoss,
        family="regression",
        tasks=("regression",),
        input_kind="real",
        heads={"regression": Head("identity", "1", "the log of the rate (log_input=True)")},
        formula=r"\ell = e^{x} - y\,x \quad (x = \log\lambda)",
        derivative=r"\frac{\partial \ell}{\partial x} = e^{x} - y",
        derivative_fn=lambda x, y, **_: torch.exp(x) - y,
        properties=dict(
            nonnegative=False,
            zero_at_perfect=False,
            convex=True,
            smooth=True,
            bounded=False,
            robust_to_outliers=False,
            symmetric=False,
        ),
        references=("Nelder and Wedderburn, Generalized Linear Models, JRSS-A 1972",),
        summary="Negative log-likelihood of counts under a Poisson rate predicted in log space.",
        when_to_use="Count targets (events, clicks, photons) whose variance grows with the mean. "
        "The log-rate head keeps the rate positive; the exp makes large over-predictions costly.",
        sampler=POISSON_LOG_RATE,
        drop_in_for="torch.nn.functional.poisson_nll_loss",
        notes="log(y!) is dropped, so the minimum y - y log y is not 0 and is negative for y >= 3. "
        "Properties and derivative are for log_input=True (the default).",
    )
)


def _gaussian_grad(x, y, var, *, eps=1e-6, **_):
    v = torch.as_tensor(var, dtype=x.dtype)
    if v.dim() == x.dim() - 1:
        v = v.unsqueeze(-1)
    return (x - y) / v.clamp_min(eps)


register(
    LossSpec(
        name="gaussian_nll_loss",
        function=LF.gaussian_nll_loss,
        module=LN.GaussianNLLLoss,
        family="regression",
        tasks=("regression",),
        input_kind="real",
        heads={
            "regression": Head(
                "identity", "2", "a mean and a variance (softplus/exp for the variance)"
            )
        },
        formula=r"\ell = \tfrac12\left(\log \sigma^2 + \frac{(x - y)^2}{\sigma^2}\right),\ "
        r"\sigma^2 = \max(v, \epsilon)",
        derivative=r"\frac{\partial \ell}{\partial x} = \frac{x - y}{\max(v, \epsilon)}",
        derivative_fn=_gaussian_grad,
        properties=dict(
            nonnegative=When("eps >= 1 or (full == True and 2 * 3.141592653589793 * eps >= 1)"),
            zero_at_perfect=False,
            convex=True,
            smooth=True,
            bounded=False,
            robust_to_outliers=False,
            symmetric=True,
        ),
        references=(
            "Nix and Weigend, Estimating the mean and variance of the target probability distribution, ICNN 1994",
        ),
        summary="Negative log-likelihood of a Gaussian whose mean and variance are both predicted.",
        when_to_use="Regression that must also report its uncertainty (heteroscedastic noise). "
        "Learning the variance can let the model ignore hard points; watch for collapse.",
        sampler=GAUSSIAN_MEAN_VAR,
        drop_in_for="torch.nn.functional.gaussian_nll_loss",
        notes="Convexity and derivative are w.r.t. the mean at a fixed variance.",
    )
)
