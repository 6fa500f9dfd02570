"""Relative regression errors: squared log error (MSLE) and absolute percentage error (MAPE).

Part of the regression family (conventions in :mod:`losslab.losses.regression`); each function
carries its catalog entry and its input sampler (both need inputs the losses accept: > -1 for
MSLE, a target away from 0 for MAPE). Tested in ``tests/functional/test_regression.py``.
"""

from __future__ import annotations

import torch

from .._validation import (
    REDUCTION,
    WEIGHT_PER_ELEMENT,
    Param,
    content_checks_enabled,
    fail,
    loss_function,
)
from ..catalog._common import REAL_HEAD
from ..catalog._samplers import REGRESSION, D, N
from ..catalog._spec import Case, Head, Sampler
from ..functional._common import prepare_pair
from ._entry import entry
from .regression import _weighted_reduce

__all__ = ["msle_loss", "mape_loss"]


# -- squared log error ------------------------------------------------------------------------


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


def _msle_grad(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return 2 * (torch.log1p(x) - torch.log1p(y)) / (1 + x)


def _check_above_minus_one(name: str, arg: str, t: torch.Tensor) -> None:
    if not content_checks_enabled() or t.numel() == 0:
        return
    bad = ~(t.detach() > -1)
    if bool(bad.any()):
        fail(
            name,
            arg,
            "> -1 everywhere (log1p is undefined at and below -1)",
            float(t.detach()[bad][0]),
        )


@entry(
    module="MSLELoss",
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
@loss_function(reduction=REDUCTION, weight=WEIGHT_PER_ELEMENT)
def msle_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    reduction: str = "mean",
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Mean squared logarithmic error, :math:`\ell_i = w_i (\log(1 + x_i) - \log(1 + y_i))^2`.

    Penalises ratios rather than differences: predicting 2 for 1 costs as much as predicting 201
    for 101 (almost). Both ``input`` and ``target`` must be > -1; values at or below -1 raise
    ``ValueError`` (a content check, see :func:`losslab.set_content_checks`); nothing is
    clamped.

    Args:
        input: predictions > -1, any shape.
        target: values > -1, same shape as ``input``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.
        weight: optional per-element weight broadcast to ``input``; ``"mean"`` divides by the
            number of elements.

    Example:
        >>> import math, torch, losslab.functional as LF
        >>> LF.msle_loss(torch.tensor([math.e - 1, 0.0]), torch.tensor([0.0, 0.0]))
        tensor(0.5000)
    """
    name = "msle_loss"
    x, y = prepare_pair(name, input, target)
    _check_above_minus_one(name, "input", x)
    _check_above_minus_one(name, "target", y)
    loss = (torch.log1p(x) - torch.log1p(y)).square()
    return _weighted_reduce(name, loss, weight, reduction)


# -- absolute percentage error ----------------------------------------------------------------


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


def _mape_grad(x: torch.Tensor, y: torch.Tensor, *, eps: float) -> torch.Tensor:
    return torch.sign(x - y) / torch.clamp(y.abs(), min=eps)


@entry(
    module="MAPELoss",
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
@loss_function(
    reduction=REDUCTION,
    weight=WEIGHT_PER_ELEMENT,
    eps=Param("float", "floor on |target| in the denominator", gt=0),
)
def mape_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    eps: float = 1.17e-6,
    reduction: str = "mean",
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Mean absolute percentage error as a fraction, :math:`\ell_i = w_i |x_i - y_i| / \max(|y_i|, \varepsilon)`.

    The result is a **fraction, not a percentage**: a 10% error gives 0.1 (multiply by 100 for
    percent). ``eps`` is the floor of the denominator, so targets near 0 give very large (but
    finite) losses; MAPE is meant for targets bounded away from 0. The derivative (below) is
    taken as 0 at :math:`x = y`.

    Args:
        input: predictions, any shape.
        target: same shape as ``input``; should be away from 0.
        eps: floor on :math:`|y|` in the denominator (default 1.17e-6, as torchmetrics).
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.
        weight: optional per-element weight broadcast to ``input``; ``"mean"`` divides by the
            number of elements.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.mape_loss(torch.tensor([110.0, 45.0]), torch.tensor([100.0, 50.0]))
        tensor(0.1000)
    """
    name = "mape_loss"
    x, y = prepare_pair(name, input, target)
    loss = (x - y).abs() / y.abs().clamp_min(eps)
    return _weighted_reduce(name, loss, weight, reduction)
