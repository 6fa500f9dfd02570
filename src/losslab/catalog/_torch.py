"""Catalog entries of the torch drop-ins."""

from __future__ import annotations

import torch

from .. import functional as LF
from .. import nn as LN
from ._registry import register
from ._samplers import BINARY_LOGITS, CLASS_LOGITS, REGRESSION
from ._spec import Head, LossSpec

REAL_HEAD = Head("identity", "1", "one unit per regression target")
PROB_HEAD = Head("sigmoid", "1")
LOGIT_HEAD = Head("identity", "1", "a single logit")
CLASS_HEAD = Head("identity", "C", "C logits")

register(
    LossSpec(
        name="mse_loss",
        function=LF.mse_loss,
        module=LN.MSELoss,
        family="regression",
        tasks=("regression", "binary"),
        input_kind="real",
        heads={"regression": REAL_HEAD, "binary": PROB_HEAD},
        formula=r"\ell = (x - y)^2",
        derivative=r"\frac{\partial \ell}{\partial x} = 2(x - y)",
        derivative_fn=lambda x, y: 2 * (x - y),
        properties=dict(
            nonnegative=True,
            zero_at_perfect=True,
            convex=True,
            smooth=True,
            bounded=False,
            robust_to_outliers=False,
            symmetric=True,
        ),
        references=("Gauss, Theoria motus corporum coelestium, 1809",),
        summary="Squared error: the maximum-likelihood loss under Gaussian noise.",
        when_to_use="Regression with clean, roughly Gaussian noise. Squared errors make it the most "
        "outlier-sensitive of the common regression losses: a few corrupted targets dominate it. "
        "On a binary task it needs a sigmoid head and trains more slowly than BCE.",
        sampler=REGRESSION,
        drop_in_for="torch.nn.functional.mse_loss",
    )
)

register(
    LossSpec(
        name="l1_loss",
        function=LF.l1_loss,
        module=LN.L1Loss,
        family="regression",
        tasks=("regression",),
        input_kind="real",
        heads={"regression": REAL_HEAD},
        formula=r"\ell = |x - y|",
        derivative=r"\frac{\partial \ell}{\partial x} = \operatorname{sign}(x - y)",
        derivative_fn=lambda x, y: torch.sign(x - y),
        properties=dict(
            nonnegative=True,
            zero_at_perfect=True,
            convex=True,
            smooth=False,
            bounded=False,
            robust_to_outliers=True,
            symmetric=True,
        ),
        references=("Laplace, Théorie analytique des probabilités, 1812",),
        summary="Absolute error: estimates the conditional median.",
        when_to_use="Regression with heavy-tailed noise or outliers in the targets; gradients have "
        "constant size, so learning rates matter more near the optimum.",
        sampler=REGRESSION,
        aliases=("mae_loss",),
        drop_in_for="torch.nn.functional.l1_loss",
    )
)

register(
    LossSpec(
        name="binary_cross_entropy_with_logits",
        function=LF.binary_cross_entropy_with_logits,
        module=LN.BCEWithLogitsLoss,
        family="classification",
        tasks=("binary", "multilabel", "imbalanced"),
        input_kind="logits",
        heads={"binary": LOGIT_HEAD, "imbalanced": LOGIT_HEAD, "multilabel": Head("identity", "C")},
        formula=r"\ell = -\left[y \log \sigma(x) + (1 - y) \log (1 - \sigma(x))\right]",
        derivative=r"\frac{\partial \ell}{\partial x} = \sigma(x) - y",
        derivative_fn=lambda x, y: torch.sigmoid(x) - y,
        properties=dict(
            nonnegative=True,
            zero_at_perfect=True,
            convex=True,
            smooth=True,
            bounded=False,
            robust_to_outliers=True,
            symmetric=True,
        ),
        references=("Cox, The regression analysis of binary sequences, JRSS-B 1958",),
        summary="Log loss of a Bernoulli prediction, taking logits (stable for any logit).",
        when_to_use="The default for binary and multi-label classification. The gradient "
        "w.r.t. the logit is simply p - y. Use pos_weight or weight for imbalance.",
        sampler=BINARY_LOGITS,
        drop_in_for="torch.nn.functional.binary_cross_entropy_with_logits",
    )
)


def _ce_grad(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.softmax(x, dim=1) - torch.nn.functional.one_hot(y, x.shape[1]).to(x.dtype)


register(
    LossSpec(
        name="cross_entropy",
        function=LF.cross_entropy,
        module=LN.CrossEntropyLoss,
        family="classification",
        tasks=("multiclass", "binary", "imbalanced"),
        input_kind="logits",
        heads={"*": CLASS_HEAD, "binary": Head("identity", "2", "two logits")},
        formula=r"\ell = -\log \frac{e^{x_y}}{\sum_j e^{x_j}}",
        derivative=r"\frac{\partial \ell}{\partial x_j} = \operatorname{softmax}(x)_j - [j = y]",
        derivative_fn=_ce_grad,
        properties=dict(
            nonnegative=True,
            zero_at_perfect=True,
            convex=True,
            smooth=True,
            bounded=False,
            robust_to_outliers=True,
            symmetric=None,
        ),
        references=(
            "Good, Rational decisions, JRSS-B 1952",
            "Szegedy et al., Rethinking the Inception Architecture for Computer Vision, CVPR 2016",
        ),
        summary="Softmax cross entropy on logits, with class weights, ignore_index and label smoothing.",
        when_to_use="The default for single-label multiclass classification.",
        sampler=CLASS_LOGITS,
        drop_in_for="torch.nn.functional.cross_entropy",
    )
)
