r"""Lovász losses for segmentation: Lovász-Softmax (multiclass) and the Lovász hinge (binary).

Input and target forms, ``ignore_index``, the aggregation unit, the empty-mask policy, class
weights and reductions are shared with the overlap losses: see
:mod:`._segmentation`. The analytic gradients of the entries are the
Jaccard-loss increments of the sorted errors, derived by hand (the Lovász extension is linear
between sort orders), for hard labels: (N, C, H, W) logits with (N, H, W) class indices
(softmax), (N, 1, H, W) logits with {0, 1} targets (hinge). Each function carries its catalog
entry (:func:`entry`); tested in ``tests/functional/test_segmentation.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._reduction import reduce_loss, upcast
from .._validation import (
    IGNORE_INDEX,
    REDUCTION,
    WEIGHT_PER_CLASS,
    Raw,
    check_tensor,
    check_values_in,
    fail,
    loss_function,
    warn_if_probabilities,
)
from ..functional._common import SIGMOID_ADVICE
from ._entry import entry
from ._segmentation import (
    _COMMON,
    _COMMON_SPEC,
    _DICE_LIKE,
    _SOFTMAX_CHAIN,
    AGGREGATE,
    BINARY_SEG_HEAD,
    BINARY_SEG_LOGITS,
    _class_weight,
    _drop_background,
    _probabilities,
    _reduce_units,
    _softmax_vjp,
)

__all__ = [
    "lovasz_softmax_loss",
    "lovasz_hinge_loss",
]


def _lovasz_jaccard_grad(gt_sorted: torch.Tensor) -> torch.Tensor:
    """Increments of the Jaccard loss of the top-k sets along the last dim (Berman et al. Alg. 1)."""
    total = gt_sorted.sum(-1, keepdim=True)
    intersection = total - gt_sorted.cumsum(-1)
    union = total + (1 - gt_sorted).cumsum(-1)  # >= 1 for every k (gt in [0, 1])
    jaccard = 1 - intersection / union
    return torch.cat([jaccard[..., :1], jaccard[..., 1:] - jaccard[..., :-1]], dim=-1)


def _lovasz_extension(errors: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Lovász extension of the Jaccard loss at ``errors`` (last dim: the unit's pixels)."""
    sorted_errors, perm = torch.sort(errors, dim=-1, descending=True)
    return (sorted_errors * _lovasz_jaccard_grad(gt.gather(-1, perm))).sum(-1)


def _flatten_units(t: torch.Tensor, aggregate: str) -> torch.Tensor:
    """(N, K, *) -> (N, K, P) per image, or (K, N*P) over the batch."""
    t = t.flatten(2)
    return t if aggregate == "image" else t.transpose(0, 1).flatten(1)


# -- Lovász-Softmax ----------------------------------------------------------------------------


def _jaccard_increments(gt_sorted: torch.Tensor) -> torch.Tensor:
    """g_k = J(top k) - J(top k-1) of the Jaccard loss J of the k largest errors (hard labels)."""
    k = torch.arange(1, gt_sorted.shape[-1] + 1, dtype=gt_sorted.dtype)
    pos_seen = gt_sorted.cumsum(-1)  # foreground pixels among the top k
    total = gt_sorted.sum(-1, keepdim=True)
    # J(k) = |errors| / |union|: missed foreground + false positives over foreground + false positives
    jk = (pos_seen + (k - pos_seen)) / (total + (k - pos_seen))
    return jk - F.pad(jk, (1, 0))[..., :-1]


def _lovasz_softmax_grad(x, y, **_):
    p = torch.softmax(x, dim=1)
    e = F.one_hot(y, x.shape[1]).movedim(-1, 1).to(x.dtype)
    err = (p - e).abs().flatten(2)
    order = torch.sort(err, dim=-1, descending=True).indices
    g_sorted = _jaccard_increments(e.flatten(2).gather(-1, order))
    g = torch.zeros_like(err).scatter(-1, order, g_sorted)  # back to pixel order
    gp = g.reshape(p.shape) * torch.sign(p - e)
    return _softmax_vjp(p, gp)


