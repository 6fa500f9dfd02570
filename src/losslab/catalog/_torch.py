"""Catalog entries of the torch drop-ins."""

from __future__ import annotations

import torch

from .. import functional as LF
from .. import nn as LN
from ._registry import register
from ._samplers import (
    BINARY_LOGITS,
    BINARY_PROBS_WIDE,
    CLASS_LOG_PROBS,
    CLASS_LOGITS,
    CLASS_MARGIN,
    CTC_SEQUENCES,
    DISTANCE_PAIRS,
    DISTRIBUTION_SWAP,
    EMBEDDING_PAIRS,
    GAUSSIAN_MEAN_VAR,
    MULTILABEL_INDICES,
    MULTILABEL_LOGITS,
    POISSON_LOG_RATE,
    RANKING_PAIRS,
    REGRESSION,
    SIGNED_LOGITS,
    TRIPLETS,
)
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


# == the remaining torch.nn.functional drop-ins ===============================================

LOG_PROB_HEAD = Head("log_softmax", "C", "C log-probabilities")
EMBED_HEAD = Head("identity", "D", "an embedding (often L2-normalised)")


def _props(**kw: bool | None) -> dict[str, bool | None]:
    return kw


def _huber_grad(x, y, *, delta=1.0, **_):
    return torch.clamp(x - y, -delta, delta)


register(
    LossSpec(
        name="huber_loss",
        function=LF.huber_loss,
        module=LN.HuberLoss,
        family="regression",
        tasks=("regression",),
        input_kind="real",
        heads={"regression": REAL_HEAD},
        formula=r"\ell = \begin{cases} \tfrac12 (x - y)^2 & |x - y| \le \delta \\ "
        r"\delta\,(|x - y| - \tfrac12\delta) & \text{otherwise} \end{cases}",
        derivative=r"\frac{\partial \ell}{\partial x} = \operatorname{clamp}(x - y, -\delta, \delta)",
        derivative_fn=_huber_grad,
        properties=_props(
            nonnegative=True,
            zero_at_perfect=True,
            convex=True,
            smooth=True,
            bounded=False,
            robust_to_outliers=True,
            symmetric=True,
        ),
        references=(
            "Huber, Robust Estimation of a Location Parameter, Annals of Mathematical Statistics 1964",
        ),
        summary="Quadratic for small errors, linear for large ones: squared error with bounded influence.",
        when_to_use="Regression with occasional outliers in the targets: behaves like MSE near the "
        "optimum and like L1 in the tails. Choose delta on the scale of the inlier noise.",
        sampler=REGRESSION,
        drop_in_for="torch.nn.functional.huber_loss",
        notes="Differentiable once (the second derivative jumps at |x - y| = delta).",
    )
)


def _smooth_l1_grad(x, y, *, beta=1.0, **_):
    if beta == 0:
        return torch.sign(x - y)
    return torch.clamp((x - y) / beta, -1.0, 1.0)


register(
    LossSpec(
        name="smooth_l1_loss",
        function=LF.smooth_l1_loss,
        module=LN.SmoothL1Loss,
        family="regression",
        tasks=("regression",),
        input_kind="real",
        heads={"regression": REAL_HEAD, "*": Head("identity", "4", "box offsets in detection")},
        formula=r"\ell = \begin{cases} \frac{(x - y)^2}{2\beta} & |x - y| < \beta \\ "
        r"|x - y| - \tfrac12\beta & \text{otherwise} \end{cases}",
        derivative=r"\frac{\partial \ell}{\partial x} = \operatorname{clamp}\!\left(\frac{x - y}{\beta}, -1, 1\right)",
        derivative_fn=_smooth_l1_grad,
        properties=_props(
            nonnegative=True,
            zero_at_perfect=True,
            convex=True,
            smooth=True,
            bounded=False,
            robust_to_outliers=True,
            symmetric=True,
        ),
        references=("Girshick, Fast R-CNN, ICCV 2015",),
        summary="Huber loss divided by its threshold: slope 1 in the tails whatever beta.",
        when_to_use="Bounding-box regression in detectors, and regression with outliers. Equals "
        "huber_loss(delta=beta) / beta; beta=0 gives L1 (then not smooth).",
        sampler=REGRESSION,
        drop_in_for="torch.nn.functional.smooth_l1_loss",
        notes="Properties are for beta > 0 (the default 1); with beta = 0 it is the L1 loss.",
    )
)


