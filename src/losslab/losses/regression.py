r"""Regression losses on the error :math:`x - y`: squared, absolute, Huber, smooth L1, quantile.

The torch drop-ins (``mse_loss``, ``l1_loss``/``mae_loss``, ``huber_loss``, ``smooth_l1_loss``)
keep torch's names, option names and semantics and delegate to torch; what losslab adds
(validation, float32 for half inputs, a connected 0 for an empty ``"mean"``) is listed in
:mod:`losslab.functional._common`. Each function carries its catalog entry (:func:`entry`).

The regression family spans four modules, split by what they compute: this one, the robust
losses with their own stable numerics (:mod:`.regression_robust`), the relative errors
(:mod:`.regression_relative`) and the likelihoods (:mod:`.regression_likelihood`); all are
tested in ``tests/functional/test_regression.py`` (torch parity: ``test_torch_dropins.py``).

Shared conventions (losslab's own losses here and in the other regression modules):

* ``input`` holds predictions (real values), ``target`` has the same shape;
* ``weight`` (keyword-only, optional) is a per-element weight broadcast to the per-element loss
  (never enlarging it); ``"mean"`` divides the weighted sum by the number of elements (the
  per-element rule of :mod:`losslab._reduction`) unless the function says otherwise;
* float16/bfloat16 inputs are computed in float32 (the result is float32);
* ``reduction="mean"`` over an empty batch returns 0 with the graph still connected.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from .._reduction import reduce_loss, upcast
from .._validation import REDUCTION, WEIGHT_PER_ELEMENT, Param, fail, loss_function
from ..catalog._common import PROB_HEAD, REAL_HEAD
from ..catalog._samplers import REGRESSION
from ..catalog._spec import Head, When
from ..functional._common import element_weight, empty_mean_guard, prepare_pair
from ._entry import entry

__all__ = ["mse_loss", "l1_loss", "mae_loss", "huber_loss", "smooth_l1_loss", "quantile_loss"]


def _weighted_torch_loss(
    fn: Callable[..., torch.Tensor],
    name: str,
    x: torch.Tensor,
    y: torch.Tensor,
    weight: torch.Tensor | None,
    reduction: str,
    *,
    weight_sum_mean: bool,
    **kw: Any,
) -> torch.Tensor:
    """Call torch's ``fn`` with the weight expanded to the input's shape (torch 2.13's
    ``mse_loss``/``l1_loss``/``huber_loss`` accept only a weight of exactly that shape).

    ``weight_sum_mean``: torch's ``"mean"`` divides by the sum of the weights (``mse_loss``,
    ``l1_loss``), else by the element count (``huber_loss``). The weighted ``"mean"`` is computed
    as torch's sum over ``reduce_loss``'s normaliser, so a total weight of 0 gives a connected 0
    rather than torch's NaN.
    """
    w = element_weight(name, weight, x)
    if w is not None:
        w = w.expand(x.shape)
    if w is not None and weight_sum_mean and reduction == "mean":
        total = fn(x, y, reduction="sum", weight=w, **kw)
        return reduce_loss(total, "mean", name=name, denominator=w.sum())
    return empty_mean_guard(
        lambda r: fn(x, y, reduction=r, weight=w, **kw), reduction, x.numel() > 0
    )


def _weighted_reduce(
    name: str, loss: torch.Tensor, weight: torch.Tensor | None, reduction: str
) -> torch.Tensor:
    """Multiply by a per-element weight (broadcast, never enlarging the loss) and reduce."""
    w = element_weight(name, weight, loss)
    if w is not None:
        loss = loss * w.to(loss.dtype)
    return reduce_loss(loss, reduction, name=name)


@entry(
    module="MSELoss",
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
    drop_in=torch.nn.MSELoss,
)
@loss_function(reduction=REDUCTION, weight=WEIGHT_PER_ELEMENT)
def mse_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    reduction: str = "mean",
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Mean squared error, :math:`\ell_i = w_i (x_i - y_i)^2` (drop-in for ``F.mse_loss``).

    Args:
        input: predictions, any shape.
        target: same shape as ``input``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.
        weight: optional per-element weight broadcast to ``input`` (never enlarging it). With a
            weight, ``"mean"`` is torch 2.13's weighted mean
            :math:`\sum_i w_i \ell_i / \sum_i w_i` over the elements of ``input`` (a broadcast
            weight counts once per element it covers; a total weight of 0 gives 0), not the
            element count of the unweighted mean (see :mod:`losslab._reduction`).

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.mse_loss(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 4.0]))
        tensor(2.)
    """
    x, y = prepare_pair("mse_loss", input, target)
    return _weighted_torch_loss(
        F.mse_loss, "mse_loss", x, y, weight, reduction, weight_sum_mean=True
    )