@entry(
    module="LovaszSoftmaxLoss",
    formula=r"\ell_c = \sum_k m_{\pi(k)}\,\big(\Delta_J(\pi_{1..k}) - \Delta_J(\pi_{1..k-1})\big),\quad "
    r"m_i = |y_{ic} - p_{ic}|,\ \pi: m \text{ sorted decreasingly}",
    derivative=r"g_{ic} = \operatorname{sign}(p_{ic} - y_{ic})\,\big(\Delta_J(\pi_{1..r_i}) - "
    r"\Delta_J(\pi_{1..r_i - 1})\big),\ r_i = \text{rank of pixel } i," + _SOFTMAX_CHAIN,
    derivative_fn=_lovasz_softmax_grad,
    properties=_DICE_LIKE,
    references=(
        "Berman, Rannen Triki, Blaschko, The Lovász-Softmax loss: A tractable surrogate for the "
        "optimization of the intersection-over-union measure in neural networks, CVPR 2018",
    ),
    summary="Lovász extension of the Jaccard loss on per-pixel softmax errors: a tight IoU surrogate.",
    when_to_use="Fine-tuning for the IoU metric (often after CE pre-training); per image or per batch.",
    notes="smooth=False: piecewise linear in the errors (kinks where the sort order changes "
    "and, with soft targets, at p == y). Every class counts (Berman et al.'s classes='all').",
    **_COMMON_SPEC,
)
@loss_function(weight=WEIGHT_PER_CLASS, **{k: v for k, v in _COMMON.items() if "smooth" not in k})
def lovasz_softmax_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    activation: str = "softmax",
    aggregate: str = "image",
    include_background: bool = True,
    ignore_index: int = -100,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Lovász-Softmax loss: the Lovász extension of the Jaccard loss of each class.

    :math:`\Delta_J` is the Jaccard loss of the set of mispredicted pixels. Every class counts (Berman et al.'s ``classes="all"``;
    their default ``"present"`` skips classes absent from the target, which then never see their
    false positives): a class absent from target and prediction has loss 0. Ignored pixels count
    nowhere. Options and shapes as in :func:`dice_loss` (no smoothing).

    Args:
        input: logits (or probabilities with ``activation="none"``), shape (N, C, d1, ...).
        target: class indices (N, d1, ...) or one-hot/soft labels of the input's shape.
        activation, aggregate, include_background, ignore_index, weight, reduction: as in
            :func:`dice_loss` (Berman et al.'s ``per_image=True`` is ``aggregate="image"``).

    Example:
        >>> import torch, losslab.functional as LF
        >>> logits = torch.tensor([[[[2.0, -1.0]], [[-2.0, 1.0]]]])
        >>> LF.lovasz_softmax_loss(logits, torch.tensor([[[0, 1]]]))
        tensor(0.0939)
    """
    name = "lovasz_softmax_loss"
    p, y, _ = _probabilities(name, input, target, activation, ignore_index)
    c = p.shape[1]
    p, y = _drop_background(p, include_background), _drop_background(y, include_background)
    errors = _flatten_units((p - y).abs(), aggregate)
    loss = _lovasz_extension(errors, _flatten_units(y, aggregate))
    return _reduce_units(
        name, loss, _class_weight(name, weight, c, include_background, loss), reduction
    )


# -- Lovász hinge ------------------------------------------------------------------------------


def _lovasz_hinge_grad(x, y, **_):
    n = x.shape[0]
    xf, yf = x.reshape(n, -1), y.reshape(n, -1)
    s = 2 * yf - 1
    err = torch.relu(1 - xf * s)
    order = torch.sort(err, dim=-1, descending=True).indices
    g = torch.zeros_like(err).scatter(-1, order, _jaccard_increments(yf.gather(-1, order)))
    return (g * (err > 0).to(x.dtype) * -s).reshape(x.shape)


@entry(
    module="LovaszHingeLoss",
    family="segmentation",
    tasks=("segmentation",),
    input_kind="logits",
    heads={"*": BINARY_SEG_HEAD},
    formula=r"\ell = \sum_k (1 - x_{\pi(k)} s_{\pi(k)})_+\,\big(\Delta_J(\pi_{1..k}) - "
    r"\Delta_J(\pi_{1..k-1})\big),\quad s = 2y - 1",
    derivative=r"\frac{\partial \ell}{\partial x_i} = -s_i\,[1 - x_i s_i > 0]\,"
    r"\big(\Delta_J(\pi_{1..r_i}) - \Delta_J(\pi_{1..r_i - 1})\big)",
    derivative_fn=_lovasz_hinge_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=True,  # every margin >= 1
        convex=True,  # Lovász extension of a submodular increasing loss of convex hinge errors
        smooth=False,
        bounded=False,
        robust_to_outliers=True,  # |gradient| <= 1 (Jaccard increments lie in [0, 1])
        symmetric=False,  # the Jaccard loss is of the foreground: swapping labels changes it
    ),
    references=(
        "Berman, Rannen Triki, Blaschko, The Lovász-Softmax loss, CVPR 2018",
        "Yu, Blaschko, Learning Submodular Losses with the Lovász Hinge, ICML 2015",
    ),
    summary="Binary IoU surrogate: Lovász extension of the Jaccard loss on hinge errors.",
    when_to_use="Binary segmentation scored by foreground IoU (one logit per pixel).",
    sampler=BINARY_SEG_LOGITS,
)
@loss_function(aggregate=AGGREGATE, ignore_index=IGNORE_INDEX, reduction=REDUCTION)
def lovasz_hinge_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    aggregate: str = "image",
    ignore_index: int = -100,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Lovász hinge: the Lovász extension of the Jaccard loss applied to hinge errors (binary).

    The Jaccard loss is of the foreground (see :func:`lovasz_softmax_loss`). Convex and piecewise linear
    in the logits (Yu & Blaschko). Pixels with ``target == ignore_index`` (integer targets) count
    nowhere.

    Args:
        logits: one logit per pixel, shape (N, d1, ...) or (N, 1, d1, ...).
        target: {0, 1} labels (integer or floating) of the logits' shape, or (N, d1, ...) with
            (N, 1, d1, ...) logits.
        aggregate: ``"image"`` (one loss per image, Berman et al.'s default ``per_image=True``) |
            ``"batch"`` (one loss over all pixels).
        ignore_index: integer-target value whose pixels count nowhere.
        reduction: ``"none"`` -> (N,) or () with ``aggregate="batch"``; ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.lovasz_hinge_loss(torch.tensor([[2.0, -0.5, 0.5]]), torch.tensor([[1, 0, 1]]))
        tensor(0.3333)
    """
    name = "lovasz_hinge_loss"
    check_tensor(name, "logits", logits)
    check_tensor(name, "target", target, floating=False)
    if logits.dim() < 2:
        fail(
            name,
            "logits",
            "of shape (N, d1, ...) or (N, 1, d1, ...)",
            Raw(f"shape {tuple(logits.shape)}"),
        )
    x = upcast(logits)
    warn_if_probabilities(name, "logits", x, dim=None, advice=SIGMOID_ADVICE)
    n = x.shape[0]
    squeezed = x.shape[1] == 1 and tuple(target.shape) == (n, *x.shape[2:])
    if target.shape != x.shape and not squeezed:
        fail(
            name,
            "target",
            f"of the logits' shape {tuple(x.shape)}",
            Raw(f"shape {tuple(target.shape)}"),
        )
    x, t = x.flatten(1), target.flatten(1)
    valid = t != ignore_index if not t.is_floating_point() else torch.ones_like(t, dtype=torch.bool)
    y = torch.where(valid, t, torch.zeros_like(t)).to(x.dtype)
    check_values_in(name, "target", y, (0, 1), "0 or 1")
    errors = torch.where(valid, torch.relu(1 - x * (2 * y - 1)), 0.0)
    if aggregate == "batch":
        errors, y = errors.reshape(1, -1), y.reshape(1, -1)
    loss = _lovasz_extension(errors, y)
    return reduce_loss(loss if aggregate == "image" else loss[0], reduction, name=name)
