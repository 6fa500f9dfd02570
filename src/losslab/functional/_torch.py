"""Drop-ins for ``torch.nn.functional``: same names, option names and semantics, delegating to torch.

What losslab adds on top of torch:

* hyperparameters are keyword-only and validated with losslab's messages (torch's deprecated
  ``size_average``/``reduce`` are not accepted);
* input/target shape mismatches raise ``ValueError`` (torch warns and broadcasts, which is
  almost always a bug);
* float16/bfloat16 inputs are computed in float32 (the result is float32);
* ``reduction="mean"`` over an empty batch (or one whose targets are all ignored) returns 0 with
  the graph connected instead of NaN.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._reduction import reduce_loss, upcast
from .._validation import (
    DIV_REDUCTION,
    IGNORE_INDEX,
    LABEL_SMOOTHING,
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
    check_values_in,
    content_checks_enabled,
    fail,
    loss_function,
)
from ._common import check_class_logits, empty_mean_guard, prepare_pair

__all__ = [
    "mse_loss",
    "l1_loss",
    "mae_loss",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "huber_loss",
    "smooth_l1_loss",
    "poisson_nll_loss",
    "gaussian_nll_loss",
    "binary_cross_entropy",
    "nll_loss",
    "kl_div",
    "hinge_embedding_loss",
    "margin_ranking_loss",
    "soft_margin_loss",
    "multi_margin_loss",
    "multilabel_margin_loss",
    "multilabel_soft_margin_loss",
    "cosine_embedding_loss",
    "triplet_margin_loss",
    "ctc_loss",
]


def _opt(x: torch.Tensor | None) -> torch.Tensor | None:
    return None if x is None else upcast(x)


@loss_function(reduction=REDUCTION, weight=WEIGHT_PER_ELEMENT)
def mse_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    reduction: str = "mean",
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Mean squared error, :math:`\ell_i = w_i (x_i - y_i)^2` (drop-in for ``F.mse_loss``).

    Args:
        input: predictions, any shape.
        target: same shape as ``input``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.
        weight: optional per-element weight broadcast to ``input``; ``"mean"`` still divides by
            the number of elements (torch's semantics).

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.mse_loss(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 4.0]))
        tensor(2.)

    References:
        Gauss, *Theoria motus corporum coelestium*, 1809 (least squares).
    """
    x, y = prepare_pair("mse_loss", input, target)
    return empty_mean_guard(
        lambda r: F.mse_loss(x, y, reduction=r, weight=_opt(weight)), reduction, x.numel() > 0
    )


