r"""Barron's adaptive robust loss: the general loss as a negative log-likelihood with learned shape.

Barron's general loss :math:`\rho(z, \alpha)` (:func:`losslab.functional.general_robust_loss`)
turns into a probability density on the real line,

.. math::
    p(x \mid \alpha, c) = \frac{1}{c\, Z(\alpha)} \exp\!\big(-\rho(x / c, \alpha)\big), \qquad
    Z(\alpha) = \int_{-\infty}^{\infty} e^{-\rho(z, \alpha)}\, dz,

defined for :math:`\alpha \ge 0` (for :math:`\alpha < 0` the loss is bounded and the integral
diverges). Its negative log-likelihood :math:`\rho(x/c, \alpha) + \log c + \log Z(\alpha)` can be
minimised over :math:`\alpha` and :math:`c` as well as over the model: the :math:`\log c` and
:math:`\log Z` terms stop the optimiser from simply making the loss flat or wide, so :math:`\alpha`
ends where the residuals' tails are: small (Cauchy-like, robust) for heavy tails, near 2
(Gaussian) for light ones.

:math:`\log Z(\alpha)` has no closed form. Here it is integrated numerically once (``scipy``'s
``quad``, in float64, on first use) at 201 knots, and a cubic spline through the knots is evaluated
in torch as a cubic Hermite interpolant, so :math:`\log Z` and its derivative in :math:`\alpha` are
continuous. :math:`\log Z` behaves like :math:`b \log b` with :math:`b = 2 - \alpha` next to
:math:`\alpha = 2` (its slope grows without bound there), so the knots are uniform in
:math:`u = \sqrt{2 - \alpha}`, where the function is smooth enough for a spline; this puts more
knots near 2. Maximum interpolation error over :math:`\alpha \in [0, 2]`: about
:math:`1.2 \cdot 10^{-5}` (largest near :math:`\alpha = 0.005`; about :math:`2 \cdot 10^{-6}` for
:math:`\alpha \ge 0.1`), checked against ``quad`` at off-grid values in the tests.

Reference: Barron, "A General and Adaptive Robust Loss Function", CVPR 2019.
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
    check_tensor,
    content_checks_enabled,
    fail,
)
from ..functional import general_robust_loss
from ..functional._common import element_weight

__all__ = ["AdaptiveRobustLoss"]

#: supported shape parameters: the density exists for alpha >= 0; the table stops at 2
ALPHA_MIN, ALPHA_MAX = 0.0, 2.0
#: number of knots of the log Z table (uniform in u = sqrt(2 - alpha))
NUM_KNOTS = 201
#: stated bound on |interpolated log Z - numerically integrated log Z| over [0, 2]
LOG_Z_MAX_ERROR = 2e-5
_LOG_Z_AT_2 = 0.5 * math.log(2 * math.pi)  # Gaussian: rho = z^2 / 2


# -- log Z(alpha) ------------------------------------------------------------------------------


def _rho_np(x, alpha: float):  # type: ignore[no-untyped-def]
    """rho(x, alpha) in float64 numpy for the quadrature (exact limits at 0 and 2)."""
    import numpy as np

    if alpha == 0.0:
        return np.log1p(0.5 * x * x)
    if alpha == 2.0:
        return 0.5 * x * x
    b = abs(alpha - 2.0)
    return b / alpha * np.expm1(0.5 * alpha * np.log1p(x * x / b))


def integrate_log_partition(alpha: float) -> float:
    """log Z(alpha) by adaptive quadrature (float64; relative accuracy about 1e-12)."""
    import numpy as np
    from scipy import integrate

    if not ALPHA_MIN <= alpha <= ALPHA_MAX:
        fail("log_partition", "alpha", f"in [{ALPHA_MIN:g}, {ALPHA_MAX:g}]", alpha)

    def f(x: float) -> float:
        return float(np.exp(-_rho_np(x, alpha)))

    # symmetric integrand; split where the shape changes so quad resolves the core and the tail
    total = sum(
        integrate.quad(f, lo, hi, epsabs=0.0, epsrel=1e-12, limit=200)[0]
        for lo, hi in ((0.0, 1.0), (1.0, 10.0), (10.0, math.inf))
    )
    return math.log(2.0 * total)


@functools.lru_cache(maxsize=1)
def _table() -> tuple[float, torch.Tensor, torch.Tensor]:
    """(knot spacing in u, log Z at the knots, d log Z / du at the knots), float64."""
    import numpy as np
    from scipy.interpolate import CubicSpline

    u = np.linspace(0.0, math.sqrt(ALPHA_MAX - ALPHA_MIN), NUM_KNOTS)
    alphas = np.clip(2.0 - u * u, ALPHA_MIN, ALPHA_MAX)
    alphas[0], alphas[-1] = 2.0, 0.0  # exact ends (no rounding)
    values = np.array([integrate_log_partition(float(a)) for a in alphas])
    spline = CubicSpline(u, values)  # not-a-knot: C2, no invented end slopes
    slopes = spline(u, 1)
    return float(u[1] - u[0]), torch.from_numpy(values), torch.from_numpy(slopes)


def log_partition(alpha: torch.Tensor) -> torch.Tensor:
    r""":math:`\log Z(\alpha)` for :math:`\alpha \in [0, 2]`, differentiable in ``alpha``.

    Interpolated from a table integrated numerically on first use (see the module docstring;
    maximum error about :math:`1.2 \cdot 10^{-5}`). At exactly :math:`\alpha = 2` the exact value
    :math:`\tfrac12\log 2\pi` is returned with gradient 0 (the true slope diverges like
    :math:`\log(2 - \alpha)` there); everywhere else in :math:`[0, 2)` the gradient is finite and
    continuous. Values outside :math:`[0, 2]` raise ``ValueError`` while content checks are on.

    Example:
        >>> import torch
        >>> from losslab.nn._adaptive import log_partition
        >>> log_partition(torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64))
        tensor([1.4913, 1.1855, 0.9189], dtype=torch.float64)
    """
    check_tensor("log_partition", "alpha", alpha)
    if content_checks_enabled() and alpha.numel():
        a = alpha.detach()
        if not bool(((a >= ALPHA_MIN) & (a <= ALPHA_MAX)).all()):
            bad = a[~((a >= ALPHA_MIN) & (a <= ALPHA_MAX))][0]
            fail("log_partition", "alpha", f"in [{ALPHA_MIN:g}, {ALPHA_MAX:g}]", float(bad))
    h, values, slopes = _table()
    values, slopes = values.to(alpha.device), slopes.to(alpha.device)
    a64 = upcast(alpha).double()
    b = ALPHA_MAX - a64
    inside = b > 0
    # sqrt's slope is infinite at 0: the alpha = 2 entries take the exact branch instead
    u = torch.sqrt(torch.where(inside, b, torch.ones_like(b)))
    s = u / h
    i = s.detach().floor().clamp(0, NUM_KNOTS - 2).long()
    t = s - i
    t2, t3 = t * t, t * t * t
    y0, y1 = values[i], values[i + 1]
    m0, m1 = slopes[i] * h, slopes[i + 1] * h
    g = (
        (2 * t3 - 3 * t2 + 1) * y0
        + (t3 - 2 * t2 + t) * m0
        + (3 * t2 - 2 * t3) * y1
        + (t3 - t2) * m1
    )
    out = torch.where(inside, g, torch.full_like(g, _LOG_Z_AT_2))
    return out.to(upcast(alpha).dtype)


def adaptive_robust_nll(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    alpha: torch.Tensor,
    scale: torch.Tensor,
    reduction: str = "mean",
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Negative log-likelihood of Barron's distribution: :math:`\rho(r/c, \alpha) + \log c + \log Z(\alpha)`.

    ``r = input - target``; ``alpha`` (in [0, 2]) and ``scale`` (> 0) are tensors broadcasting to
    ``input`` (typically one value per last-dimension channel). ``weight`` (broadcasting to
    ``input`` without enlarging it) multiplies the per-element values; ``"mean"`` divides by the
    number of elements (the rule of :mod:`losslab._reduction`).
    """
    name = "adaptive_robust_nll"
    REDUCTION.check(name, "reduction", reduction)
    WEIGHT_PER_ELEMENT.check(name, "weight", weight)
    rho = general_robust_loss(input, target, alpha=alpha, scale=scale, reduction="none")
    a = upcast(alpha).to(rho.dtype)
    loss = rho + torch.log(upcast(scale).to(rho.dtype)) + log_partition(a)
    weight = element_weight(name, weight, loss)
    if weight is not None:
        loss = loss * weight.to(loss.dtype)
    return reduce_loss(loss, reduction, name=name)


