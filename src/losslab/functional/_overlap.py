r"""Overlap losses for segmentation: soft Dice, generalized Dice, Jaccard, Tversky, focal
Tversky and Dice + cross entropy.

Input and target forms, ``ignore_index``, the soft-label-correct counts, the aggregation unit,
smoothing, the empty-mask policy, class weights and reductions are shared with the Lovász losses:
see :mod:`losslab.functional._segmentation_common`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from .._reduction import reduce_loss
from .._validation import WEIGHT_PER_CLASS, Param, loss_function
from ._segmentation_common import (
    _COMMON,
    _class_weight,
    _drop_background,
    _probabilities,
    _reduce_units,
)

__all__ = [
    "dice_loss",
    "generalized_dice_loss",
    "jaccard_loss",
    "tversky_loss",
    "focal_tversky_loss",
    "dice_ce_loss",
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


# -- Dice, Jaccard, Tversky --------------------------------------------------------------------


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

    .. math::
        \ell_c = 1 - \frac{2\,TP_c + s_{nr}}{|p_c| + |y_c| + s_{dr}}
               = \frac{FP_c + FN_c + s_{dr} - s_{nr}}{2\,TP_c + FP_c + FN_c + s_{dr}}

    with :math:`TP_c = \sum_i \min(p_{ic}, y_{ic})`, :math:`FP_c = \sum_i (p_{ic} - y_{ic})_+`,
    :math:`FN_c = \sum_i (y_{ic} - p_{ic})_+` over the unit's pixels (see the notes of
    :mod:`losslab.functional._segmentation_common` for the input/target forms, ignore_index, the
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

    References:
        Milletari, Navab, Ahmadi, "V-Net: Fully Convolutional Neural Networks for Volumetric
        Medical Image Segmentation", 3DV 2016. Wang, Blaschko, "Dice Semimetric Losses:
        Optimizing the Dice Score with Soft Labels", MICCAI 2023.
    """
    name = "dice_loss"
    tp, fp, fn, c, _, _ = _overlap_counts(
        name, input, target, activation, aggregate, include_background, ignore_index
    )
    loss = _dice_units(tp, fp, fn, smooth_nr, smooth_dr)
    return _reduce_classes(name, loss, weight, c, include_background, reduction)


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

    .. math::
        \ell_c = 1 - \frac{TP_c + s_{nr}}{TP_c + FP_c + FN_c + s_{dr}}
               = \frac{FP_c + FN_c + s_{dr} - s_{nr}}{TP_c + FP_c + FN_c + s_{dr}}

    (soft union :math:`|p| + |y| - TP`; MONAI's ``DiceLoss(jaccard=True)`` doubles numerator and
    denominator before adding the smoothing). Options, shapes and the empty-mask policy as in
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

    References:
        Rahman, Wang, "Optimizing Intersection-Over-Union in Deep Neural Networks for Image
        Segmentation", ISVC 2016.
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

    .. math::
        \ell_c = 1 - \frac{TP_c + s_{nr}}{TP_c + \alpha FP_c + \beta FN_c + s_{dr}}

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

    References:
        Salehi, Erdogmus, Gholipour, "Tversky Loss Function for Image Segmentation Using 3D
        Fully Convolutional Deep Networks", MLMI 2017.
    """
    name = "tversky_loss"
    tp, fp, fn, c, _, _ = _overlap_counts(
        name, input, target, activation, aggregate, include_background, ignore_index
    )
    loss = _tversky_units(tp, fp, fn, alpha, beta, smooth_nr, smooth_dr)
    return _reduce_classes(name, loss, weight, c, include_background, reduction)


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

    .. math::
        \ell_c = \left(1 - TI_c\right)^{\gamma},\qquad
        TI_c = \frac{TP_c + s_{nr}}{TP_c + \alpha FP_c + \beta FN_c + s_{dr}}

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

    References:
        Abraham, Khan, "A Novel Focal Tversky Loss Function with Improved Attention U-Net for
        Lesion Segmentation", ISBI 2019.
    """
    name = "focal_tversky_loss"
    tp, fp, fn, c, _, _ = _overlap_counts(
        name, input, target, activation, aggregate, include_background, ignore_index
    )
    u = _tversky_units(tp, fp, fn, alpha, beta, smooth_nr, smooth_dr)
    pos = u > 0
    loss = torch.where(pos, torch.where(pos, u, torch.ones_like(u)) ** gamma, torch.zeros_like(u))
    return _reduce_classes(name, loss, weight, c, include_background, reduction)


