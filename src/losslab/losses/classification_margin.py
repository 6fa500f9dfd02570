"""Drop-ins for the margin classification losses of ``torch.nn.functional``: soft margin,
multi-margin (Weston–Watkins), multilabel margin and multilabel soft margin.

Same names, option names and semantics as torch, delegating to torch; what losslab adds
(validation, float32 for half inputs, a connected 0 for an empty ``"mean"``) is listed in
:mod:`losslab.functional._common`. Each function carries its catalog entry (:func:`entry`);
tested in ``tests/functional/test_torch_dropins.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._reduction import reduce_loss, upcast
from .._validation import (
    REDUCTION,
    WEIGHT_PER_CLASS,
    Param,
    check_class_indices,
    check_in_range,
    check_integer_tensor,
    check_probabilities,
    check_same_shape,
    check_shape,
    check_tensor,
    fail,
    loss_function,
    warn_if_probabilities,
)
from ..catalog._samplers import CLASS_MARGIN, MULTILABEL_INDICES, MULTILABEL_LOGITS, SIGNED_LOGITS
from ..catalog._spec import Head, When
from ..functional._common import (
    HINGE_MARGIN,
    SIGMOID_ADVICE,
    check_class_weight,
    check_signed_target,
    empty_mean_guard,
    prepare_pair,
    upcast_optional,
)
from ._entry import entry

__all__ = [
    "soft_margin_loss",
    "multi_margin_loss",
    "multilabel_margin_loss",
    "multilabel_soft_margin_loss",
]

_SOFT_MARGIN_SWITCH = 30.0


def _check_score_rows(name: str, input: torch.Tensor, target: torch.Tensor) -> int:
    """(N, C) or (C,) scores and an integer target (checked further by the caller); returns C."""
    check_tensor(name, "input", input)
    check_integer_tensor(name, "target", target)
    if input.dim() not in (1, 2):
        fail(name, "input", "of shape (N, C) or (C,)", f"shape {tuple(input.shape)}")
    return input.shape[-1]


def _soft_margin_grad(x, y, **_):
    return -y * torch.sigmoid(-y * x)


@entry(
    module="SoftMarginLoss",
    family="classification",
    tasks=("binary",),
    input_kind="logits",
    heads={"binary": Head("identity", "1", "a real score; targets in {-1, 1}")},
    formula=r"\ell = \log\left(1 + e^{-y x}\right)",
    derivative=r"\frac{\partial \ell}{\partial x} = -y\,\sigma(-y x)",
    derivative_fn=_soft_margin_grad,
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
        "Zhang, Statistical behavior and consistency of classification methods based on convex "
        "risk minimization, Annals of Statistics 2004",
    ),
    summary="Logistic loss with {-1, 1} labels: BCE on logits written as a margin loss.",
    when_to_use="Binary classification with signed labels; identical to "
    "binary_cross_entropy_with_logits with targets (y + 1) / 2.",
    sampler=SIGNED_LOGITS,
    notes="torch's own kernel overflows to inf for -y x > 88 (float32); losslab stays finite.",
    drop_in=torch.nn.SoftMarginLoss,
)
@loss_function(reduction=REDUCTION)
def soft_margin_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Soft margin (logistic) loss (drop-in for ``F.soft_margin_loss``).

    Targets are in {-1, 1}; ``"mean"`` averages over all
    elements. torch's ``soft_margin_loss`` evaluates ``log1p(exp(-y x))``, which overflows to
    ``inf`` (and a NaN gradient) once :math:`-yx \gtrsim 89` in float32; losslab calls torch's
    kernel where :math:`-yx \le 30` (identical values) and uses
    :math:`\log(1 + e^{z}) = z + \log(1 + e^{-z})` beyond, so the loss stays finite.

    Args:
        input: real scores, any shape.
        target: values in {-1, 1}, same shape.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.soft_margin_loss(torch.tensor([0.0, -1e4]), torch.tensor([1.0, 1.0]), reduction="none")
        tensor([6.9315e-01, 1.0000e+04])
    """
    name = "soft_margin_loss"
    check_tensor(name, "input", input)
    check_signed_target(name, target, tuple(input.shape), "of 'input'")
    x, y = upcast(input), upcast(target)
    warn_if_probabilities(name, "input", x, dim=None, advice=SIGMOID_ADVICE)
    # torch's own kernel where it is finite; log1p(e^z) = z + log1p(e^-z) beyond (no overflow)
    big = x * y < -_SOFT_MARGIN_SWITCH
    x_small, x_big = x.masked_fill(big, 0.0), x.masked_fill(~big, 0.0)
    pointwise = torch.where(
        big,
        -x_big * y + F.soft_margin_loss(-x_big, y, reduction="none"),
        F.soft_margin_loss(x_small, y, reduction="none"),
    )
    return reduce_loss(pointwise, reduction, name=name)


