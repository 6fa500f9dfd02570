"""Losses robust to label noise, on logits: generalized (L_q) and symmetric cross entropy.

Class-indexed conventions (``ignore_index``, per-class ``weight``, log-space computation) are
those of :mod:`losslab.functional._common`.
"""

from __future__ import annotations

import torch

from .._validation import IGNORE_INDEX, REDUCTION, WEIGHT_PER_CLASS, Param, loss_function
from ._common import (
    class_inputs,
    class_weight,
    gather_class,
    log_one_minus_softmax_target,
    reduce_class,
)

__all__ = ["generalized_cross_entropy", "symmetric_cross_entropy"]


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
    x, safe, valid, c = class_inputs(name, logits, target, ignore_index)
    w_y = class_weight(name, weight, c, x, safe)
    log_py = gather_class(torch.log_softmax(x, dim=1), safe)
    loss = -torch.expm1(q * log_py) / q
    return reduce_class(name, loss, valid, w_y, reduction)


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
    x, safe, valid, _ = class_inputs(name, logits, target, ignore_index)
    ce = -gather_class(torch.log_softmax(x, dim=1), safe)
    rce = -log_zero * torch.exp(log_one_minus_softmax_target(x, safe, dim=1))
    return reduce_class(name, alpha * ce + beta * rce, valid, None, reduction)
