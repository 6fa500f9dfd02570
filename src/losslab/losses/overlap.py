r"""Overlap losses for segmentation: soft Dice, Jaccard, Tversky and focal Tversky, from the soft
confusion counts of each (image, class) unit.

Input and target forms, ``ignore_index``, the soft-label-correct counts, the aggregation unit,
smoothing, the empty-mask policy, class weights and reductions are shared with the Lovász losses:
see :mod:`._segmentation`. The generalized Dice and Dice + cross entropy losses, built on these
counts, are in :mod:`.overlap_combined`.

The entries' sampler makes (N, C, H, W) logits with (N, H, W) class-index targets (hard labels),
so the analytic derivatives are written for hard labels, from ``tp = sum p*y``,
``fp = sum p*(1-y)``, ``fn = sum (1-p)*y`` (the soft formulation of the functions reduces to these
when y is 0/1 and 0 < p < 1), then chained through the softmax:
``dL/dx = p * (dL/dp - sum_c p_c dL/dp_c)``. Each function carries its catalog entry
(:func:`entry`); tested in ``tests/functional/test_segmentation.py``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from .._validation import WEIGHT_PER_CLASS, Param, loss_function
from ..catalog._spec import When
from ._entry import entry
from ._segmentation import (
    _COMMON,
    _COMMON_SPEC,
    _DICE_LIKE,
    _SOFTMAX_CHAIN,
    SMOOTH,
    _class_weight,
    _drop_background,
    _probabilities,
    _reduce_units,
    _softmax_vjp,
)

__all__ = [
    "dice_loss",
    "jaccard_loss",
    "tversky_loss",
    "focal_tversky_loss",
]

# -- soft confusion counts ---------------------------------------------------------------------


def _sum_dims(p: torch.Tensor, aggregate: str) -> tuple[int, ...]:
    spatial = tuple(range(2, p.dim()))
    return spatial if aggregate == "image" else (0, *spatial)


def _confusion_plain(p: torch.Tensor, y: torch.Tensor, aggregate: str) -> tuple[torch.Tensor, ...]:
    """Soft tp, fp, fn per unit: (N, K) for 'image', (K,) for 'batch' (the autograd reference).

    tp = sum min(p, y) = sum p - (p - y)_+, fp = sum (p - y)_+, fn = sum (y - p)_+.
    """
    d = p - y
    fp_px = torch.relu(d)
    fn_px = torch.relu(-d)
    dims = _sum_dims(p, aggregate)
    return (p - fp_px).sum(dims), fp_px.sum(dims), fn_px.sum(dims)


def _confusion(
    p: torch.Tensor, y: torch.Tensor, aggregate: str, *, hard: bool = False
) -> tuple[torch.Tensor, ...]:
    """:func:`_confusion_plain`, faster.

    ``hard`` (y in {0, 1}, built from class indices, and p from a softmax/sigmoid): then
    min(p, y) = p*y, so with q = p*y the pixel counts are q, p - q = p(1 - y) and y - q = y(1 - p),
    each exact elementwise (no difference of large sums, so a near-perfect unit keeps its small
    loss), then summed; the backward is one pass (see :class:`_HardConfusion`). Its
    derivatives equal the plain composition's except where p == y exactly, i.e. where the
    softmax/sigmoid is saturated and its own derivative is 0. Otherwise (soft labels, or
    probabilities given directly, where exact ties are real) a hand-written backward with relu's
    tie convention.
    """
    dims = _sum_dims(p, aggregate)
    if not hard:
        return _Confusion.apply(p, y, dims)
    return _HardConfusion.apply(p, y, dims)


class _HardConfusion(torch.autograd.Function):
    """Counts for y in {0, 1}: d/dp = g_fp + y (g_tp - g_fp - g_fn), one fused pass (autograd's
    graph of the three differences accumulates three broadcast gradients at full size)."""

    @staticmethod
    def forward(ctx, p: torch.Tensor, y: torch.Tensor, dims: tuple[int, ...]):  # type: ignore[override]
        ctx.save_for_backward(y)
        ctx.dims = dims
        q = p * y
        return q.sum(dims), torch.sub(p, q).sum(dims), torch.sub(y, q).sum(dims)

    @staticmethod
    def backward(ctx, g_tp: torch.Tensor, g_fp: torch.Tensor, g_fn: torch.Tensor):  # type: ignore[override]
        (y,) = ctx.saved_tensors
        shape = [1 if i in ctx.dims else n for i, n in enumerate(y.shape)]
        g_fp = g_fp.reshape(shape)
        slope = (g_tp - g_fn).reshape(shape) - g_fp
        gp = torch.addcmul(g_fp.expand(y.shape), y, slope) if ctx.needs_input_grad[0] else None
        return gp, None, None  # y is built from class indices: it never needs a gradient


class _Confusion(torch.autograd.Function):
    """The soft counts' derivatives are indicators: with ``gt = p > y`` and ``lt = p < y``,
    d/dp = where(gt, g_fp, g_tp) - lt * g_fn and d/dy = gt * (g_tp - g_fp) + lt * g_fn, relu's
    convention (derivative 0 at 0) deciding ties exactly as in the plain composition. Autograd's
    graph of that composition keeps two relu outputs and runs about twice the passes.
    Backward is made of differentiable operations, so higher derivatives stay available.
    """

    @staticmethod
    def forward(ctx, p: torch.Tensor, y: torch.Tensor, dims: tuple[int, ...]):  # type: ignore[override]
        ctx.save_for_backward(p, y)
        ctx.dims = dims
        fp_px = (p - y).clamp_min_(0)
        fn_px = fp_px - (p - y)  # (y - p)_+ = (p - y)_+ - (p - y)
        tp = torch.sub(p, fp_px).sum(dims)
        return tp, fp_px.sum(dims), fn_px.sum(dims)

    @staticmethod
    def backward(ctx, g_tp: torch.Tensor, g_fp: torch.Tensor, g_fn: torch.Tensor):  # type: ignore[override]
        p, y = ctx.saved_tensors
        shape = [1] * p.dim()
        for i, n in enumerate(p.shape):
            if i not in ctx.dims:
                shape[i] = n
        g_tp, g_fp, g_fn = (g.reshape(shape) for g in (g_tp, g_fp, g_fn))
        gt, lt = p > y, p < y
        gp = gy = None
        if ctx.needs_input_grad[0]:
            gp = torch.where(gt, g_fp, g_tp) - torch.where(lt, g_fn, 0.0)
        if ctx.needs_input_grad[1]:
            gy = torch.where(gt, g_tp - g_fp, 0.0) + torch.where(lt, g_fn, 0.0)
        return gp, gy, None


def _ratio(num: torch.Tensor, den: torch.Tensor, empty: torch.Tensor) -> torch.Tensor:
    """num / den, and 0 for empty units (target and prediction both empty) or den == 0."""
    zero = empty | (den == 0)
    return torch.where(
        zero, torch.zeros_like(num), num / torch.where(zero, torch.ones_like(den), den)
    )


def _tversky_units(tp, fp, fn, alpha, beta, smooth_nr, smooth_dr):
    """1 - (tp + s_nr) / (tp + alpha fp + beta fn + s_dr), written without cancellation."""
    err = alpha * fp + beta * fn
    return _ratio(err + (smooth_dr - smooth_nr), tp + err + smooth_dr, (tp + fp + fn) == 0)


def _dice_units(tp, fp, fn, smooth_nr, smooth_dr):
    """1 - (2 tp + s_nr) / (2 tp + fp + fn + s_dr), written without cancellation."""
    num = fp + fn + (smooth_dr - smooth_nr)
    return _ratio(num, 2 * tp + fp + fn + smooth_dr, (tp + fp + fn) == 0)


class _Counts(NamedTuple):
    """What every overlap loss starts from (see :func:`_overlap_counts`)."""

    tp: torch.Tensor  #: soft true positives per unit, (N, K) or (K,)
    fp: torch.Tensor  #: soft false positives per unit
    fn: torch.Tensor  #: soft false negatives per unit
    classes: int  #: C, the input's channels before the background is dropped
    y: torch.Tensor  #: labels (N, C, *) with the background kept (Dice + CE's cross entropy)
    x: torch.Tensor  #: the float input (Dice + CE's cross entropy)


def _overlap_counts(
    name: str,
    input: torch.Tensor,
    target: torch.Tensor,
    activation: str,
    aggregate: str,
    include_background: bool,
    ignore_index: int,
) -> _Counts:
    """Validate, take probabilities, drop the background unless included, count TP/FP/FN per unit.

    Index targets with an activation count exactly (hard labels: the cheaper backward).
    """
    p, y, x = _probabilities(name, input, target, activation, ignore_index)
    c = p.shape[1]
    kept_p = _drop_background(p, include_background)
    kept_y = _drop_background(y, include_background)
    hard = target.shape != input.shape and activation != "none"
    tp, fp, fn = _confusion(kept_p, kept_y, aggregate, hard=hard)
    return _Counts(tp, fp, fn, c, y, x)


def _reduce_classes(
    name: str,
    loss: torch.Tensor,
    weight: torch.Tensor | None,
    classes: int,
    include_background: bool,
    reduction: str,
) -> torch.Tensor:
    """Reduce per-(unit, class) losses, weighted by the (checked) per-class ``weight``."""
    w = _class_weight(name, weight, classes, include_background, loss)
    return _reduce_units(name, loss, w, reduction)


# -- entry pieces: smoothing rules and notes, hard-label derivative helpers -------------------

#: with smooth_nr > smooth_dr an empty, perfectly predicted class scores 1 - smooth_nr/smooth_dr < 0;
#: with smooth_nr != smooth_dr it is not 0 (the examples push smooth_nr to both sides)
_SMOOTHING_RULES = dict(
    nonnegative=When(
        "smooth_nr <= smooth_dr", examples_extra=({"smooth_nr": 1.0}, {"smooth_nr": 0.0})
    ),
    zero_at_perfect=When(
        "smooth_nr == smooth_dr", examples_extra=({"smooth_nr": 1.0}, {"smooth_nr": 0.0})
    ),
)

_SMOOTH_NOTE = (
    "smooth=False because the soft-label-correct form (tp = min(p, y)) has a kink at p == y "
    "with soft targets; with hard 0/1 targets the loss is smooth in the logits. Options: "
    "activation softmax/sigmoid/none, aggregate image/batch, smooth_nr/smooth_dr, "
    "include_background, ignore_index, per-class weight. Empty-mask policy: a unit empty in both "
    "target and prediction has loss 0; false positives on empty targets count (loss -> 1)."
)


def _parts(x: torch.Tensor, y: torch.Tensor):
    """softmax p, one-hot y (N, C, H, W) and per-(image, class) tp, fp, fn."""
    p = torch.softmax(x, dim=1)
    e = F.one_hot(y, x.shape[1]).movedim(-1, 1).to(x.dtype)
    dims = tuple(range(2, x.dim()))
    return p, e, (p * e).sum(dims), (p * (1 - e)).sum(dims), ((1 - p) * e).sum(dims)


def _bcast(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return t.reshape(*t.shape, *([1] * (like.dim() - t.dim())))


def _ratio_grad(num, den, dnum_dtp, dnum_dfp, dnum_dfn, dden_dtp, dden_dfp, dden_dfn, e):
    """dL/dp for L = num/den per unit, with dtp/dp = y, dfp/dp = 1 - y, dfn/dp = -y."""
    loss = num / den

    def d(dtp, dfp, dfn):
        return _bcast(dtp, e) * e + _bcast(dfp, e) * (1 - e) - _bcast(dfn, e) * e

    return (
        d(dnum_dtp, dnum_dfp, dnum_dfn) - _bcast(loss, e) * d(dden_dtp, dden_dfp, dden_dfn)
    ) / _bcast(den, e)


def _tversky_dp(x, y, alpha, beta, smooth_nr=SMOOTH, smooth_dr=SMOOTH):
    p, e, tp, fp, fn = _parts(x, y)
    one, zero = torch.ones_like(tp), torch.zeros_like(tp)
    num = alpha * fp + beta * fn + smooth_dr - smooth_nr
    den = tp + alpha * fp + beta * fn + smooth_dr
    g = _ratio_grad(num, den, zero, alpha * one, beta * one, one, alpha * one, beta * one, e)
    return p, num / den, g


# -- Dice, Jaccard, Tversky --------------------------------------------------------------------


def _dice_grad(x, y, *, smooth_nr, smooth_dr, **_):
    p, e, tp, fp, fn = _parts(x, y)
    one, zero = torch.ones_like(tp), torch.zeros_like(tp)
    num, den = fp + fn + smooth_dr - smooth_nr, 2 * tp + fp + fn + smooth_dr
    return _softmax_vjp(p, _ratio_grad(num, den, zero, one, one, 2 * one, one, one, e))


@entry(
    module="DiceLoss",
    formula=r"\ell_c = 1 - \frac{2\,TP_c + s_{nr}}{|p_c| + |y_c| + s_{dr}},\quad "
    r"TP_c = \sum_i \min(p_{ic}, y_{ic}),\ p = \operatorname{softmax}(x)",
    derivative=r"g_{ic} = \frac{\partial \ell_c}{\partial p_{ic}} = "
    r"\frac{\operatorname{sign}(p_{ic} - y_{ic}) - \ell_c}{|p_c| + |y_c| + s_{dr}},"
    + _SOFTMAX_CHAIN,
    derivative_fn=_dice_grad,
    properties={**_DICE_LIKE, **_SMOOTHING_RULES},
    references=(
        "Milletari, Navab, Ahmadi, V-Net: Fully Convolutional Neural Networks for Volumetric "
        "Medical Image Segmentation, 3DV 2016",
        "Wang, Blaschko, Dice Semimetric Losses: Optimizing the Dice Score with Soft Labels, MICCAI 2023",
    ),
    summary="1 - soft Dice per image and class: optimises region overlap directly.",
    when_to_use="Segmentation with foreground much smaller than background (medical images): "
    "overlap is insensitive to the number of easy background pixels. Usually combined with CE "
    "(dice_ce_loss) for stable early training; aggregate='batch' is gentler on images with small "
    "or empty masks.",
    notes=_SMOOTH_NOTE,
    **_COMMON_SPEC,
)
@loss_function(weight=WEIGHT_PER_CLASS, **_COMMON)
def dice_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    activation: str = "softmax",
    aggregate: str = "image",
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    include_background: bool = True,
    ignore_index: int = -100,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Soft Dice loss, one value per (image, class) or per class (soft-label correct).

    The soft counts are :math:`TP_c = \sum_i \min(p_{ic}, y_{ic})`,
    :math:`FP_c = \sum_i (p_{ic} - y_{ic})_+`, :math:`FN_c = \sum_i (y_{ic} - p_{ic})_+` over the
    unit's pixels (see the notes of
    :mod:`losslab.losses._segmentation` for the input/target forms, ignore_index, the
    empty-mask policy and the reductions).

    Args:
        input: logits (or probabilities with ``activation="none"``), shape (N, C, d1, ...).
        target: class indices (N, d1, ...) or one-hot/soft labels of the input's shape.
        activation: ``"softmax"`` | ``"sigmoid"`` | ``"none"``.
        aggregate: ``"image"`` (per image and class) | ``"batch"`` (per class over the batch).
        smooth_nr, smooth_dr: added to the numerator and the denominator (MONAI's 1e-5).
        include_background: whether channel 0 counts.
        ignore_index: index-target value whose pixels count nowhere.
        weight: optional per-class weight, shape (C,).
        reduction: ``"none"`` -> (N, K) or (K,); ``"mean"`` | ``"sum"`` over units.

    Example:
        >>> import torch, losslab.functional as LF
        >>> logits = torch.tensor([[[[2.0, -1.0]], [[-2.0, 1.0]]]])  # (1, 2, 1, 2)
        >>> LF.dice_loss(logits, torch.tensor([[[0, 1]]]))
        tensor(0.0688)
    """
    name = "dice_loss"
    tp, fp, fn, c, _, _ = _overlap_counts(
        name, input, target, activation, aggregate, include_background, ignore_index
    )
    loss = _dice_units(tp, fp, fn, smooth_nr, smooth_dr)
    return _reduce_classes(name, loss, weight, c, include_background, reduction)