register(
    LossSpec(
        name="poisson_nll_loss",
        function=LF.poisson_nll_loss,
        module=LN.PoissonNLLLoss,
        family="regression",
        tasks=("regression",),
        input_kind="real",
        heads={"regression": Head("identity", "1", "the log of the rate (log_input=True)")},
        formula=r"\ell = e^{x} - y\,x \quad (x = \log\lambda)",
        derivative=r"\frac{\partial \ell}{\partial x} = e^{x} - y",
        derivative_fn=lambda x, y, **_: torch.exp(x) - y,
        properties=_props(
            nonnegative=False,
            zero_at_perfect=False,
            convex=True,
            smooth=True,
            bounded=False,
            robust_to_outliers=False,
            symmetric=False,
        ),
        references=("Nelder and Wedderburn, Generalized Linear Models, JRSS-A 1972",),
        summary="Negative log-likelihood of counts under a Poisson rate predicted in log space.",
        when_to_use="Count targets (events, clicks, photons) whose variance grows with the mean. "
        "The log-rate head keeps the rate positive; the exp makes large over-predictions costly.",
        sampler=POISSON_LOG_RATE,
        drop_in_for="torch.nn.functional.poisson_nll_loss",
        notes="log(y!) is dropped, so the minimum y - y log y is not 0 and is negative for y >= 3. "
        "Properties and derivative are for log_input=True (the default).",
    )
)


def _gaussian_grad(x, y, var, *, eps=1e-6, **_):
    v = torch.as_tensor(var, dtype=x.dtype)
    if v.dim() == x.dim() - 1:
        v = v.unsqueeze(-1)
    return (x - y) / v.clamp_min(eps)


