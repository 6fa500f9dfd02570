"""Drop-ins for the log-loss classification losses of ``torch.nn.functional``: binary cross
entropy (on logits and on probabilities), softmax cross entropy, NLL and the KL divergence.

Same names, option names and semantics as torch, delegating to torch; what losslab adds
(validation, float32 for half inputs, a connected 0 for an empty ``"mean"``) is listed in
:mod:`losslab.functional._common`. The margin drop-ins are in :mod:`.classification_margin`.
Each function carries its catalog entry (:func:`entry`); tested in
``tests/functional/test_torch_dropins.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._reduction import reduce_loss, upcast
from .._validation import (
    DIV_REDUCTION,
    IGNORE_INDEX,
    LABEL_SMOOTHING,
    POS_WEIGHT,
    REDUCTION,
    WEIGHT_PER_CLASS,
    WEIGHT_PER_ELEMENT,
    Param,
    check_class_indices,
    check_in_range,
    check_probabilities,
    check_tensor,
    dtype_name,
    fail,
    loss_function,
    warn_if_probabilities,
)
from ..catalog._common import CLASS_HEAD, LOGIT_HEAD, PROB_HEAD, onehot
from ..catalog._samplers import (
    BINARY_LOGITS,
    BINARY_PROBS_WIDE,
    CLASS_LOG_PROBS,
    CLASS_LOGITS,
    DISTRIBUTION_SWAP,
)
from ..catalog._spec import Head, When
from ..functional._common import (
    SIGMOID_ADVICE,
    SOFTMAX_ADVICE,
    check_class_logits,
    check_class_weight,
    element_weight,
    empty_mean_guard,
    has_unignored,
    prepare_pair,
    upcast_optional,
)
from ._entry import entry

__all__ = [
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "binary_cross_entropy",
    "nll_loss",
    "kl_div",
]

LOG_PROB_HEAD = Head("log_softmax", "C", "C log-probabilities")


def _bce_logits_grad(x, y, **_):
    return torch.sigmoid(x) - y


@entry(
    module="BCEWithLogitsLoss",
    family="classification",
    tasks=("binary", "multilabel", "imbalanced"),
    input_kind="logits",
    heads={"binary": LOGIT_HEAD, "imbalanced": LOGIT_HEAD, "multilabel": Head("identity", "C")},
    formula=r"\ell = -\left[y \log \sigma(x) + (1 - y) \log (1 - \sigma(x))\right]",
    derivative=r"\frac{\partial \ell}{\partial x} = \sigma(x) - y",
    derivative_fn=_bce_logits_grad,
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
    drop_in=torch.nn.BCEWithLogitsLoss,
)
@loss_function(reduction=REDUCTION, weight=WEIGHT_PER_ELEMENT, pos_weight=POS_WEIGHT)
def binary_cross_entropy_with_logits(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
    pos_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Binary cross entropy on logits (drop-in for ``F.binary_cross_entropy_with_logits``).

    Each term is scaled by ``weight`` and its positive part by ``pos_weight``; computed with
    log-sigmoid, so it is finite for any logit.

    Args:
        input: logits, any shape.
        target: probabilities in [0, 1] (hard or soft labels), same shape.
        weight: optional per-element weight broadcast to ``input`` (never enlarging it);
            ``"mean"`` divides :math:`\sum_i \ell_i` by the number of elements of ``input``,
            not by the sum of the weights (torch 2.13's arithmetic; the rule of
            :mod:`losslab._reduction`).
        pos_weight: optional weight of the positive term, broadcast to ``input`` (typically
            one value per label, shape (C,), in multi-label problems); it never changes the
            normaliser.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.binary_cross_entropy_with_logits(torch.tensor([0.0]), torch.tensor([1.0]))
        tensor(0.6931)
    """
    name = "binary_cross_entropy_with_logits"
    x, y = prepare_pair(name, input, target)
    check_probabilities(name, "target", y)
    warn_if_probabilities(
        name,
        "input",
        x,
        dim=None,
        advice=SIGMOID_ADVICE + ", or use binary_cross_entropy on probabilities",
    )
    w = element_weight(name, weight, x)
    pw = element_weight(name, pos_weight, x, arg="pos_weight")
    return empty_mean_guard(
        lambda r: F.binary_cross_entropy_with_logits(x, y, weight=w, reduction=r, pos_weight=pw),
        reduction,
        x.numel() > 0,
    )