def _jaccard_grad(x, y, **_):
    p, _, g = _tversky_dp(x, y, 1.0, 1.0)
    return _softmax_vjp(p, g)


@entry(
    module="JaccardLoss",
    formula=r"\ell_c = 1 - \frac{TP_c + s_{nr}}{TP_c + FP_c + FN_c + s_{dr}}",
    derivative=r"g_{ic} = \frac{[p_{ic} > y_{ic}] - [p_{ic} < y_{ic}] - \ell_c\,(1 - [p_{ic} < y_{ic}])}"
    r"{TP_c + FP_c + FN_c + s_{dr}}," + _SOFTMAX_CHAIN,
    derivative_fn=_jaccard_grad,
    properties={**_DICE_LIKE, **_SMOOTHING_RULES},
    references=(
        "Rahman, Wang, Optimizing Intersection-Over-Union in Deep Neural Networks for Image "
        "Segmentation, ISVC 2016",
    ),
    summary="1 - soft IoU per image and class.",
    when_to_use="When the evaluation metric is IoU; it punishes errors a little more than Dice "
    "(IoU = Dice / (2 - Dice)). See lovasz_softmax_loss for a tighter IoU surrogate.",
    notes=_SMOOTH_NOTE,
    **_COMMON_SPEC,
)
@loss_function(weight=WEIGHT_PER_CLASS, **_COMMON)
def jaccard_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    activation: str = "softmax",
    aggregate: str = "image",
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    include_background: bool = True,
    ignore_index: int = -100,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Soft Jaccard (IoU) loss, one value per (image, class) or per class.

    The soft union is :math:`|p| + |y| - TP`; MONAI's ``DiceLoss(jaccard=True)`` doubles
    numerator and denominator before adding the smoothing. Options, shapes and the empty-mask policy as in
    :func:`dice_loss`.

    Args:
        input: logits (or probabilities with ``activation="none"``), shape (N, C, d1, ...).
        target: class indices (N, d1, ...) or one-hot/soft labels of the input's shape.
        activation, aggregate, smooth_nr, smooth_dr, include_background, ignore_index, weight,
            reduction: as in :func:`dice_loss`.

    Example:
        >>> import torch, losslab.functional as LF
        >>> logits = torch.tensor([[[[2.0, -1.0]], [[-2.0, 1.0]]]])
        >>> LF.jaccard_loss(logits, torch.tensor([[[0, 1]]]))
        tensor(0.1287)
    """
    name = "jaccard_loss"
    tp, fp, fn, c, _, _ = _overlap_counts(
        name, input, target, activation, aggregate, include_background, ignore_index
    )
    loss = _tversky_units(tp, fp, fn, 1.0, 1.0, smooth_nr, smooth_dr)
    return _reduce_classes(name, loss, weight, c, include_background, reduction)


_TVERSKY = dict(
    alpha=Param("float", "weight of false positives", ge=0),
    beta=Param("float", "weight of false negatives", ge=0),
)


def _tversky_grad(x, y, *, alpha, beta, **_):
    p, _, g = _tversky_dp(x, y, alpha, beta)
    return _softmax_vjp(p, g)


@entry(
    module="TverskyLoss",
    formula=r"\ell_c = 1 - \frac{TP_c + s_{nr}}{TP_c + \alpha FP_c + \beta FN_c + s_{dr}}",
    derivative=r"g_{ic} = \frac{\alpha[p_{ic} > y_{ic}] - \beta[p_{ic} < y_{ic}] - \ell_c\,"
    r"(1 - (1-\alpha)[p_{ic} > y_{ic}] - \beta[p_{ic} < y_{ic}])}{TP_c + \alpha FP_c + \beta FN_c + s_{dr}},"
    + _SOFTMAX_CHAIN,
    derivative_fn=_tversky_grad,
    properties={**_DICE_LIKE, **_SMOOTHING_RULES},
    references=(
        "Salehi, Erdogmus, Gholipour, Tversky Loss Function for Image Segmentation Using 3D Fully "
        "Convolutional Deep Networks, MLMI 2017",
    ),
    summary="Dice with separate weights for false positives (alpha) and false negatives (beta).",
    when_to_use="Small structures where missing them costs more than over-segmenting: beta > "
    "alpha (default 0.3/0.7) trades precision for recall.",
    notes=_SMOOTH_NOTE,
    **_COMMON_SPEC,
)
@loss_function(weight=WEIGHT_PER_CLASS, **_TVERSKY, **_COMMON)
def tversky_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    alpha: float = 0.3,
    beta: float = 0.7,
    activation: str = "softmax",
    aggregate: str = "image",
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    include_background: bool = True,
    ignore_index: int = -100,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Tversky loss: false positives and false negatives weighted separately.

    ``alpha = beta = 0.5`` is Dice up to the smoothing, ``alpha = beta = 1`` is Jaccard; the
    default ``alpha=0.3, beta=0.7`` (Salehi et al.) favours recall of small structures. This is
    MONAI's ``TverskyLoss`` formula. Options, shapes and empty-mask policy as in :func:`dice_loss`.

    Args:
        input: logits (or probabilities with ``activation="none"``), shape (N, C, d1, ...).
        target: class indices (N, d1, ...) or one-hot/soft labels of the input's shape.
        alpha: weight of false positives, >= 0.
        beta: weight of false negatives, >= 0.
        activation, aggregate, smooth_nr, smooth_dr, include_background, ignore_index, weight,
            reduction: as in :func:`dice_loss`.

    Example:
        >>> import torch, losslab.functional as LF
        >>> logits = torch.tensor([[[[2.0, -1.0]], [[-2.0, 1.0]]]])
        >>> LF.tversky_loss(logits, torch.tensor([[[0, 1]]]), alpha=0.5, beta=0.5)
        tensor(0.0688)
    """
    name = "tversky_loss"
    tp, fp, fn, c, _, _ = _overlap_counts(
        name, input, target, activation, aggregate, include_background, ignore_index
    )
    loss = _tversky_units(tp, fp, fn, alpha, beta, smooth_nr, smooth_dr)
    return _reduce_classes(name, loss, weight, c, include_background, reduction)