@loss_function(reduction=REDUCTION, weight=WEIGHT_PER_ELEMENT)
def l1_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    reduction: str = "mean",
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Mean absolute error, :math:`\ell_i = w_i |x_i - y_i|` (drop-in for ``F.l1_loss``).

    The derivative at :math:`x_i = y_i` is taken as 0 (torch's ``sign(0) = 0``).

    Args:
        input: predictions, any shape.
        target: same shape as ``input``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.
        weight: optional per-element weight broadcast to ``input``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.l1_loss(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 4.0]))
        tensor(1.)

    References:
        Laplace, *Théorie analytique des probabilités*, 1812 (least absolute deviations).
    """
    x, y = prepare_pair("l1_loss", input, target)
    return empty_mean_guard(
        lambda r: F.l1_loss(x, y, reduction=r, weight=_opt(weight)), reduction, x.numel() > 0
    )


mae_loss = l1_loss


@loss_function(reduction=REDUCTION, weight=WEIGHT_PER_ELEMENT, pos_weight=WEIGHT_PER_ELEMENT)
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
        weight: optional per-element weight (broadcast); ``"mean"`` divides by the element count.
        pos_weight: optional weight of the positive term, broadcast along the last dimension
            (one value per label in multi-label problems).
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
    return empty_mean_guard(
        lambda r: F.binary_cross_entropy_with_logits(
            x, y, weight=_opt(weight), reduction=r, pos_weight=_opt(pos_weight)
        ),
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

    Args:
        input: logits of shape (N, C) or (N, C, d1, ...).
        target: class indices of shape (N,) or (N, d1, ...), or class probabilities of the same
            shape as ``input``.
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
    if isinstance(target, torch.Tensor) and target.is_floating_point():
        x, y = prepare_pair(name, input, target)
        check_probabilities(name, "target", y)
        has = x.numel() > 0
    else:
        c = check_class_logits(name, input, target)
        check_class_indices(name, "target", target, c, ignore_index)
        x, y = upcast(input), target
        has = bool((target != ignore_index).any()) if target.numel() else False
    return empty_mean_guard(
        lambda r: F.cross_entropy(
            x,
            y,
            weight=_opt(weight),
            ignore_index=ignore_index,
            reduction=r,
            label_smoothing=label_smoothing,
        ),
        reduction,
        has,
    )


# ---------------------------------------------------------------------------------------------
# helpers for the remaining drop-ins (validation and dtype handling only, never the math)
# ---------------------------------------------------------------------------------------------

MARGIN = Param("float", "margin of the hinge")
_SOFT_MARGIN_SWITCH = 30.0
SIGNED = "values in {-1, 1}"


def _up(x: torch.Tensor) -> torch.Tensor:
    """Upcast half inputs; also used for targets, which may be integer tensors."""
    return upcast(x) if x.is_floating_point() else x


def _check_signed_target(
    name: str, target: torch.Tensor, expected: tuple[int, ...], text: str
) -> None:
    check_tensor(name, "target", target, floating=False)
    if tuple(target.shape) != expected:
        fail(name, "target", f"of shape {text} = {expected}", f"shape {tuple(target.shape)}")
    check_values_in(name, "target", target, (-1, 1), SIGNED)


def _check_class_weight(name: str, weight: torch.Tensor | None, c: int) -> None:
    if weight is not None:
        check_shape(name, "weight", weight, (c,), "(C,)")


def _check_scores(name: str, input: torch.Tensor, target: torch.Tensor) -> int:
    """(N, C) or (C,) scores against (N,) or () class indices; returns C."""
    check_tensor(name, "input", input)
    check_integer_tensor(name, "target", target)
    if input.dim() not in (1, 2):
        fail(name, "input", "of shape (N, C) or (C,)", f"shape {tuple(input.shape)}")
    check_shape(name, "target", target, tuple(input.shape[:-1]), "(N,) (or () for input (C,))")
    c = input.shape[-1]
    check_class_indices(name, "target", target, c)
    return c


# -- regression --------------------------------------------------------------------------------


@loss_function(
    reduction=REDUCTION,
    delta=Param("float", "where the loss turns from quadratic to linear", gt=0),
    weight=WEIGHT_PER_ELEMENT,
)
def huber_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    reduction: str = "mean",
    delta: float = 1.0,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Huber loss (drop-in for ``F.huber_loss``).

    With :math:`e = x - y`: :math:`\ell = \tfrac12 e^2` if :math:`|e| \le \delta`, else
    :math:`\delta(|e| - \tfrac12\delta)`. Quadratic near 0, linear in the tails; the gradient
    :math:`\operatorname{clamp}(e, -\delta, \delta)` is continuous. Equals ``delta *
    smooth_l1_loss(beta=delta)``.

    Args:
        input: predictions, any shape.
        target: same shape as ``input``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.
        delta: threshold between the quadratic and linear parts, > 0.
        weight: optional per-element weight broadcast to ``input``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.huber_loss(torch.tensor([0.5, 3.0]), torch.tensor([0.0, 0.0]), reduction="none")
        tensor([0.1250, 2.5000])

    References:
        Huber, "Robust Estimation of a Location Parameter", Annals of Mathematical Statistics 1964.
    """
    x, y = prepare_pair("huber_loss", input, target)
    return empty_mean_guard(
        lambda r: F.huber_loss(x, y, reduction=r, delta=delta, weight=_opt(weight)),
        reduction,
        x.numel() > 0,
    )


