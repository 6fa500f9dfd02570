"""Cross entropy re-weighted by the confidence: sigmoid and softmax focal loss, poly-1.

Inputs are logits; class-indexed losses follow the conventions in
:mod:`losslab.functional._common` (``ignore_index``, per-class ``weight`` with torch's
weighted mean, log-space computation with no clamping). Each function carries its catalog entry
(:func:`entry`): the focal losses are in the catalog's imbalance family (with
:mod:`.imbalance`), poly-1 in its classification family; tested in
``tests/functional/test_classification.py``.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from .._reduction import reduce_loss, upcast
from .._validation import (
    IGNORE_INDEX,
    LABEL_SMOOTHING,
    POS_WEIGHT,
    REDUCTION,
    WEIGHT_PER_CLASS,
    WEIGHT_PER_ELEMENT,
    Param,
    check_probabilities,
    check_same_shape,
    check_tensor,
    loss_function,
    warn_if_probabilities,
)
from ..catalog._common import CLASS_HEAD, LOGIT_HEAD, softmax_parts
from ..catalog._samplers import BINARY_LOGITS, CLASS_LOGITS
from ..catalog._spec import Head, When
from ..functional._common import (
    SIGMOID_ADVICE,
    check_class_weight,
    class_inputs,
    class_weight,
    element_weight,
    empty_mean_guard,
    log_one_minus_softmax_target,
    reduce_class,
)
from ..functional._fused import fused_elementwise, use_fused
from ._entry import entry

__all__ = ["sigmoid_focal_loss", "softmax_focal_loss", "poly1_cross_entropy"]


GAMMA = Param("float", "focusing parameter: the easy-example factor is (1 - p_t)^gamma", ge=0)


MULTILABEL_HEAD = Head("identity", "C", "one logit per label")


# -- sigmoid focal -----------------------------------------------------------------------------


def _sigmoid_focal_grad(x, t, *, alpha, gamma, **_):
    s = torch.sigmoid(x)
    bce = -(t * torch.log(s) + (1 - t) * torch.log(1 - s))
    u = t * (1 - s) + (1 - t) * s  # 1 - p_t
    du = s * (1 - s) * (1 - 2 * t)
    alpha_t = 1.0 if alpha is None else alpha * t + (1 - alpha) * (1 - t)
    return alpha_t * (gamma * u ** (gamma - 1) * du * bce + u**gamma * (s - t))


@entry(
    module="SigmoidFocalLoss",
    family="imbalance",
    tasks=("binary", "multilabel", "imbalanced"),
    input_kind="logits",
    heads={"binary": LOGIT_HEAD, "imbalanced": LOGIT_HEAD, "multilabel": MULTILABEL_HEAD},
    formula=r"\ell = -\alpha_t (1 - p_t)^\gamma \log p_t,\quad "
    r"p_t = t\,\sigma(x) + (1 - t)(1 - \sigma(x))",
    derivative=r"\frac{\partial \ell}{\partial x} = \alpha_t\left[\gamma (1-p_t)^{\gamma-1}"
    r"\sigma(x)(1-\sigma(x))(1-2t)\,\mathrm{BCE} + (1-p_t)^\gamma(\sigma(x) - t)\right]",
    derivative_fn=_sigmoid_focal_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=True,
        convex=When(
            "gamma == 0"
        ),  # concave tail for confidently wrong logits (x < -2.8 when t = 1)
        smooth=True,
        bounded=False,
        robust_to_outliers=True,
        symmetric=When("alpha == 0.5"),  # alpha = 0.25 weighs positives and negatives differently
    ),
    references=(
        "Lin, Goyal, Girshick, He, Dollár, Focal Loss for Dense Object Detection, ICCV 2017",
    ),
    summary="BCE scaled by (1 - p_t)^gamma so easy, well-classified examples count less.",
    when_to_use="Dense detection or multi-label problems with an overwhelming number of easy "
    "negatives. alpha=0.25 (the paper's value with gamma=2) down-weights positives; tune both "
    "together. With gamma=0 it is alpha-weighted BCE.",
    sampler=BINARY_LOGITS,
)
@loss_function(
    alpha=Param(
        "float", "weight of the positive class (1 - alpha for negatives)", ge=0, le=1, optional=True
    ),
    gamma=GAMMA,
    weight=WEIGHT_PER_ELEMENT,
    pos_weight=POS_WEIGHT,
    reduction=REDUCTION,
)
def sigmoid_focal_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    alpha: float | None = 0.25,
    gamma: float = 2.0,
    weight: torch.Tensor | None = None,
    pos_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Binary / multi-label focal loss on logits.

    .. math::
        \ell = \alpha_t\,(1 - p_t)^\gamma\,\mathrm{BCE}(x, t),\quad
        p_t = t\,\sigma(x) + (1-t)(1-\sigma(x)),\quad \alpha_t = \alpha t + (1-\alpha)(1-t)

    The focal factor is computed as :math:`\exp(\gamma \log(1-p_t))` with
    :math:`\log(1 - p_t) = \operatorname{logaddexp}(\log t + \log\sigma(-x),\ \log(1-t) + \log\sigma(x))`,
    so it is exact and has finite gradients for any logit and any :math:`\gamma \ge 0` (also
    :math:`\gamma < 1`, where ``(1 - sigmoid(x)) ** gamma`` has an infinite derivative at
    :math:`p_t = 1`). The BCE term is ``binary_cross_entropy_with_logits``; with :math:`\gamma = 0`
    the loss equals :math:`\alpha_t`-weighted BCE exactly. For ``"mean"``/``"sum"`` (without
    ``pos_weight``, with constant targets and weights) a faster path computes the same loss chunk
    by chunk with its analytic derivative, :math:`1 - p_t = t\,\sigma(-x) + (1-t)\,\sigma(x)`
    taken directly (no cancellation); it is tested equal to this formula.

    Args:
        logits: any shape (one logit per binary label).
        targets: probabilities in [0, 1] (hard or soft labels), same shape as ``logits``.
        alpha: weight of positives (negatives get ``1 - alpha``); ``None`` disables it.
        gamma: focusing parameter, >= 0.
        weight: optional per-element weight broadcast to ``logits`` (never enlarging it).
        pos_weight: optional weight of the positive BCE term, broadcast to ``logits`` (as in
            ``binary_cross_entropy_with_logits``; typically one value per label).
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``; ``"mean"`` divides by the element count
            of ``logits``, with or without weights (the per-element rule of
            :mod:`losslab._reduction`).

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.sigmoid_focal_loss(torch.tensor([0.0, 3.0]), torch.tensor([1.0, 0.0]))
        tensor(1.0590)
    """
    name = "sigmoid_focal_loss"
    check_tensor(name, "logits", logits)
    check_tensor(name, "targets", targets)
    check_same_shape(name, "logits", logits, "targets", targets)
    x, t = upcast(logits), upcast(targets)
    check_probabilities(name, "targets", t)
    warn_if_probabilities(name, "logits", x, dim=None, advice=SIGMOID_ADVICE)
    weight = element_weight(name, weight, x)
    pos_weight = element_weight(name, pos_weight, x, arg="pos_weight")
    if pos_weight is None and use_fused(reduction, x, t, weight=weight):
        kernel = functools.partial(_sigmoid_focal_kernel, alpha=alpha, gamma=float(gamma))
        return fused_elementwise(kernel, x, (t,), reduction, weight)
    ce = F.binary_cross_entropy_with_logits(
        x,
        t,
        reduction="none",
        pos_weight=None if pos_weight is None else pos_weight.to(x.dtype),
    )
    loss = ce
    if gamma != 0:
        log_1m_pt = torch.logaddexp(
            torch.log(t) + F.logsigmoid(-x), torch.log1p(-t) + F.logsigmoid(x)
        )
        loss = torch.exp(gamma * log_1m_pt) * loss
    if alpha is not None:
        loss = (alpha * t + (1 - alpha) * (1 - t)) * loss
    if weight is not None:
        loss = loss * weight.to(x.dtype)
    return reduce_loss(loss, reduction, name=name)


