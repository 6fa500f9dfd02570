"""Drop-ins for the regression losses of ``torch.nn.functional`` (squared, absolute, Huber,
smooth L1, Poisson and Gaussian NLL).

Same names, option names and semantics as torch, delegating to torch; what losslab adds
(validation, float32 for half inputs, a connected 0 for an empty ``"mean"``) is listed in
:mod:`losslab.functional._common`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from .._reduction import reduce_loss, upcast
from .._validation import (
    REDUCTION,
    WEIGHT_PER_ELEMENT,
    Param,
    check_in_range,
    check_tensor,
    fail,
    loss_function,
)
from ._common import element_weight, empty_mean_guard, prepare_pair

__all__ = [
    "mse_loss",
    "l1_loss",
    "mae_loss",
    "huber_loss",
    "smooth_l1_loss",
    "poisson_nll_loss",
    "gaussian_nll_loss",
]


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
    return empty_mean_guard(lambda r: fn(x, y, reduction=r, weight=w, **kw), reduction, x.numel() > 0)


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

    References:
        Gauss, *Theoria motus corporum coelestium*, 1809 (least squares).
    """
    x, y = prepare_pair("mse_loss", input, target)
    return _weighted_torch_loss(F.mse_loss, "mse_loss", x, y, weight, reduction, weight_sum_mean=True)


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

    References:
        Laplace, *Théorie analytique des probabilités*, 1812 (least absolute deviations).
    """
    x, y = prepare_pair("l1_loss", input, target)
    return _weighted_torch_loss(F.l1_loss, "l1_loss", x, y, weight, reduction, weight_sum_mean=True)


mae_loss = l1_loss


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

    References:
        Huber, "Robust Estimation of a Location Parameter", Annals of Mathematical Statistics 1964.
    """
    x, y = prepare_pair("huber_loss", input, target)
    return _weighted_torch_loss(
        F.huber_loss, "huber_loss", x, y, weight, reduction, weight_sum_mean=False, delta=delta
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

    References:
        Girshick, "Fast R-CNN", ICCV 2015.
    """
    x, y = prepare_pair("smooth_l1_loss", input, target)
    return empty_mean_guard(
        lambda r: F.smooth_l1_loss(x, y, reduction=r, beta=beta), reduction, x.numel() > 0
    )


@loss_function(
    reduction=REDUCTION,
    log_input=Param("bool", "whether 'input' is the log of the rate (else the rate itself)"),
    full=Param("bool", "add the Stirling approximation of log(y!)"),
    eps=Param("float", "added to the rate before the log when log_input=False", gt=0),
)
def poisson_nll_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    log_input: bool = True,
    full: bool = False,
    eps: float = 1e-8,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Poisson negative log-likelihood (drop-in for ``F.poisson_nll_loss``).

    With ``log_input=True`` (input :math:`x = \log\lambda`): :math:`\ell = e^x - y x`; with
    ``log_input=False`` (input :math:`\lambda`): :math:`\ell = \lambda - y \log(\lambda + \epsilon)`.
    ``full=True`` adds :math:`y\log y - y + \tfrac12\log(2\pi y)` for :math:`y > 1`. The constant
    :math:`\log y!` is dropped, so the loss is not 0 at a perfect prediction and can be negative.

    Args:
        input: log-rates (``log_input=True``) or rates >= 0, any shape.
        target: counts >= 0, same shape.
        log_input: see above.
        full: add the Stirling term.
        eps: > 0, keeps the log finite when ``log_input=False``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.poisson_nll_loss(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 2.0]), reduction="none")
        tensor([1.0000, 0.7183])

    References:
        Nelder and Wedderburn, "Generalized Linear Models", JRSS-A 1972.
    """
    name = "poisson_nll_loss"
    x, y = prepare_pair(name, input, target)
    check_in_range(name, "target", y, 0.0, float("inf"), "counts >= 0")
    if not log_input:
        check_in_range(name, "input", x, 0.0, float("inf"), "rates >= 0 when log_input=False")
    return empty_mean_guard(
        lambda r: F.poisson_nll_loss(x, y, log_input=log_input, full=full, eps=eps, reduction=r),
        reduction,
        x.numel() > 0,
    )


def _check_var(name: str, var: torch.Tensor | float, input: torch.Tensor) -> torch.Tensor | float:
    if not isinstance(var, torch.Tensor):
        if not isinstance(var, (int, float)) or isinstance(var, bool):
            fail(name, "var", "a floating-point tensor or a real number", var, kind=TypeError)
        if not var >= 0:
            fail(name, "var", "variances >= 0", var)
        return float(var)
    check_tensor(name, "var", var)
    shape, ins = tuple(var.shape), tuple(input.shape)
    if shape != ins and shape != ins[:-1] and not (shape[:-1] == ins[:-1] and shape[-1:] == (1,)):
        fail(name, "var", f"of shape {ins}, {ins[:-1]} or {(*ins[:-1], 1)}", f"shape {shape}")
    check_in_range(name, "var", var, 0.0, float("inf"), "variances >= 0")
    return upcast(var)


@loss_function(
    reduction=REDUCTION,
    full=Param("bool", "add the constant 0.5 * log(2 * pi)"),
    eps=Param("float", "lower clamp of the variance (the clamp does not block the gradient)", gt=0),
)
def gaussian_nll_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    var: torch.Tensor | float,
    *,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Gaussian negative log-likelihood (drop-in for ``F.gaussian_nll_loss``).

    :math:`\ell = \tfrac12\left(\log \max(v, \epsilon) + (x - y)^2 / \max(v, \epsilon)\right)`
    (+ :math:`\tfrac12\log 2\pi` with ``full=True``). Torch clamps the variance under
    ``no_grad``, so the gradient w.r.t. ``var`` still flows below ``eps``. ``"none"`` returns the
    loss with the shape of ``input`` (summed over the last dimension only when ``var`` has one
    entry per sample, as in torch). Can be negative (small variance, small error).

    Args:
        input: predicted means, any shape.
        target: same shape as ``input``.
        var: predicted variances >= 0: same shape as ``input``, or without its last dimension,
            or with last dimension 1, or a float (one variance for all).
        full: add the constant term.
        eps: > 0, lower clamp of the variance.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.gaussian_nll_loss(torch.tensor([1.0]), torch.tensor([3.0]), torch.tensor([4.0]))
        tensor(1.1931)

    References:
        Nix and Weigend, "Estimating the mean and variance of the target probability
        distribution", ICNN 1994.
    """
    name = "gaussian_nll_loss"
    x, y = prepare_pair(name, input, target)
    v = _check_var(name, var, x)
    return empty_mean_guard(
        lambda r: F.gaussian_nll_loss(x, y, v, full=full, eps=eps, reduction=r),
        reduction,
        x.numel() > 0,
    )