# -- generalized Dice ---------------------------------------------------------------------------


@loss_function(
    weight_type=Param(
        "choice",
        "class weights from the target volume V: 'square' 1/V^2 (Sudre et al.), 'simple' 1/V, "
        "'uniform' 1",
        choices=("square", "simple", "uniform"),
    ),
    **_COMMON,
)
def generalized_dice_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    weight_type: str = "square",
    activation: str = "softmax",
    aggregate: str = "image",
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    include_background: bool = True,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Generalized Dice loss: one Dice over all classes, each weighted by its inverse volume.

    .. math::
        \ell = 1 - \frac{2\sum_c w_c TP_c + s_{nr}}{\sum_c w_c (|p_c| + |y_c|) + s_{dr}},\qquad
        w_c = \frac{1}{\left(\sum_i y_{ic}\right)^2}

    The weights are computed from the target (no gradient). **Empty classes** (volume 0, infinite
    weight) get the largest weight among the unit's present classes, as in MONAI, so their false
    positives still count; a unit whose classes are all empty in target and prediction has loss 0.
    ``"none"`` returns one value per image (N,) or ``()`` with ``aggregate="batch"``.

    Args:
        input: logits (or probabilities with ``activation="none"``), shape (N, C, d1, ...).
        target: class indices (N, d1, ...) or one-hot/soft labels of the input's shape.
        weight_type: ``"square"`` (Sudre et al.) | ``"simple"`` | ``"uniform"``.
        activation, aggregate, smooth_nr, smooth_dr, include_background, ignore_index,
            reduction: as in :func:`dice_loss`.

    Example:
        >>> import torch, losslab.functional as LF
        >>> logits = torch.tensor([[[[2.0, -1.0, 0.0]], [[-2.0, 1.0, 0.0]]]])  # (1, 2, 1, 3)
        >>> LF.generalized_dice_loss(logits, torch.tensor([[[0, 1, 1]]]))
        tensor(0.2308)

    References:
        Sudre, Li, Vercauteren, Ourselin, Cardoso, "Generalised Dice Overlap as a Deep Learning
        Loss Function for Highly Unbalanced Segmentations", DLMIA 2017.
    """
    name = "generalized_dice_loss"
    tp, fp, fn, _, _, _ = _overlap_counts(
        name, input, target, activation, aggregate, include_background, ignore_index
    )
    volume = (tp + fn).detach()
    present = volume > 0
    if weight_type == "uniform":
        w = present.to(volume.dtype)
    else:
        safe = torch.where(present, volume, torch.ones_like(volume))
        w = torch.where(present, 1 / (safe * safe if weight_type == "square" else safe), 0.0)
    # empty classes take the unit's largest weight (the unit is the last dimension's classes)
    w = torch.where(present, w, w.amax(dim=-1, keepdim=True))
    num = (w * (fp + fn)).sum(-1) + (smooth_dr - smooth_nr)
    den = (w * (2 * tp + fp + fn)).sum(-1) + smooth_dr
    loss = _ratio(num, den, (tp + fp + fn).sum(-1) == 0)
    return reduce_loss(loss, reduction, name=name)


# -- Dice + cross entropy -----------------------------------------------------------------------


def _per_image_ce(x, target, y_full, activation, weight, ignore_index) -> torch.Tensor:
    """Cross entropy per image: the (weighted) mean over the image's counted pixels."""
    n = x.shape[0]
    w = None if weight is None else weight.to(x.dtype)
    if activation == "sigmoid":
        per = F.binary_cross_entropy_with_logits(x, y_full, reduction="none")  # (N, C, *)
        mask = torch.ones_like(per)
        if target.shape != x.shape:
            mask = (target != ignore_index).unsqueeze(1).expand_as(per).to(x.dtype)
        if w is not None:
            mask = mask * w.view(1, -1, *([1] * (x.dim() - 2)))
        num, den = (per * mask).flatten(1).sum(1), mask.flatten(1).sum(1)
    elif target.shape == x.shape:  # one-hot / soft labels: mean over pixels
        per = F.cross_entropy(x, y_full, weight=w, reduction="none")
        num, den = (
            per.flatten(1).sum(1),
            torch.full((n,), per[0].numel() if n else 1, dtype=x.dtype),
        )
    else:  # class indices: torch's weighted mean per image over non-ignored pixels
        per = F.cross_entropy(x, target, weight=w, ignore_index=ignore_index, reduction="none")
        valid = target != ignore_index
        wy = (
            valid.to(x.dtype)
            if w is None
            else torch.where(valid, w[torch.where(valid, target, 0)], 0.0)
        )
        num, den = per.flatten(1).sum(1), wy.flatten(1).sum(1)
    return _ratio(num, den, den == 0)


