"""Drop-ins for the classification losses of ``torch.nn.functional``: binary and softmax cross
entropy, NLL, KL divergence, and the soft-margin / multi-margin / multilabel losses.

Same names, option names and semantics as torch, delegating to torch; what losslab adds
(validation, float32 for half inputs, a connected 0 for an empty ``"mean"``) is listed in
:mod:`losslab.functional._common`.
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
    check_integer_tensor,
    check_probabilities,
    check_same_shape,
    check_shape,
    check_tensor,
    dtype_name,
    fail,
    loss_function,
    warn_if_probabilities,
)
from ._common import (
    HINGE_MARGIN,
    SIGMOID_ADVICE,
    SOFTMAX_ADVICE,
    check_class_logits,
    check_class_weight,
    check_signed_target,
    element_weight,
    empty_mean_guard,
    has_unignored,
    prepare_pair,
    upcast_optional,
)

__all__ = [
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "binary_cross_entropy",
    "nll_loss",
    "kl_div",
    "soft_margin_loss",
    "multi_margin_loss",
    "multilabel_margin_loss",
    "multilabel_soft_margin_loss",
]


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

    :math:`\ell_i = -w_i\,[\,p_w\, y_i \log\sigma(x_i) + (1 - y_i) \log\sigma(-x_i)\,]`, computed
    with log-sigmoid so it is finite for any logit.

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

    References:
        Cox, "The regression analysis of binary sequences", JRSS-B 1958.
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

    :math:`\ell_i = -w_{y_i} \log \mathrm{softmax}(x_i)_{y_i}`; with label smoothing
    :math:`\varepsilon` the target is :math:`(1-\varepsilon)\,\mathrm{onehot}(y) + \varepsilon / C`.
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

    References:
        Good, "Rational decisions", JRSS-B 1952 (log loss); Szegedy et al., "Rethinking the
        Inception Architecture", CVPR 2016 (label smoothing).
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


@loss_function(reduction=REDUCTION, weight=WEIGHT_PER_ELEMENT)
def binary_cross_entropy(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Binary cross entropy on probabilities (drop-in for ``F.binary_cross_entropy``).

    :math:`\ell_i = -w_i\,[\,y_i \log p_i + (1 - y_i) \log(1 - p_i)\,]`. Torch clamps each log at
    -100, so one term never exceeds 100; prefer :func:`binary_cross_entropy_with_logits` (stable
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

    References:
        Cox, "The regression analysis of binary sequences", JRSS-B 1958.
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

    :math:`\ell_i = -w_{y_i}\, x_{i, y_i}`: ``nll_loss(log_softmax(z), y) == cross_entropy(z, y)``.

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

    References:
        Fisher, "On the mathematical foundations of theoretical statistics", Phil. Trans. 1922
        (maximum likelihood).
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

    With input :math:`x = \log q` and target :math:`p`: :math:`\ell = p\,(\log p - x)` (0 where
    :math:`p = 0`); with ``log_target=True`` the target is :math:`\log p`. Note the argument
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

    References:
        Kullback and Leibler, "On Information and Sufficiency", Annals of Mathematical
        Statistics 1951.
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


# -- margins ------------------------------------------------------------------------------------

_SOFT_MARGIN_SWITCH = 30.0


def _check_score_rows(name: str, input: torch.Tensor, target: torch.Tensor) -> int:
    """(N, C) or (C,) scores and an integer target (checked further by the caller); returns C."""
    check_tensor(name, "input", input)
    check_integer_tensor(name, "target", target)
    if input.dim() not in (1, 2):
        fail(name, "input", "of shape (N, C) or (C,)", f"shape {tuple(input.shape)}")
    return input.shape[-1]


@loss_function(reduction=REDUCTION)
def soft_margin_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Soft margin (logistic) loss (drop-in for ``F.soft_margin_loss``).

    :math:`\ell = \log(1 + e^{-y x})` with :math:`y \in \{-1, 1\}`; ``"mean"`` averages over all
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

    References:
        Zhang, "Statistical behavior and consistency of classification methods based on convex
        risk minimization", Annals of Statistics 2004.
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

    :math:`\ell_i = \frac{1}{C}\sum_{j \ne y_i} w_{y_i} \max(0, m - x_{i,y_i} + x_{i,j})^p`
    (Weston-Watkins / Crammer-Singer style multiclass SVM loss). ``"mean"`` divides by N, even
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

    References:
        Weston and Watkins, "Support Vector Machines for Multi-Class Pattern Recognition",
        ESANN 1999.
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


@loss_function(reduction=REDUCTION)
def multilabel_margin_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Multilabel hinge loss (drop-in for ``F.multilabel_margin_loss``).

    :math:`\ell_i = \frac{1}{C}\sum_{j \in Y_i}\sum_{k \notin Y_i} \max(0, 1 - (x_{ij} - x_{ik}))`:
    every positive label should outscore every negative one by 1.

    Args:
        input: scores of shape (N, C) or (C,).
        target: integer tensor of the same shape holding the indices of the positive labels,
            padded with -1 (entries after the first -1 are ignored).
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.multilabel_margin_loss(torch.tensor([[0.1, 0.2, 0.4, 0.8]]), torch.tensor([[3, 0, -1, 1]]))
        tensor(0.8500)

    References:
        Crammer and Singer, "A Family of Additive Online Algorithms for Category Ranking",
        JMLR 2003.
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


@loss_function(reduction=REDUCTION, weight=WEIGHT_PER_CLASS)
def multilabel_soft_margin_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Multilabel logistic loss (drop-in for ``F.multilabel_soft_margin_loss``).

    :math:`\ell_i = -\frac{1}{C}\sum_c w_c\,[\,y_{ic}\log\sigma(x_{ic}) + (1 - y_{ic})\log\sigma(-x_{ic})\,]`,
    one value per sample (``"none"`` has shape (N,)): binary cross entropy on logits averaged
    over the labels.

    Args:
        input: logits of shape (N, C).
        target: labels in [0, 1], same shape.
        weight: optional per-class weight, shape (C,).
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.multilabel_soft_margin_loss(torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 0.0]]))
        tensor(1.4100)

    References:
        Zhang and Zhou, "A Review on Multi-Label Learning Algorithms", IEEE TKDE 2014.
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