def _ce_grad(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.softmax(x, dim=1) - onehot(y, x)


@entry(
    module="CrossEntropyLoss",
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
    drop_in=torch.nn.CrossEntropyLoss,
)
@loss_function(
    reduction=REDUCTION,
    weight=WEIGHT_PER_CLASS,
    ignore_index=IGNORE_INDEX,
    label_smoothing=LABEL_SMOOTHING,
)
def cross_entropy(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    r"""Softmax cross entropy on logits (drop-in for ``F.cross_entropy``).

    Each term is scaled by :math:`w_{y_i}`; with label smoothing :math:`\varepsilon` the target is :math:`(1-\varepsilon)\,\mathrm{onehot}(y) + \varepsilon / C`.
    An ``input`` that looks like probabilities (a content check) gets an
    :class:`~losslab.InputDomainWarning`, once per call site.

    Args:
        input: logits of shape (N, C) or (N, C, d1, ...).
        target: class indices of shape (N,) or (N, d1, ...) (an integer dtype: a float tensor
            of that shape raises ``TypeError``), or class probabilities of the same shape as
            ``input``.
        weight: optional per-class weight, shape (C,). With class indices, ``"mean"`` is the
            weighted mean :math:`\sum_i w_{y_i}\ell_i / \sum_i w_{y_i}` over non-ignored targets.
        ignore_index: target value that is skipped (class-index targets only).
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.
        label_smoothing: in [0, 1].

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.cross_entropy(torch.tensor([[2.0, 0.0, 0.0]]), torch.tensor([0]))
        tensor(0.2395)
    """
    name = "cross_entropy"
    check_tensor(name, "input", input)
    if (
        isinstance(target, torch.Tensor)
        and target.is_floating_point()
        and input.dim() >= 2
        and tuple(target.shape) == (input.shape[0], *input.shape[2:])
    ):
        fail(
            name,
            "target",
            f"integer class indices (a float target holds class probabilities, of the shape "
            f"of 'input' {tuple(input.shape)})",
            dtype_name(target.dtype),
            kind=TypeError,
        )
    if isinstance(target, torch.Tensor) and target.is_floating_point():
        x, y = prepare_pair(name, input, target)
        check_probabilities(name, "target", y)
        has = x.numel() > 0
    else:
        c = check_class_logits(name, input, target)
        check_class_indices(name, "target", target, c, ignore_index)
        x, y = upcast(input), target
        has = has_unignored(target, ignore_index)
    warn_if_probabilities(
        name,
        "input",
        x,
        dim=1 if x.dim() >= 2 else 0,
        advice=SOFTMAX_ADVICE + ", or use nll_loss on log-probabilities",
    )
    return empty_mean_guard(
        lambda r: F.cross_entropy(
            x,
            y,
            weight=upcast_optional(weight),
            ignore_index=ignore_index,
            reduction=r,
            label_smoothing=label_smoothing,
        ),
        reduction,
        has,
    )


def _bce_grad(p, y, **_):
    # torch's backward divides by max(p (1 - p), 1e-12)
    return (p - y) / (p * (1 - p)).clamp_min(1e-12)


@entry(
    module="BCELoss",
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
    notes="torch clamps each log at -100 (so one term is at most 100) and divides the "
    "gradient by max(p(1-p), 1e-12); 'bounded' and 'robust' describe the loss below those clamps.",
    drop_in=torch.nn.BCELoss,
)
@loss_function(reduction=REDUCTION, weight=WEIGHT_PER_ELEMENT)
def binary_cross_entropy(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Binary cross entropy on probabilities (drop-in for ``F.binary_cross_entropy``).

    Torch clamps each log at -100, so one term never exceeds 100; prefer :func:`binary_cross_entropy_with_logits` (stable
    for any logit, and fused with the sigmoid).

    Args:
        input: probabilities in [0, 1], any shape.
        target: probabilities in [0, 1] (hard or soft labels), same shape.
        weight: optional per-element weight broadcast to ``input`` (never enlarging it);
            ``"mean"`` divides :math:`\sum_i \ell_i` by the number of elements of ``input``,
            not by the sum of the weights (torch 2.13's arithmetic; the rule of
            :mod:`losslab._reduction`).
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.binary_cross_entropy(torch.tensor([0.5, 0.9]), torch.tensor([1.0, 1.0]), reduction="none")
        tensor([0.6931, 0.1054])
    """
    name = "binary_cross_entropy"
    x, y = prepare_pair(name, input, target)
    check_probabilities(name, "input", x)
    check_probabilities(name, "target", y)
    w = element_weight(name, weight, x)
    return empty_mean_guard(
        lambda r: F.binary_cross_entropy(x, y, weight=w, reduction=r),
        reduction,
        x.numel() > 0,
    )


def _nll_grad(x, y, **_):
    return -onehot(y, x)


@entry(
    module="NLLLoss",
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
    notes="Linear in the log-probabilities; nonnegative because log-probabilities are <= 0. "
    "The gradient w.r.t. the logits, through log_softmax, is softmax - onehot.",
    drop_in=torch.nn.NLLLoss,
)
@loss_function(reduction=REDUCTION, weight=WEIGHT_PER_CLASS, ignore_index=IGNORE_INDEX)
def nll_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Negative log-likelihood of log-probabilities (drop-in for ``F.nll_loss``).

    ``nll_loss(log_softmax(z), y) == cross_entropy(z, y)``.

    Args:
        input: log-probabilities of shape (N, C) or (N, C, d1, ...).
        target: class indices of shape (N,) or (N, d1, ...).
        weight: optional per-class weight, shape (C,); ``"mean"`` is the weighted mean
            :math:`\sum_i w_{y_i}\ell_i / \sum_i w_{y_i}` over non-ignored targets.
        ignore_index: target value that is skipped.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.nll_loss(torch.tensor([[-0.1, -2.5], [-1.2, -0.4]]), torch.tensor([0, 0]))
        tensor(0.6500)
    """
    name = "nll_loss"
    c = check_class_logits(name, input, target)
    check_class_indices(name, "target", target, c, ignore_index)
    check_class_weight(name, weight, c)
    x = upcast(input)
    warn_if_probabilities(
        name,
        "input",
        x,
        dim=1,
        takes="log-probabilities",
        advice="pass log_softmax(scores), or use cross_entropy on the scores",
    )
    return empty_mean_guard(
        lambda r: F.nll_loss(
            x, target, weight=upcast_optional(weight), ignore_index=ignore_index, reduction=r
        ),
        reduction,
        has_unignored(target, ignore_index),
    )


def _kl_grad(x, p, *, log_target, **_):
    return -(p.exp() if log_target else p)


@entry(
    module="KLDivLoss",
    family="distribution",
    tasks=("distribution",),
    input_kind="log_probabilities",
    heads={"distribution": LOG_PROB_HEAD},
    formula=r"\ell_c = p_c\,(\log p_c - x_c),\quad x = \log q",
    derivative=r"\frac{\partial \ell_c}{\partial x_c} = -p_c",
    derivative_fn=_kl_grad,
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
    notes="The properties are per term: a single term p(log p - log q) is negative where "
    "q > p, but the sum over a distribution is >= 0 (Gibbs). 'symmetric' swaps p and q.",
    drop_in=torch.nn.KLDivLoss,
)
@loss_function(
    reduction=DIV_REDUCTION,
    log_target=Param("bool", "whether 'target' holds log-probabilities"),
)
def kl_div(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    reduction: str = "mean",
    log_target: bool = False,
) -> torch.Tensor:
    r"""Pointwise Kullback-Leibler divergence terms (drop-in for ``F.kl_div``).

    The input is :math:`\log q` and the target :math:`p` (a term is 0 where :math:`p = 0`); with ``log_target=True`` the target is :math:`\log p`. Note the argument
    order: this is :math:`\mathrm{KL}(p \,\|\, q)` with the *target* first.

    Warning:
        Only ``reduction="batchmean"`` (sum divided by the batch size) is the KL divergence.
        The default ``"mean"`` (kept for compatibility with torch) divides by the number of
        *elements*, i.e. by batch size times number of classes. Individual terms (``"none"``)
        can be negative; their sum over a distribution cannot.

    Args:
        input: log-probabilities :math:`\log q`, any shape, typically (N, C).
        target: probabilities :math:`p` in [0, 1] (or log-probabilities), same shape.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"`` | ``"batchmean"``.
        log_target: whether ``target`` is given in log space.

    Example:
        >>> import torch, losslab.functional as LF
        >>> q = torch.tensor([[0.5, 0.5]]).log()
        >>> LF.kl_div(q, torch.tensor([[0.9, 0.1]]), reduction="batchmean")
        tensor(0.3681)
    """
    name = "kl_div"
    x, y = prepare_pair(name, input, target)
    if log_target:
        check_in_range(name, "target", y, float("-inf"), 0.0, "log-probabilities <= 0")
    else:
        check_probabilities(name, "target", y)
    warn_if_probabilities(
        name,
        "input",
        x,
        dim=-1,
        takes="log-probabilities",
        advice="pass log_softmax(scores) or the probabilities' log",
    )
    # torch's 'mean' warns on every call; reduce the pointwise terms with losslab's one reduction
    pointwise = F.kl_div(x, y, reduction="none", log_target=log_target)
    return reduce_loss(pointwise, reduction, name=name)
