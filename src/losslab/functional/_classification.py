"""Classification losses on logits: focal, poly-1, hinge, noise-robust, logit-adjusted, JS.

Conventions shared by every function here:

* inputs are **logits** (raw scores), except :func:`js_div`, whose input is log-probabilities;
* hyperparameters are keyword-only and validated with the one message template;
* class-indexed losses take logits ``(N, C)`` or ``(N, C, d1, ...)`` and integer targets
  ``(N,)`` or ``(N, d1, ...)``; targets equal to ``ignore_index`` (default ``-100``) contribute
  0 and never reach an indexing operation (they are replaced by class 0 and masked);
* a per-class ``weight`` multiplies each element by ``w[y]`` and ``"mean"`` is then the weighted
  mean ``sum_i w[y_i] l_i / sum_i w[y_i]`` over non-ignored elements, as in
  ``torch.nn.functional.cross_entropy``; without weights ``"mean"`` divides by the number of
  non-ignored elements;
* float16/bfloat16 inputs are computed in float32; ``"mean"`` over an empty batch (or an
  all-ignored one) is 0 with the graph connected;
* everything is computed in log space (``logsigmoid``, ``log_softmax``, ``logsumexp``), never by
  clamping probabilities, so values and gradients stay finite for logits of any magnitude.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .._reduction import reduce_loss, upcast
from .._validation import (
    DIV_REDUCTION,
    IGNORE_INDEX,
    LABEL_SMOOTHING,
    REDUCTION,
    WEIGHT_PER_CLASS,
    WEIGHT_PER_ELEMENT,
    Param,
    check_class_indices,
    check_integer_tensor,
    check_probabilities,
    check_same_shape,
    check_shape,
    check_tensor,
    check_values_in,
    content_checks_enabled,
    fail,
    loss_function,
)
from ._common import (
    empty_mean_guard,
    log_one_minus_softmax_target,
    prepare_pair,
)

__all__ = [
    "sigmoid_focal_loss",
    "softmax_focal_loss",
    "poly1_cross_entropy",
    "hinge_loss",
    "squared_hinge_loss",
    "multiclass_hinge_loss",
    "generalized_cross_entropy",
    "symmetric_cross_entropy",
    "logit_adjusted_cross_entropy",
    "js_div",
]

GAMMA = Param("float", "focusing parameter: the easy-example factor is (1 - p_t)^gamma", ge=0)
MARGIN = Param("float", "the margin the correct score must exceed the others by", ge=0)


# -- shared helpers for class-indexed losses ---------------------------------------------------


def _check_class_scores(name: str, arg: str, scores: torch.Tensor, target: torch.Tensor) -> int:
    """Validate (N, C, *) scores named ``arg`` against (N, *) integer targets; return C."""
    check_tensor(name, arg, scores)
    check_integer_tensor(name, "target", target)
    if scores.dim() < 2:
        fail(name, arg, "of shape (N, C) or (N, C, d1, ...)", f"shape {tuple(scores.shape)}")
    expected = (scores.shape[0], *scores.shape[2:])
    if tuple(target.shape) != expected:
        fail(
            name,
            "target",
            f"of shape (N, d1, ...) = {expected} to match '{arg}' {tuple(scores.shape)}",
            f"shape {tuple(target.shape)}",
        )
    return scores.shape[1]


def _class_inputs(
    name: str, logits: torch.Tensor, target: torch.Tensor, ignore_index: int, arg: str = "logits"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Validate; return float32-or-wider logits, safe targets (ignored -> 0), valid mask, C."""
    c = _check_class_scores(name, arg, logits, target)
    check_class_indices(name, "target", target, c, ignore_index)
    valid = target != ignore_index
    safe = torch.where(valid, target, torch.zeros_like(target))
    return upcast(logits), safe, valid, c


def _class_weight(
    name: str,
    weight: torch.Tensor | None,
    c: int,
    x: torch.Tensor,
    safe: torch.Tensor,
    arg: str = "weight",
) -> torch.Tensor | None:
    """``w[y]`` per element (or None), after checking that the weight has shape (C,)."""
    if weight is None:
        return None
    check_shape(name, arg, weight, (c,), "(C,)")
    return weight.to(x.dtype)[safe]


