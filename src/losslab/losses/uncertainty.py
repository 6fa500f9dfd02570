r"""Uncertainty-aware losses: the model says how sure it is, and the loss scores that too.

* :func:`beta_nll_loss`: the Gaussian NLL with each element weighted by its detached variance to
  the power beta (Seitzer et al. 2022);
* :func:`evidential_regression_loss`: the normal-inverse-gamma (NIG) NLL plus the evidence
  regulariser (Amini et al. 2020); :func:`evidential_uncertainty` reads the aleatoric and
  epistemic variances off the four NIG outputs;
* :func:`evidential_classification_loss`: Dirichlet evidence, expected squared error or digamma
  (expected cross-entropy) form plus an annealed KL to the uniform Dirichlet (Sensoy et al. 2018);
* :func:`crps_gaussian_loss`: the closed-form continuous ranked probability score of a Gaussian;
* :func:`quantile_set_loss`: the pinball loss over several quantile levels, non-crossing by
  sorting; :func:`interval_score_loss`: the interval score of a central interval.

These losses take several predicted tensors (a mean and a variance, four NIG parameters, a
lower and an upper bound). The catalog's derivative and properties are w.r.t. the first one (the
mean, ``gamma``, the evidence, the predictions, the lower bound) at the others fixed. Each head
names its outputs and their activations (:attr:`~losslab.catalog.Head.outputs`). Tested in
``tests/losses/test_uncertainty.py``.
"""

from __future__ import annotations

import math

import torch

from .._reduction import reduce_loss, upcast
from .._validation import (
    REDUCTION,
    Param,
    Raw,
    check_class_indices,
    check_in_range,
    check_tensor,
    fail,
    loss_function,
)
from ..catalog._samplers import BIG, C, D, N
from ..catalog._spec import Case, Head, Sampler, When
from ..functional._common import check_class_logits
from ._entry import entry

__all__ = [
    "beta_nll_loss",
    "evidential_regression_loss",
    "evidential_classification_loss",
    "crps_gaussian_loss",
    "quantile_set_loss",
    "interval_score_loss",
]

Q = 3


def _randn(gen: torch.Generator, *shape: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)


def _same_shape(loss: str, names: tuple[str, ...], *tensors: torch.Tensor) -> list[torch.Tensor]:
    """Check floating tensors of ``tensors[0]``'s shape; return them upcast from half precision."""
    for arg, t in zip(names, tensors, strict=True):
        check_tensor(loss, arg, t)
    for arg, t in zip(names[1:], tensors[1:], strict=True):
        if t.shape != tensors[0].shape:
            fail(
                loss,
                arg,
                f"of the same shape as '{names[0]}' {tuple(tensors[0].shape)}",
                Raw(f"shape {tuple(t.shape)}"),
            )
    return [upcast(t) for t in tensors]


def _positive(loss: str, arg: str, t: torch.Tensor, text: str = "> 0") -> None:
    check_in_range(loss, arg, t, 0.0, math.inf, f"values {text}")
    if t.numel() and bool((t.detach() == 0).any()):
        fail(loss, arg, f"values {text}", 0.0)


def _empty(k: int, dtype: torch.dtype) -> Case:
    return Case(tuple(torch.zeros(0, D, dtype=dtype) for _ in range(k)))


# -- beta-NLL -----------------------------------------------------------------------------------


def _mvt_make(gen, dtype, scale):
    """(mean, var, target): variances in about (0.2, 5)."""
    t = _randn(gen, N, D, dtype=torch.float64)
    mean = t + scale * _randn(gen, N, D, dtype=torch.float64)
    var = torch.exp(0.8 * _randn(gen, N, D, dtype=torch.float64).clamp(-2, 2))
    return Case((mean.to(dtype), var.to(dtype), t.to(dtype)))


def _mvt_perfect(gen, dtype):
    c = _mvt_make(gen, dtype, 0.0)
    return Case((c.args[2].clone(), c.args[1], c.args[2]))


def _mirror_first(c: Case) -> Case:
    """The first argument mirrored about the target (the last argument)."""
    t = c.args[-1]
    return Case((2 * t - c.args[0], *c.args[1:]), c.kwargs)


MEAN_VAR_TARGET = Sampler(
    "mean_var_target",
    make=_mvt_make,
    perfect=_mvt_perfect,
    mirror=_mirror_first,
    empty=lambda dtype: _empty(3, dtype),
)


def _clamped_var(var: torch.Tensor, eps: float) -> torch.Tensor:
    # as torch's gaussian_nll_loss: clamp a copy under no_grad, so the gradient still flows
    v = var.clone()
    with torch.no_grad():
        v.clamp_(min=eps)
    return v


