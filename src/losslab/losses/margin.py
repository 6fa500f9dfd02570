"""Margin (SVM) losses on real scores: binary hinge, squared hinge, Crammer–Singer multiclass hinge.

For torch's Weston–Watkins ``multi_margin_loss`` see
:mod:`losslab.losses.classification_margin`. Each function carries its catalog entry
(:func:`entry`); tested in ``tests/functional/test_classification.py``.
"""

from __future__ import annotations

import dataclasses
import math

import torch

from .._reduction import reduce_loss, upcast
from .._validation import (
    IGNORE_INDEX,
    REDUCTION,
    WEIGHT_PER_CLASS,
    WEIGHT_PER_ELEMENT,
    Param,
    check_same_shape,
    check_tensor,
    check_values_in,
    content_checks_enabled,
    fail,
    loss_function,
)
from ..catalog._common import onehot
from ..catalog._samplers import CLASS_LOGITS, SIGNED_BINARY, N
from ..catalog._spec import Case, Head
from ..functional._common import (
    class_inputs,
    class_weight,
    element_weight,
    gather_class,
    reduce_class,
)
from ._entry import entry

__all__ = ["hinge_loss", "squared_hinge_loss", "multiclass_hinge_loss"]


MARGIN = Param("float", "the margin the correct score must exceed the others by", ge=0)


MARGIN_HEAD = Head("identity", "1", "a signed score; predict sign(x)")


SCORE_HEAD = Head("identity", "C", "C scores; predict argmax")


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
    w = element_weight(name, weight, x)
    loss = torch.relu(margin - y * x)
    if power == 2:
        loss = loss * loss
    if w is not None:
        loss = loss * w.to(x.dtype)
    return reduce_loss(loss, reduction, name=name)


# -- binary hinge ------------------------------------------------------------------------------


def _hinge_grad(x, y, *, margin, **_):
    return torch.where(margin - y * x > 0, -y, torch.zeros_like(x))


@entry(
    module="HingeLoss",
    family="classification",
    tasks=("binary",),
    input_kind="real",
    heads={"binary": MARGIN_HEAD},
    formula=r"\ell = \max(0,\ m - y x),\quad y \in \{-1, +1\}",
    derivative=r"\frac{\partial \ell}{\partial x} = -y\,[\,y x < m\,]",
    derivative_fn=_hinge_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=True,
        convex=True,
        smooth=False,
        bounded=False,
        robust_to_outliers=True,
        symmetric=True,
    ),
    references=("Cortes & Vapnik, Support-Vector Networks, Machine Learning 1995",),
    summary="The SVM loss: zero once the signed score clears the margin, linear otherwise.",
    when_to_use="Binary classification when only the decision matters (no calibrated "
    "probabilities); sparse gradients once examples clear the margin.",
    sampler=SIGNED_BINARY,
)
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
        weight: optional per-element weight broadcast to ``input`` (never enlarging it).
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``; ``"mean"`` divides by the element count
            of ``input``, with or without weights (the per-element rule of
            :mod:`losslab._reduction`).

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.hinge_loss(torch.tensor([0.5, 2.0, -1.0]), torch.tensor([1, 1, 1]))
        tensor(0.8333)
    """
    return _hinge("hinge_loss", input, target, margin, weight, reduction, power=1)


# -- squared hinge -----------------------------------------------------------------------------


def _squared_hinge_grad(x, y, *, margin, **_):
    return -2 * y * torch.clamp(margin - y * x, min=0)


@entry(
    module="SquaredHingeLoss",
    family="classification",
    tasks=("binary",),
    input_kind="real",
    heads={"binary": MARGIN_HEAD},
    formula=r"\ell = \max(0,\ m - y x)^2,\quad y \in \{-1, +1\}",
    derivative=r"\frac{\partial \ell}{\partial x} = -2y\max(0,\ m - y x)",
    derivative_fn=_squared_hinge_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=True,
        convex=True,
        smooth=True,
        bounded=False,
        robust_to_outliers=False,
        symmetric=True,
    ),
    references=(
        "Cortes & Vapnik, Support-Vector Networks, Machine Learning 1995 (L2-SVM variant)",
    ),
    summary="Squared SVM loss: differentiable, but quadratic in the violation.",
    when_to_use="Binary margin classification with a smooth objective (e.g. for second-order "
    "or line-search optimisers); mislabelled points pull harder than with the plain hinge.",
    sampler=SIGNED_BINARY,
)
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
        weight: optional per-element weight broadcast to ``input`` (never enlarging it).
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``; ``"mean"`` divides by the element count
            of ``input``, with or without weights (the per-element rule of
            :mod:`losslab._reduction`).

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.squared_hinge_loss(torch.tensor([0.5, 2.0, -1.0]), torch.tensor([1, 1, 0]))
        tensor(0.0833)
    """
    return _hinge("squared_hinge_loss", input, target, margin, weight, reduction, power=2)