def _focal_tversky_grad(x, y, *, alpha, beta, gamma, **_):
    p, u, g = _tversky_dp(x, y, alpha, beta)
    return _softmax_vjp(p, _bcast(gamma * u ** (gamma - 1), g) * g)


@entry(
    module="FocalTverskyLoss",
    formula=r"\ell_c = \left(1 - \frac{TP_c + s_{nr}}{TP_c + \alpha FP_c + \beta FN_c + s_{dr}}\right)^{\gamma}",
    derivative=r"g_{ic} = \gamma\,u_c^{\gamma - 1}\,\frac{\partial u_c}{\partial p_{ic}},\ "
    r"u_c = \text{Tversky loss of unit } c," + _SOFTMAX_CHAIN,
    derivative_fn=_focal_tversky_grad,
    properties={
        **_DICE_LIKE,  # (1 - TI)^gamma is clamped at 0 where TI > 1
        "zero_at_perfect": When("smooth_nr >= smooth_dr", examples_extra=({"smooth_nr": 0.0},)),
    },
    references=(
        "Abraham, Khan, A Novel Focal Tversky Loss Function with Improved Attention U-Net for "
        "Lesion Segmentation, ISBI 2019",
    ),
    summary="Tversky loss of each class raised to gamma (0.75): hard classes get relatively more weight.",
    when_to_use="Small lesions whose Tversky loss stays high; gamma < 1 keeps the gradient "
    "large as a class's loss shrinks (it is infinite at exactly 0, where losslab returns 0).",
    notes=_SMOOTH_NOTE,
    **_COMMON_SPEC,
)
@loss_function(
    weight=WEIGHT_PER_CLASS,
    gamma=Param("float", "exponent applied to each class's Tversky loss", gt=0),
    **_TVERSKY,
    **_COMMON,
)
def focal_tversky_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    alpha: float = 0.3,
    beta: float = 0.7,
    gamma: float = 0.75,
    activation: str = "softmax",
    aggregate: str = "image",
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    include_background: bool = True,
    ignore_index: int = -100,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Focal Tversky loss: each unit's Tversky loss raised to ``gamma`` (per class, then reduced).

    The exponent is applied to every (image, class) unit before the reduction (not to the mean).
    The default ``gamma = 0.75`` is the paper's :math:`1/\gamma` with :math:`\gamma = 4/3`; with
    ``gamma < 1`` the derivative grows as a unit's loss approaches 0 and is infinite at exactly
    0, where losslab returns the value 0 with gradient 0 (a unit reaches it only when the
    prediction is exactly right, e.g. a saturated softmax). Options as in :func:`tversky_loss`.

    Args:
        input: logits (or probabilities with ``activation="none"``), shape (N, C, d1, ...).
        target: class indices (N, d1, ...) or one-hot/soft labels of the input's shape.
        alpha, beta: weights of false positives and false negatives, >= 0.
        gamma: exponent, > 0 (1 gives :func:`tversky_loss`).
        activation, aggregate, smooth_nr, smooth_dr, include_background, ignore_index, weight,
            reduction: as in :func:`dice_loss`.

    Example:
        >>> import torch, losslab.functional as LF
        >>> logits = torch.tensor([[[[2.0, -1.0]], [[-2.0, 1.0]]]])
        >>> LF.focal_tversky_loss(logits, torch.tensor([[[0, 1]]]))
        tensor(0.1337)
    """
    name = "focal_tversky_loss"
    tp, fp, fn, c, _, _ = _overlap_counts(
        name, input, target, activation, aggregate, include_background, ignore_index
    )
    u = _tversky_units(tp, fp, fn, alpha, beta, smooth_nr, smooth_dr)
    pos = u > 0
    loss = torch.where(pos, torch.where(pos, u, torch.ones_like(u)) ** gamma, torch.zeros_like(u))
    return _reduce_classes(name, loss, weight, c, include_background, reduction)