@entry(
    module="L1Loss",
    module_aliases=("MAELoss",),
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
    drop_in=torch.nn.L1Loss,
)
@loss_function(reduction=REDUCTION, weight=WEIGHT_PER_ELEMENT)
def l1_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    reduction: str = "mean",
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Mean absolute error, :math:`\ell_i = w_i |x_i - y_i|` (drop-in for ``F.l1_loss``).

    The derivative at :math:`x_i = y_i` is taken as 0 (torch's ``sign(0) = 0``).

    Args:
        input: predictions, any shape.
        target: same shape as ``input``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.
        weight: optional per-element weight broadcast to ``input`` (never enlarging it). With a
            weight, ``"mean"`` is torch 2.13's weighted mean
            :math:`\sum_i w_i \ell_i / \sum_i w_i` over the elements of ``input`` (a broadcast
            weight counts once per element it covers; a total weight of 0 gives 0), not the
            element count of the unweighted mean (see :mod:`losslab._reduction`).

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.l1_loss(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 4.0]))
        tensor(1.)
    """
    x, y = prepare_pair("l1_loss", input, target)
    return _weighted_torch_loss(F.l1_loss, "l1_loss", x, y, weight, reduction, weight_sum_mean=True)


mae_loss = l1_loss


def _huber_grad(x, y, *, delta, **_):
    return torch.clamp(x - y, -delta, delta)


@entry(
    module="HuberLoss",
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
    drop_in=torch.nn.HuberLoss,
    notes="Differentiable once (the second derivative jumps at |x - y| = delta).",
)
@loss_function(
    reduction=REDUCTION,
    delta=Param("float", "where the loss turns from quadratic to linear", gt=0),
    weight=WEIGHT_PER_ELEMENT,
)
def huber_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    reduction: str = "mean",
    delta: float = 1.0,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Huber loss (drop-in for ``F.huber_loss``).

    With :math:`e = x - y`: :math:`\ell = \tfrac12 e^2` if :math:`|e| \le \delta`, else
    :math:`\delta(|e| - \tfrac12\delta)`. Quadratic near 0, linear in the tails; the gradient
    :math:`\operatorname{clamp}(e, -\delta, \delta)` is continuous. Equals ``delta *
    smooth_l1_loss(beta=delta)``.

    Args:
        input: predictions, any shape.
        target: same shape as ``input``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.
        delta: threshold between the quadratic and linear parts, > 0.
        weight: optional per-element weight broadcast to ``input`` (never enlarging it);
            ``"mean"`` divides :math:`\sum_i w_i \ell_i` by the number of elements of ``input``
            (torch 2.13's arithmetic, unlike its ``mse_loss``/``l1_loss``; the rule of
            :mod:`losslab._reduction`).

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.huber_loss(torch.tensor([0.5, 3.0]), torch.tensor([0.0, 0.0]), reduction="none")
        tensor([0.1250, 2.5000])
    """
    x, y = prepare_pair("huber_loss", input, target)
    return _weighted_torch_loss(
        F.huber_loss, "huber_loss", x, y, weight, reduction, weight_sum_mean=False, delta=delta
    )


def _smooth_l1_grad(x, y, *, beta, **_):
    if beta == 0:
        return torch.sign(x - y)
    return torch.clamp((x - y) / beta, -1.0, 1.0)