# -- Crammer-Singer multiclass hinge -----------------------------------------------------------


def _class_margin_kink(dtype: torch.dtype) -> Case:
    # margin 1 + best other score - correct score == 0 in every row: the hinge's corner
    x = torch.tensor([[1.0, 0.0, -0.5, -1.0], [0.5, 1.5, -2.0, 0.0]], dtype=dtype).repeat(N // 2, 1)
    y = torch.tensor([0, 1]).repeat(N // 2)
    return Case((x, y))


#: CLASS_LOGITS plus a kink where the Crammer-Singer hinge switches on (named "class_margin",
#: like ``_samplers.CLASS_MARGIN`` of torch's multi_margin_loss, whose kink is one-hot scores).
CRAMMER_SINGER_MARGIN = dataclasses.replace(
    CLASS_LOGITS, name="class_margin", kink=_class_margin_kink
)


def _multiclass_hinge_grad(x, y, *, margin, **_):
    e = onehot(y, x)
    others = x.masked_fill(e.bool(), -math.inf)
    k = others.argmax(dim=1)
    active = (margin + others.max(dim=1).values - (x * e).sum(dim=1)) > 0
    g = onehot(k, x) - e
    return g * active.unsqueeze(1).to(x.dtype)


@entry(
    module="MulticlassHingeLoss",
    family="classification",
    tasks=("multiclass",),
    input_kind="real",
    heads={"*": SCORE_HEAD},
    formula=r"\ell = \max\left(0,\ m + \max_{j \ne y} x_j - x_y\right)",
    derivative=r"\frac{\partial \ell}{\partial x_j} = [\ell > 0]\,([j = k] - [j = y]),\quad "
    r"k = \arg\max_{j \ne y} x_j",
    derivative_fn=_multiclass_hinge_grad,
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
        "Crammer & Singer, On the Algorithmic Implementation of Multiclass Kernel-based "
        "Vector Machines, JMLR 2001",
    ),
    summary="Crammer–Singer multiclass SVM loss: only the strongest wrong class is penalised.",
    when_to_use="Multiclass problems where a margin, not probabilities, is wanted. Not "
    "torch's multi_margin_loss, which is the Weston–Watkins sum over all wrong classes.",
    sampler=CRAMMER_SINGER_MARGIN,
)
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
    """
    name = "multiclass_hinge_loss"
    x, safe, valid, c = class_inputs(
        name, input, target, ignore_index, arg="input", softmax_input=False
    )
    w_y = class_weight(name, weight, c, x, safe)
    onehot = torch.zeros_like(x, dtype=torch.bool).scatter_(1, safe.unsqueeze(1), True)
    if c > 1:
        best_other = x.masked_fill(onehot, float("-inf")).amax(dim=1)
        loss = torch.relu(margin + best_other - gather_class(x, safe))
    else:  # a single class has no competitor
        loss = gather_class(x, safe) * 0.0
    return reduce_class(name, loss, valid, w_y, reduction)