register(
    LossSpec(
        name="gaussian_nll_loss",
        function=LF.gaussian_nll_loss,
        module=LN.GaussianNLLLoss,
        family="regression",
        tasks=("regression",),
        input_kind="real",
        heads={
            "regression": Head(
                "identity", "2", "a mean and a variance (softplus/exp for the variance)"
            )
        },
        formula=r"\ell = \tfrac12\left(\log \sigma^2 + \frac{(x - y)^2}{\sigma^2}\right),\ "
        r"\sigma^2 = \max(v, \epsilon)",
        derivative=r"\frac{\partial \ell}{\partial x} = \frac{x - y}{\max(v, \epsilon)}",
        derivative_fn=_gaussian_grad,
        properties=_props(
            nonnegative=False,
            zero_at_perfect=False,
            convex=True,
            smooth=True,
            bounded=False,
            robust_to_outliers=False,
            symmetric=True,
        ),
        references=(
            "Nix and Weigend, Estimating the mean and variance of the target probability distribution, ICNN 1994",
        ),
        summary="Negative log-likelihood of a Gaussian whose mean and variance are both predicted.",
        when_to_use="Regression that must also report its uncertainty (heteroscedastic noise). "
        "Learning the variance can let the model ignore hard points; watch for collapse.",
        sampler=GAUSSIAN_MEAN_VAR,
        drop_in_for="torch.nn.functional.gaussian_nll_loss",
        notes="Convexity and derivative are w.r.t. the mean at a fixed variance.",
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
        properties=_props(
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
    return -torch.nn.functional.one_hot(y, x.shape[1]).to(x.dtype)


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
        properties=_props(
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


def _hinge_emb_grad(x, y, *, margin=1.0, **_):
    return torch.where(y == 1, torch.ones_like(x), -(margin - x > 0).to(x.dtype))


register(
    LossSpec(
        name="hinge_embedding_loss",
        function=LF.hinge_embedding_loss,
        module=LN.HingeEmbeddingLoss,
        family="metric_learning",
        tasks=("metric_learning",),
        input_kind="real",
        heads={
            "metric_learning": Head("identity", "1", "a distance between the two items of a pair")
        },
        formula=r"\ell = \begin{cases} x & y = 1 \\ \max(0, m - x) & y = -1 \end{cases}",
        derivative=r"\frac{\partial \ell}{\partial x} = \begin{cases} 1 & y = 1 \\ -[x < m] & y = -1 \end{cases}",
        derivative_fn=_hinge_emb_grad,
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
            "Hadsell, Chopra and LeCun, Dimensionality Reduction by Learning an Invariant Mapping, CVPR 2006",
        ),
        summary="Contrastive hinge on a pair distance: pull similar pairs to 0, push dissimilar beyond the margin.",
        when_to_use="Learning embeddings or similarity from labelled pairs, with the distance "
        "computed outside the loss (e.g. an L1 or L2 distance).",
        sampler=DISTANCE_PAIRS,
        drop_in_for="torch.nn.functional.hinge_embedding_loss",
        notes="Properties assume distances x >= 0; for a negative x with y = 1 the loss is negative.",
    )
)


def _ranking_grad(x1, x2, y, *, margin=0.0, **_):
    return torch.where(-y * (x1 - x2) + margin > 0, -y, torch.zeros_like(y)).to(x1.dtype)


register(
    LossSpec(
        name="margin_ranking_loss",
        function=LF.margin_ranking_loss,
        module=LN.MarginRankingLoss,
        family="ranking",
        tasks=("ranking",),
        input_kind="real",
        heads={
            "ranking": Head(
                "identity", "1", "a score per item; the two items are scored separately"
            )
        },
        formula=r"\ell = \max(0, -y\,(x_1 - x_2) + m)",
        derivative=r"\frac{\partial \ell}{\partial x_1} = -y\,[-y(x_1 - x_2) + m > 0]",
        derivative_fn=_ranking_grad,
        properties=_props(
            nonnegative=True,
            zero_at_perfect=True,
            convex=True,
            smooth=False,
            bounded=False,
            robust_to_outliers=True,
            symmetric=True,
        ),
        references=(
            "Herbrich, Graepel and Obermayer, Large Margin Rank Boundaries for Ordinal Regression, "
            "Advances in Large Margin Classifiers 2000",
        ),
        summary="Pairwise ranking hinge: the preferred item must outscore the other by the margin.",
        when_to_use="Learning to rank from pairwise preferences (search, recommendation). "
        "A positive margin keeps pushing until the pair is separated by it.",
        sampler=RANKING_PAIRS,
        drop_in_for="torch.nn.functional.margin_ranking_loss",
        notes="'symmetric' negates both scores together with the preference.",
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
        properties=_props(
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
        properties=_props(
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


def _cosine_grad(x1, x2, y, *, margin=0.0, **_):
    eps = 1e-12  # torch adds it to both squared norms
    m1 = (x1 * x1).sum(-1, keepdim=True) + eps
    m2 = (x2 * x2).sum(-1, keepdim=True) + eps
    cos = (x1 * x2).sum(-1, keepdim=True) / torch.sqrt(m1 * m2)
    dcos = x2 / torch.sqrt(m1 * m2) - cos * x1 / m1
    yy = y.unsqueeze(-1)
    return torch.where(yy == 1, -dcos, (cos - margin > 0).to(x1.dtype) * dcos)


register(
    LossSpec(
        name="cosine_embedding_loss",
        function=LF.cosine_embedding_loss,
        module=LN.CosineEmbeddingLoss,
        family="metric_learning",
        tasks=("metric_learning",),
        input_kind="embeddings",
        heads={"metric_learning": EMBED_HEAD},
        formula=r"\ell = \begin{cases} 1 - \cos(x_1, x_2) & y = 1 \\ \max(0, \cos(x_1, x_2) - m) & y = -1 \end{cases}",
        derivative=r"\frac{\partial \cos}{\partial x_1} = \frac{x_2}{\|x_1\|\|x_2\|} - \cos(x_1, x_2)\frac{x_1}{\|x_1\|^2};\ "
        r"\frac{\partial \ell}{\partial x_1} = -\frac{\partial \cos}{\partial x_1}\ (y = 1),\ "
        r"[\cos > m]\frac{\partial \cos}{\partial x_1}\ (y = -1)",
        derivative_fn=_cosine_grad,
        properties=_props(
            nonnegative=True,
            zero_at_perfect=True,
            convex=False,
            smooth=False,
            bounded=True,
            robust_to_outliers=True,
            symmetric=None,
        ),
        references=(
            "Bromley et al., Signature Verification using a Siamese Time Delay Neural Network, NeurIPS 1993",
        ),
        summary="Pairwise loss on the cosine of two embeddings: similar pairs aligned, dissimilar ones below the margin.",
        when_to_use="Learning embeddings from labelled pairs when only direction matters "
        "(text and retrieval embeddings). Bounded and scale-invariant.",
        sampler=EMBEDDING_PAIRS,
        drop_in_for="torch.nn.functional.cosine_embedding_loss",
    )
)


def _pnorm_grad(v, p):
    norm = torch.linalg.vector_norm(v, ord=p, dim=-1, keepdim=True)
    return torch.sign(v) * v.abs() ** (p - 1) / norm ** (p - 1)


def _triplet_grad(a, pos, neg, *, margin=1.0, p=2.0, eps=1e-6, swap=False, **_):
    vp, vn = a - pos + eps, a - neg + eps
    d_ap = torch.linalg.vector_norm(vp, ord=p, dim=-1, keepdim=True)
    d_an = torch.linalg.vector_norm(vn, ord=p, dim=-1, keepdim=True)
    g_neg = _pnorm_grad(vn, p)
    if swap:
        d_pn = torch.linalg.vector_norm(pos - neg + eps, ord=p, dim=-1, keepdim=True)
        g_neg = torch.where(d_pn < d_an, torch.zeros_like(g_neg), g_neg)
        d_an = torch.minimum(d_an, d_pn)
    active = (d_ap - d_an + margin > 0).to(a.dtype)
    return active * (_pnorm_grad(vp, p) - g_neg)


register(
    LossSpec(
        name="triplet_margin_loss",
        function=LF.triplet_margin_loss,
        module=LN.TripletMarginLoss,
        family="metric_learning",
        tasks=("metric_learning",),
        input_kind="embeddings",
        heads={"metric_learning": EMBED_HEAD},
        formula=r"\ell = \max\left(0,\ \|a - p\| - \|a - n\| + m\right)",
        derivative=r"\frac{\partial \ell}{\partial a} = [\ell > 0]\left(\frac{a - p}{\|a - p\|} - "
        r"\frac{a - n}{\|a - n\|}\right)\quad (p = 2)",
        derivative_fn=_triplet_grad,
        properties=_props(
            nonnegative=True,
            zero_at_perfect=True,
            convex=False,
            smooth=False,
            bounded=False,
            robust_to_outliers=True,
            symmetric=None,
        ),
        references=(
            "Schroff, Kalenichenko and Philbin, FaceNet: A Unified Embedding for Face Recognition and Clustering, CVPR 2015",
            "Balntas et al., Learning local feature descriptors with triplets and shallow convolutional neural networks, BMVC 2016",
        ),
        summary="The anchor must be closer to the positive than to the negative by the margin.",
        when_to_use="Metric learning (faces, retrieval) from triplets; mining informative "
        "(semi-hard) triplets matters more than the loss itself.",
        sampler=TRIPLETS,
        drop_in_for="torch.nn.functional.triplet_margin_loss",
        notes="Properties are w.r.t. the anchor with the other embeddings fixed; 'bounded' "
        "scales all three embeddings together (with p and n fixed the loss is at most d(p, n) + m).",
    )
)


def _shift(v: torch.Tensor, k: int) -> torch.Tensor:
    """v moved k places right (k > 0) or left (k < 0), filled with -inf."""
    out = torch.full_like(v, float("-inf"))
    if k > 0:
        out[k:] = v[:-k]
    else:
        out[:k] = v[-k:]
    return out


def _ctc_sample_grad(lp: torch.Tensor, labels: torch.Tensor, blank: int) -> torch.Tensor:
    """-gamma for one sample: lp (T, C), labels (S,); alpha-beta recursion in log space."""
    ext = torch.full((2 * labels.numel() + 1,), blank, dtype=torch.long)
    ext[1::2] = labels
    # a path may skip the blank between two different labels
    skip = torch.zeros(ext.numel(), dtype=torch.bool)
    skip[2:] = (ext[2:] != blank) & (ext[2:] != ext[:-2])
    emit = lp[:, ext]  # (T, L)
    t_len, n_ext = emit.shape
    ninf = torch.full((n_ext,), float("-inf"), dtype=lp.dtype)
    alpha = [torch.where(torch.arange(n_ext) < 2, emit[0], ninf)]
    for t in range(1, t_len):
        prev = alpha[-1]
        hop = torch.where(skip, _shift(prev, 2), ninf)
        alpha.append(torch.logsumexp(torch.stack([prev, _shift(prev, 1), hop]), 0) + emit[t])
    beta = [torch.where(torch.arange(n_ext) >= n_ext - 2, torch.zeros_like(ninf), ninf)]
    for t in range(t_len - 2, -1, -1):
        nxt = beta[0] + emit[t + 1]
        hop = torch.where(_shift(skip, -2), _shift(nxt, -2), ninf)
        beta.insert(0, torch.logsumexp(torch.stack([nxt, _shift(nxt, -1), hop]), 0))
    post = torch.stack(alpha) + torch.stack(beta)  # log p(path through (t, s)), (T, L)
    post = torch.exp(post - torch.logsumexp(post[-1], 0))
    grad = torch.zeros_like(lp)
    grad.index_add_(1, ext, -post)
    return grad


def _ctc_grad(log_probs, targets, input_lengths, target_lengths, *, blank=0, **_):
    grad = torch.zeros_like(log_probs)
    for n in range(log_probs.shape[1]):
        t_n, s_n = int(input_lengths[n]), int(target_lengths[n])
        grad[:t_n, n] = _ctc_sample_grad(log_probs[:t_n, n], targets[n, :s_n], blank)
    return grad


register(
    LossSpec(
        name="ctc_loss",
        function=LF.ctc_loss,
        module=LN.CTCLoss,
        family="sequence",
        tasks=("sequence",),
        input_kind="log_probabilities",
        heads={
            "sequence": Head(
                "log_softmax", "C", "per frame, C classes including the blank; time first"
            )
        },
        formula=r"\ell = -\log \sum_{\pi \in \mathcal{B}^{-1}(y)} \prod_{t} e^{x_{t, \pi_t}}",
        derivative=r"\frac{\partial \ell}{\partial x_{t,c}} = -\gamma_t(c) = "
        r"-\frac{1}{p(y \mid x)}\sum_{s:\,y'_s = c} \alpha_t(s)\,\beta_t(s)",
        derivative_fn=_ctc_grad,
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
            "Graves, Fernández, Gomez and Schmidhuber, Connectionist Temporal Classification: Labelling "
            "Unsegmented Sequence Data with Recurrent Neural Networks, ICML 2006",
        ),
        summary="Negative log-probability of a label sequence, summed over all frame alignments.",
        when_to_use="Speech and handwriting recognition, and any sequence labelling without "
        "frame-level alignment, where the output is not longer than the input.",
        sampler=CTC_SEQUENCES,
        drop_in_for="torch.nn.functional.ctc_loss",
        notes="derivative_fn runs the alpha-beta (forward-backward) recursion of Graves et al. "
        "in log space for padded (N, S) targets; gamma_t(c) is the posterior probability that "
        "frame t emits c. torch's kernel returns exp(x) - gamma (the gradient through a "
        "log_softmax), which is wrong w.r.t. log_probs themselves; losslab corrects it to -gamma "
        "(identical after a log_softmax). Not convex: minus a log-sum-exp of linear functions "
        "is concave.",
    )
)