def _multi_margin_grad(x, y, *, p, margin, weight=None, **_):
    c = x.shape[-1]
    onehot = torch.nn.functional.one_hot(y, c).to(x.dtype)
    x_y = (x * onehot).sum(-1, keepdim=True)
    h = (margin - x_y + x).clamp_min(0) * (1 - onehot)
    d = (h > 0).to(x.dtype) if p == 1 else 2 * h
    w = 1.0 if weight is None else weight[y].unsqueeze(-1)
    g = w * d / c
    return g - onehot * g.sum(-1, keepdim=True)


@entry(
    module="MultiMarginLoss",
    family="classification",
    tasks=("multiclass",),
    input_kind="logits",
    heads={"*": Head("identity", "C", "C scores")},
    formula=r"\ell = \frac{1}{C}\sum_{j \ne y} \max(0, m - x_y + x_j)^p",
    derivative=r"\frac{\partial \ell}{\partial x_j} = \frac{1}{C}[m - x_y + x_j > 0]\ (j \ne y),\quad "
    r"\frac{\partial \ell}{\partial x_y} = -\sum_{j \ne y} \frac{\partial \ell}{\partial x_j}\quad (p = 1)",
    derivative_fn=_multi_margin_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=True,
        convex=True,
        smooth=When("p == 2"),
        bounded=False,
        robust_to_outliers=When("p == 1"),
        symmetric=None,
    ),
    references=(
        "Weston and Watkins, Support Vector Machines for Multi-Class Pattern Recognition, ESANN 1999",
    ),
    summary="Multiclass SVM hinge: the true class must beat every other by the margin.",
    when_to_use="Multiclass classification when calibrated probabilities are not needed; "
    "stops pushing once the margin holds. p=2 gives a smooth squared hinge.",
    sampler=CLASS_MARGIN,
    notes="Properties are for p=1 (the default); with p=2 the loss is smooth and not robust.",
    drop_in=torch.nn.MultiMarginLoss,
)
@loss_function(
    reduction=REDUCTION,
    p=Param("choice", "exponent of the hinge (1: hinge, 2: squared hinge)", choices=(1, 2)),
    margin=HINGE_MARGIN,
    weight=WEIGHT_PER_CLASS,
)
def multi_margin_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    p: int = 1,
    margin: float = 1.0,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Multiclass hinge loss (drop-in for ``F.multi_margin_loss``).

    The Weston–Watkins multiclass SVM loss, each sample's term scaled by :math:`w_{y_i}`.
    ``"mean"`` divides by N, even
    with ``weight``.

    Args:
        input: scores of shape (N, C) or (C,).
        target: class indices of shape (N,) (or () for input (C,)).
        p: 1 or 2.
        margin: the margin :math:`m`.
        weight: optional per-class weight, shape (C,).
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.multi_margin_loss(torch.tensor([[0.1, 0.2, 0.4, 0.8]]), torch.tensor([3]))
        tensor(0.3250)
    """
    name = "multi_margin_loss"
    c = _check_score_rows(name, input, target)
    check_shape(name, "target", target, tuple(input.shape[:-1]), "(N,) (or () for input (C,))")
    check_class_indices(name, "target", target, c)
    check_class_weight(name, weight, c)
    x = upcast(input)
    return empty_mean_guard(
        lambda r: F.multi_margin_loss(
            x, target, p=p, margin=margin, weight=upcast_optional(weight), reduction=r
        ),
        reduction,
        x.numel() > 0,
    )


def _multilabel_margin_grad(x, target, **_):
    c = x.shape[-1]
    valid = torch.cumprod((target != -1).long(), dim=-1)
    pos = torch.zeros_like(x).scatter_add_(-1, target.clamp_min(0), valid.to(x.dtype)) > 0
    # active[i, j, k]: positive j, negative k, hinge 1 - (x_j - x_k) > 0
    active = (1 - (x.unsqueeze(-1) - x.unsqueeze(-2)) > 0) & pos.unsqueeze(-1) & ~pos.unsqueeze(-2)
    a = active.to(x.dtype) / c
    return a.sum(-2) - a.sum(-1)


@entry(
    module="MultiLabelMarginLoss",
    family="classification",
    tasks=("multilabel",),
    input_kind="logits",
    heads={"multilabel": Head("identity", "C", "C scores")},
    formula=r"\ell = \frac{1}{C}\sum_{j \in Y}\sum_{k \notin Y} \max(0, 1 - (x_j - x_k))",
    derivative=r"\frac{\partial \ell}{\partial x_i} = \frac{1}{C}\Big(\sum_{j \in Y}[1 - x_j + x_i > 0]\,[i \notin Y]"
    r" - \sum_{k \notin Y}[1 - x_i + x_k > 0]\,[i \in Y]\Big)",
    derivative_fn=_multilabel_margin_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=True,
        convex=True,
        smooth=False,
        bounded=False,
        robust_to_outliers=True,
        symmetric=None,
    ),
    references=(
        "Crammer and Singer, A Family of Additive Online Algorithms for Category Ranking, JMLR 2003",
    ),
    summary="Multilabel ranking hinge: every positive label must outscore every negative one by 1.",
    when_to_use="Multilabel problems where the ranking of labels matters more than calibrated "
    "per-label probabilities. Targets are index lists padded with -1.",
    sampler=MULTILABEL_INDICES,
    drop_in=torch.nn.MultiLabelMarginLoss,
)
@loss_function(reduction=REDUCTION)
def multilabel_margin_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Multilabel hinge loss (drop-in for ``F.multilabel_margin_loss``).

    Every positive label should outscore every negative one by 1.

    Args:
        input: scores of shape (N, C) or (C,).
        target: integer tensor of the same shape holding the indices of the positive labels,
            padded with -1 (entries after the first -1 are ignored).
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.multilabel_margin_loss(torch.tensor([[0.1, 0.2, 0.4, 0.8]]), torch.tensor([[3, 0, -1, 1]]))
        tensor(0.8500)
    """
    name = "multilabel_margin_loss"
    c = _check_score_rows(name, input, target)
    check_same_shape(name, "input", input, "target", target)
    check_in_range(
        name, "target", target, -1, c - 1, f"label indices in [0, {c - 1}] or -1 (padding)"
    )
    x = upcast(input)
    return empty_mean_guard(
        lambda r: F.multilabel_margin_loss(x, target, reduction=r), reduction, x.numel() > 0
    )


