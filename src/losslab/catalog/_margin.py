"""Catalog entries of the margin (SVM) losses: binary, squared and Crammer–Singer multiclass hinge."""

from __future__ import annotations

import dataclasses
import math

import torch

from .. import functional as LF
from .. import nn as LN
from ._common import onehot
from ._registry import register
from ._samplers import CLASS_LOGITS, SIGNED_BINARY, N
from ._spec import Case, Head, LossSpec

MARGIN_HEAD = Head("identity", "1", "a signed score; predict sign(x)")
SCORE_HEAD = Head("identity", "C", "C scores; predict argmax")


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


def _hinge_grad(x, y, *, margin=1.0, **_):
    return torch.where(margin - y * x > 0, -y, torch.zeros_like(x))


def _squared_hinge_grad(x, y, *, margin=1.0, **_):
    return -2 * y * torch.clamp(margin - y * x, min=0)


def _multiclass_hinge_grad(x, y, *, margin=1.0, **_):
    e = onehot(y, x)
    others = x.masked_fill(e.bool(), -math.inf)
    k = others.argmax(dim=1)
    active = (margin + others.max(dim=1).values - (x * e).sum(dim=1)) > 0
    g = onehot(k, x) - e
    return g * active.unsqueeze(1).to(x.dtype)


register(
    LossSpec(
        name="hinge_loss",
        function=LF.hinge_loss,
        module=LN.HingeLoss,
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
)


register(
    LossSpec(
        name="squared_hinge_loss",
        function=LF.squared_hinge_loss,
        module=LN.SquaredHingeLoss,
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
)


register(
    LossSpec(
        name="multiclass_hinge_loss",
        function=LF.multiclass_hinge_loss,
        module=LN.MulticlassHingeLoss,
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
)