@entry(
    module="SmoothL1Loss",
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
    drop_in=torch.nn.SmoothL1Loss,
    notes="Properties are for beta > 0 (the default 1); with beta = 0 it is the L1 loss.",
)
@loss_function(
    reduction=REDUCTION,
    beta=Param("float", "where the loss turns from quadratic to linear (0: L1)", ge=0),
)
def smooth_l1_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    reduction: str = "mean",
    beta: float = 1.0,
) -> torch.Tensor:
    r"""Smooth L1 loss (drop-in for ``F.smooth_l1_loss``).

    With :math:`e = x - y`: :math:`\ell = \tfrac{1}{2\beta} e^2` if :math:`|e| < \beta`, else
    :math:`|e| - \tfrac12\beta`. Its linear part has slope 1 whatever ``beta`` (Huber's has
    slope ``delta``); ``beta=0`` is the L1 loss.

    Args:
        input: predictions, any shape.
        target: same shape as ``input``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.
        beta: threshold, >= 0.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.smooth_l1_loss(torch.tensor([0.5, 3.0]), torch.tensor([0.0, 0.0]), reduction="none")
        tensor([0.1250, 2.5000])
    """
    x, y = prepare_pair("smooth_l1_loss", input, target)
    return empty_mean_guard(
        lambda r: F.smooth_l1_loss(x, y, reduction=r, beta=beta), reduction, x.numel() > 0
    )


# -- quantile (pinball) -----------------------------------------------------------------------


def _quantile_grad(x: torch.Tensor, y: torch.Tensor, *, quantile) -> torch.Tensor:
    tau = torch.as_tensor(quantile, dtype=x.dtype)
    u = y - x
    return torch.where(u > 0, -tau, torch.where(u < 0, 1 - tau, 0.5 - tau))


QUANTILE = Param(
    "float_or_tensor",
    "quantile level(s) in (0, 1): a float, or a 1-D tensor with one level per entry of the "
    "last dimension of 'input'",
    gt=0,
    lt=1,
    ndim=1,
)


@entry(
    module="QuantileLoss",
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
@loss_function(reduction=REDUCTION, weight=WEIGHT_PER_ELEMENT, quantile=QUANTILE)
def quantile_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    quantile: float | torch.Tensor = 0.5,
    reduction: str = "mean",
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Quantile (pinball) loss, :math:`\ell_i = w_i \max(\tau u_i, (\tau - 1) u_i)` with
    :math:`u_i = y_i - x_i`.

    Under-prediction (:math:`x < y`) costs :math:`\tau` per unit and over-prediction
    :math:`1 - \tau`, so the minimiser is the :math:`\tau`-quantile of the target distribution;
    :math:`\tau = 0.5` gives half the absolute error.

    At :math:`x = y` the derivative (below) is, by convention, the middle of the subdifferential
    :math:`[-\tau, 1 - \tau]`: 0 for :math:`\tau = 0.5`, matching ``l1_loss``.

    Args:
        input: predictions. With a tensor of quantiles, the last dimension holds one prediction
            per quantile level: shape (..., Q).
        target: same shape as ``input`` (repeat the target along the last dimension for
            several quantiles).
        quantile: a float in (0, 1), or a 1-D tensor of Q levels in (0, 1) with
            ``Q == input.shape[-1]``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.
        weight: optional per-element weight broadcast to ``input``; ``"mean"`` divides by the
            number of elements.

    Example:
        >>> import torch, losslab.functional as LF
        >>> y = torch.tensor([[1.0, 1.0, 1.0]])
        >>> LF.quantile_loss(torch.zeros(1, 3), y, quantile=torch.tensor([0.1, 0.5, 0.9]),
        ...                  reduction="none")
        tensor([[0.1000, 0.5000, 0.9000]])
    """
    name = "quantile_loss"
    x, y = prepare_pair(name, input, target)
    if isinstance(quantile, torch.Tensor):
        q_len = quantile.shape[0]
        if x.dim() == 0 or x.shape[-1] != q_len:
            have = "a 0-d input" if x.dim() == 0 else f"input.shape[-1] = {x.shape[-1]}"
            fail(
                name,
                "quantile",
                f"a float or a 1-D tensor whose length matches input.shape[-1] ({have})",
                quantile,
            )
        tau: float | torch.Tensor = upcast(quantile).to(dtype=x.dtype, device=x.device)
    else:
        tau = float(quantile)
    u = y - x
    # torch.maximum splits the gradient at a tie (u = 0): the subgradient 1/2 - tau.
    loss = torch.maximum(tau * u, (tau - 1.0) * u)
    return _weighted_reduce(name, loss, weight, reduction)
