r"""Overlap losses over all classes at once: generalized Dice (classes weighted by inverse volume)
and Dice + cross entropy.

Built on the soft confusion counts of :mod:`.overlap` (conventions in :mod:`._segmentation`).
Each function carries its catalog entry (:func:`entry`); tested in
``tests/functional/test_segmentation.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._reduction import reduce_loss
from .._validation import WEIGHT_PER_CLASS, Param, loss_function
from ..catalog._spec import When
from ._entry import entry
from ._segmentation import (
    _COMMON,
    _COMMON_SPEC,
    _DICE_LIKE,
    _SOFTMAX_CHAIN,
    SEG_PIXEL_LOGITS,
    SMOOTH,
    _class_weight,
    _softmax_vjp,
)
from .overlap import (
    _SMOOTH_NOTE,
    _SMOOTHING_RULES,
    _bcast,
    _dice_grad,
    _dice_units,
    _overlap_counts,
    _parts,
    _ratio,
)

__all__ = ["generalized_dice_loss", "dice_ce_loss"]


# -- generalized Dice ---------------------------------------------------------------------------


def _generalized_dice_grad(x, y, **_):
    p, e, tp, fp, fn = _parts(x, y)
    vol = tp + fn
    w = torch.where(vol > 0, 1 / vol.clamp_min(1e-300) ** 2, 0.0)
    w = torch.where(vol > 0, w, w.amax(dim=1, keepdim=True))  # empty classes: the largest weight
    num = (w * (fp + fn)).sum(1) + SMOOTH - SMOOTH
    den = (w * (2 * tp + fp + fn)).sum(1) + SMOOTH
    loss = _bcast(num / den, x)
    # d num/dp = w (1 - 2y) ; d den/dp = w   (hard labels)
    wb = _bcast(w, x)
    gp = (wb * (1 - 2 * e) - loss * wb) / _bcast(den, x)
    return _softmax_vjp(p, gp)


@entry(
    module="GeneralizedDiceLoss",
    formula=r"\ell = 1 - \frac{2\sum_c w_c TP_c + s_{nr}}{\sum_c w_c(|p_c| + |y_c|) + s_{dr}},\quad "
    r"w_c = |y_c|^{-2}",
    derivative=r"g_{ic} = \frac{w_c\,(\operatorname{sign}(p_{ic} - y_{ic}) - \ell)}"
    r"{\sum_k w_k(|p_k| + |y_k|) + s_{dr}}," + _SOFTMAX_CHAIN,
    derivative_fn=_generalized_dice_grad,
    properties={**_DICE_LIKE, **_SMOOTHING_RULES},
    references=(
        "Sudre, Li, Vercauteren, Ourselin, Cardoso, Generalised Dice Overlap as a Deep Learning "
        "Loss Function for Highly Unbalanced Segmentations, DLMIA 2017",
    ),
    summary="One Dice over all classes, each weighted by 1/volume^2 so small structures count.",
    when_to_use="Many classes of very different sizes (small lesions next to large organs). "
    "Weights come from the target; empty classes get the largest present weight (MONAI).",
    notes="Per image (N,) or per batch. " + _SMOOTH_NOTE,
    **_COMMON_SPEC,
)
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


def _dice_ce_grad(x, y, **_):
    p = torch.softmax(x, dim=1)
    e = F.one_hot(y, x.shape[1]).movedim(-1, 1).to(x.dtype)
    pixels = y[0].numel()
    return _dice_grad(x, y, smooth_nr=SMOOTH, smooth_dr=SMOOTH) / x.shape[1] + (p - e) / pixels


@entry(
    module="DiceCELoss",
    formula=r"\ell_n = \lambda_{dice}\,\frac{1}{C}\sum_c \mathrm{Dice}_{nc} + "
    r"\lambda_{ce}\,\frac{1}{P}\sum_i -\log p_{i y_i}",
    derivative=r"\frac{\partial \ell_n}{\partial x_{ic}} = \frac{\lambda_{dice}}{C}"
    r"\frac{\partial \mathrm{Dice}_{nc}}{\partial x_{ic}} + \frac{\lambda_{ce}}{P}(p_{ic} - [y_i = c])",
    derivative_fn=_dice_ce_grad,
    properties={  # lambda_dice = 0 leaves cross entropy; lambda_ce = 0 leaves the bounded Dice term
        **_DICE_LIKE,
        "nonnegative": When(
            "smooth_nr <= smooth_dr or lambda_dice == 0", examples_extra=({"smooth_nr": 1.0},)
        ),
        "zero_at_perfect": When(
            "smooth_nr == smooth_dr or lambda_dice == 0", examples_extra=({"smooth_nr": 1.0},)
        ),
        "convex": When("lambda_dice == 0"),
        "smooth": When("lambda_dice == 0"),
        "bounded": When("lambda_ce == 0"),
    },
    references=(
        "Isensee et al., nnU-Net: a self-configuring method for deep learning-based biomedical "
        "image segmentation, Nature Methods 2021",
        "Taghanaki et al., Combo loss: Handling input and output imbalance in multi-organ "
        "segmentation, CMIG 2019",
    ),
    summary="Dice + cross entropy per image: CE's stable early gradients plus Dice's overlap focus.",
    when_to_use="The default for medical segmentation (nnU-Net): robust to class imbalance and "
    "trains stably from scratch. lambda_dice / lambda_ce set the mix.",
    notes="One value per image (N,). The contract tests use one-pixel images (see "
    "SEG_PIXEL_LOGITS; tests/functional/test_segmentation.py also checks the derivative on 4x4 "
    "images). " + _SMOOTH_NOTE,
    **{**_COMMON_SPEC, "sampler": SEG_PIXEL_LOGITS},
)
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
