r"""Metric surrogates: the F1 score and the Matthews correlation as differentiable losses.

F1 and MCC are computed from counts of a confusion matrix, so their gradient with respect to a
model's outputs is zero almost everywhere. Their soft versions replace each count by its
expectation under the predicted probabilities, :math:`TP = \sum_i p_i y_i`,
:math:`FP = \sum_i p_i (1 - y_i)`, :math:`FN = \sum_i (1 - p_i) y_i`,
:math:`TN = \sum_i (1 - p_i)(1 - y_i)`: with hard 0/1 probabilities they are the metric itself;
with soft ones a smooth function of the outputs.

Both are **batch-level** losses: the counts run over the whole batch, so the value changes with
the batch (a batch without positives has F1 = 0 whatever the prediction: F1 ignores true
negatives). ``reduction="none"`` returns one loss per class (shape (1,) for the binary case:
the positive class); ``"mean"`` averages over classes (macro F1), ``"sum"`` adds them. An
empty batch gives 0 (no mistakes), with the graph connected.

The soft cost loss of the issue is :func:`losslab.functional.binary_expected_cost_loss` (family
``cost_sensitive``). Each function carries its catalog entry; tested in
``tests/functional/test_metric_surrogates.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as TF

from .._reduction import reduce_loss, upcast
from .._validation import (
    REDUCTION,
    Raw,
    check_class_indices,
    check_integer_tensor,
    check_probabilities,
    check_same_shape,
    check_tensor,
    fail,
    loss_function,
)
from ..catalog._common import PROB_HEAD
from ..catalog._spec import Case, Head, Sampler
from ._entry import entry

__all__ = ["soft_f1_loss", "soft_mcc_loss"]

#: added to F1's denominator only (an absent class scores F1 = 0, as sklearn's zero_division=0)
F1_EPS = 1e-7
#: added under MCC's square root, on counts divided by the batch size (so at most 1/16)
MCC_EPS = 1e-12

N_ROWS = 8


def _probs_case(gen, dtype, scale):
    z = (scale * torch.randn(N_ROWS, generator=gen, dtype=torch.float64)).clamp(-8, 8)
    t = torch.randint(0, 2, (N_ROWS,), generator=gen).double()
    t[0], t[1] = 1.0, 0.0  # both classes in every batch: F1 and MCC are defined
    return Case((torch.sigmoid(z).to(dtype), t.to(dtype)))


def _probs_perfect(gen, dtype):
    t = _probs_case(gen, torch.float64, 1.0).args[1]
    return Case((t.clone().to(dtype), t.to(dtype)))


#: a batch of binary probabilities with both classes present
BATCH_PROBS = Sampler(
    "batch_probs",
    make=_probs_case,
    perfect=_probs_perfect,
    mirror=lambda c: Case((1 - c.args[0], 1 - c.args[1], *c.args[2:]), c.kwargs),
    empty=lambda dtype: Case((torch.zeros(0, dtype=dtype), torch.zeros(0, dtype=dtype))),
)


def _binary_or_classes(
    name: str, probs: torch.Tensor, target: torch.Tensor, *, multiclass: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """(p, y) as (N, K) float tensors: K = 1 for binary input, C for (N, C) class probabilities."""
    check_tensor(name, "probs", probs)
    check_probabilities(name, "probs", probs)
    if probs.dim() == 1 or not multiclass:
        check_tensor(name, "target", target)
        check_same_shape(name, "probs", probs, "target", target)
        check_probabilities(name, "target", target)
        return upcast(probs).reshape(-1, 1), upcast(target).reshape(-1, 1).to(upcast(probs).dtype)
    if probs.dim() != 2:
        fail(name, "probs", "(N,) or (N, C) probabilities", Raw(f"shape {tuple(probs.shape)}"))
    check_integer_tensor(name, "target", target)
    if target.shape != probs.shape[:1]:
        fail(
            name,
            "target",
            f"of shape (N,) = ({probs.shape[0]},)",
            Raw(f"shape {tuple(target.shape)}"),
        )
    check_class_indices(name, "target", target, probs.shape[1])
    p = upcast(probs)
    return p, TF.one_hot(target, probs.shape[1]).to(p.dtype)


def _empty(p: torch.Tensor) -> torch.Tensor:
    """One zero per class, connected to ``p`` (an empty batch makes no mistakes)."""
    return torch.zeros(p.shape[1], dtype=p.dtype) + 0 * p.sum()


# -- soft F1 -----------------------------------------------------------------------------------


def _soft_f1_grad(p, y, **_):
    den = p.sum() + y.sum() + F1_EPS  # 2 TP + FP + FN
    tp = (p * y).sum()
    return -(2 * y * den - 2 * tp) / den**2


@entry(
    module="SoftF1Loss",
    family="metric_surrogates",
    tasks=("binary", "multiclass", "imbalanced"),
    input_kind="probabilities",
    heads={
        "binary": PROB_HEAD,
        "imbalanced": PROB_HEAD,
        "multiclass": Head("softmax", "C", "class probabilities; one F1 per class (macro)"),
    },
    formula=r"\ell = 1 - \frac{2\,TP}{2\,TP + FP + FN + \epsilon},\quad TP = \sum_i p_i y_i,\ "
    r"FP = \sum_i p_i (1 - y_i),\ FN = \sum_i (1 - p_i)\, y_i",
    derivative=r"\frac{\partial \ell}{\partial p_i} = -\frac{2 y_i S - 2\,TP}{S^2},\quad "
    r"S = \sum_i p_i + \sum_i y_i + \epsilon",
    derivative_fn=_soft_f1_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=True,  # up to epsilon / (2 TP)
        convex=False,  # a ratio of linear functions of p
        smooth=True,
        bounded=True,  # in [0, 1]
        robust_to_outliers=True,  # probabilities are bounded, so is the gradient
        symmetric=False,  # F1 of the positive class: swapping the classes changes it
    ),
    references=(
        "Jansche, Maximum Expected F-Measure Training of Logistic Regression Models, "
        "HLT/EMNLP 2005",
        "Bénédict, Koops, Odijk, de Rijke, sigmoidF1: A Smooth F1 Score Surrogate Loss for "
        "Multilabel Classification, TMLR 2022",
    ),
    summary="1 - soft F1: F1 with the confusion counts replaced by their expectations under the "
    "predicted probabilities (per class; macro over classes).",
    when_to_use="Imbalanced problems judged by F1: train on the metric itself instead of moving "
    "BCE's threshold afterwards. Needs batches with positives (a batch without any has F1 = 0 "
    "and no gradient); use large batches or full-batch training, or add a little BCE.",
    sampler=BATCH_PROBS,
    notes="Batch-level: reduction 'none' gives one loss per class ((1,) for binary input).",
)
@loss_function(reduction=REDUCTION)
def soft_f1_loss(
    probs: torch.Tensor, target: torch.Tensor, *, reduction: str = "mean"
) -> torch.Tensor:
    r"""1 - soft F1 (expected-count F1), binary or per class (macro).

    Binary: ``probs`` (N,) probabilities of the positive class and ``target`` (N,) labels in
    [0, 1]. Multi-class: ``probs`` (N, C) class probabilities (e.g. a softmax) and ``target`` (N,)
    class indices; each class's F1 is computed one-vs-rest and ``"mean"`` averages them (macro
    F1). With hard 0/1 probabilities the value is ``1 - sklearn.metrics.f1_score`` (macro for
    classes, ``zero_division=0``) up to :math:`\epsilon = 10^{-7}` in the denominator.

    Args:
        probs: (N,) or (N, C) probabilities.
        target: (N,) labels in [0, 1] (binary) or class indices (multi-class).
        reduction: ``"none"`` (one loss per class: (1,) or (C,)) | ``"mean"`` (macro) | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> p, y = torch.tensor([0.9, 0.2, 0.6, 0.1]), torch.tensor([1.0, 0.0, 1.0, 1.0])
        >>> LF.soft_f1_loss(p, y)  # TP 1.6, FP 0.2, FN 1.4: 1 - 3.2 / 4.8
        tensor(0.3333)
    """
    name = "soft_f1_loss"
    p, y = _binary_or_classes(name, probs, target)
    if p.shape[0] == 0:
        return reduce_loss(_empty(p), reduction, name=name)
    tp = (p * y).sum(dim=0)
    fp = (p * (1 - y)).sum(dim=0)
    fn = ((1 - p) * y).sum(dim=0)
    return reduce_loss(1 - 2 * tp / (2 * tp + fp + fn + F1_EPS), reduction, name=name)


# -- soft MCC ----------------------------------------------------------------------------------


def _soft_mcc_grad(p, y, **_):
    # covariance form: MCC = (s - m tau) / sqrt(tau (1 - tau) m (1 - m) + eps) with
    # m = mean(p), tau = mean(y), s = mean(p y)
    n = p.numel()
    m, tau, s = p.mean(), y.mean(), (p * y).mean()
    d = tau * (1 - tau) * m * (1 - m) + MCC_EPS
    num = s - m * tau
    dnum = (y - tau) / n
    dd = tau * (1 - tau) * (1 - 2 * m) / n
    return -(dnum / d.sqrt() - num * dd / (2 * d**1.5))


@entry(
    module="SoftMCCLoss",
    family="metric_surrogates",
    tasks=("binary", "imbalanced"),
    input_kind="probabilities",
    heads={"*": PROB_HEAD},
    formula=r"\ell = 1 - \frac{TP \cdot TN - FP \cdot FN}{\sqrt{(TP + FP)(TP + FN)(TN + FP)"
    r"(TN + FN) + \epsilon}}\ \text{(expected counts divided by the batch size n)}",
    derivative=r"\frac{\partial \ell}{\partial p_i} = -\frac{y_i - \tau}{n \sqrt{D}} + "
    r"\frac{(s - m \tau)\, \tau (1 - \tau)(1 - 2 m)}{2 n D^{3/2}},\quad m = \bar p,\ \tau = \bar y,"
    r"\ s = \overline{p y},\ D = \tau (1 - \tau) m (1 - m) + \epsilon",
    derivative_fn=_soft_mcc_grad,
    properties=dict(
        nonnegative=True,  # |soft MCC| <= |corr(p, y)| <= 1
        zero_at_perfect=True,
        convex=False,
        smooth=True,
        bounded=True,  # in [0, 2]
        robust_to_outliers=True,
        symmetric=True,  # MCC is unchanged when both classes swap
    ),
    references=(
        "Matthews, Comparison of the predicted and observed secondary structure of T4 phage "
        "lysozyme, Biochimica et Biophysica Acta 1975",
        "Chicco, Jurman, The advantages of the Matthews correlation coefficient (MCC) over F1 "
        "score and accuracy in binary classification evaluation, BMC Genomics 2020",
    ),
    summary="1 - soft Matthews correlation: MCC of the expected confusion counts; uses all four "
    "cells, so unlike F1 it does not ignore true negatives and is symmetric in the classes.",
    when_to_use="Imbalanced binary problems judged by MCC (or where both classes matter): a "
    "batch-level surrogate that stays informative when positives are rare; needs both classes "
    "in each batch (large or full batches).",
    sampler=BATCH_PROBS,
    notes="Batch-level: reduction 'none' gives a (1,) tensor.",
)
@loss_function(reduction=REDUCTION)
def soft_mcc_loss(
    probs: torch.Tensor, target: torch.Tensor, *, reduction: str = "mean"
) -> torch.Tensor:
    r"""1 - soft Matthews correlation coefficient (binary), in [0, 2].

    The counts are expectations under ``probs`` divided by the batch size (the value does not
    change; :math:`\epsilon = 10^{-12}` under the root stays negligible). A batch with one class
    only has MCC = 0, so the loss is 1 there. With hard 0/1 probabilities the value is
    ``1 - sklearn.metrics.matthews_corrcoef``.

    Args:
        probs: (N,) probabilities of the positive class.
        target: (N,) labels in [0, 1].
        reduction: ``"none"`` (shape (1,)) | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> y = torch.tensor([1.0, 0.0, 1.0, 0.0])
        >>> LF.soft_mcc_loss(y, y), LF.soft_mcc_loss(1 - y, y)
        (tensor(0.), tensor(2.))
    """
    name = "soft_mcc_loss"
    p, y = _binary_or_classes(name, probs, target, multiclass=False)
    if p.shape[0] == 0:
        return reduce_loss(_empty(p), reduction, name=name)
    n = p.shape[0]
    tp, fp = (p * y).sum(0) / n, (p * (1 - y)).sum(0) / n
    fn, tn = ((1 - p) * y).sum(0) / n, ((1 - p) * (1 - y)).sum(0) / n
    den = ((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn) + MCC_EPS).sqrt()
    return reduce_loss(1 - (tp * tn - fp * fn) / den, reduction, name=name)
