"""Regression likelihoods (drop-ins for torch's): Poisson and Gaussian negative log-likelihood.

The model predicts a distribution's parameters (a log-rate; a mean and a variance). Same names,
option names and semantics as torch, delegating to torch (what losslab adds: see
:mod:`losslab.functional._common`). Part of the regression family; tested in
``tests/functional/test_regression.py`` and ``test_torch_dropins.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._reduction import upcast
from .._validation import REDUCTION, Param, check_in_range, check_tensor, fail, loss_function
from ..catalog._samplers import GAUSSIAN_MEAN_VAR, POISSON_LOG_RATE
from ..catalog._spec import Head, When
from ..functional._common import empty_mean_guard, prepare_pair
from ._entry import entry

__all__ = ["poisson_nll_loss", "gaussian_nll_loss"]


@entry(
    module="PoissonNLLLoss",
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
    drop_in=torch.nn.PoissonNLLLoss,
    notes="log(y!) is dropped, so the minimum y - y log y is not 0 and is negative for y >= 3. "
    "Properties and derivative are for log_input=True (the default).",
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


def _gaussian_grad(x, y, var, *, eps, **_):
    v = torch.as_tensor(var, dtype=x.dtype)
    if v.dim() == x.dim() - 1:
        v = v.unsqueeze(-1)
    return (x - y) / v.clamp_min(eps)


@entry(
    module="GaussianNLLLoss",
    family="regression",
    tasks=("regression",),
    input_kind="real",
    heads={
        "regression": Head("identity", "2", "a mean and a variance (softplus/exp for the variance)")
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
    drop_in=torch.nn.GaussianNLLLoss,
    notes="Convexity and derivative are w.r.t. the mean at a fixed variance.",
)
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
    """
    name = "gaussian_nll_loss"
    x, y = prepare_pair(name, input, target)
    v = _check_var(name, var, x)
    return empty_mean_guard(
        lambda r: F.gaussian_nll_loss(x, y, v, full=full, eps=eps, reduction=r),
        reduction,
        x.numel() > 0,
    )