# -- the module --------------------------------------------------------------------------------

_NAME = "AdaptiveRobustLoss"
_NUM_DIMS = Param("int", "number of output dimensions (last axis of 'input')", ge=1)
_ALPHA_BOUND = Param("float", "a bound on the learned alpha", ge=ALPHA_MIN, le=ALPHA_MAX)
_SCALE_LO = Param("float", "smallest scale", gt=0)
_SCALE_INIT = Param("float", "initial scale", gt=0)


def _inverse_softplus(y: float) -> float:
    """x with softplus(x) = y > 0, stable for small and large y."""
    return y + math.log(-math.expm1(-y))


class AdaptiveRobustLoss(torch.nn.Module):
    r"""Barron's general loss with :math:`\alpha` and scale :math:`c` learned per output dimension.

    The loss of an element :math:`r = x - y` in output dimension :math:`d` is the negative
    log-likelihood

    .. math::
        \ell = \rho(r / c_d, \alpha_d) + \log c_d + \log Z(\alpha_d),

    with :math:`\rho` from :func:`losslab.functional.general_robust_loss` and :math:`\log Z`
    interpolated from a numerically integrated table (maximum error about
    :math:`1.2 \cdot 10^{-5}`; see :func:`log_partition`). Put the module's parameters in the
    optimiser together with the model's.

    Parameterisation (unconstrained latent values, so any optimiser step keeps the constraints):
    :math:`\alpha_d` = ``alpha_lo + (alpha_hi - alpha_lo) * sigmoid(latent_alpha_d)``, which never
    leaves ``[alpha_lo, alpha_hi]``; :math:`c_d` = ``softplus(latent_scale_d) + scale_lo``, which
    stays above ``scale_lo``. The latent values start where :math:`\alpha` equals ``alpha_init``
    (default: the middle of the range) and :math:`c` equals ``scale_init``. With
    ``alpha_lo == alpha_hi`` alpha is fixed (a buffer, not a parameter). Freezing a latent
    parameter (``requires_grad_(False)``) fixes that quantity; the loss is then the fixed general
    loss plus the constant :math:`\log c + \log Z(\alpha)`.

    Gradients are finite for zero and very large residuals and at the ends of the alpha range.
    Read the learned values with :meth:`alpha` and :meth:`scale`.

    Args:
        num_dims: size of the last axis of ``input`` (one alpha and one scale each).
        alpha_lo, alpha_hi: range of alpha, ``0 <= alpha_lo <= alpha_hi <= 2``.
        alpha_init: initial alpha, strictly inside ``(alpha_lo, alpha_hi)`` (or equal to both).
        scale_lo: lower bound of the scale, ``> 0``.
        scale_init: initial scale, ``> scale_lo``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Shapes: ``input`` and ``target`` ``(..., num_dims)``; optional ``weight`` broadcasting to
    them; output per element for ``"none"``.

    Example:
        >>> import torch
        >>> from losslab.nn import AdaptiveRobustLoss
        >>> loss_fn = AdaptiveRobustLoss(2, alpha_init=1.0, scale_init=1.0)
        >>> loss_fn.alpha().tolist(), loss_fn.scale().tolist()
        ([1.0, 1.0], [1.0, 1.0])
        >>> round(float(loss_fn(torch.zeros(4, 2), torch.zeros(4, 2)).detach()), 4)  # log Z(1)
        1.1855

    References:
        Barron, "A General and Adaptive Robust Loss Function", CVPR 2019.
    """

    def __init__(
        self,
        num_dims: int,
        *,
        alpha_lo: float = 0.001,
        alpha_hi: float = 1.999,
        alpha_init: float | None = None,
        scale_lo: float = 1e-5,
        scale_init: float = 1.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        _NUM_DIMS.check(_NAME, "num_dims", num_dims)
        _ALPHA_BOUND.check(_NAME, "alpha_lo", alpha_lo)
        _ALPHA_BOUND.check(_NAME, "alpha_hi", alpha_hi)
        if alpha_hi < alpha_lo:
            fail(_NAME, "alpha_hi", f">= alpha_lo = {alpha_lo!r}", alpha_hi)
        if alpha_init is None:
            alpha_init = 0.5 * (alpha_lo + alpha_hi)
        Param("float", "initial alpha").check(_NAME, "alpha_init", alpha_init)
        fixed_alpha = alpha_lo == alpha_hi
        if fixed_alpha and alpha_init != alpha_lo:
            fail(_NAME, "alpha_init", f"equal to alpha_lo = alpha_hi = {alpha_lo!r}", alpha_init)
        if not fixed_alpha and not alpha_lo < alpha_init < alpha_hi:
            fail(
                _NAME,
                "alpha_init",
                f"strictly between alpha_lo = {alpha_lo!r} and alpha_hi = {alpha_hi!r}",
                alpha_init,
            )
        _SCALE_LO.check(_NAME, "scale_lo", scale_lo)
        _SCALE_INIT.check(_NAME, "scale_init", scale_init)
        if not scale_init > scale_lo:
            fail(_NAME, "scale_init", f"> scale_lo = {scale_lo!r}", scale_init)
        REDUCTION.check(_NAME, "reduction", reduction)
        self.num_dims = num_dims
        self.alpha_lo, self.alpha_hi, self.scale_lo = (
            float(alpha_lo),
            float(alpha_hi),
            float(scale_lo),
        )
        self.reduction = reduction
        if fixed_alpha:
            self.latent_alpha = None
            self.register_buffer("fixed_alpha", torch.full((num_dims,), float(alpha_lo)))
        else:
            frac = (alpha_init - alpha_lo) / (alpha_hi - alpha_lo)
            self.latent_alpha = torch.nn.Parameter(
                torch.full((num_dims,), math.log(frac / (1 - frac)))
            )
        self.latent_scale = torch.nn.Parameter(
            torch.full((num_dims,), _inverse_softplus(scale_init - scale_lo))
        )

    def alpha(self) -> torch.Tensor:
        """The current alpha per output dimension, shape ``(num_dims,)``."""
        if self.latent_alpha is None:
            return self.fixed_alpha
        return self.alpha_lo + (self.alpha_hi - self.alpha_lo) * torch.sigmoid(self.latent_alpha)

    def scale(self) -> torch.Tensor:
        """The current scale per output dimension, shape ``(num_dims,)``."""
        return torch.nn.functional.softplus(self.latent_scale) + self.scale_lo

    def forward(
        self, input: torch.Tensor, target: torch.Tensor, *, weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        check_tensor(_NAME, "input", input)
        if input.dim() == 0 or input.shape[-1] != self.num_dims:
            fail(_NAME, "input", f"of shape (..., num_dims={self.num_dims})", tuple(input.shape))
        return adaptive_robust_nll(
            input,
            target,
            alpha=self.alpha(),
            scale=self.scale(),
            reduction=self.reduction,
            weight=weight,
        )

    def extra_repr(self) -> str:
        return (
            f"num_dims={self.num_dims}, alpha in [{self.alpha_lo:g}, {self.alpha_hi:g}], "
            f"scale_lo={self.scale_lo:g}, reduction={self.reduction!r}"
        )