def _beta_nll_grad(mean, var, target, *, beta, eps, **_):
    v = var.clamp_min(eps)
    return (mean - target) / v * v**beta


@entry(
    module="BetaNLLLoss",
    family="uncertainty",
    tasks=("regression",),
    input_kind="real",
    heads={
        "regression": Head(
            "identity",
            "2",
            "a mean and a variance",
            outputs=(("mean", "identity"), ("var", "softplus")),
        )
    },
    formula=r"\ell = \tfrac12\left(\log \sigma^2 + \frac{(y - \mu)^2}{\sigma^2}\right)"
    r"\operatorname{sg}(\sigma^2)^{\beta},\ \sigma^2 = \max(v, \epsilon)",
    derivative=r"\frac{\partial \ell}{\partial \mu} = \frac{\mu - y}{\sigma^2}\,\sigma^{2\beta}",
    derivative_fn=_beta_nll_grad,
    properties=dict(
        nonnegative=When("eps >= 1"),
        zero_at_perfect=False,
        convex=True,
        smooth=True,
        bounded=False,
        robust_to_outliers=False,
        symmetric=True,
    ),
    references=(
        "Seitzer, Tavakoli, Antic and Martius, On the Pitfalls of Heteroscedastic Uncertainty "
        "Estimation with Probabilistic Neural Networks, ICLR 2022",
    ),
    summary="Gaussian NLL whose per-element terms are weighted by the detached variance to the "
    "power beta, so high-variance points are not ignored when fitting the mean.",
    when_to_use="Heteroscedastic regression with a predicted variance where the plain Gaussian "
    "NLL fits the mean poorly: beta = 0.5 is the paper's default; beta = 0 is the Gaussian NLL, "
    "beta = 1 gives the mean the MSE gradient.",
    sampler=MEAN_VAR_TARGET,
    notes="Convexity and derivative are w.r.t. the mean at a fixed variance. The constant "
    "0.5 * log(2 * pi) is dropped (torch's full=False).",
)
@loss_function(
    reduction=REDUCTION,
    beta=Param("float", "power of the detached variance that weights each term", ge=0, le=1),
    eps=Param("float", "lower clamp of the variance (the clamp does not block the gradient)", gt=0),
)
def beta_nll_loss(
    mean: torch.Tensor,
    var: torch.Tensor,
    target: torch.Tensor,
    *,
    beta: float = 0.5,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""beta-NLL: :math:`\ell = \tfrac12(\log\sigma^2 + (y-\mu)^2/\sigma^2)\cdot
    \mathrm{stopgrad}(\sigma^2)^\beta` with :math:`\sigma^2 = \max(v, \epsilon)`.

    The weight :math:`\sigma^{2\beta}` is detached (no gradient flows through it). ``beta=0``
    is ``torch.nn.functional.gaussian_nll_loss(mean, target, var, full=False)`` (the constant
    :math:`\tfrac12\log 2\pi` dropped; the variance clamped as torch does); ``beta=1`` gives the
    mean the gradient of :math:`\tfrac12 (\mu - y)^2`, as MSE up to the factor 2.

    Args:
        mean: predicted means, any shape.
        var: predicted variances > 0 (e.g. a softplus output), same shape.
        target: same shape.
        beta: in [0, 1]; 0.5 is the paper's recommendation.
        eps: > 0, lower clamp of the variance.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.beta_nll_loss(torch.tensor([1.0]), torch.tensor([4.0]), torch.tensor([3.0]))
        tensor(2.3863)
    """
    name = "beta_nll_loss"
    mu, v, y = _same_shape(name, ("mean", "var", "target"), mean, var, target)
    check_in_range(name, "var", v, 0.0, math.inf, "variances >= 0")
    s2 = _clamped_var(v, eps)
    loss = 0.5 * (torch.log(s2) + (y - mu) ** 2 / s2)
    if beta != 0:
        loss = loss * s2.detach() ** beta
    return reduce_loss(loss, reduction, name=name)


# -- evidential regression (normal-inverse-gamma) -----------------------------------------------


def _nig_make(gen, dtype, scale):
    """(gamma, nu, alpha, beta, target) with nu ~ 1, alpha in about (1.6, 4), small beta."""
    t = _randn(gen, N, D, dtype=torch.float64)
    gamma = t + scale * _randn(gen, N, D, dtype=torch.float64)
    nu = torch.exp(0.5 * _randn(gen, N, D, dtype=torch.float64).clamp(-2, 2))
    alpha = 1.5 + torch.exp(0.5 * _randn(gen, N, D, dtype=torch.float64).clamp(-2, 2))
    beta = 0.1 * torch.exp(0.5 * _randn(gen, N, D, dtype=torch.float64).clamp(-2, 2))
    return Case(tuple(a.to(dtype) for a in (gamma, nu, alpha, beta, t)))


def _nig_perfect(gen, dtype):
    c = _nig_make(gen, dtype, 0.0)
    return Case((c.args[4].clone(), *c.args[1:]))


def _nig_kink(dtype):
    z = torch.zeros(N, D, dtype=dtype)
    return Case((z, torch.ones_like(z), 2 * torch.ones_like(z), torch.ones_like(z), z.clone()))


NIG = Sampler(
    "nig",
    make=_nig_make,
    perfect=_nig_perfect,
    mirror=_mirror_first,
    kink=_nig_kink,
    empty=lambda dtype: _empty(5, dtype),
)


def _nig_nll(gamma, nu, alpha, beta, y):
    omega = 2 * beta * (1 + nu)
    return (
        0.5 * torch.log(math.pi / nu)
        - alpha * torch.log(omega)
        + (alpha + 0.5) * torch.log(nu * (y - gamma) ** 2 + omega)
        + torch.lgamma(alpha)
        - torch.lgamma(alpha + 0.5)
    )


def _evidential_reg_grad(gamma, nu, alpha, beta, target, *, coeff, **_):
    e = target - gamma
    nll = -(2 * alpha + 1) * nu * e / (nu * e**2 + 2 * beta * (1 + nu))
    return nll + coeff * (2 * nu + alpha) * torch.sign(gamma - target)


@entry(
    module="EvidentialRegressionLoss",
    family="uncertainty",
    tasks=("regression",),
    input_kind="real",
    heads={
        "regression": Head(
            "identity",
            "4",
            "normal-inverse-gamma parameters",
            outputs=(
                ("gamma", "identity"),
                ("nu", "softplus"),
                ("alpha", "softplus_plus_one"),
                ("beta", "softplus"),
            ),
        )
    },
    formula=r"\ell = \tfrac12\log\frac{\pi}{\nu} - \alpha\log\Omega + (\alpha + \tfrac12)"
    r"\log\left(\nu (y - \gamma)^2 + \Omega\right) + \log\frac{\Gamma(\alpha)}"
    r"{\Gamma(\alpha + \tfrac12)} + c\,|y - \gamma|\,(2\nu + \alpha),\ \Omega = 2\beta(1 + \nu)",
    derivative=r"\frac{\partial \ell}{\partial \gamma} = \frac{(2\alpha + 1)\,\nu\,(\gamma - y)}"
    r"{\nu (y - \gamma)^2 + \Omega} + c\,(2\nu + \alpha)\operatorname{sign}(\gamma - y)",
    derivative_fn=_evidential_reg_grad,
    properties=dict(
        nonnegative=False,
        zero_at_perfect=False,
        convex=False,
        smooth=When("coeff == 0"),
        bounded=False,
        robust_to_outliers=True,
        symmetric=True,
    ),
    references=("Amini, Schwarting, Soleimany and Rus, Deep Evidential Regression, NeurIPS 2020",),
    summary="Negative log-likelihood of the Student-t marginal of a normal-inverse-gamma "
    "prediction, plus a regulariser that removes evidence from wrong predictions.",
    when_to_use="Regression that must separate aleatoric (data) from epistemic (model) "
    "uncertainty in one forward pass; see evidential_uncertainty. The NLL can be negative; the "
    "regulariser weight (coeff, about 0.01) trades calibration against fit.",
    sampler=NIG,
    notes="Derivative and properties are w.r.t. gamma at fixed nu, alpha, beta. The NIG NLL "
    "equals -log of a Student-t with 2 alpha degrees of freedom, location gamma and squared "
    "scale beta (1 + nu) / (nu alpha).",
)
@loss_function(
    reduction=REDUCTION,
    coeff=Param("float", "weight of the evidence regulariser |y - gamma| (2 nu + alpha)", ge=0),
)
def evidential_regression_loss(
    gamma: torch.Tensor,
    nu: torch.Tensor,
    alpha: torch.Tensor,
    beta: torch.Tensor,
    target: torch.Tensor,
    *,
    coeff: float = 0.01,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Deep evidential regression: NIG negative log-likelihood + ``coeff`` times the evidence
    regulariser :math:`|y - \gamma|(2\nu + \alpha)`.

    The four outputs parameterise a normal-inverse-gamma prior on the mean and variance of the
    target: ``gamma`` (the predicted mean), ``nu > 0``, ``alpha > 0`` (> 1 for finite
    variances) and ``beta > 0``. Its marginal is a Student-t, whose negative log-density is the
    NLL term (it can be negative).

    Args:
        gamma: predicted means, any shape.
        nu, alpha, beta: NIG parameters > 0 (e.g. softplus, softplus + 1, softplus outputs),
            same shape.
        target: same shape.
        coeff: >= 0, weight of the regulariser (the paper tunes it around 0.01).
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> one = torch.ones(1)
        >>> LF.evidential_regression_loss(torch.zeros(1), one, 2 * one, one, one, coeff=0.0)
        tensor(1.5387)
    """
    name = "evidential_regression_loss"
    g, nu_, a, b, y = _same_shape(
        name, ("gamma", "nu", "alpha", "beta", "target"), gamma, nu, alpha, beta, target
    )
    for arg, t in (("nu", nu_), ("alpha", a), ("beta", b)):
        _positive(name, arg, t)
    loss = _nig_nll(g, nu_, a, b, y)
    if coeff != 0:
        loss = loss + coeff * (y - g).abs() * (2 * nu_ + a)
    return reduce_loss(loss, reduction, name=name)


def evidential_uncertainty(
    gamma: torch.Tensor, nu: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The aleatoric and epistemic variances of NIG outputs (Amini et al. 2020):
    :math:`E[\sigma^2] = \beta / (\alpha - 1)` and :math:`Var[\mu] = \beta / (\nu(\alpha - 1))`.

    ``gamma`` is checked for its shape only (the mean does not enter). ``alpha`` must be > 1.

    >>> import torch
    >>> one = torch.ones(1)
    >>> evidential_uncertainty(torch.zeros(1), 2 * one, 3 * one, one)
    (tensor([0.5000]), tensor([0.2500]))
    """
    name = "evidential_uncertainty"
    _, nu_, a, b = _same_shape(name, ("gamma", "nu", "alpha", "beta"), gamma, nu, alpha, beta)
    _positive(name, "nu", nu_)
    _positive(name, "beta", b)
    check_in_range(name, "alpha", a, 1.0, math.inf, "values > 1 (finite variances)")
    if a.numel() and bool((a.detach() == 1).any()):
        fail(name, "alpha", "values > 1 (finite variances)", 1.0)
    aleatoric = b / (a - 1)
    return aleatoric, aleatoric / nu_


# -- evidential classification (Dirichlet) -------------------------------------------------------


def _ev_make(gen, dtype, scale):
    e = scale * (0.05 + torch.rand(N, C, generator=gen, dtype=torch.float64))
    return Case((e.to(dtype), torch.randint(0, C, (N,), generator=gen)))


def _ev_perfect(gen, dtype):
    y = torch.randint(0, C, (N,), generator=gen)
    return Case((BIG * torch.nn.functional.one_hot(y, C).to(dtype), y))


EVIDENCE = Sampler(
    "evidence",
    make=_ev_make,
    perfect=_ev_perfect,
    empty=lambda dtype: Case((torch.zeros(0, C, dtype=dtype), torch.zeros(0, dtype=torch.long))),
)


def _dirichlet_kl_to_uniform(a: torch.Tensor) -> torch.Tensor:
    """KL(Dir(a) || Dir(1, ..., 1)) over the last dimension."""
    k = a.shape[-1]
    s = a.sum(-1)
    return (
        torch.lgamma(s)
        - math.lgamma(k)
        - torch.lgamma(a).sum(-1)
        + ((a - 1) * (torch.digamma(a) - torch.digamma(s).unsqueeze(-1))).sum(-1)
    )


def _evidential_cls_grad(evidence, target, *, annealing, form, **_):
    a = evidence + 1
    s = a.sum(-1, keepdim=True)
    y = torch.nn.functional.one_hot(target, a.shape[-1]).to(a.dtype)
    if form == "mse":
        p = a / s
        sq = (p * p).sum(-1, keepdim=True)
        fit = -2 / s * ((y - p) - ((y - p) * p).sum(-1, keepdim=True))
        fit = fit - 2 * (p - sq) / (s * (s + 1)) - (1 - sq) / (s + 1) ** 2
    else:
        fit = torch.polygamma(1, s) - y * torch.polygamma(1, a)
    at = y + (1 - y) * a
    st = at.sum(-1, keepdim=True)
    kl = (at - 1) * torch.polygamma(1, at) - (st - a.shape[-1]) * torch.polygamma(1, st)
    return fit + annealing * (1 - y) * kl


@entry(
    module="EvidentialClassificationLoss",
    family="uncertainty",
    tasks=("multiclass",),
    input_kind="real",
    heads={
        "*": Head(
            "softplus",
            "C",
            "non-negative evidence per class; Dirichlet alpha = evidence + 1",
            outputs=(("evidence", "softplus"),),
        )
    },
    formula=r"\ell = \sum_j (y_j - p_j)^2 + \frac{p_j (1 - p_j)}{S + 1} + \lambda\,"
    r"\mathrm{KL}\left(\mathrm{Dir}(\tilde\alpha)\,\|\,\mathrm{Dir}(1)\right),\ "
    r"\alpha = e + 1,\ S = \sum_j \alpha_j,\ p = \alpha / S,\ \tilde\alpha = y + (1 - y)\alpha",
    derivative=r"\frac{\partial \ell}{\partial e_j} = \frac{\partial \ell_{fit}}{\partial "
    r"\alpha_j} + \lambda (1 - y_j)\left((\tilde\alpha_j - 1)\psi'(\tilde\alpha_j) - "
    r"(\tilde S - K)\psi'(\tilde S)\right)",
    derivative_fn=_evidential_cls_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=False,
        convex=False,
        smooth=True,
        bounded=When("annealing == 0 and form == 'mse'"),
        robust_to_outliers=True,
        symmetric=None,
    ),
    references=(
        "Sensoy, Kaplan and Kandemir, Evidential Deep Learning to Quantify Classification "
        "Uncertainty, NeurIPS 2018",
    ),
    summary="Dirichlet evidence loss: expected squared error (or expected cross-entropy) under "
    "Dir(evidence + 1), plus an annealed KL that removes misleading evidence.",
    when_to_use="Classification that must say 'I don't know' (out-of-distribution inputs, "
    "abstention): the total evidence S gives an uncertainty K / S. Anneal the KL weight from 0 "
    "to 1 over the first epochs (the paper uses min(1, epoch / 10)).",
    sampler=EVIDENCE,
    notes="The form 'digamma' replaces the squared error by sum_j y_j (psi(S) - psi(alpha_j)), "
    "the expected cross-entropy. Properties at the catalog's setting (form='mse'); no mirror.",
)
@loss_function(
    reduction=REDUCTION,
    annealing=Param("float", "weight of the KL term (anneal it from 0 to 1)", ge=0),
    form=Param(
        "choice", "the data term: expected squared error or digamma", choices=("mse", "digamma")
    ),
)
def evidential_classification_loss(
    evidence: torch.Tensor,
    target: torch.Tensor,
    *,
    annealing: float = 1.0,
    form: str = "mse",
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Evidential classification: data term under :math:`\mathrm{Dir}(\alpha)`,
    :math:`\alpha = e + 1`, plus ``annealing`` times :math:`\mathrm{KL}(\mathrm{Dir}(\tilde\alpha)
    \| \mathrm{Dir}(1))`.

    ``form="mse"``: :math:`\sum_j (y_j - p_j)^2 + p_j(1 - p_j)/(S + 1)` (the expected squared
    error); ``form="digamma"``: :math:`\sum_j y_j(\psi(S) - \psi(\alpha_j))` (the expected
    cross-entropy). :math:`\tilde\alpha = y + (1 - y)\alpha` keeps only the evidence of wrong
    classes in the KL, which is 0 when they have none.

    Args:
        evidence: (N, C) evidence >= 0 (e.g. softplus or exp of the outputs).
        target: (N,) class indices.
        annealing: >= 0, the KL weight.
        form: ``"mse"`` | ``"digamma"``.
        reduction: ``"none"`` (one loss per sample) | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.evidential_classification_loss(torch.tensor([[2.0, 0.0]]), torch.tensor([0]))
        tensor(0.2000)
    """
    name = "evidential_classification_loss"
    c = check_class_logits(name, evidence, target, arg="evidence")
    if evidence.dim() != 2:
        fail(name, "evidence", "of shape (N, C)", Raw(f"shape {tuple(evidence.shape)}"))
    check_class_indices(name, "target", target, c, None)
    e = upcast(evidence)
    check_in_range(name, "evidence", e, 0.0, math.inf, "evidence >= 0")
    a = e + 1
    s = a.sum(-1)
    y = torch.nn.functional.one_hot(target, c).to(a.dtype)
    if form == "mse":
        p = a / s.unsqueeze(-1)
        loss = ((y - p) ** 2 + p * (1 - p) / (s.unsqueeze(-1) + 1)).sum(-1)
    else:
        loss = (y * (torch.digamma(s).unsqueeze(-1) - torch.digamma(a))).sum(-1)
    if annealing != 0:
        loss = loss + annealing * _dirichlet_kl_to_uniform(y + (1 - y) * a)
    return reduce_loss(loss, reduction, name=name)


# -- CRPS of a Gaussian -------------------------------------------------------------------------


def _crps_make(gen, dtype, scale):
    c = _mvt_make(gen, torch.float64, scale)
    return Case((c.args[0].to(dtype), c.args[1].sqrt().to(dtype), c.args[2].to(dtype)))


def _crps_perfect(gen, dtype):
    c = _crps_make(gen, dtype, 0.0)
    return Case((c.args[2].clone(), c.args[1], c.args[2]))


MEAN_STD_TARGET = Sampler(
    "mean_std_target",
    make=_crps_make,
    perfect=_crps_perfect,
    mirror=_mirror_first,
    empty=lambda dtype: _empty(3, dtype),
)

_INV_SQRT_PI = 1 / math.sqrt(math.pi)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


def _crps_grad(mean, std, target):
    return 1 - 2 * torch.special.ndtr((target - mean) / std)


@entry(
    module="CRPSGaussianLoss",
    family="uncertainty",
    tasks=("regression",),
    input_kind="real",
    heads={
        "regression": Head(
            "identity",
            "2",
            "a mean and a standard deviation",
            outputs=(("mean", "identity"), ("std", "softplus")),
        )
    },
    formula=r"\ell = \sigma\left(z\,(2\Phi(z) - 1) + 2\varphi(z) - \frac{1}{\sqrt{\pi}}\right),"
    r"\ z = \frac{y - \mu}{\sigma}",
    derivative=r"\frac{\partial \ell}{\partial \mu} = 1 - 2\Phi(z)",
    derivative_fn=_crps_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=False,
        convex=True,
        smooth=True,
        bounded=False,
        robust_to_outliers=True,
        symmetric=True,
    ),
    references=(
        "Gneiting, Raftery, Westveld and Goldman, Calibrated Probabilistic Forecasting Using "
        "Ensemble Model Output Statistics and Minimum CRPS Estimation, Monthly Weather Review 2005",
    ),
    summary="Continuous ranked probability score of a Gaussian prediction in closed form: a "
    "proper score in the target's units that grows like |y - mu| far from the mean.",
    when_to_use="Training or scoring a predicted mean and spread when the NLL is too sensitive "
    "to outliers or to a collapsing variance: the CRPS gradient w.r.t. the mean is bounded by 1.",
    sampler=MEAN_STD_TARGET,
    notes="Derivative and properties are w.r.t. the mean at a fixed standard deviation; at a "
    "perfect mean the score is sigma (sqrt(2) - 1) / sqrt(pi) > 0.",
)
@loss_function(reduction=REDUCTION)
def crps_gaussian_loss(
    mean: torch.Tensor,
    std: torch.Tensor,
    target: torch.Tensor,
    *,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""CRPS of :math:`\mathcal N(\mu, \sigma^2)` at :math:`y`:
    :math:`\sigma(z(2\Phi(z) - 1) + 2\varphi(z) - 1/\sqrt\pi)`, :math:`z = (y - \mu)/\sigma`.

    Args:
        mean: predicted means, any shape.
        std: predicted standard deviations > 0, same shape.
        target: same shape.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.crps_gaussian_loss(torch.zeros(1), torch.ones(1), torch.zeros(1))
        tensor(0.2337)
    """
    name = "crps_gaussian_loss"
    mu, sd, y = _same_shape(name, ("mean", "std", "target"), mean, std, target)
    _positive(name, "std", sd)
    z = (y - mu) / sd
    pdf = _INV_SQRT_2PI * torch.exp(-0.5 * z * z)
    loss = sd * (z * (2 * torch.special.ndtr(z) - 1) + 2 * pdf - _INV_SQRT_PI)
    return reduce_loss(loss, reduction, name=name)


# -- quantile sets and the interval score -------------------------------------------------------


def _qs_make(gen, dtype, scale):
    t = _randn(gen, N, dtype=torch.float64)
    x = t.unsqueeze(-1) + scale * _randn(gen, N, Q, dtype=torch.float64)
    return Case((x.to(dtype), t.to(dtype)))


def _qs_perfect(gen, dtype):
    t = _randn(gen, N, dtype=dtype)
    return Case((t.unsqueeze(-1).repeat(1, Q), t))


QUANTILE_SET = Sampler(
    "quantile_set",
    make=_qs_make,
    perfect=_qs_perfect,
    mirror=lambda c: Case((2 * c.args[1].unsqueeze(-1) - c.args[0], c.args[1]), c.kwargs),
    kink=lambda dtype: Case((torch.zeros(N, Q, dtype=dtype), torch.zeros(N, dtype=dtype))),
    empty=lambda dtype: Case((torch.zeros(0, Q, dtype=dtype), torch.zeros(0, dtype=dtype))),
)


def _qs_grad(preds, target, *, quantiles, noncrossing, **_):
    tau = quantiles.to(preds.dtype)
    x, idx = torch.sort(preds, dim=-1) if noncrossing == "sort" else (preds, None)
    u = target.unsqueeze(-1) - x
    g = torch.where(u > 0, -tau, torch.where(u < 0, 1 - tau, 0.5 - tau))
    return g if idx is None else torch.zeros_like(g).scatter(-1, idx, g)


@entry(
    module="QuantileSetLoss",
    family="uncertainty",
    tasks=("regression",),
    input_kind="real",
    heads={
        "regression": Head(
            "identity",
            "Q",
            "one unit per quantile level; the target is not repeated",
            outputs=(("quantiles", "identity"),),
        )
    },
    formula=r"\ell_k = \max\big(\tau_k (y - x_{(k)}),\ (\tau_k - 1)(y - x_{(k)})\big),\ "
    r"x_{(1)} \le \dots \le x_{(Q)}",
    derivative=r"\frac{\partial \ell}{\partial x_{(k)}} = \begin{cases} -\tau_k & x_{(k)} < y "
    r"\\ \tfrac12 - \tau_k & x_{(k)} = y \\ 1 - \tau_k & x_{(k)} > y \end{cases}",
    derivative_fn=_qs_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=True,
        convex=When("noncrossing != 'sort'", examples_extra=({"noncrossing": None},)),
        smooth=False,
        bounded=False,
        robust_to_outliers=True,
        symmetric=False,
    ),
    references=(
        "Koenker and Bassett, Regression Quantiles, Econometrica 1978",
        "Chernozhukov, Fernandez-Val and Galichon, Quantile and Probability Curves Without "
        "Crossing, Econometrica 2010",
    ),
    summary="Pinball loss over Q quantile levels at once; with noncrossing='sort' the predicted "
    "quantiles are sorted before the levels are assigned, so they never cross.",
    when_to_use="Prediction intervals from one model with Q outputs (e.g. levels 0.05, 0.5, "
    "0.95). Sorting (rearrangement) never increases the loss and makes the quantiles monotone, "
    "at the price of convexity.",
    sampler=QUANTILE_SET,
    test_kwargs={"quantiles": torch.tensor([0.1, 0.5, 0.9])},
    notes="The k-th level scores the k-th smallest prediction when sorting. symmetric is False "
    "per element: mirroring the errors swaps the terms of levels tau and 1 - tau (the total is "
    "symmetric for levels symmetric about 0.5). Without sorting this is quantile_loss with the "
    "target repeated Q times.",
)
@loss_function(
    reduction=REDUCTION,
    quantiles=Param("tensor", "the Q quantile levels in (0, 1), increasing", gt=0, lt=1, ndim=1),
    noncrossing=Param(
        "choice",
        "'sort': sort the predictions before scoring; None: as given",
        choices=("sort",),
        optional=True,
    ),
)
def quantile_set_loss(
    preds: torch.Tensor,
    target: torch.Tensor,
    *,
    quantiles: torch.Tensor,
    noncrossing: str | None = "sort",
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Pinball loss of Q predicted quantiles, :math:`\ell_k = \max(\tau_k u_k, (\tau_k - 1)
    u_k)` with :math:`u_k = y - x_{(k)}`.

    With ``noncrossing="sort"`` the predictions are sorted along the last dimension first, so
    the k-th smallest prediction is scored at the k-th level (rearrangement: the quantiles
    cannot cross, and the loss is never larger than unsorted). The gradient flows back to the
    output that was sorted into each place. ``noncrossing=None`` equals
    :func:`~losslab.functional.quantile_loss` with the target repeated Q times.

    Args:
        preds: (..., Q) predicted quantiles.
        target: (...) targets (not repeated).
        quantiles: 1-D tensor of Q increasing levels in (0, 1).
        noncrossing: ``"sort"`` | ``None``.
        reduction: ``"none"`` (shape (..., Q)) | ``"mean"`` (over all elements) | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> tau = torch.tensor([0.1, 0.5, 0.9])
        >>> LF.quantile_set_loss(torch.tensor([[2.0, 0.0, 1.0]]), torch.ones(1), quantiles=tau,
        ...                      reduction="none")
        tensor([[0.1000, 0.0000, 0.1000]])
    """
    name = "quantile_set_loss"
    check_tensor(name, "preds", preds)
    check_tensor(name, "target", target)
    q = quantiles.shape[0]
    if preds.dim() == 0 or preds.shape[-1] != q:
        fail(
            name,
            "preds",
            f"of shape (..., Q) with Q = {q} levels",
            Raw(f"shape {tuple(preds.shape)}"),
        )
    if target.shape != preds.shape[:-1]:
        fail(
            name,
            "target",
            f"of shape {tuple(preds.shape[:-1])} (preds without its last dimension)",
            Raw(f"shape {tuple(target.shape)}"),
        )
    if q > 1 and not bool((quantiles[1:] > quantiles[:-1]).all()):
        fail(name, "quantiles", "strictly increasing levels", quantiles)
    x, y = upcast(preds), upcast(target)
    tau = upcast(quantiles).to(dtype=x.dtype, device=x.device)
    if noncrossing == "sort":
        x = torch.sort(x, dim=-1).values
    u = y.unsqueeze(-1) - x
    loss = torch.maximum(tau * u, (tau - 1.0) * u)
    return reduce_loss(loss, reduction, name=name)


def _is_make(gen, dtype, scale):
    t = _randn(gen, N, D, dtype=torch.float64)
    centre = t + scale * _randn(gen, N, D, dtype=torch.float64)
    half = torch.exp(0.5 * _randn(gen, N, D, dtype=torch.float64).clamp(-2, 2))
    return Case(tuple(a.to(dtype) for a in (centre - half, centre + half, t)))


def _is_perfect(gen, dtype):
    t = _randn(gen, N, D, dtype=dtype)
    return Case((t.clone(), t.clone(), t))


INTERVAL = Sampler(
    "interval",
    make=_is_make,
    perfect=_is_perfect,
    mirror=lambda c: Case(
        (2 * c.args[2] - c.args[1], 2 * c.args[2] - c.args[0], c.args[2]), c.kwargs
    ),
    kink=lambda dtype: Case(tuple(torch.zeros(N, D, dtype=dtype) for _ in range(3))),
    empty=lambda dtype: _empty(3, dtype),
)


def _is_grad(lower, upper, target, *, alpha):
    return torch.where(lower > target, 2 / alpha - 1, -1.0).to(lower.dtype)


@entry(
    module="IntervalScoreLoss",
    family="uncertainty",
    tasks=("regression",),
    input_kind="real",
    heads={
        "regression": Head(
            "identity",
            "2",
            "the lower and upper bounds of the central (1 - alpha) interval",
            outputs=(("lower", "identity"), ("upper", "identity")),
        )
    },
    formula=r"\ell = (u - l) + \frac{2}{\alpha}(l - y)\,[y < l] + \frac{2}{\alpha}(y - u)\,[y > u]",
    derivative=r"\frac{\partial \ell}{\partial l} = -1 + \frac{2}{\alpha}[y < l]",
    derivative_fn=_is_grad,
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
        "Gneiting and Raftery, Strictly Proper Scoring Rules, Prediction, and Estimation, "
        "JASA 2007",
    ),
    summary="Interval score of a central (1 - alpha) prediction interval: its width plus 2 / alpha "
    "times how far the target falls outside it.",
    when_to_use="Training or scoring prediction intervals directly (two outputs): minimised by "
    "the alpha/2 and 1 - alpha/2 quantiles, so it rewards narrow intervals with the right coverage.",
    sampler=INTERVAL,
    notes="nonnegative holds for lower <= upper (a crossed interval has a negative width); "
    "derivative and properties are w.r.t. the lower bound at a fixed upper bound.",
)
@loss_function(
    reduction=REDUCTION,
    alpha=Param("float", "miscoverage of the central interval (0.1: a 90% interval)", gt=0, lt=1),
)
def interval_score_loss(
    lower: torch.Tensor,
    upper: torch.Tensor,
    target: torch.Tensor,
    *,
    alpha: float = 0.1,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Interval score :math:`(u - l) + \tfrac{2}{\alpha}(l - y)_+ + \tfrac{2}{\alpha}(y - u)_+`
    of the central :math:`(1 - \alpha)` interval :math:`[l, u]`.

    Args:
        lower, upper: bounds, any shape (lower <= upper; not checked, crossed intervals have a
            negative width term).
        target: same shape.
        alpha: in (0, 1); 0.1 scores a 90% interval.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.interval_score_loss(torch.zeros(2), torch.ones(2), torch.tensor([0.5, 2.0]),
        ...                        alpha=0.5, reduction="none")
        tensor([1., 5.])
    """
    name = "interval_score_loss"
    lo, hi, y = _same_shape(name, ("lower", "upper", "target"), lower, upper, target)
    loss = (hi - lo) + (2 / alpha) * (torch.relu(lo - y) + torch.relu(y - hi))
    return reduce_loss(loss, reduction, name=name)
