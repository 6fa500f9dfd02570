"""Catalog entries of the torch classification drop-ins (BCE, cross entropy, NLL, KL, margins)."""

from __future__ import annotations

import torch

from .. import functional as LF
from .. import nn as LN
from ._common import CLASS_HEAD, LOGIT_HEAD, PROB_HEAD, onehot
from ._registry import register
from ._samplers import (
    BINARY_LOGITS,
    BINARY_PROBS_WIDE,
    CLASS_LOG_PROBS,
    CLASS_LOGITS,
    CLASS_MARGIN,
    DISTRIBUTION_SWAP,
    MULTILABEL_INDICES,
    MULTILABEL_LOGITS,
    SIGNED_LOGITS,
)
from ._spec import Head, LossSpec, When

LOG_PROB_HEAD = Head("log_softmax", "C", "C log-probabilities")


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
    return torch.softmax(x, dim=1) - onehot(y, x)


register(
    LossSpec(
        name="cross_entropy",
        function=LF.cross_entropy,
        module=LN.CrossEntropyLoss,
        family="classification",
        tasks=("multiclass", "binary", "imbalanced", "metric_learning", "segmentation"),
        input_kind="logits",
        heads={"*": CLASS_HEAD, "binary": Head("identity", "2", "two logits")},
        formula=r"\ell = -\log \frac{e^{x_y}}{\sum_j e^{x_j}}",
        derivative=r"\frac{\partial \ell}{\partial x_j} = \operatorname{softmax}(x)_j - [j = y]",
        derivative_fn=_ce_grad,
        properties=dict(
            nonnegative=True,
            zero_at_perfect=When("label_smoothing == 0"),
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


def _bce_grad(p, y, **_):
    # torch's backward divides by max(p (1 - p), 1e-12)
    return (p - y) / (p * (1 - p)).clamp_min(1e-12)


register(
    LossSpec(
        name="binary_cross_entropy",
        function=LF.binary_cross_entropy,
        module=LN.BCELoss,
        family="classification",
        tasks=("binary", "multilabel"),
        input_kind="probabilities",
        heads={"binary": PROB_HEAD, "multilabel": Head("sigmoid", "C")},
        formula=r"\ell = -\left[y \log p + (1 - y) \log(1 - p)\right]",
        derivative=r"\frac{\partial \ell}{\partial p} = \frac{p - y}{p\,(1 - p)}",
        derivative_fn=_bce_grad,
        properties=dict(
            nonnegative=True,
            zero_at_perfect=True,
            convex=True,
            smooth=True,
            bounded=False,
            robust_to_outliers=False,
            symmetric=True,
        ),
        references=("Cox, The regression analysis of binary sequences, JRSS-B 1958",),
        summary="Log loss of a Bernoulli prediction given as a probability.",
        when_to_use="Only when the model already outputs probabilities; otherwise prefer "
        "binary_cross_entropy_with_logits, which is stable and has the simple gradient p - y.",
        sampler=BINARY_PROBS_WIDE,
        drop_in_for="torch.nn.functional.binary_cross_entropy",
        notes="torch clamps each log at -100 (so one term is at most 100) and divides the "
        "gradient by max(p(1-p), 1e-12); 'bounded' and 'robust' describe the loss below those clamps.",
    )
)


def _nll_grad(x, y, **_):
    return -onehot(y, x)


register(
    LossSpec(
        name="nll_loss",
        function=LF.nll_loss,
        module=LN.NLLLoss,
        family="classification",
        tasks=("multiclass", "imbalanced"),
        input_kind="log_probabilities",
        heads={"*": LOG_PROB_HEAD},
        formula=r"\ell = -x_{y}",
        derivative=r"\frac{\partial \ell}{\partial x_j} = -[j = y]",
        derivative_fn=_nll_grad,
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
            "Fisher, On the mathematical foundations of theoretical statistics, Phil. Trans. 1922",
        ),
        summary="Picks minus the log-probability of the target class; with log_softmax it is cross entropy.",
        when_to_use="When the model ends in log_softmax (or another log-probability head). "
        "cross_entropy on logits is the same loss in one fused, stable call.",
        sampler=CLASS_LOG_PROBS,
        drop_in_for="torch.nn.functional.nll_loss",
        notes="Linear in the log-probabilities; nonnegative because log-probabilities are <= 0. "
        "The gradient w.r.t. the logits, through log_softmax, is softmax - onehot.",
    )
)


register(
    LossSpec(
        name="kl_div",
        function=LF.kl_div,
        module=LN.KLDivLoss,
        family="distribution",
        tasks=("distribution",),
        input_kind="log_probabilities",
        heads={"distribution": LOG_PROB_HEAD},
        formula=r"\ell_c = p_c\,(\log p_c - x_c),\quad x = \log q",
        derivative=r"\frac{\partial \ell_c}{\partial x_c} = -p_c",
        derivative_fn=lambda x, p, *, log_target=False, **_: -(p.exp() if log_target else p),
        properties=dict(
            nonnegative=False,
            zero_at_perfect=True,
            convex=True,
            smooth=True,
            bounded=False,
            robust_to_outliers=True,
            symmetric=False,
        ),
        references=(
            "Kullback and Leibler, On Information and Sufficiency, Annals of Mathematical Statistics 1951",
        ),
        summary="Pointwise terms of KL(target || input); reduction='batchmean' gives the divergence.",
        when_to_use="Distillation and matching soft targets: input log q from log_softmax, target p. "
        "Use reduction='batchmean' (the default 'mean' also divides by the number of classes).",
        sampler=DISTRIBUTION_SWAP,
        drop_in_for="torch.nn.functional.kl_div",
        notes="The properties are per term: a single term p(log p - log q) is negative where "
        "q > p, but the sum over a distribution is >= 0 (Gibbs). 'symmetric' swaps p and q.",
    )
)


register(
    LossSpec(
        name="soft_margin_loss",
        function=LF.soft_margin_loss,
        module=LN.SoftMarginLoss,
        family="classification",
        tasks=("binary",),
        input_kind="logits",
        heads={"binary": Head("identity", "1", "a real score; targets in {-1, 1}")},
        formula=r"\ell = \log\left(1 + e^{-y x}\right)",
        derivative=r"\frac{\partial \ell}{\partial x} = -y\,\sigma(-y x)",
        derivative_fn=lambda x, y, **_: -y * torch.sigmoid(-y * x),
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
        drop_in_for="torch.nn.functional.soft_margin_loss",
        notes="torch's own kernel overflows to inf for -y x > 88 (float32); losslab stays finite.",
    )
)


def _multi_margin_grad(x, y, *, p=1, margin=1.0, weight=None, **_):
    c = x.shape[-1]
    onehot = torch.nn.functional.one_hot(y, c).to(x.dtype)
    x_y = (x * onehot).sum(-1, keepdim=True)
    h = (margin - x_y + x).clamp_min(0) * (1 - onehot)
    d = (h > 0).to(x.dtype) if p == 1 else 2 * h
    w = 1.0 if weight is None else weight[y].unsqueeze(-1)
    g = w * d / c
    return g - onehot * g.sum(-1, keepdim=True)


register(
    LossSpec(
        name="multi_margin_loss",
        function=LF.multi_margin_loss,
        module=LN.MultiMarginLoss,
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
        drop_in_for="torch.nn.functional.multi_margin_loss",
        notes="Properties are for p=1 (the default); with p=2 the loss is smooth and not robust.",
    )
)


def _multilabel_margin_grad(x, target, **_):
    c = x.shape[-1]
    valid = torch.cumprod((target != -1).long(), dim=-1)
    pos = torch.zeros_like(x).scatter_add_(-1, target.clamp_min(0), valid.to(x.dtype)) > 0
    # active[i, j, k]: positive j, negative k, hinge 1 - (x_j - x_k) > 0
    active = (1 - (x.unsqueeze(-1) - x.unsqueeze(-2)) > 0) & pos.unsqueeze(-1) & ~pos.unsqueeze(-2)
    a = active.to(x.dtype) / c
    return a.sum(-2) - a.sum(-1)


register(
    LossSpec(
        name="multilabel_margin_loss",
        function=LF.multilabel_margin_loss,
        module=LN.MultiLabelMarginLoss,
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
        drop_in_for="torch.nn.functional.multilabel_margin_loss",
    )
)


def _mlsm_grad(x, y, *, weight=None, **_):
    g = (torch.sigmoid(x) - y) / x.shape[-1]
    return g if weight is None else g * weight


register(
    LossSpec(
        name="multilabel_soft_margin_loss",
        function=LF.multilabel_soft_margin_loss,
        module=LN.MultiLabelSoftMarginLoss,
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
        drop_in_for="torch.nn.functional.multilabel_soft_margin_loss",
    )
)
