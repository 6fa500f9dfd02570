"""Drop-ins for ``torch.nn.functional``: same names, option names and semantics, delegating to torch.

What losslab adds on top of torch:

* hyperparameters are keyword-only and validated with losslab's messages (torch's deprecated
  ``size_average``/``reduce`` are not accepted);
* input/target shape mismatches raise ``ValueError`` (torch warns and broadcasts, which is
  almost always a bug);
* float16/bfloat16 inputs are computed in float32 (the result is float32);
* ``reduction="mean"`` over an empty batch (or one whose targets are all ignored) returns 0 with
  the graph connected instead of NaN.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._reduction import upcast
from .._validation import (
    IGNORE_INDEX,
    LABEL_SMOOTHING,
    REDUCTION,
    WEIGHT_PER_CLASS,
    WEIGHT_PER_ELEMENT,
    Param,
    check_class_indices,
    check_probabilities,
    check_tensor,
    loss_function,
)
from ._common import check_class_logits, empty_mean_guard, prepare_pair

__all__ = [
    "mse_loss",
    "l1_loss",
    "mae_loss",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
]


def _opt(x: torch.Tensor | None) -> torch.Tensor | None:
    return None if x is None else upcast(x)


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
        weight: optional per-element weight broadcast to ``input``; ``"mean"`` still divides by
            the number of elements (torch's semantics).

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.mse_loss(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 4.0]))
        tensor(2.)

    References:
        Gauss, *Theoria motus corporum coelestium*, 1809 (least squares).
    """
    x, y = prepare_pair("mse_loss", input, target)
    return empty_mean_guard(
        lambda r: F.mse_loss(x, y, reduction=r, weight=_opt(weight)), reduction, x.numel() > 0
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
        weight: optional per-element weight broadcast to ``input``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.l1_loss(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 4.0]))
        tensor(1.)

    References:
        Laplace, *Théorie analytique des probabilités*, 1812 (least absolute deviations).
    """
    x, y = prepare_pair("l1_loss", input, target)
    return empty_mean_guard(
        lambda r: F.l1_loss(x, y, reduction=r, weight=_opt(weight)), reduction, x.numel() > 0
    )


mae_loss = l1_loss


@loss_function(reduction=REDUCTION, weight=WEIGHT_PER_ELEMENT, pos_weight=WEIGHT_PER_ELEMENT)
def binary_cross_entropy_with_logits(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
    pos_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Binary cross entropy on logits (drop-in for ``F.binary_cross_entropy_with_logits``).

    :math:`\ell_i = -w_i\,[\,p_w\, y_i \log\sigma(x_i) + (1 - y_i) \log\sigma(-x_i)\,]`, computed
    with log-sigmoid so it is finite for any logit.

    Args:
        input: logits, any shape.
        target: probabilities in [0, 1] (hard or soft labels), same shape.
        weight: optional per-element weight (broadcast); ``"mean"`` divides by the element count.
        pos_weight: optional weight of the positive term, broadcast along the last dimension
            (one value per label in multi-label problems).
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.binary_cross_entropy_with_logits(torch.tensor([0.0]), torch.tensor([1.0]))
        tensor(0.6931)

    References:
        Cox, "The regression analysis of binary sequences", JRSS-B 1958.
    """
    name = "binary_cross_entropy_with_logits"
    x, y = prepare_pair(name, input, target)
    check_probabilities(name, "target", y)
    return empty_mean_guard(
        lambda r: F.binary_cross_entropy_with_logits(
            x, y, weight=_opt(weight), reduction=r, pos_weight=_opt(pos_weight)
        ),
        reduction,
        x.numel() > 0,
    )


@loss_function(
    reduction=REDUCTION,
    weight=WEIGHT_PER_CLASS,
    ignore_index=IGNORE_INDEX,
    label_smoothing=LABEL_SMOOTHING,
)
def cross_entropy(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    r"""Softmax cross entropy on logits (drop-in for ``F.cross_entropy``).

    :math:`\ell_i = -w_{y_i} \log \mathrm{softmax}(x_i)_{y_i}`; with label smoothing
    :math:`\varepsilon` the target is :math:`(1-\varepsilon)\,\mathrm{onehot}(y) + \varepsilon / C`.

    Args:
        input: logits of shape (N, C) or (N, C, d1, ...).
        target: class indices of shape (N,) or (N, d1, ...), or class probabilities of the same
            shape as ``input``.
        weight: optional per-class weight, shape (C,). With class indices, ``"mean"`` is the
            weighted mean :math:`\sum_i w_{y_i}\ell_i / \sum_i w_{y_i}` over non-ignored targets.
        ignore_index: target value that is skipped (class-index targets only).
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.
        label_smoothing: in [0, 1].

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.cross_entropy(torch.tensor([[2.0, 0.0, 0.0]]), torch.tensor([0]))
        tensor(0.2395)

    References:
        Good, "Rational decisions", JRSS-B 1952 (log loss); Szegedy et al., "Rethinking the
        Inception Architecture", CVPR 2016 (label smoothing).
    """
    name = "cross_entropy"
    check_tensor(name, "input", input)
    if isinstance(target, torch.Tensor) and target.is_floating_point():
        x, y = prepare_pair(name, input, target)
        check_probabilities(name, "target", y)
        has = x.numel() > 0
    else:
        c = check_class_logits(name, input, target)
        check_class_indices(name, "target", target, c, ignore_index)
        x, y = upcast(input), target
        has = bool((target != ignore_index).any()) if target.numel() else False
    return empty_mean_guard(
        lambda r: F.cross_entropy(
            x,
            y,
            weight=_opt(weight),
            ignore_index=ignore_index,
            reduction=r,
            label_smoothing=label_smoothing,
        ),
        reduction,
        has,
    )