def _sigmoid_focal_kernel(
    x: torch.Tensor, t: torch.Tensor, *, alpha: float | None, gamma: float, grad: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    r"""Elementwise sigmoid focal loss and its derivative (the fast path; see ``_fused``).

    With :math:`s = \sigma(x)`, :math:`\bar s = \sigma(-x)` (each computed directly, never as
    ``1 - `` the other) and :math:`q = 1 - p_t = t\bar s + (1-t)s`:
    :math:`\ell = \alpha_t q^\gamma\,\mathrm{ce}`, :math:`\mathrm{ce} = (1-t)x + \log(1+e^{-x})`
    (torch's BCE-with-logits formula), and
    :math:`\ell' = \alpha_t q^\gamma\,[\gamma(1-2t)\,(s\bar s/q)\,\mathrm{ce} + (1-t)s - t\bar s]`,
    where :math:`s\bar s/q \le 1` is taken as 0 where :math:`q` underflows to 0 (its limit
    times :math:`q^\gamma`).
    """
    u = 1 - t
    ce = torch.addcmul(F.softplus(-x), u, x)
    s, sb = torch.sigmoid(x), torch.sigmoid(-x)
    loss = ce
    fq = q = None
    if gamma != 0:
        q = torch.addcmul(t * sb, u, s)
        fq = q * q if gamma == 2 else q.pow(gamma)
        loss = fq * ce
    at = None if alpha is None else alpha * t + (1 - alpha) * u
    if at is not None:
        loss = at * loss
    if not grad:
        return loss, None
    g = u * s - t * sb
    if q is not None:
        ratio = torch.where(q > 0, s * sb / torch.where(q > 0, q, 1), 0)
        g = fq * (g + gamma * (1 - 2 * t) * ratio * ce)
    if at is not None:
        g = at * g
    return loss, g


# -- softmax focal -----------------------------------------------------------------------------


def _softmax_focal_grad(x, y, *, gamma, **_):
    p, e, p_y = softmax_parts(x, y)
    u = 1 - p_y
    ce = -torch.log(p_y)
    # d(-log p_y)/dx = p - e;  d(1 - p_y)/dx = -p_y (e - p)
    return gamma * u ** (gamma - 1) * (-p_y) * (e - p) * ce + u**gamma * (p - e)


@entry(
    module="SoftmaxFocalLoss",
    family="imbalance",
    tasks=("multiclass", "imbalanced", "segmentation"),
    input_kind="logits",
    heads={"*": CLASS_HEAD},
    formula=r"\ell = -\alpha_y (1 - p_y)^\gamma \log p_y,\quad p = \operatorname{softmax}(x)",
    derivative=r"\frac{\partial \ell}{\partial x_j} = \alpha_y\left[-\gamma (1-p_y)^{\gamma-1}"
    r"p_y([j=y] - p_j)(-\log p_y) + (1-p_y)^\gamma (p_j - [j=y])\right]",
    derivative_fn=_softmax_focal_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=True,
        convex=When("gamma == 0"),
        smooth=True,
        bounded=False,
        robust_to_outliers=True,
        symmetric=None,
    ),
    references=(
        "Lin, Goyal, Girshick, He, Dollár, Focal Loss for Dense Object Detection, ICCV 2017",
    ),
    summary="Softmax cross entropy scaled by (1 - p_y)^gamma, with optional per-class alpha.",
    when_to_use="Multiclass problems (and per-pixel segmentation) where easy examples swamp "
    "the gradient. gamma=2 is the usual choice; alpha plays the role of CE's class weight.",
    sampler=CLASS_LOGITS,
)
@loss_function(
    alpha=Param("tensor", "per-class weight alpha_c, shape (C,)", ge=0, optional=True, ndim=1),
    gamma=GAMMA,
    ignore_index=IGNORE_INDEX,
    reduction=REDUCTION,
)
def softmax_focal_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    alpha: torch.Tensor | None = None,
    gamma: float = 2.0,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Multiclass focal loss on logits.

    .. math::
        \ell_i = -\alpha_{y_i}\,(1 - p_{i,y_i})^\gamma \log p_{i,y_i},\qquad
        p_i = \operatorname{softmax}(x_i)

    :math:`\log(1 - p_y)` is computed as the log-sum-exp of the other classes minus the
    log-sum-exp of all classes, so the factor is exact and its gradient finite even when
    :math:`p_y` rounds to 1. With :math:`\gamma = 0` this is ``cross_entropy(weight=alpha)``
    exactly, including the weighted-mean normaliser.

    Args:
        logits: shape (N, C) or (N, C, d1, ...).
        target: class indices, shape (N,) or (N, d1, ...).
        alpha: optional per-class weight, shape (C,); ``"mean"`` is then
            :math:`\sum_i \alpha_{y_i}\ell_i / \sum_i \alpha_{y_i}` over non-ignored targets.
        gamma: focusing parameter, >= 0.
        ignore_index: target value whose elements are skipped.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.softmax_focal_loss(torch.tensor([[2.0, 0.0, 0.0]]), torch.tensor([1]))
        tensor(1.7879)
    """
    name = "softmax_focal_loss"
    x, safe, valid, c = class_inputs(name, logits, target, ignore_index)
    check_class_weight(name, alpha, c, arg="alpha")
    log_p = torch.log_softmax(x, dim=1)
    if gamma != 0:
        factor = torch.exp(gamma * log_one_minus_softmax_target(x, safe, dim=1))
        log_p = log_p * factor.unsqueeze(1)
    # nll_loss picks -alpha_y * factor * log p_y and applies torch's own weighted-mean
    # normaliser, so gamma = 0 is cross_entropy(weight=alpha) bit for bit
    return empty_mean_guard(
        lambda r: F.nll_loss(
            log_p,
            target,
            weight=None if alpha is None else alpha.to(x.dtype),
            ignore_index=ignore_index,
            reduction=r,
        ),
        reduction,
        bool(valid.any()),
    )


# -- poly-1 ------------------------------------------------------------------------------------


def _poly1_grad(x, y, *, epsilon, **_):
    p, e, p_y = softmax_parts(x, y)
    return (1 + epsilon * p_y) * (p - e)


@entry(
    module="Poly1CrossEntropyLoss",
    family="classification",
    tasks=("multiclass",),
    input_kind="logits",
    heads={"*": CLASS_HEAD},
    formula=r"\ell = -\log p_y + \varepsilon (1 - p_y),\quad p = \operatorname{softmax}(x)",
    derivative=r"\frac{\partial \ell}{\partial x_j} = (1 + \varepsilon p_y)(p_j - [j = y])",
    derivative_fn=_poly1_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=When("label_smoothing == 0"),
        convex=When("epsilon <= 1"),  # Hessian PSD for epsilon in [-1, 1] (the default is 1)
        smooth=True,
        bounded=False,
        robust_to_outliers=True,
        symmetric=None,
    ),
    references=(
        "Leng et al., PolyLoss: A Polynomial Expansion Perspective of Classification Loss "
        "Functions, ICLR 2022",
    ),
    summary="Cross entropy plus epsilon times (1 - p_t): the first Taylor term re-weighted.",
    when_to_use="A one-line change to cross entropy worth trying on image classification; "
    "epsilon=1 helped ImageNet in the paper, negative epsilon can help detection.",
    sampler=CLASS_LOGITS,
    notes="Convex in the logits for epsilon in [-1, 1]; larger epsilon makes it non-convex.",
)
@loss_function(
    epsilon=Param("float", "coefficient of the first polynomial term (1 - p_t)", ge=-1),
    weight=WEIGHT_PER_CLASS,
    ignore_index=IGNORE_INDEX,
    label_smoothing=LABEL_SMOOTHING,
    reduction=REDUCTION,
)
def poly1_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    epsilon: float = 1.0,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Poly-1 cross entropy: cross entropy plus :math:`\varepsilon (1 - p_t)`.

    .. math::
        \ell_i = \mathrm{CE}_i + \varepsilon\,w_{y_i}(1 - p_t),\qquad
        p_t = \langle \tilde y_i, \operatorname{softmax}(x_i) \rangle
            = (1 - s)\,p_{i,y_i} + s / C

    where :math:`\tilde y` is the label-smoothed target (smoothing :math:`s`) and
    :math:`\mathrm{CE}_i` is exactly ``cross_entropy(..., weight, label_smoothing,
    reduction="none")``; :math:`1 - p_{y}` is computed in log space. With
    :math:`\varepsilon = 0` the loss equals ``cross_entropy``; it is >= 0 for every
    :math:`\varepsilon \ge -1` and convex in the logits for :math:`\varepsilon \in [-1, 1]`.

    Args:
        logits: shape (N, C) or (N, C, d1, ...).
        target: class indices, shape (N,) or (N, d1, ...).
        epsilon: coefficient of the poly-1 term, >= -1 (the paper's default is 1).
        weight: optional per-class weight (C,); ``"mean"`` divides by
            :math:`\sum_i w_{y_i}` over non-ignored targets (torch's normaliser).
        ignore_index: target value whose elements are skipped.
        label_smoothing: in [0, 1], as in ``cross_entropy``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.poly1_cross_entropy(torch.tensor([[2.0, 0.0, 0.0]]), torch.tensor([0]))
        tensor(0.4526)
    """
    name = "poly1_cross_entropy"
    x, safe, valid, c = class_inputs(name, logits, target, ignore_index)
    w_y = class_weight(name, weight, c, x, safe)
    one_minus_py = torch.exp(log_one_minus_softmax_target(x, safe, dim=1))
    one_minus_pt = (1 - label_smoothing) * one_minus_py + label_smoothing * (1 - 1 / c)
    # w[y] * epsilon * (1 - p_t), masked; reduced with torch's normaliser (sum of w[y], or the
    # count, over non-ignored targets), which cross_entropy shares: epsilon = 0 is
    # cross_entropy bit for bit
    poly = reduce_class(name, epsilon * one_minus_pt, valid, w_y, reduction)

    def ce(r: str) -> torch.Tensor:
        return F.cross_entropy(
            x,
            target,
            weight=None if weight is None else weight.to(x.dtype),
            ignore_index=ignore_index,
            reduction=r,
            label_smoothing=label_smoothing,
        )

    if reduction == "none":
        return ce("none") + poly
    return empty_mean_guard(ce, reduction, bool(valid.any())) + poly
