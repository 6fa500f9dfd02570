"""Regression losses beyond torch's: log-cosh, quantile (pinball), MSLE, MAPE, Barron's robust loss.

Shared conventions:

* ``input`` holds predictions (real values), ``target`` has the same shape;
* ``weight`` (keyword-only, optional) is a per-element weight broadcast to the per-element loss
  (never enlarging it); ``"mean"`` divides the weighted sum by the number of elements (the
  per-element rule of :mod:`losslab._reduction`);
* float16/bfloat16 inputs are computed in float32 (the result is float32);
* ``reduction="mean"`` over an empty batch returns 0 with the graph still connected.
"""

from __future__ import annotations

import functools
import math

import torch

from .._reduction import reduce_loss, upcast
from .._validation import (
    REDUCTION,
    WEIGHT_PER_ELEMENT,
    Param,
    check_broadcast,
    content_checks_enabled,
    fail,
    loss_function,
)
from ._common import element_weight, prepare_pair
from ._fused import fused_elementwise, plain_autograd_only, use_fused

__all__ = [
    "log_cosh_loss",
    "quantile_loss",
    "msle_loss",
    "mape_loss",
    "general_robust_loss",
]

_LOG2 = math.log(2.0)


def _weighted_reduce(
    name: str, loss: torch.Tensor, weight: torch.Tensor | None, reduction: str
) -> torch.Tensor:
    """Multiply by a per-element weight (broadcast, never enlarging the loss) and reduce."""
    w = element_weight(name, weight, loss)
    if w is not None:
        loss = loss * w.to(loss.dtype)
    return reduce_loss(loss, reduction, name=name)