@loss_function(
    lambda_dice=Param("float", "weight of the Dice term", ge=0),
    lambda_ce=Param("float", "weight of the cross-entropy term", ge=0),
    activation=Param(
        "choice", "'softmax' (CE) or 'sigmoid' (BCE per channel)", choices=("softmax", "sigmoid")
    ),
    weight=WEIGHT_PER_CLASS,
    **{k: v for k, v in _COMMON.items() if k != "activation"},
)
def dice_ce_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    lambda_dice: float = 1.0,
    lambda_ce: float = 1.0,
    activation: str = "softmax",
    aggregate: str = "image",
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    include_background: bool = True,
    ignore_index: int = -100,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Dice + cross entropy: ``lambda_dice * Dice + lambda_ce * CE``, one value per image.

    .. math::
        \ell_n = \lambda_{dice}\,\frac{\sum_c w_c\,\mathrm{Dice}_{nc}}{\sum_c w_c}
               + \lambda_{ce}\,\mathrm{CE}_n

    :math:`\mathrm{Dice}_{nc}` is :func:`dice_loss` (``aggregate="batch"``: the batch's per-class
    Dice, the same for every image); :math:`\mathrm{CE}_n` is the image's mean cross entropy
    (softmax; torch's weighted mean over non-ignored pixels with index targets) or mean BCE per
    channel and pixel (sigmoid). ``include_background`` applies to the Dice term only (as in
    MONAI's ``DiceCELoss``). ``"none"`` returns (N,); ``"mean"`` averages images, which equals
    MONAI's global pixel mean when images have the same number of counted pixels.

    Args:
        input: logits, shape (N, C, d1, ...).
        target: class indices (N, d1, ...) or one-hot/soft labels of the input's shape.
        lambda_dice, lambda_ce: weights of the two terms, >= 0.
        activation: ``"softmax"`` | ``"sigmoid"`` (the CE term is then BCE).
        aggregate, smooth_nr, smooth_dr, include_background, ignore_index, weight, reduction: as in
            :func:`dice_loss` (``weight`` is also the CE class weight).

    Example:
        >>> import torch, losslab.functional as LF
        >>> logits = torch.tensor([[[[2.0, -1.0]], [[-2.0, 1.0]]]])
        >>> LF.dice_ce_loss(logits, torch.tensor([[[0, 1]]]))
        tensor(0.1413)

    References:
        Isensee et al., "nnU-Net: a self-configuring method for deep learning-based biomedical
        image segmentation", Nature Methods 2021. Taghanaki et al., "Combo loss: Handling input
        and output imbalance in multi-organ segmentation", CMIG 2019.
    """
    name = "dice_ce_loss"
    tp, fp, fn, c, y, x = _overlap_counts(
        name, input, target, activation, aggregate, include_background, ignore_index
    )
    n = x.shape[0]
    ce = _per_image_ce(
        x,
        target,
        y if target.shape == x.shape or activation == "sigmoid" else None,
        activation,
        weight,
        ignore_index,
    )
    dice = _dice_units(tp, fp, fn, smooth_nr, smooth_dr)
    w = _class_weight(name, weight, c, include_background, dice)
    dice = dice.mean(-1) if w is None else (dice * w).sum(-1) / w.sum()
    if aggregate == "batch":
        dice = dice.expand(n)
    return reduce_loss(lambda_dice * dice + lambda_ce * ce, reduction, name=name)