def _mlsm_grad(x, y, *, weight=None, **_):
    g = (torch.sigmoid(x) - y) / x.shape[-1]
    return g if weight is None else g * weight


@entry(
    module="MultiLabelSoftMarginLoss",
    family="classification",
    tasks=("multilabel",),
    input_kind="logits",
    heads={"multilabel": Head("identity", "C", "C logits")},
    formula=r"\ell = -\frac{1}{C}\sum_c \left[y_c \log\sigma(x_c) + (1 - y_c)\log\sigma(-x_c)\right]",
    derivative=r"\frac{\partial \ell}{\partial x_c} = \frac{\sigma(x_c) - y_c}{C}",
    derivative_fn=_mlsm_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=True,
        convex=True,
        smooth=True,
        bounded=False,
        robust_to_outliers=True,
        symmetric=True,
    ),
    references=("Zhang and Zhou, A Review on Multi-Label Learning Algorithms, IEEE TKDE 2014",),
    summary="Per-sample mean over labels of BCE on logits (one loss value per sample).",
    when_to_use="Multilabel classification; equals binary_cross_entropy_with_logits averaged "
    "over labels per sample, with an optional per-class weight.",
    sampler=MULTILABEL_LOGITS,
    drop_in=torch.nn.MultiLabelSoftMarginLoss,
)
@loss_function(reduction=REDUCTION, weight=WEIGHT_PER_CLASS)
def multilabel_soft_margin_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Multilabel logistic loss (drop-in for ``F.multilabel_soft_margin_loss``).

    One value per sample (``"none"`` has shape (N,)): binary cross entropy on logits, scaled
    per class by ``weight``, averaged over the labels.

    Args:
        input: logits of shape (N, C).
        target: labels in [0, 1], same shape.
        weight: optional per-class weight, shape (C,).
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.multilabel_soft_margin_loss(torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 0.0]]))
        tensor(1.4100)
    """
    name = "multilabel_soft_margin_loss"
    x, y = prepare_pair(name, input, target)
    if x.dim() != 2:
        fail(name, "input", "of shape (N, C)", f"shape {tuple(x.shape)}")
    check_probabilities(name, "target", y)
    check_class_weight(name, weight, x.shape[1])
    warn_if_probabilities(name, "input", x, dim=None, advice=SIGMOID_ADVICE)
    return empty_mean_guard(
        lambda r: F.multilabel_soft_margin_loss(x, y, weight=upcast_optional(weight), reduction=r),
        reduction,
        x.shape[0] > 0,
    )
