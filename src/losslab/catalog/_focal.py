"""Catalog entries of the focal losses and poly-1 cross entropy."""

from __future__ import annotations

import torch

from .. import functional as LF
from .. import nn as LN
from ._common import CLASS_HEAD, LOGIT_HEAD, softmax_parts
from ._registry import register
from ._samplers import BINARY_LOGITS, CLASS_LOGITS
from ._spec import Head, LossSpec, When

MULTILABEL_HEAD = Head("identity", "C", "one logit per label")


def _sigmoid_focal_grad(x, t, *, alpha=0.25, gamma=2.0, **_):
    s = torch.sigmoid(x)
    bce = -(t * torch.log(s) + (1 - t) * torch.log(1 - s))
    u = t * (1 - s) + (1 - t) * s  # 1 - p_t
    du = s * (1 - s) * (1 - 2 * t)
    alpha_t = 1.0 if alpha is None else alpha * t + (1 - alpha) * (1 - t)
    return alpha_t * (gamma * u ** (gamma - 1) * du * bce + u**gamma * (s - t))


def _softmax_focal_grad(x, y, *, gamma=2.0, **_):
    p, e, p_y = softmax_parts(x, y)
    u = 1 - p_y
    ce = -torch.log(p_y)
    # d(-log p_y)/dx = p - e;  d(1 - p_y)/dx = -p_y (e - p)
    return gamma * u ** (gamma - 1) * (-p_y) * (e - p) * ce + u**gamma * (p - e)


def _poly1_grad(x, y, *, epsilon=1.0, **_):
    p, e, p_y = softmax_parts(x, y)
    return (1 + epsilon * p_y) * (p - e)


# -- focal ------------------------------------------------------------------------------------

register(
    LossSpec(
        name="sigmoid_focal_loss",
        function=LF.sigmoid_focal_loss,
        module=LN.SigmoidFocalLoss,
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
            symmetric=When(
                "alpha == 0.5"
            ),  # alpha = 0.25 weighs positives and negatives differently
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
)


register(
    LossSpec(
        name="softmax_focal_loss",
        function=LF.softmax_focal_loss,
        module=LN.SoftmaxFocalLoss,
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
)


# -- poly-1 -----------------------------------------------------------------------------------

register(
    LossSpec(
        name="poly1_cross_entropy",
        function=LF.poly1_cross_entropy,
        module=LN.Poly1CrossEntropyLoss,
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
)
