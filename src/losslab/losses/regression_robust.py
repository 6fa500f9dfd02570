"""Smooth robust regression losses with their own stable numerics: log-cosh and Barron's loss.

Both have a fast path through the fused elementwise machinery (:mod:`losslab.functional._fused`)
and formulations that stay finite for any finite error. Part of the regression family
(conventions in :mod:`losslab.losses.regression`); tested in ``tests/functional/test_regression.py``.
"""

from __future__ import annotations

import functools
import math

import torch

from .._reduction import upcast
from .._validation import REDUCTION, WEIGHT_PER_ELEMENT, Param, check_broadcast, loss_function
from ..catalog._common import REAL_HEAD
from ..catalog._samplers import REGRESSION
from ..catalog._spec import When
from ..functional._common import prepare_pair
from ..functional._fused import fused_elementwise, plain_autograd_only, use_fused
from ._entry import entry
from .regression import _weighted_reduce

__all__ = ["log_cosh_loss", "general_robust_loss"]


_LOG2 = math.log(2.0)


def _as_hparam(name: str, arg: str, v: float | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A float or tensor hyperparameter as a tensor of ``like``'s dtype that broadcasts to it."""
    if isinstance(v, torch.Tensor):
        check_broadcast(name, arg, v, like.shape, "'input'")
        return upcast(v).to(dtype=like.dtype, device=like.device)
    return torch.tensor(float(v), dtype=like.dtype, device=like.device)


# -- log-cosh ---------------------------------------------------------------------------------


def _log_cosh_grad(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.tanh(x - y)


@entry(
    module="LogCoshLoss",
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
@loss_function(reduction=REDUCTION, weight=WEIGHT_PER_ELEMENT)
def log_cosh_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    reduction: str = "mean",
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Log-cosh loss of the error, weighted per element: :math:`w_i \log\cosh(x_i - y_i)`.

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
    """
    name = "log_cosh_loss"
    x, y = prepare_pair(name, input, target)
    if use_fused(reduction, x, y, weight=weight):
        return fused_elementwise(_log_cosh_kernel, x, (y,), reduction, weight)
    d = x - y
    # torch.func / forward-mode AD cannot run the custom Function: the formula, through autograd
    v = _log_cosh_value(d) if plain_autograd_only(d) else _LogCosh.apply(d)
    return _weighted_reduce(name, v, weight, reduction)


def _log_cosh_kernel(
    x: torch.Tensor, y: torch.Tensor, *, grad: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
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


def _barron_dz(
    z: torch.Tensor, za: torch.Tensor, h: torch.Tensor, alpha: float, b: float
) -> torch.Tensor:
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


def _robust_grad(x: torch.Tensor, y: torch.Tensor, *, alpha, scale) -> torch.Tensor:
    c = torch.as_tensor(scale, dtype=x.dtype)
    a = torch.as_tensor(alpha, dtype=x.dtype)
    z = (x - y) / c
    b = (a - 2).abs()
    power = torch.pow(z * z / b + 1, a / 2 - 1)  # the general case, alpha not in {2, 0, -inf}
    g = torch.where(a == 2, torch.ones_like(z), power)
    g = torch.where(a == 0, 1 / (0.5 * z * z + 1), g)
    g = torch.where(a == -math.inf, torch.exp(-0.5 * z * z), g)
    return z / c * g


@entry(
    module="GeneralRobustLoss",
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
    :math:`\alpha = -2` is :math:`2z^2/(z^2+4)`.

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
    """
    name = "general_robust_loss"
    x, y = prepare_pair(name, input, target)
    c = _as_hparam(name, "scale", scale, x)
    if (
        not isinstance(alpha, torch.Tensor)
        and not isinstance(scale, torch.Tensor)
        and use_fused(reduction, x, y, weight=weight)
    ):
        kernel = functools.partial(_barron_kernel, alpha=float(alpha), c=float(scale))
        return fused_elementwise(kernel, x, (y,), reduction, weight)
    z = (x - y) / c
    if isinstance(alpha, torch.Tensor):
        rho = _barron(z, _as_hparam(name, "alpha", alpha, x))
    else:  # a fixed shape: only its own branch is computed (measured several times faster)
        rho = _barron_fixed(z, float(alpha))
    return _weighted_reduce(name, rho, weight, reduction)