def _reduce_class(
    name: str,
    loss: torch.Tensor,
    valid: torch.Tensor,
    w_y: torch.Tensor | None,
    reduction: str,
) -> torch.Tensor:
    """Apply w[y] and the mask; 'mean' divides by sum of w[y] (or the count) over valid ones."""
    if w_y is not None:
        loss = loss * w_y
    loss = torch.where(valid, loss, torch.zeros_like(loss))
    mask = valid.to(loss.dtype)
    denominator = mask.sum() if w_y is None else (w_y * mask).sum()
    return reduce_loss(loss, reduction, name=name, denominator=denominator)


def _gather_class(t: torch.Tensor, safe: torch.Tensor) -> torch.Tensor:
    """``t[n, y_n, ...]`` for (N, C, *) ``t`` and (N, *) class indices."""
    return t.gather(1, safe.unsqueeze(1)).squeeze(1)


# -- focal losses --------------------------------------------------------------------------------


@loss_function(
    alpha=Param(
        "float", "weight of the positive class (1 - alpha for negatives)", ge=0, le=1, optional=True
    ),
    gamma=GAMMA,
    weight=WEIGHT_PER_ELEMENT,
    pos_weight=WEIGHT_PER_ELEMENT,
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
    the loss equals :math:`\alpha_t`-weighted BCE exactly.

    Args:
        logits: any shape (one logit per binary label).
        targets: probabilities in [0, 1] (hard or soft labels), same shape as ``logits``.
        alpha: weight of positives (negatives get ``1 - alpha``); ``None`` disables it.
        gamma: focusing parameter, >= 0.
        weight: optional per-element weight broadcast to ``logits``.
        pos_weight: optional weight of the positive BCE term, broadcast along the last
            dimension (as in ``binary_cross_entropy_with_logits``).
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``; ``"mean"`` divides by the element count.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.sigmoid_focal_loss(torch.tensor([0.0, 3.0]), torch.tensor([1.0, 0.0]))
        tensor(1.0590)

    References:
        Lin, Goyal, Girshick, He, Dollár, "Focal Loss for Dense Object Detection", ICCV 2017.
    """
    name = "sigmoid_focal_loss"
    check_tensor(name, "logits", logits)
    check_tensor(name, "targets", targets)
    check_same_shape(name, "logits", logits, "targets", targets)
    x, t = upcast(logits), upcast(targets)
    check_probabilities(name, "targets", t)
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

    References:
        Lin, Goyal, Girshick, He, Dollár, "Focal Loss for Dense Object Detection", ICCV 2017.
    """
    name = "softmax_focal_loss"
    x, safe, valid, c = _class_inputs(name, logits, target, ignore_index)
    if alpha is not None:
        check_shape(name, "alpha", alpha, (c,), "(C,)")
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

    References:
        Leng et al., "PolyLoss: A Polynomial Expansion Perspective of Classification Loss
        Functions", ICLR 2022.
    """
    name = "poly1_cross_entropy"
    x, safe, valid, c = _class_inputs(name, logits, target, ignore_index)
    w_y = _class_weight(name, weight, c, x, safe)
    one_minus_py = torch.exp(log_one_minus_softmax_target(x, safe, dim=1))
    one_minus_pt = (1 - label_smoothing) * one_minus_py + label_smoothing * (1 - 1 / c)
    poly = epsilon * one_minus_pt
    if w_y is not None:
        poly = poly * w_y
    poly = torch.where(valid, poly, torch.zeros_like(poly))

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
    # both terms share torch's normaliser (sum of w[y], or the count, over non-ignored
    # targets), so epsilon = 0 is cross_entropy bit for bit
    mask = valid.to(poly.dtype)
    denominator = mask.sum() if w_y is None else (w_y * mask).sum()
    poly_reduced = reduce_loss(poly, reduction, name=name, denominator=denominator)
    return empty_mean_guard(ce, reduction, bool(valid.any())) + poly_reduced


# -- margin losses -----------------------------------------------------------------------------


def _signed_pair(
    name: str, input: torch.Tensor, target: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores and labels in {-1, +1} (labels in {0, 1} are mapped 0 -> -1)."""
    check_tensor(name, "input", input)
    check_tensor(name, "target", target, floating=False)
    check_same_shape(name, "input", input, "target", target)
    check_values_in(name, "target", target, (-1, 0, 1), "labels in {-1, 1} or in {0, 1}")
    if content_checks_enabled() and bool((target == 0).any()) and bool((target == -1).any()):
        fail(name, "target", "labels in {-1, 1} or in {0, 1}, not a mix", "both 0 and -1")
    x = upcast(input)
    y = target.to(x.dtype)
    return x, torch.where(y == 0, -torch.ones_like(y), y)


def _hinge(name: str, input, target, margin, weight, reduction, power: int) -> torch.Tensor:
    x, y = _signed_pair(name, input, target)
    loss = torch.relu(margin - y * x)
    if power == 2:
        loss = loss * loss
    if weight is not None:
        loss = loss * weight.to(x.dtype)
    return reduce_loss(loss, reduction, name=name)


@loss_function(margin=MARGIN, weight=WEIGHT_PER_ELEMENT, reduction=REDUCTION)
def hinge_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    margin: float = 1.0,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Binary hinge loss (the SVM loss) on real scores: :math:`\ell = w\,\max(0, m - y x)`.

    Args:
        input: real scores (a single unit, no activation), any shape.
        target: labels in {-1, +1} or in {0, 1} (0 is read as -1), same shape; integer or
            floating dtype. Other values raise ``ValueError``.
        margin: :math:`m \ge 0`.
        weight: optional per-element weight broadcast to ``input``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    The derivative at the hinge (:math:`y x = m`) is taken as 0.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.hinge_loss(torch.tensor([0.5, 2.0, -1.0]), torch.tensor([1, 1, 1]))
        tensor(0.8333)

    References:
        Cortes & Vapnik, "Support-Vector Networks", Machine Learning 1995.
    """
    return _hinge("hinge_loss", input, target, margin, weight, reduction, power=1)


@loss_function(margin=MARGIN, weight=WEIGHT_PER_ELEMENT, reduction=REDUCTION)
def squared_hinge_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    margin: float = 1.0,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Squared binary hinge loss: :math:`\ell = w\,\max(0, m - y x)^2` (differentiable).

    Args:
        input: real scores (a single unit, no activation), any shape.
        target: labels in {-1, +1} or in {0, 1} (0 is read as -1), same shape.
        margin: :math:`m \ge 0`.
        weight: optional per-element weight broadcast to ``input``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.squared_hinge_loss(torch.tensor([0.5, 2.0, -1.0]), torch.tensor([1, 1, 0]))
        tensor(0.0833)

    References:
        Cortes & Vapnik, "Support-Vector Networks", Machine Learning 1995 (the squared slack
        "L2-SVM" variant).
    """
    return _hinge("squared_hinge_loss", input, target, margin, weight, reduction, power=2)


@loss_function(
    margin=MARGIN, weight=WEIGHT_PER_CLASS, ignore_index=IGNORE_INDEX, reduction=REDUCTION
)
def multiclass_hinge_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    margin: float = 1.0,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Crammer–Singer multiclass hinge loss.

    .. math::
        \ell_i = w_{y_i} \max\bigl(0,\ m + \max_{j \ne y_i} x_{ij} - x_{i y_i}\bigr)

    Only the strongest wrong class is penalised. This is **not** ``torch.nn.functional.
    multi_margin_loss``, which implements the Weston–Watkins loss (the *sum* over all wrong
    classes of :math:`\max(0, m + x_j - x_y)`, divided by C).

    Args:
        input: real scores, shape (N, C) or (N, C, d1, ...).
        target: class indices, shape (N,) or (N, d1, ...).
        margin: :math:`m \ge 0`.
        weight: optional per-class weight (C,); ``"mean"`` divides by :math:`\sum_i w_{y_i}`
            over non-ignored targets.
        ignore_index: target value whose elements are skipped.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.multiclass_hinge_loss(torch.tensor([[2.0, 1.5, 0.0]]), torch.tensor([0]))
        tensor(0.5000)

    References:
        Crammer & Singer, "On the Algorithmic Implementation of Multiclass Kernel-based Vector
        Machines", JMLR 2001.
    """
    name = "multiclass_hinge_loss"
    x, safe, valid, c = _class_inputs(name, input, target, ignore_index, arg="input")
    w_y = _class_weight(name, weight, c, x, safe)
    onehot = torch.zeros_like(x, dtype=torch.bool).scatter_(1, safe.unsqueeze(1), True)
    if c > 1:
        best_other = x.masked_fill(onehot, float("-inf")).amax(dim=1)
        loss = torch.relu(margin + best_other - _gather_class(x, safe))
    else:  # a single class has no competitor
        loss = _gather_class(x, safe) * 0.0
    return _reduce_class(name, loss, valid, w_y, reduction)


# -- noise-robust losses -----------------------------------------------------------------------


@loss_function(
    q=Param("float", "exponent: q -> 0 gives cross entropy, q = 1 gives MAE", gt=0, le=1),
    weight=WEIGHT_PER_CLASS,
    ignore_index=IGNORE_INDEX,
    reduction=REDUCTION,
)
def generalized_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    q: float = 0.7,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Generalized cross entropy (the :math:`L_q` loss), robust to label noise.

    .. math::
        \ell_i = w_{y_i} \frac{1 - p_{i y_i}^{\,q}}{q},\qquad
        p^{\,q}_{y} = \exp\bigl(q \log\operatorname{softmax}(x)_y\bigr)

    It interpolates between cross entropy (:math:`q \to 0`) and the mean absolute error
    :math:`1 - p_y` (:math:`q = 1`); it is bounded by :math:`1/q`.

    Args:
        logits: shape (N, C) or (N, C, d1, ...).
        target: class indices, shape (N,) or (N, d1, ...).
        q: in (0, 1].
        weight: optional per-class weight (C,); ``"mean"`` divides by :math:`\sum_i w_{y_i}`.
        ignore_index: target value whose elements are skipped.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.generalized_cross_entropy(torch.tensor([[2.0, 0.0, 0.0]]), torch.tensor([0]))
        tensor(0.2205)

    References:
        Zhang & Sabuncu, "Generalized Cross Entropy Loss for Training Deep Neural Networks with
        Noisy Labels", NeurIPS 2018.
    """
    name = "generalized_cross_entropy"
    x, safe, valid, c = _class_inputs(name, logits, target, ignore_index)
    w_y = _class_weight(name, weight, c, x, safe)
    log_py = _gather_class(torch.log_softmax(x, dim=1), safe)
    loss = -torch.expm1(q * log_py) / q
    return _reduce_class(name, loss, valid, w_y, reduction)


@loss_function(
    alpha=Param("float", "weight of the cross-entropy term", ge=0),
    beta=Param("float", "weight of the reverse cross-entropy term", ge=0),
    log_zero=Param("float", "the value A that log(0) is replaced by in the reverse CE", lt=0),
    ignore_index=IGNORE_INDEX,
    reduction=REDUCTION,
)
def symmetric_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    alpha: float = 0.1,
    beta: float = 1.0,
    log_zero: float = -4.0,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Symmetric cross entropy: :math:`\alpha\,\mathrm{CE} + \beta\,\mathrm{RCE}`.

    .. math::
        \mathrm{RCE}_i = -\sum_k p_{ik} \log q_{ik} = -A\,(1 - p_{i y_i}),\qquad
        \ell_i = -\alpha \log p_{i y_i} - \beta A (1 - p_{i y_i})

    The reverse cross entropy swaps prediction and (one-hot) label; :math:`\log 0` of the label
    is replaced by :math:`A` (``log_zero`` < 0, the paper uses -4). :math:`1 - p_y` is computed
    in log space. The defaults :math:`\alpha = 0.1, \beta = 1` are the paper's CIFAR-10 setting.

    Args:
        logits: shape (N, C) or (N, C, d1, ...).
        target: class indices, shape (N,) or (N, d1, ...).
        alpha: weight of CE, >= 0.
        beta: weight of RCE, >= 0.
        log_zero: :math:`A < 0`.
        ignore_index: target value whose elements are skipped; ``"mean"`` divides by the
            number of non-ignored targets.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.symmetric_cross_entropy(torch.tensor([[2.0, 0.0, 0.0]]), torch.tensor([0]))
        tensor(0.8760)

    References:
        Wang, Ma, Chen, Luo, Yi, Bailey, "Symmetric Cross Entropy for Robust Learning with Noisy
        Labels", ICCV 2019.
    """
    name = "symmetric_cross_entropy"
    x, safe, valid, _ = _class_inputs(name, logits, target, ignore_index)
    ce = -_gather_class(torch.log_softmax(x, dim=1), safe)
    rce = -log_zero * torch.exp(log_one_minus_softmax_target(x, safe, dim=1))
    return _reduce_class(name, alpha * ce + beta * rce, valid, None, reduction)


# -- logit adjustment --------------------------------------------------------------------------


@loss_function(
    class_prior=Param(
        "tensor", "class frequencies pi_c, shape (C,), normalised internally", gt=0, ndim=1
    ),
    tau=Param("float", "strength of the adjustment", ge=0),
    weight=WEIGHT_PER_CLASS,
    ignore_index=IGNORE_INDEX,
    label_smoothing=LABEL_SMOOTHING,
    reduction=REDUCTION,
)
def logit_adjusted_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    class_prior: torch.Tensor,
    tau: float = 1.0,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Logit-adjusted cross entropy for long-tailed classes.

    .. math::
        \ell_i = \mathrm{CE}\bigl(x_i + \tau \log \pi,\ y_i\bigr),\qquad
        \pi = \text{class\_prior} / \textstyle\sum_c \text{class\_prior}_c

    Training with the prior added to the logits makes the *unadjusted* logits ``x`` estimate
    balanced-error-optimal scores; predict with ``x`` (not ``x + tau log pi``).

    Args:
        logits: shape (N, C) or (N, C, d1, ...).
        target: class indices, shape (N,) or (N, d1, ...).
        class_prior: positive class frequencies or counts, shape (C,) (required).
        tau: >= 0 (1 in the paper); 0 gives plain cross entropy.
        weight, ignore_index, label_smoothing: as in :func:`cross_entropy` (``"mean"`` with
            ``weight`` divides by :math:`\sum_i w_{y_i}` over non-ignored targets).
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> prior = torch.tensor([0.9, 0.1])
        >>> LF.logit_adjusted_cross_entropy(torch.zeros(1, 2), torch.tensor([1]), class_prior=prior)
        tensor(2.3026)

    References:
        Menon, Jayasumana, Rawat, Jain, Veit, Kumar, "Long-tail learning via logit adjustment",
        ICLR 2021.
    """
    name = "logit_adjusted_cross_entropy"
    c = _check_class_scores(name, "logits", logits, target)
    check_class_indices(name, "target", target, c, ignore_index)
    check_shape(name, "class_prior", class_prior, (c,), "(C,)")
    if weight is not None:
        check_shape(name, "weight", weight, (c,), "(C,)")
    x = upcast(logits)
    prior = class_prior.to(x.dtype)
    shift = tau * (torch.log(prior) - torch.log(prior.sum()))
    adjusted = x + shift.view(1, c, *([1] * (x.dim() - 2)))
    has = bool((target != ignore_index).any()) if target.numel() else False
    return empty_mean_guard(
        lambda r: F.cross_entropy(
            adjusted,
            target,
            weight=None if weight is None else weight.to(x.dtype),
            ignore_index=ignore_index,
            reduction=r,
            label_smoothing=label_smoothing,
        ),
        reduction,
        has,
    )


# -- Jensen–Shannon ------------------------------------------------------------------------------

_LOG2 = math.log(2.0)


def _xlogratio(p: torch.Tensor, log_p: torch.Tensor, log_m: torch.Tensor) -> torch.Tensor:
    """p * (log p - log m), 0 where p == 0, with no NaN in the value or the gradient."""
    pos = p > 0
    safe_log_p = torch.where(pos, log_p, torch.zeros_like(log_p))
    safe_log_m = torch.where(pos, log_m, torch.zeros_like(log_m))
    return torch.where(pos, p * (safe_log_p - safe_log_m), torch.zeros_like(p))


@loss_function(
    log_target=Param("bool", "whether 'target' holds log-probabilities"),
    reduction=DIV_REDUCTION,
    dim=Param("int", "the dimension that holds each distribution"),
)
def js_div(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    log_target: bool = False,
    reduction: str = "batchmean",
    dim: int = -1,
) -> torch.Tensor:
    r"""Jensen–Shannon divergence between the predicted and target distributions.

    With :math:`Q = \exp(\text{input})`, :math:`P` the target and :math:`M = (P + Q)/2`, the
    pointwise terms (``reduction="none"``) are

    .. math::
        j = \tfrac12\bigl[p (\log p - \log m) + q (\log q - \log m)\bigr],\qquad
        \log m = \operatorname{logaddexp}(\log p, \log q) - \log 2,

    each >= 0 (log-sum inequality), 0 where :math:`p = q = 0`; summed over ``dim`` they give
    :math:`\mathrm{JS}(P, Q) \in [0, \log 2]`. The divergence is symmetric in :math:`P, Q`,
    bounded, and finite where the supports differ (unlike KL).

    The default reduction is ``"batchmean"``: the sum divided by the number of distributions
    (``input.numel() / input.shape[dim]``; the batch size N for (N, C) inputs, like
    ``kl_div``'s ``"batchmean"``), i.e. the mean divergence. ``"mean"`` divides by the number of
    *elements*, as ``kl_div``'s ``"mean"`` does, which is the divergence divided by C, not the
    divergence; it is kept only for parity with ``kl_div``.

    Args:
        input: log-probabilities :math:`\log Q` (like ``kl_div``), any shape.
        target: probabilities :math:`P` (log-probabilities if ``log_target``), same shape.
        log_target: whether ``target`` is given in log space.
        reduction: ``"none"`` | ``"batchmean"`` | ``"sum"`` | ``"mean"``.
        dim: the dimension holding each distribution (used by ``"batchmean"``).

    Example:
        >>> import torch, losslab.functional as LF
        >>> p = torch.tensor([[1.0, 0.0]])
        >>> LF.js_div(torch.tensor([[0.0, 1.0]]).log(), p)  # disjoint supports: log 2
        tensor(0.6931)

    References:
        Lin, "Divergence Measures Based on the Shannon Entropy", IEEE Trans. Inf. Theory 1991.
    """
    name = "js_div"
    log_q, tgt = prepare_pair(name, input, target)
    if log_q.dim() == 0 or not -log_q.dim() <= dim < log_q.dim():
        fail(name, "dim", f"a valid dimension of 'input' with shape {tuple(log_q.shape)}", dim)
    if log_target:
        log_p = tgt
        p = torch.exp(log_p)
    else:
        check_probabilities(name, "target", tgt)
        p = tgt
        pos = p > 0
        log_p = torch.where(pos, torch.log(torch.where(pos, p, torch.ones_like(p))), -torch.inf)
    q = torch.exp(log_q)
    # where both are 0 the terms vanish; keep logaddexp(-inf, -inf) (NaN gradient) out of the graph
    both_zero = (p == 0) & (q == 0)
    log_m = (
        torch.logaddexp(
            torch.where(both_zero, torch.zeros_like(log_p), log_p),
            torch.where(both_zero, torch.zeros_like(log_q), log_q),
        )
        - _LOG2
    )
    terms = 0.5 * (_xlogratio(p, log_p, log_m) + _xlogratio(q, log_q, log_m))
    size = log_q.shape[dim]
    n_dist = log_q.numel() // size if size > 0 else 0
    return reduce_loss(terms, reduction, name=name, batch_size=n_dist)