def _as_hparam(name: str, arg: str, v: float | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A float or tensor hyperparameter as a tensor of ``like``'s dtype that broadcasts to it."""
    if isinstance(v, torch.Tensor):
        check_broadcast(name, arg, v, like.shape, "'input'")
        return upcast(v).to(dtype=like.dtype, device=like.device)
    return torch.tensor(float(v), dtype=like.dtype, device=like.device)


# -- log-cosh ---------------------------------------------------------------------------------


@loss_function(reduction=REDUCTION, weight=WEIGHT_PER_ELEMENT)
def log_cosh_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    reduction: str = "mean",
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Log-cosh loss, :math:`\ell_i = w_i \log\cosh(x_i - y_i)`; derivative :math:`\tanh(x_i - y_i)`.

    Behaves like :math:`d^2/2` for small errors and like :math:`|d| - \log 2` for large ones,
    with a gradient bounded by 1. It is computed without ever forming :math:`\cosh d` for large
    :math:`|d|`: :math:`\log(1 + 2\sinh^2(d/2))` for :math:`|d| \le 1` (accurate for tiny errors)
    and :math:`|d| + \log(1 + e^{-2|d|}) - \log 2` otherwise, so it is finite for any finite
    error (the textbook ``log((exp(d) + exp(-d)) / 2)`` overflows at :math:`|d| \approx 89` in
    float32).

    Args:
        input: predictions, any shape.
        target: same shape as ``input``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.
        weight: optional per-element weight broadcast to ``input``; ``"mean"`` divides by the
            number of elements.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.log_cosh_loss(torch.tensor([0.0, 1.0, 1e4]), torch.tensor([0.0, 0.0, 0.0]),
        ...                  reduction="none")
        tensor([0.0000e+00, 4.3378e-01, 9.9993e+03])

    References:
        Chen, Tian, Zheng, "Log Hyperbolic Cosine Loss Improves Variational Auto-Encoder",
        ICLR 2019 submission; Saleh and Saleh, "Statistical Properties of the log-cosh Loss
        Function Used in Machine Learning", arXiv:2208.04564, 2022.
    """
    name = "log_cosh_loss"
    x, y = prepare_pair(name, input, target)
    if use_fused(reduction, x, y, weight=weight):
        return fused_elementwise(_log_cosh_kernel, x, (y,), reduction, weight)
    d = x - y
    # torch.func / forward-mode AD cannot run the custom Function: the formula, through autograd
    v = _log_cosh_value(d) if plain_autograd_only(d) else _LogCosh.apply(d)
    return _weighted_reduce(name, v, weight, reduction)


def _log_cosh_kernel(x: torch.Tensor, y: torch.Tensor, *, grad: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """log cosh(x - y) and its derivative tanh(x - y) (the fast path; see ``_fused``)."""
    d = x - y
    if bool(d.abs().amax() < _LOG_COSH_NEAR):  # typical chunk: the near formula serves every entry
        v = torch.log1p(torch.sinh(0.5 * d).square_().mul_(2.0))
    else:
        v = _log_cosh_value(d)
    return v, (torch.tanh(d) if grad else None)


#: Below this |d|, log1p(2 sinh(d/2)^2) neither overflows nor loses accuracy (exact identity).
_LOG_COSH_NEAR = 20.0


def _log_cosh_value(d: torch.Tensor) -> torch.Tensor:
    """log cosh(d), accurate for tiny |d| and finite for any finite d (no autograd needed)."""
    a = d.abs()
    small = a <= 1.0
    near = torch.log1p(2.0 * torch.sinh(0.5 * torch.where(small, d, 0.0)).square())
    far = a + torch.log1p(torch.exp(-2.0 * a)) - _LOG2
    return torch.where(small, near, far)


class _LogCosh(torch.autograd.Function):
    """log cosh with the gradient tanh(d): saves only d (the plain autograd graph of the two-branch
    formula keeps several tensors per branch and was measured about 4x slower). Differentiable
    twice: backward is made of differentiable torch ops on the saved input."""

    @staticmethod
    def forward(ctx, d: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(d)
        return _log_cosh_value(d)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (d,) = ctx.saved_tensors
        return grad * torch.tanh(d)


# -- quantile (pinball) -----------------------------------------------------------------------

QUANTILE = Param(
    "float_or_tensor",
    "quantile level(s) in (0, 1): a float, or a 1-D tensor with one level per entry of the "
    "last dimension of 'input'",
    gt=0,
    lt=1,
    ndim=1,
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

    Derivative w.r.t. the input: :math:`-\tau` where :math:`x < y`, :math:`1 - \tau` where
    :math:`x > y`, and, by convention, :math:`\tfrac12 - \tau` at :math:`x = y` (the middle of the
    subdifferential :math:`[-\tau, 1 - \tau]`; for :math:`\tau = 0.5` this is 0, matching
    ``l1_loss``).

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

    References:
        Koenker and Bassett, "Regression Quantiles", Econometrica 1978.
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


# -- squared log error ------------------------------------------------------------------------


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
    clamped. Derivative w.r.t. the input: :math:`2(\log(1+x) - \log(1+y)) / (1 + x)`.

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

    References:
        Keras ``MeanSquaredLogarithmicError``; scikit-learn ``mean_squared_log_error``
        (Pedregosa et al., "Scikit-learn: Machine Learning in Python", JMLR 2011).
    """
    name = "msle_loss"
    x, y = prepare_pair(name, input, target)
    _check_above_minus_one(name, "input", x)
    _check_above_minus_one(name, "target", y)
    loss = (torch.log1p(x) - torch.log1p(y)).square()
    return _weighted_reduce(name, loss, weight, reduction)


# -- absolute percentage error ----------------------------------------------------------------


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
    finite) losses; MAPE is meant for targets bounded away from 0. Derivative w.r.t. the input:
    :math:`\operatorname{sign}(x - y) / \max(|y|, \varepsilon)`, taken as 0 at :math:`x = y`.

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

    References:
        de Myttenaere, Golden, Le Grand, Rossi, "Mean Absolute Percentage Error for regression
        models", Neurocomputing 2016.
    """
    name = "mape_loss"
    x, y = prepare_pair(name, input, target)
    loss = (x - y).abs() / y.abs().clamp_min(eps)
    return _weighted_reduce(name, loss, weight, reduction)


# -- Barron's general robust loss -------------------------------------------------------------


def _exprel(t: torch.Tensor) -> torch.Tensor:
    """expm1(t) / t, equal to 1 at t = 0, with accurate values and derivatives for tiny |t|."""
    small = t.abs() < 1e-3
    ts = torch.where(small, torch.ones_like(t), t)
    series = 1 + t * (0.5 + t * (1 / 6 + t / 24))  # truncation error < t^4/120 < 1e-14
    return torch.where(small, series, torch.expm1(ts) / ts)


def _log1p_square(u: torch.Tensor) -> torch.Tensor:
    """log(1 + u^2) for u >= 0 without forming u^2 when it is large (no overflow)."""
    big = u > 1
    ub = torch.where(big, u, torch.ones_like(u))
    us = torch.where(big, torch.zeros_like(u), u)
    return torch.where(
        big, 2 * torch.log(ub) + torch.log1p(ub.reciprocal().square()), torch.log1p(us.square())
    )


def _barron(z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """rho(z, alpha) (tensors broadcasting together); exact special cases.

    The general case is written as ``b * h * exprel(alpha * h)`` with ``b = |alpha - 2|`` and
    ``h = log1p(z^2 / b) / 2``, which equals ``b / alpha * expm1(alpha * h)`` but never divides
    by alpha, so alpha next to 0 (even subnormal) stays finite, with finite gradients; ``z^2`` is
    not formed where it would overflow.
    """
    is2, is0, isninf = a == 2, a == 0, a == -math.inf
    special = is2 | is0 | isninf
    # the general branch gets alpha = 1 where alpha is special, so it stays finite there and
    # torch.where passes no NaN/inf into any gradient (w.r.t. input, alpha or scale)
    a_s = torch.where(special, torch.ones_like(a), a)
    b = (a_s - 2).abs()
    za = z.abs()
    h = 0.5 * _log1p_square(za * torch.rsqrt(b))
    general = b * h * _exprel(a_s * h)
    z2 = z * z  # (not square(): its backward forms 2z, which overflows first)
    out = torch.where(isninf, -torch.expm1(-0.5 * z2), general)
    out = torch.where(is0, _log1p_square(za * math.sqrt(0.5)), out)
    return torch.where(is2, 0.5 * z2, out)


def _barron_fixed(z: torch.Tensor, alpha: float) -> torch.Tensor:
    """rho(z, alpha) for a Python-float alpha: the same formulas as :func:`_barron`, one branch."""
    if alpha == 2:
        return 0.5 * (z * z)
    za = z.abs()
    if alpha == 0:
        return _log1p_square(za * math.sqrt(0.5))
    if alpha == -math.inf:
        return -torch.expm1(-0.5 * (z * z))
    b = abs(alpha - 2)
    h = 0.5 * _log1p_square(za * (1 / math.sqrt(b)))
    if abs(alpha) < 1e-3:  # exprel keeps tiny alpha accurate (no division by alpha)
        return b * h * _exprel(alpha * h)
    return (b / alpha) * torch.expm1(alpha * h)


def _log1p_square_fast(u: torch.Tensor) -> torch.Tensor:
    """log(1 + u^2): directly when no u^2 overflows (one reduction to check), else the safe form."""
    sq = u * u
    if bool(sq.amax() <= torch.finfo(u.dtype).max):
        return torch.log1p(sq)
    return _log1p_square(u)


def _barron_kernel(
    x: torch.Tensor, y: torch.Tensor, *, alpha: float, c: float, grad: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    r"""rho((x - y)/c, alpha) for a fixed alpha and its derivative w.r.t. x (the fast path).

    :math:`\rho'(z) = z\,(1 + z^2/b)^{\alpha/2 - 1} = z\,e^{(\alpha-2)h}` with
    :math:`h = \tfrac12\log(1 + z^2/b)`, :math:`b = |\alpha - 2|` (so :math:`z` at alpha = 2,
    :math:`2z/(z^2+2)` at 0, :math:`z e^{-z^2/2}` at -inf), divided by :math:`c`.
    """
    z = (x - y) / c
    if alpha == 2:
        return 0.5 * (z * z), (z / c if grad else None)
    if alpha == -math.inf:
        m = -0.5 * (z * z)
        d = z * torch.exp(m) if grad else None
        if d is not None and not bool(torch.isfinite(z).all()):
            d = torch.where(torch.isinf(z), 0.0, d)  # the limit, not inf * 0
        return -torch.expm1(m), (None if d is None else d / c)
    if alpha == 1:  # pseudo-Huber: sqrt(1 + z^2) - 1 = z^2 / (sqrt(1 + z^2) + 1), no cancellation
        z2 = z * z
        if bool(z2.amax() <= torch.finfo(z.dtype).max):
            root = z2.add(1).sqrt_()
            return z2 / (root + 1), (z / root / c if grad else None)
    za = z.abs()
    if alpha == 0:
        rho = _log1p_square_fast(za * math.sqrt(0.5))
        return rho, (_barron_dz(z, za, 0.5 * rho, alpha, 2.0) / c if grad else None)
    b = abs(alpha - 2)
    h = 0.5 * _log1p_square_fast(za * (1 / math.sqrt(b)))
    if abs(alpha) < 1e-3:  # exprel keeps tiny alpha accurate (no division by alpha)
        rho = b * h * _exprel(alpha * h)
    else:
        rho = (b / alpha) * torch.expm1(alpha * h)
    return rho, (_barron_dz(z, za, h, alpha, b) / c if grad else None)


def _barron_dz(z: torch.Tensor, za: torch.Tensor, h: torch.Tensor, alpha: float, b: float) -> torch.Tensor:
    """d rho / dz = z exp((alpha - 2) h), h = log(1 + z^2/b) / 2, for finite alpha < 2.

    Directly while the exponential stays a normal float (one reduction checks the chunk); else
    as sign(z) exp(log|z| + (alpha - 2) h), which neither underflows nor forms inf * 0, with the
    limits at |z| = inf (0 for alpha < 1, sign(z) for alpha = 1, inf for 1 < alpha < 2).
    """
    if bool((2 - alpha) * h.amax() < 60):
        return z * torch.exp((alpha - 2) * h)
    log_za = torch.log(za)
    # where |z|/sqrt(b) overflowed, h = log|z| - log(b)/2 (+ a term below float resolution)
    h = torch.where(torch.isinf(h) & torch.isfinite(za), log_za - 0.5 * math.log(b), h)
    d = torch.copysign(torch.exp(log_za + (alpha - 2) * h), z)
    limit = 0.0 if alpha < 1 else (1.0 if alpha == 1 else math.inf)
    return torch.where(torch.isinf(z), torch.copysign(torch.full_like(z, limit), z), d)


@loss_function(
    reduction=REDUCTION,
    weight=WEIGHT_PER_ELEMENT,
    alpha=Param(
        "float_or_tensor",
        "shape parameter: 2 = L2, 1 = pseudo-Huber, 0 = Cauchy, -2 = Geman-McClure, "
        "-inf = Welsch; a tensor must broadcast to 'input'",
        lt=math.inf,
        allow_inf=True,
    ),
    scale=Param("float_or_tensor", "scale c of the quadratic bowl near 0", gt=0),
)
def general_robust_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    alpha: float | torch.Tensor,
    scale: float | torch.Tensor = 1.0,
    reduction: str = "mean",
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Barron's general robust loss, one shape parameter spanning L2, pseudo-Huber, Cauchy, ...

    With :math:`z = (x - y)/c`:

    .. math::
        \rho(z, \alpha) = \frac{|\alpha - 2|}{\alpha}
            \left[\left(\frac{z^2}{|\alpha - 2|} + 1\right)^{\alpha/2} - 1\right],

    computed with ``expm1``/``log1p`` as
    :math:`|\alpha-2|\, h\, \frac{e^{\alpha h} - 1}{\alpha h}` where
    :math:`h = \tfrac12 \mathrm{log1p}(z^2/|\alpha-2|)` (no division by :math:`\alpha`), with the
    limits used exactly: :math:`\alpha = 2` gives :math:`z^2/2`, :math:`\alpha = 0` gives
    :math:`\log(z^2/2 + 1)` and :math:`\alpha = -\infty` gives :math:`1 - e^{-z^2/2}`;
    :math:`\alpha = 1` is :math:`\sqrt{z^2+1} - 1` and
    :math:`\alpha = -2` is :math:`2z^2/(z^2+4)`. Derivative w.r.t. the input:
    :math:`\frac{z}{c}\,(z^2/|\alpha-2| + 1)^{\alpha/2 - 1}`.

    How the shape depends on :math:`\alpha`: always nonnegative, 0 at a perfect prediction,
    smooth and symmetric; convex iff :math:`\alpha \ge 1`; bounded (by
    :math:`|\alpha-2|/|\alpha|`) iff :math:`\alpha < 0`; bounded gradient (robust to outliers)
    iff :math:`\alpha \le 1`, and the gradient vanishes for large errors iff :math:`\alpha < 1`.
    For :math:`\alpha > 2` the loss grows like :math:`|z|^\alpha` and can overflow.

    ``alpha`` and ``scale`` may be tensors broadcasting to ``input`` (e.g. learned per-channel
    values for the adaptive version); gradients w.r.t. the input, ``alpha`` and ``scale`` are
    finite wherever the loss is (also for alpha next to 0 or 2, and for errors whose square
    overflows). At exactly the special values 2, 0 and -inf the gradient w.r.t. ``alpha`` is
    reported as 0.

    Args:
        input: predictions, any shape.
        target: same shape as ``input``.
        alpha: shape parameter, a real number in [-inf, inf) or a tensor of them. Required.
        scale: :math:`c > 0`, a float or a tensor broadcasting to ``input``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.
        weight: optional per-element weight broadcast to ``input``; ``"mean"`` divides by the
            number of elements.

    Example:
        >>> import torch, losslab.functional as LF
        >>> x, y = torch.tensor([0.0, 1.0, 3.0]), torch.zeros(3)
        >>> LF.general_robust_loss(x, y, alpha=1.0, reduction="none")
        tensor([0.0000, 0.4142, 2.1623])
        >>> LF.general_robust_loss(x, y, alpha=float("-inf"), reduction="none")
        tensor([0.0000, 0.3935, 0.9889])

    References:
        Barron, "A General and Adaptive Robust Loss Function", CVPR 2019.
    """
    name = "general_robust_loss"
    x, y = prepare_pair(name, input, target)
    c = _as_hparam(name, "scale", scale, x)
    if (not isinstance(alpha, torch.Tensor) and not isinstance(scale, torch.Tensor)
            and use_fused(reduction, x, y, weight=weight)):
        kernel = functools.partial(_barron_kernel, alpha=float(alpha), c=float(scale))
        return fused_elementwise(kernel, x, (y,), reduction, weight)
    z = (x - y) / c
    if isinstance(alpha, torch.Tensor):
        rho = _barron(z, _as_hparam(name, "alpha", alpha, x))
    else:  # a fixed shape: only its own branch is computed (measured several times faster)
        rho = _barron_fixed(z, float(alpha))
    return _weighted_reduce(name, rho, weight, reduction)
