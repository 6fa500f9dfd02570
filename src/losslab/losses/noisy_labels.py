"""Losses robust to label noise, on logits: generalized (L_q) and symmetric cross entropy.

Class-indexed conventions (``ignore_index``, per-class ``weight``, log-space computation) are
those of :mod:`losslab.functional._common`. Each function carries its catalog entry
(:func:`entry`); tested in ``tests/functional/test_classification.py``.
"""

from __future__ import annotations

import torch

from .._validation import IGNORE_INDEX, REDUCTION, WEIGHT_PER_CLASS, Param, loss_function
from ..catalog._common import CLASS_HEAD, softmax_parts
from ..catalog._samplers import CLASS_LOGITS
from ..catalog._spec import When
from ..functional._common import (
    class_inputs,
    class_weight,
    gather_class,
    log_one_minus_softmax_target,
    reduce_class,
)
from ._entry import entry

__all__ = ["generalized_cross_entropy", "symmetric_cross_entropy"]


def _gce_grad(x, y, *, q, **_):
    p, e, p_y = softmax_parts(x, y)
    return p_y**q * (p - e)


@entry(
    module="GeneralizedCrossEntropyLoss",
    family="noisy_labels",
    tasks=("multiclass", "noisy_labels"),
    input_kind="logits",
    heads={"*": CLASS_HEAD},
    formula=r"\ell = \frac{1 - p_y^{\,q}}{q},\quad p = \operatorname{softmax}(x)",
    derivative=r"\frac{\partial \ell}{\partial x_j} = p_y^{\,q}\,(p_j - [j = y])",
    derivative_fn=_gce_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=True,
        convex=False,
        smooth=True,
        bounded=True,
        robust_to_outliers=True,
        symmetric=None,
    ),
    references=(
        "Zhang & Sabuncu, Generalized Cross Entropy Loss for Training Deep Neural Networks "
        "with Noisy Labels, NeurIPS 2018",
    ),
    summary="L_q loss: between cross entropy (q -> 0) and MAE (q = 1), bounded by 1/q.",
    when_to_use="Training labels with a sizeable fraction of errors: confidently "
    "contradicted examples get a vanishing gradient instead of dominating. Trains slower "
    "than CE on clean data.",
    sampler=CLASS_LOGITS,
)
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
    """
    name = "generalized_cross_entropy"
    x, safe, valid, c = class_inputs(name, logits, target, ignore_index)
    w_y = class_weight(name, weight, c, x, safe)
    log_py = gather_class(torch.log_softmax(x, dim=1), safe)
    loss = -torch.expm1(q * log_py) / q
    return reduce_class(name, loss, valid, w_y, reduction)


def _sce_grad(x, y, *, alpha, beta, log_zero, **_):
    p, e, p_y = softmax_parts(x, y)
    return (alpha - beta * log_zero * p_y) * (p - e)


@entry(
    module="SymmetricCrossEntropyLoss",
    family="noisy_labels",
    tasks=("multiclass", "noisy_labels"),
    input_kind="logits",
    heads={"*": CLASS_HEAD},
    formula=r"\ell = -\alpha \log p_y - \beta A (1 - p_y),\quad A = \text{log\_zero} < 0",
    derivative=r"\frac{\partial \ell}{\partial x_j} = (\alpha - \beta A p_y)(p_j - [j = y])",
    derivative_fn=_sce_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=True,
        convex=When("beta == 0"),  # the reverse term -A(1 - p_y) dominates with alpha=0.1, beta=1
        smooth=True,
        bounded=When("alpha == 0"),  # the alpha * CE part grows without bound
        robust_to_outliers=True,
        symmetric=None,
    ),
    references=(
        "Wang, Ma, Chen, Luo, Yi, Bailey, Symmetric Cross Entropy for Robust Learning with "
        "Noisy Labels, ICCV 2019",
    ),
    summary="Cross entropy plus reverse cross entropy (a bounded, noise-tolerant MAE-like term).",
    when_to_use="Noisy labels, especially with many classes: CE keeps learning hard classes, "
    "the reverse term tolerates wrong labels. alpha=0.1, beta=1 is the paper's CIFAR-10 "
    "setting; raise alpha for harder datasets.",
    sampler=CLASS_LOGITS,
)
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
    """
    name = "symmetric_cross_entropy"
    x, safe, valid, _ = class_inputs(name, logits, target, ignore_index)
    ce = -gather_class(torch.log_softmax(x, dim=1), safe)
    rce = -log_zero * torch.exp(log_one_minus_softmax_target(x, safe, dim=1))
    return reduce_class(name, alpha * ce + beta * rce, valid, None, reduction)