@loss_function(
    reduction=REDUCTION,
    beta=Param("float", "where the loss turns from quadratic to linear (0: L1)", ge=0),
)
def smooth_l1_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    reduction: str = "mean",
    beta: float = 1.0,
) -> torch.Tensor:
    r"""Smooth L1 loss (drop-in for ``F.smooth_l1_loss``).

    With :math:`e = x - y`: :math:`\ell = \tfrac{1}{2\beta} e^2` if :math:`|e| < \beta`, else
    :math:`|e| - \tfrac12\beta`. Its linear part has slope 1 whatever ``beta`` (Huber's has
    slope ``delta``); ``beta=0`` is the L1 loss.

    Args:
        input: predictions, any shape.
        target: same shape as ``input``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.
        beta: threshold, >= 0.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.smooth_l1_loss(torch.tensor([0.5, 3.0]), torch.tensor([0.0, 0.0]), reduction="none")
        tensor([0.1250, 2.5000])

    References:
        Girshick, "Fast R-CNN", ICCV 2015.
    """
    x, y = prepare_pair("smooth_l1_loss", input, target)
    return empty_mean_guard(
        lambda r: F.smooth_l1_loss(x, y, reduction=r, beta=beta), reduction, x.numel() > 0
    )


@loss_function(
    reduction=REDUCTION,
    log_input=Param("bool", "whether 'input' is the log of the rate (else the rate itself)"),
    full=Param("bool", "add the Stirling approximation of log(y!)"),
    eps=Param("float", "added to the rate before the log when log_input=False", gt=0),
)
def poisson_nll_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    log_input: bool = True,
    full: bool = False,
    eps: float = 1e-8,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Poisson negative log-likelihood (drop-in for ``F.poisson_nll_loss``).

    With ``log_input=True`` (input :math:`x = \log\lambda`): :math:`\ell = e^x - y x`; with
    ``log_input=False`` (input :math:`\lambda`): :math:`\ell = \lambda - y \log(\lambda + \epsilon)`.
    ``full=True`` adds :math:`y\log y - y + \tfrac12\log(2\pi y)` for :math:`y > 1`. The constant
    :math:`\log y!` is dropped, so the loss is not 0 at a perfect prediction and can be negative.

    Args:
        input: log-rates (``log_input=True``) or rates >= 0, any shape.
        target: counts >= 0, same shape.
        log_input: see above.
        full: add the Stirling term.
        eps: > 0, keeps the log finite when ``log_input=False``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.poisson_nll_loss(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 2.0]), reduction="none")
        tensor([1.0000, 0.7183])

    References:
        Nelder and Wedderburn, "Generalized Linear Models", JRSS-A 1972.
    """
    name = "poisson_nll_loss"
    x, y = prepare_pair(name, input, target)
    check_in_range(name, "target", y, 0.0, float("inf"), "counts >= 0")
    if not log_input:
        check_in_range(name, "input", x, 0.0, float("inf"), "rates >= 0 when log_input=False")
    return empty_mean_guard(
        lambda r: F.poisson_nll_loss(x, y, log_input=log_input, full=full, eps=eps, reduction=r),
        reduction,
        x.numel() > 0,
    )


def _check_var(name: str, var: torch.Tensor | float, input: torch.Tensor) -> torch.Tensor | float:
    if not isinstance(var, torch.Tensor):
        if not isinstance(var, (int, float)) or isinstance(var, bool):
            fail(name, "var", "a floating-point tensor or a real number", var, kind=TypeError)
        if not var >= 0:
            fail(name, "var", "variances >= 0", var)
        return float(var)
    check_tensor(name, "var", var)
    shape, ins = tuple(var.shape), tuple(input.shape)
    if shape != ins and shape != ins[:-1] and not (shape[:-1] == ins[:-1] and shape[-1:] == (1,)):
        fail(name, "var", f"of shape {ins}, {ins[:-1]} or {(*ins[:-1], 1)}", f"shape {shape}")
    check_in_range(name, "var", var, 0.0, float("inf"), "variances >= 0")
    return upcast(var)


@loss_function(
    reduction=REDUCTION,
    full=Param("bool", "add the constant 0.5 * log(2 * pi)"),
    eps=Param("float", "lower clamp of the variance (the clamp does not block the gradient)", gt=0),
)
def gaussian_nll_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    var: torch.Tensor | float,
    *,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Gaussian negative log-likelihood (drop-in for ``F.gaussian_nll_loss``).

    :math:`\ell = \tfrac12\left(\log \max(v, \epsilon) + (x - y)^2 / \max(v, \epsilon)\right)`
    (+ :math:`\tfrac12\log 2\pi` with ``full=True``). Torch clamps the variance under
    ``no_grad``, so the gradient w.r.t. ``var`` still flows below ``eps``. ``"none"`` returns the
    loss with the shape of ``input`` (summed over the last dimension only when ``var`` has one
    entry per sample, as in torch). Can be negative (small variance, small error).

    Args:
        input: predicted means, any shape.
        target: same shape as ``input``.
        var: predicted variances >= 0: same shape as ``input``, or without its last dimension,
            or with last dimension 1, or a float (one variance for all).
        full: add the constant term.
        eps: > 0, lower clamp of the variance.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.gaussian_nll_loss(torch.tensor([1.0]), torch.tensor([3.0]), torch.tensor([4.0]))
        tensor(1.1931)

    References:
        Nix and Weigend, "Estimating the mean and variance of the target probability
        distribution", ICNN 1994.
    """
    name = "gaussian_nll_loss"
    x, y = prepare_pair(name, input, target)
    v = _check_var(name, var, x)
    return empty_mean_guard(
        lambda r: F.gaussian_nll_loss(x, y, v, full=full, eps=eps, reduction=r),
        reduction,
        x.numel() > 0,
    )


