"""Catalog entries of the classification losses (focal, poly-1, hinge, noise-robust, LA, JS).

Derivatives are written from the math (w.r.t. ``args[0]``, of the ``reduction="sum"`` loss with
the spec's ``test_kwargs`` and the functions' defaults), never with autograd.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F

from .. import functional as LF
from .. import nn as LN
from ._registry import register
from ._samplers import (
    BINARY_LOGITS,
    CLASS_LOGITS,
    DISTRIBUTION_LOG_PROBS,
    SIGNED_BINARY,
    N,
)
from ._spec import Case, Head, LossSpec

LOGIT_HEAD = Head("identity", "1", "a single logit")
MULTILABEL_HEAD = Head("identity", "C", "one logit per label")
CLASS_HEAD = Head("identity", "C", "C logits")
MARGIN_HEAD = Head("identity", "1", "a signed score; predict sign(x)")
SCORE_HEAD = Head("identity", "C", "C scores; predict argmax")


# -- samplers ---------------------------------------------------------------------------------


def _class_margin_kink(dtype: torch.dtype) -> Case:
    # margin 1 + best other score - correct score == 0 in every row: the hinge's corner
    x = torch.tensor([[1.0, 0.0, -0.5, -1.0], [0.5, 1.5, -2.0, 0.0]], dtype=dtype).repeat(N // 2, 1)
    y = torch.tensor([0, 1]).repeat(N // 2)
    return Case((x, y))


#: CLASS_LOGITS plus a kink where the Crammer-Singer hinge switches on.
CLASS_MARGIN = dataclasses.replace(CLASS_LOGITS, name="class_margin", kink=_class_margin_kink)


def _swap_distributions(case: Case) -> Case:
    log_q, p = case.args[:2]
    return Case((torch.log(p), torch.exp(log_q), *case.args[2:]), case.kwargs)


#: DISTRIBUTION_LOG_PROBS with a mirror that swaps prediction and target.
DISTRIBUTION_SWAP = dataclasses.replace(
    DISTRIBUTION_LOG_PROBS, name="distribution_swap", mirror=_swap_distributions
)

_CLASS_PRIOR = torch.tensor([0.5, 0.25, 0.15, 0.10], dtype=torch.float64)


# -- derivative helpers -------------------------------------------------------------------------


def _onehot(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return F.one_hot(y, x.shape[1]).to(x.dtype)


def _softmax_parts(x: torch.Tensor, y: torch.Tensor):
    p = torch.softmax(x, dim=1)
    e = _onehot(y, x)
    p_y = (p * e).sum(dim=1, keepdim=True)
    return p, e, p_y


def _sigmoid_focal_grad(x, t, *, alpha=0.25, gamma=2.0, **_):
    s = torch.sigmoid(x)
    bce = -(t * torch.log(s) + (1 - t) * torch.log(1 - s))
    u = t * (1 - s) + (1 - t) * s  # 1 - p_t
    du = s * (1 - s) * (1 - 2 * t)
    alpha_t = 1.0 if alpha is None else alpha * t + (1 - alpha) * (1 - t)
    return alpha_t * (gamma * u ** (gamma - 1) * du * bce + u**gamma * (s - t))


def _softmax_focal_grad(x, y, *, gamma=2.0, **_):
    p, e, p_y = _softmax_parts(x, y)
    u = 1 - p_y
    ce = -torch.log(p_y)
    # d(-log p_y)/dx = p - e;  d(1 - p_y)/dx = -p_y (e - p)
    return gamma * u ** (gamma - 1) * (-p_y) * (e - p) * ce + u**gamma * (p - e)


def _poly1_grad(x, y, *, epsilon=1.0, **_):
    p, e, p_y = _softmax_parts(x, y)
    return (1 + epsilon * p_y) * (p - e)


def _hinge_grad(x, y, *, margin=1.0, **_):
    return torch.where(margin - y * x > 0, -y, torch.zeros_like(x))


def _squared_hinge_grad(x, y, *, margin=1.0, **_):
    return -2 * y * torch.clamp(margin - y * x, min=0)


def _multiclass_hinge_grad(x, y, *, margin=1.0, **_):
    e = _onehot(y, x)
    others = x.masked_fill(e.bool(), -math.inf)
    k = others.argmax(dim=1)
    active = (margin + others.max(dim=1).values - (x * e).sum(dim=1)) > 0
    g = _onehot(k, x) - e
    return g * active.unsqueeze(1).to(x.dtype)


def _gce_grad(x, y, *, q=0.7, **_):
    p, e, p_y = _softmax_parts(x, y)
    return p_y**q * (p - e)


def _sce_grad(x, y, *, alpha=0.1, beta=1.0, log_zero=-4.0, **_):
    p, e, p_y = _softmax_parts(x, y)
    return (alpha - beta * log_zero * p_y) * (p - e)


def _logit_adjusted_grad(x, y, *, class_prior, tau=1.0, **_):
    prior = class_prior.to(x.dtype) / class_prior.sum()
    return torch.softmax(x + tau * torch.log(prior), dim=1) - _onehot(y, x)


def _js_grad(log_q, p, **_):
    q = torch.exp(log_q)
    m = (p + q) / 2
    return 0.5 * q * (log_q - torch.log(m))


def _props(**kw: bool | None) -> dict[str, bool | None]:
    return kw


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
        properties=_props(
            nonnegative=True,
            zero_at_perfect=True,
            convex=False,  # concave tail for confidently wrong logits (x < -2.8 when t = 1)
            smooth=True,
            bounded=False,
            robust_to_outliers=True,
            symmetric=False,  # alpha = 0.25 weighs positives and negatives differently
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
        properties=_props(
            nonnegative=True,
            zero_at_perfect=True,
            convex=False,
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
        properties=_props(
            nonnegative=True,
            zero_at_perfect=True,
            convex=True,  # Hessian PSD for epsilon in [-1, 1] (the default is 1)
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

# -- hinge ------------------------------------------------------------------------------------

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
        properties=_props(
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
        properties=_props(
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
        properties=_props(
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
        sampler=CLASS_MARGIN,
    )
)

# -- noise-robust -----------------------------------------------------------------------------

register(
    LossSpec(
        name="generalized_cross_entropy",
        function=LF.generalized_cross_entropy,
        module=LN.GeneralizedCrossEntropyLoss,
        family="noisy_labels",
        tasks=("multiclass", "noisy_labels"),
        input_kind="logits",
        heads={"*": CLASS_HEAD},
        formula=r"\ell = \frac{1 - p_y^{\,q}}{q},\quad p = \operatorname{softmax}(x)",
        derivative=r"\frac{\partial \ell}{\partial x_j} = p_y^{\,q}\,(p_j - [j = y])",
        derivative_fn=_gce_grad,
        properties=_props(
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
)

register(
    LossSpec(
        name="symmetric_cross_entropy",
        function=LF.symmetric_cross_entropy,
        module=LN.SymmetricCrossEntropyLoss,
        family="noisy_labels",
        tasks=("multiclass", "noisy_labels"),
        input_kind="logits",
        heads={"*": CLASS_HEAD},
        formula=r"\ell = -\alpha \log p_y - \beta A (1 - p_y),\quad A = \text{log\_zero} < 0",
        derivative=r"\frac{\partial \ell}{\partial x_j} = (\alpha - \beta A p_y)(p_j - [j = y])",
        derivative_fn=_sce_grad,
        properties=_props(
            nonnegative=True,
            zero_at_perfect=True,
            convex=False,  # the reverse term -A(1 - p_y) dominates with alpha=0.1, beta=1
            smooth=True,
            bounded=False,  # the alpha * CE part grows without bound
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
)

# -- logit adjustment -------------------------------------------------------------------------

register(
    LossSpec(
        name="logit_adjusted_cross_entropy",
        function=LF.logit_adjusted_cross_entropy,
        module=LN.LogitAdjustedCrossEntropyLoss,
        family="imbalance",
        tasks=("multiclass", "imbalanced"),
        input_kind="logits",
        heads={"*": CLASS_HEAD},
        formula=r"\ell = -\log \frac{e^{x_y + \tau \log \pi_y}}{\sum_j e^{x_j + \tau \log \pi_j}}",
        derivative=r"\frac{\partial \ell}{\partial x_j} = \operatorname{softmax}(x + \tau \log \pi)_j"
        r" - [j = y]",
        derivative_fn=_logit_adjusted_grad,
        properties=_props(
            nonnegative=True,
            zero_at_perfect=True,
            convex=True,
            smooth=True,
            bounded=False,
            robust_to_outliers=True,
            symmetric=None,
        ),
        references=(
            "Menon, Jayasumana, Rawat, Jain, Veit, Kumar, Long-tail learning via logit "
            "adjustment, ICLR 2021",
        ),
        summary="Cross entropy on logits shifted by tau * log(class prior): balanced-error training.",
        when_to_use="Long-tailed classification evaluated on balanced accuracy; pass the training "
        "class frequencies as class_prior and predict with the unadjusted logits.",
        sampler=CLASS_LOGITS,
        test_kwargs={"class_prior": _CLASS_PRIOR},
    )
)

# -- Jensen-Shannon ---------------------------------------------------------------------------

register(
    LossSpec(
        name="js_div",
        function=LF.js_div,
        module=LN.JSDivLoss,
        family="distribution",
        tasks=("distribution",),
        input_kind="log_probabilities",
        heads={"*": Head("log_softmax", "C", "log-probabilities, as for kl_div")},
        formula=r"\mathrm{JS}(P, Q) = \tfrac12 \mathrm{KL}(P \| M) + \tfrac12 \mathrm{KL}(Q \| M),"
        r"\quad M = \tfrac12 (P + Q)",
        derivative=r"\frac{\partial\, \mathrm{JS}}{\partial \log q_j} = \tfrac12\, q_j \log \frac{q_j}{m_j}",
        derivative_fn=_js_grad,
        properties=_props(
            nonnegative=True,
            zero_at_perfect=True,
            convex=False,  # not convex in the log-probabilities it takes (where q << p)
            smooth=True,
            bounded=True,  # at most log 2 per distribution
            robust_to_outliers=True,
            symmetric=True,  # swapping prediction and target
        ),
        references=(
            "Lin, Divergence Measures Based on the Shannon Entropy, IEEE Trans. Inf. Theory 1991",
        ),
        summary="Symmetric, bounded (<= log 2) smoothing of KL through the mixture M = (P + Q)/2.",
        when_to_use="Matching distributions whose supports may differ (KL would be infinite), "
        "consistency regularisation between two predictions (e.g. AugMix), or distillation where "
        "a symmetric, bounded penalty is wanted. Input is log-probabilities, like kl_div.",
        sampler=DISTRIBUTION_SWAP,
    )
)

__all__ = ["CLASS_MARGIN", "DISTRIBUTION_SWAP"]