# -- classification ----------------------------------------------------------------------------


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
        weight: optional per-element weight (broadcast); ``"mean"`` divides by the element count.
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
    return empty_mean_guard(
        lambda r: F.binary_cross_entropy(x, y, weight=_opt(weight), reduction=r),
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
    _check_class_weight(name, weight, c)
    x = upcast(input)
    has = bool((target != ignore_index).any()) if target.numel() else False
    return empty_mean_guard(
        lambda r: F.nll_loss(
            x, target, weight=_opt(weight), ignore_index=ignore_index, reduction=r
        ),
        reduction,
        has,
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
    # torch's 'mean' warns on every call; reduce the pointwise terms with losslab's one reduction
    pointwise = F.kl_div(x, y, reduction="none", log_target=log_target)
    return reduce_loss(pointwise, reduction, name=name)


# -- margin and ranking ------------------------------------------------------------------------


@loss_function(reduction=REDUCTION, margin=MARGIN)
def hinge_embedding_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    margin: float = 1.0,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Hinge embedding loss (drop-in for ``F.hinge_embedding_loss``).

    :math:`\ell = x` if :math:`y = 1`, :math:`\max(0, m - x)` if :math:`y = -1`. The input is
    usually a distance (>= 0) between the two items of a pair: similar pairs are pulled
    together, dissimilar ones pushed beyond the margin.

    Args:
        input: distances (any real values are accepted), any shape.
        target: values in {-1, 1}, same shape.
        margin: the margin :math:`m`.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.hinge_embedding_loss(torch.tensor([0.3, 0.4]), torch.tensor([1, -1]), reduction="none")
        tensor([0.3000, 0.6000])

    References:
        Hadsell, Chopra and LeCun, "Dimensionality Reduction by Learning an Invariant Mapping",
        CVPR 2006.
    """
    name = "hinge_embedding_loss"
    check_tensor(name, "input", input)
    _check_signed_target(name, target, tuple(input.shape), "of 'input'")
    x, y = upcast(input), _up(target)
    return empty_mean_guard(
        lambda r: F.hinge_embedding_loss(x, y, margin=margin, reduction=r), reduction, x.numel() > 0
    )


@loss_function(reduction=REDUCTION, margin=MARGIN)
def margin_ranking_loss(
    input1: torch.Tensor,
    input2: torch.Tensor,
    target: torch.Tensor,
    *,
    margin: float = 0.0,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Margin ranking loss (drop-in for ``F.margin_ranking_loss``).

    :math:`\ell = \max(0, -y\,(x_1 - x_2) + m)`: ``y = 1`` asks for :math:`x_1 > x_2 + m`,
    ``y = -1`` for :math:`x_2 > x_1 + m`.

    Args:
        input1: scores, shape (N,) (or any shape).
        input2: scores, same shape.
        target: values in {-1, 1}, same shape.
        margin: the margin :math:`m`.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.margin_ranking_loss(torch.tensor([1.0, 1.0]), torch.tensor([0.0, 0.0]),
        ...                        torch.tensor([1, -1]), reduction="none")
        tensor([0., 1.])

    References:
        Herbrich, Graepel and Obermayer, "Large Margin Rank Boundaries for Ordinal Regression",
        Advances in Large Margin Classifiers, 2000.
    """
    name = "margin_ranking_loss"
    check_tensor(name, "input1", input1)
    check_tensor(name, "input2", input2)
    check_same_shape(name, "input1", input1, "input2", input2)
    _check_signed_target(name, target, tuple(input1.shape), "of 'input1'")
    x1, x2, y = upcast(input1), upcast(input2), _up(target)
    return empty_mean_guard(
        lambda r: F.margin_ranking_loss(x1, x2, y, margin=margin, reduction=r),
        reduction,
        x1.numel() > 0,
    )


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
    _check_signed_target(name, target, tuple(input.shape), "of 'input'")
    x, y = upcast(input), _up(target)
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
    margin=MARGIN,
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
    c = _check_scores(name, input, target)
    _check_class_weight(name, weight, c)
    x = upcast(input)
    return empty_mean_guard(
        lambda r: F.multi_margin_loss(
            x, target, p=p, margin=margin, weight=_opt(weight), reduction=r
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
    check_tensor(name, "input", input)
    check_integer_tensor(name, "target", target)
    if input.dim() not in (1, 2):
        fail(name, "input", "of shape (N, C) or (C,)", f"shape {tuple(input.shape)}")
    check_same_shape(name, "input", input, "target", target)
    c = input.shape[-1]
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
    _check_class_weight(name, weight, x.shape[1])
    return empty_mean_guard(
        lambda r: F.multilabel_soft_margin_loss(x, y, weight=_opt(weight), reduction=r),
        reduction,
        x.shape[0] > 0,
    )


# -- metric learning ---------------------------------------------------------------------------


def _check_embeddings(name: str, **tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    (first, a), *rest = tensors.items()
    check_tensor(name, first, a)
    if a.dim() not in (1, 2):
        fail(name, first, "of shape (N, D) or (D,)", f"shape {tuple(a.shape)}")
    for key, t in rest:
        check_tensor(name, key, t)
        check_same_shape(name, first, a, key, t)
    return tuple(upcast(t) for t in tensors.values())


@loss_function(
    reduction=REDUCTION, margin=Param("float", "cosine margin for dissimilar pairs", ge=-1, le=1)
)
def cosine_embedding_loss(
    input1: torch.Tensor,
    input2: torch.Tensor,
    target: torch.Tensor,
    *,
    margin: float = 0.0,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Cosine embedding loss (drop-in for ``F.cosine_embedding_loss``).

    With :math:`c = \cos(x_1, x_2)`: :math:`\ell = 1 - c` if :math:`y = 1`, and
    :math:`\max(0, c - m)` if :math:`y = -1`. Bounded (at most 2) and invariant to the
    norms of the embeddings.

    Args:
        input1: embeddings of shape (N, D) or (D,).
        input2: same shape.
        target: values in {-1, 1}, shape (N,) (or ()).
        margin: in [-1, 1]; 0 to 0.5 is typical.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 1.0]])
        >>> LF.cosine_embedding_loss(a, b, torch.tensor([1]))
        tensor(0.2929)

    References:
        Bromley et al., "Signature Verification using a Siamese Time Delay Neural Network",
        NeurIPS 1993.
    """
    name = "cosine_embedding_loss"
    x1, x2 = _check_embeddings(name, input1=input1, input2=input2)
    _check_signed_target(name, target, tuple(x1.shape[:-1]), "(N,) (or () for (D,) inputs)")
    y = _up(target)
    return empty_mean_guard(
        lambda r: F.cosine_embedding_loss(x1, x2, y, margin=margin, reduction=r),
        reduction,
        x1.numel() > 0,
    )


@loss_function(
    reduction=REDUCTION,
    margin=Param("float", "required gap between the negative and positive distances", gt=0),
    p=Param("float", "degree of the p-norm distance", gt=0),
    eps=Param("float", "added to the difference before the norm (keeps the gradient finite)", gt=0),
    swap=Param("bool", "use the smaller of d(a, n) and d(p, n) as the negative distance"),
)
def triplet_margin_loss(
    anchor: torch.Tensor,
    positive: torch.Tensor,
    negative: torch.Tensor,
    *,
    margin: float = 1.0,
    p: float = 2.0,
    eps: float = 1e-6,
    swap: bool = False,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Triplet margin loss (drop-in for ``F.triplet_margin_loss``).

    :math:`\ell = \max(0,\ d(a, p) - d(a, n) + m)` with :math:`d(u, v) = \|u - v + \epsilon\|_p`;
    ``swap=True`` replaces :math:`d(a, n)` by :math:`\min(d(a, n), d(p, n))`.

    Args:
        anchor: embeddings of shape (N, D) or (D,).
        positive: same shape.
        negative: same shape.
        margin: > 0.
        p: degree of the norm, > 0.
        eps: > 0.
        swap: the distance swap of Balntas et al.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> a, p, n = torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.5]])
        >>> LF.triplet_margin_loss(a, p, n)
        tensor(0.5000)

    References:
        Schroff, Kalenichenko and Philbin, "FaceNet: A Unified Embedding for Face Recognition
        and Clustering", CVPR 2015; Balntas et al., "Learning local feature descriptors with
        triplets and shallow convolutional neural networks", BMVC 2016 (swap).
    """
    name = "triplet_margin_loss"
    a, pos, neg = _check_embeddings(name, anchor=anchor, positive=positive, negative=negative)
    return empty_mean_guard(
        lambda r: F.triplet_margin_loss(
            a, pos, neg, margin=margin, p=p, eps=eps, swap=swap, reduction=r
        ),
        reduction,
        a.numel() > 0,
    )


# -- sequence ----------------------------------------------------------------------------------


def _lengths(
    name: str, arg: str, x: torch.Tensor | list[int] | tuple[int, ...], n: int | None
) -> torch.Tensor:
    t = torch.as_tensor(x) if isinstance(x, (list, tuple)) else x
    check_integer_tensor(name, arg, t)
    expected = (n,) if n is not None else ()
    if tuple(t.shape) != expected and not (n is None and tuple(t.shape) == (1,)):
        fail(name, arg, f"of shape {expected}", f"shape {tuple(t.shape)}")
    return t.reshape(-1).long()


def _check_ctc(
    name: str,
    log_probs: torch.Tensor,
    targets: torch.Tensor,
    input_lengths: torch.Tensor | list[int] | tuple[int, ...],
    target_lengths: torch.Tensor | list[int] | tuple[int, ...],
    blank: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validate and return batched (T, N, C) log_probs, targets, input and target lengths."""
    check_tensor(name, "log_probs", log_probs)
    if log_probs.dim() not in (2, 3):
        fail(name, "log_probs", "of shape (T, N, C) or (T, C)", f"shape {tuple(log_probs.shape)}")
    check_integer_tensor(name, "targets", targets)
    batched = log_probs.dim() == 3
    t_max, c = log_probs.shape[0], log_probs.shape[-1]
    n = log_probs.shape[1] if batched else None
    il = _lengths(name, "input_lengths", input_lengths, n)
    tl = _lengths(name, "target_lengths", target_lengths, n)
    if blank >= c:
        fail(name, "blank", f"a class index < C = {c}", blank)
    lp = log_probs if batched else log_probs.unsqueeze(1)
    tg = targets if batched or targets.dim() != 1 else targets.unsqueeze(0)
    if tg.dim() not in (1, 2):
        fail(
            name, "targets", "of shape (N, S) or (sum(target_lengths),)", f"shape {tuple(tg.shape)}"
        )
    if tg.dim() == 2:
        check_shape(name, "targets", tg, (lp.shape[1], tg.shape[1]), "(N, S)")
    if not content_checks_enabled():  # everything below reads tensor contents
        return upcast(lp), tg, il, tl
    check_in_range(name, "input_lengths", il, 0, t_max, f"in [0, T = {t_max}]")
    if tg.dim() == 2:
        check_in_range(name, "target_lengths", tl, 0, tg.shape[1], f"in [0, S = {tg.shape[1]}]")
        used = tg[torch.arange(tg.shape[1], device=tg.device) < tl.to(tg.device).unsqueeze(1)]
    else:
        check_in_range(name, "target_lengths", tl, 0, float("inf"), ">= 0")
        if int(tl.sum()) != tg.numel():
            fail(name, "targets", f"of length sum(target_lengths) = {int(tl.sum())}", tg.numel())
        used = tg
    check_class_indices(name, "targets", used, c)
    if used.numel() and bool((used == blank).any()):
        fail(name, "targets", f"free of the blank index {blank}", blank)
    return upcast(lp), tg, il, tl


@loss_function(
    reduction=REDUCTION,
    blank=Param("int", "index of the blank class", ge=0),
    zero_infinity=Param(
        "bool", "replace infinite losses (impossible alignments) and their gradients by 0"
    ),
)
def ctc_loss(
    log_probs: torch.Tensor,
    targets: torch.Tensor,
    input_lengths: torch.Tensor | list[int] | tuple[int, ...],
    target_lengths: torch.Tensor | list[int] | tuple[int, ...],
    *,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> torch.Tensor:
    r"""Connectionist temporal classification loss (drop-in for ``F.ctc_loss``).

    :math:`\ell_n = -\log \sum_{\pi \in \mathcal{B}^{-1}(y_n)} \prod_t \exp(x_{t,n,\pi_t})`, the
    sum running over every frame-level path that collapses (merge repeats, drop blanks) to the
    target. ``"mean"`` divides each :math:`\ell_n` by its target length, then averages over the
    batch (torch's semantics); ``"sum"`` sums the :math:`\ell_n`.

    Gradient: torch's kernel returns :math:`e^{x} - \gamma` (:math:`\gamma` the posterior
    occupancy of each class), the gradient w.r.t. the logits *before* a ``log_softmax``, which
    is wrong w.r.t. ``log_probs`` itself (pytorch issues #52241, #181534). losslab adds a term of
    value 0 that removes :math:`e^{x}` on the frames each sample uses, so autograd returns the
    true gradient :math:`-\gamma`; through a ``log_softmax`` the result is unchanged.

    Args:
        log_probs: log-probabilities of shape (T, N, C) or (T, C) (time first), usually
            ``log_softmax`` of the network output over the last dimension.
        targets: class indices (never ``blank``), shape (N, S) padded, or the concatenated
            targets of shape (sum(target_lengths),); (S,) for unbatched input.
        input_lengths: frames used per sample, shape (N,) (tensor or sequence of ints).
        target_lengths: target length per sample, shape (N,).
        blank: index of the blank class.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.
        zero_infinity: give impossible alignments (input too short) loss and gradient 0.

    Example:
        >>> import torch, losslab.functional as LF
        >>> lp = torch.tensor([[[0.1, 0.8, 0.1]], [[0.1, 0.1, 0.8]]]).log()
        >>> LF.ctc_loss(lp, torch.tensor([[1, 2]]), [2], [2], reduction="sum")
        tensor(0.4463)

    References:
        Graves, Fernández, Gomez and Schmidhuber, "Connectionist Temporal Classification:
        Labelling Unsegmented Sequence Data with Recurrent Neural Networks", ICML 2006.
    """
    name = "ctc_loss"
    batched = log_probs.dim() == 3 if isinstance(log_probs, torch.Tensor) else True
    lp, tg, il, tl = _check_ctc(name, log_probs, targets, input_lengths, target_lengths, blank)
    if lp.shape[1] == 0:  # torch rejects an empty batch
        per_sample = lp.sum(dim=(0, 2)) * 0.0
    else:
        per_sample = F.ctc_loss(
            lp, tg, il, tl, blank=blank, reduction="none", zero_infinity=zero_infinity
        )
        if lp.requires_grad:
            per_sample = per_sample + _ctc_gradient_fix(lp, tg, il, tl, blank, zero_infinity)
    if not batched and reduction == "none":
        return per_sample[0]
    if reduction == "mean":
        per_sample = per_sample / tl.to(per_sample.device).clamp_min(1).to(per_sample.dtype)
    return reduce_loss(per_sample, reduction, name=name)


def _ctc_gradient_fix(
    lp: torch.Tensor,
    tg: torch.Tensor,
    il: torch.Tensor,
    tl: torch.Tensor,
    blank: int,
    zero_infinity: bool,
) -> torch.Tensor:
    """Per-sample terms of value 0 whose gradient is -exp(log_probs) on the frames in use."""
    used = torch.arange(lp.shape[0], device=lp.device).unsqueeze(1) < il.to(lp.device).unsqueeze(0)
    if zero_infinity:  # torch zeroes the whole gradient of an infinite loss: keep it zero
        with torch.no_grad():
            finite = torch.isfinite(F.ctc_loss(lp, tg, il, tl, blank=blank, reduction="none"))
        used = used & finite.unsqueeze(0)
    e = lp.exp()
    return -((e - e.detach()) * used.unsqueeze(-1)).sum(dim=(0, 2))
