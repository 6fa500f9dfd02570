r"""Segmentation losses: the Dice family (Dice, generalized Dice, Jaccard, Tversky, focal
Tversky), the Lovász losses and Dice + cross entropy.

Conventions shared by every loss here (one choice per question, see LOSS-CONVENTIONS.md):

* **input**: ``(N, C, d1, ...)`` scores. ``activation="softmax"`` (default; needs C >= 2) or
  ``"sigmoid"`` turns logits into probabilities; ``"none"`` means the input already holds
  probabilities in [0, 1].
* **target**: class indices ``(N, d1, ...)`` (integer), or one-hot / soft labels of the input's
  shape (probabilities in [0, 1]). With a single channel (C = 1, sigmoid) index targets are the
  binary foreground mask.
* **ignore_index** (index targets only): ignored pixels are replaced by class 0 *before*
  ``one_hot`` (an ignored label never reaches it) and then removed from both the prediction and
  the target, so they count nowhere.
* **soft-label correct**: per pixel ``tp = min(p, y)``, ``fp = relu(p - y)``,
  ``fn = relu(y - p)`` (equivalently ``tp = (p + y - |p - y|) / 2``). For hard labels these are
  the usual ``p*y``, ``p*(1-y)``, ``(1-p)*y``; for soft labels the loss is 0 at ``p == y``.
  The price: with soft labels the loss has a kink at ``p == y`` (it is smooth for hard labels).
* **aggregation unit**: ``aggregate="image"`` (default, MONAI's ``batch=False``) sums tp/fp/fn
  over each image's pixels, one loss per (image, class); ``aggregate="batch"`` sums over the whole
  batch (smp's convention), one loss per class; the two differ when a batch mixes object sizes.
* **smoothing** (MONAI's defaults): ``smooth_nr = smooth_dr = 1e-5`` added to the overlap and
  to the denominator separately. The loss is written as ``(errors + smooth_dr - smooth_nr) /
  denominator`` so it is exactly >= 0 when ``smooth_nr <= smooth_dr`` and has no cancellation
  near a perfect prediction.
* **empty masks (one policy for the whole family)**: a unit whose target *and* prediction are
  both empty (all ``p`` and ``y`` zero) has loss 0, whatever the smoothing (never NaN; its
  gradient there is 0). A class absent from the target but predicted is a pure false positive:
  its loss tends to 1 as the predicted mass grows past the smoothing (as in MONAI; smp instead
  zeroes every class absent from the target, which stops penalising false positives on empty
  images). Every unit counts in ``"mean"``; nothing is excluded. The Lovász losses follow the
  same policy naturally (an absent class contributes its largest false-positive error).
* **include_background=False** drops channel 0 after the activation (the softmax still sees it).
* **weight** (per class, shape (C,) of the input's channels; the background entry is dropped with
  ``include_background=False``): ``"none"`` returns ``w_c * loss``; ``"mean"`` is the weighted
  mean ``sum w_c l / sum w_c`` over all units.
* **reduction**: via :func:`losslab._reduction.reduce_loss`. ``"none"`` returns one value per
  unit: ``(N, K)`` (image x kept class) or ``(K,)`` with ``aggregate="batch"``; the generalized
  Dice and the Lovász hinge return ``(N,)`` or ``()`` (classes are combined inside the loss);
  Dice + CE returns one value per image ``(N,)``.
* **precision**: float16/bfloat16 inputs are computed in float32, so sums over large masks do not
  overflow (a 512x512 fp16 mask sums to 262144 > 65504).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._reduction import reduce_loss, upcast
from .._validation import (
    IGNORE_INDEX,
    REDUCTION,
    WEIGHT_PER_CLASS,
    Param,
    Raw,
    check_class_indices,
    check_integer_tensor,
    check_probabilities,
    check_tensor,
    check_values_in,
    fail,
    loss_function,
)
from ._common import check_class_weight

__all__ = [
    "dice_loss",
    "generalized_dice_loss",
    "jaccard_loss",
    "tversky_loss",
    "focal_tversky_loss",
    "lovasz_softmax_loss",
    "lovasz_hinge_loss",
    "dice_ce_loss",
]

ACTIVATION = Param(
    "choice",
    "turns the input into probabilities: 'softmax' over channels, 'sigmoid' per channel, "
    "'none' (the input holds probabilities)",
    choices=("softmax", "sigmoid", "none"),
)
AGGREGATE = Param(
    "choice",
    "'image': overlaps summed per image (one loss per image and class); 'batch': summed over "
    "the whole batch (one loss per class)",
    choices=("image", "batch"),
)
SMOOTH_NR = Param("float", "added to the overlap (numerator); keep <= smooth_dr for a loss >= 0", ge=0)
SMOOTH_DR = Param("float", "added to the denominator", ge=0)
INCLUDE_BACKGROUND = Param("bool", "whether channel 0 counts (it is still part of the softmax)")

_COMMON = dict(
    activation=ACTIVATION,
    aggregate=AGGREGATE,
    smooth_nr=SMOOTH_NR,
    smooth_dr=SMOOTH_DR,
    include_background=INCLUDE_BACKGROUND,
    ignore_index=IGNORE_INDEX,
    reduction=REDUCTION,
)


# -- shared preparation ------------------------------------------------------------------------


def _probabilities(
    name: str, input: torch.Tensor, target: torch.Tensor, activation: str, ignore_index: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validate; return probabilities p and labels y (N, C, *) with ignored pixels zeroed, and x.

    ``x`` is the (float32-or-wider) input, for the cross-entropy term of Dice + CE.
    """
    check_tensor(name, "input", input)
    check_tensor(name, "target", target, floating=False)
    if input.dim() < 2:
        fail(name, "input", "of shape (N, C, d1, ...)", Raw(f"shape {tuple(input.shape)}"))
    x = upcast(input)
    n, c = x.shape[:2]
    if activation == "softmax" and c < 2:
        fail(name, "input", "of C >= 2 channels with activation='softmax' (use 'sigmoid' for one "
             "channel)", Raw(f"shape {tuple(x.shape)}"))
    if activation == "softmax":
        p = torch.softmax(x, dim=1)
    elif activation == "sigmoid":
        p = torch.sigmoid(x)
    else:
        check_probabilities(name, "input", x)
        p = x
    if target.shape == x.shape:
        y = target.to(x.dtype)
        check_probabilities(name, "target", y)
        return p, y, x
    spatial = (n, *x.shape[2:])
    if tuple(target.shape) != spatial:
        fail(name, "target", f"of shape (N, d1, ...) = {spatial} (class indices) or "
             f"{tuple(x.shape)} (one-hot or soft labels)", Raw(f"shape {tuple(target.shape)}"))
    check_integer_tensor(name, "target", target)
    valid = target != ignore_index
    safe = torch.where(valid, target, torch.zeros_like(target)).long()  # ignored labels never reach one_hot
    if c == 1:
        check_values_in(name, "target", safe, (0, 1), "0 or 1 (a binary mask) with one channel")
        y = safe.unsqueeze(1).to(x.dtype)
    else:
        check_class_indices(name, "target", target, c, ignore_index)
        y = F.one_hot(safe, c).movedim(-1, 1).to(x.dtype)
    keep = valid.unsqueeze(1)
    return torch.where(keep, p, 0.0), torch.where(keep, y, 0.0), x


def _drop_background(t: torch.Tensor, include_background: bool) -> torch.Tensor:
    return t if include_background or t.shape[1] == 1 else t[:, 1:]


def _class_weight(name: str, weight: torch.Tensor | None, c: int, include_background: bool,
                  like: torch.Tensor) -> torch.Tensor | None:
    if weight is None:
        return None
    check_class_weight(name, weight, c)
    w = weight.to(like.dtype)
    return w if include_background or c == 1 else w[1:]


def _sum_dims(p: torch.Tensor, aggregate: str) -> tuple[int, ...]:
    spatial = tuple(range(2, p.dim()))
    return spatial if aggregate == "image" else (0, *spatial)


def _confusion(p: torch.Tensor, y: torch.Tensor, aggregate: str) -> tuple[torch.Tensor, ...]:
    """Soft tp, fp, fn per unit: (N, K) for 'image', (K,) for 'batch'."""
    d = p - y
    fp_px = torch.relu(d)
    fn_px = torch.relu(-d)
    dims = _sum_dims(p, aggregate)
    return (p - fp_px).sum(dims), fp_px.sum(dims), fn_px.sum(dims)


def _ratio(num: torch.Tensor, den: torch.Tensor, empty: torch.Tensor) -> torch.Tensor:
    """num / den, and 0 for empty units (target and prediction both empty) or den == 0."""
    zero = empty | (den == 0)
    return torch.where(zero, torch.zeros_like(num), num / torch.where(zero, torch.ones_like(den), den))


def _reduce_units(name: str, loss: torch.Tensor, w: torch.Tensor | None, reduction: str) -> torch.Tensor:
    if w is None:
        return reduce_loss(loss, reduction, name=name)
    per_unit = loss * w
    repeats = loss.numel() // max(w.numel(), 1)
    return reduce_loss(per_unit, reduction, name=name, denominator=w.sum() * repeats)


def _tversky_units(tp, fp, fn, alpha, beta, smooth_nr, smooth_dr):
    """1 - (tp + s_nr) / (tp + alpha fp + beta fn + s_dr), written without cancellation."""
    err = alpha * fp + beta * fn
    return _ratio(err + (smooth_dr - smooth_nr), tp + err + smooth_dr, (tp + fp + fn) == 0)


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
    :math:`FN_c = \sum_i (y_{ic} - p_{ic})_+` over the unit's pixels (see the module notes for the
    input/target forms, ignore_index, the empty-mask policy and the reductions).

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
    p, y, _ = _probabilities(name, input, target, activation, ignore_index)
    c = p.shape[1]
    p, y = _drop_background(p, include_background), _drop_background(y, include_background)
    tp, fp, fn = _confusion(p, y, aggregate)
    loss = _ratio(fp + fn + (smooth_dr - smooth_nr), 2 * tp + fp + fn + smooth_dr, (tp + fp + fn) == 0)
    return _reduce_units(name, loss, _class_weight(name, weight, c, include_background, loss), reduction)


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
    p, y, _ = _probabilities(name, input, target, activation, ignore_index)
    c = p.shape[1]
    p, y = _drop_background(p, include_background), _drop_background(y, include_background)
    tp, fp, fn = _confusion(p, y, aggregate)
    loss = _tversky_units(tp, fp, fn, 1.0, 1.0, smooth_nr, smooth_dr)
    return _reduce_units(name, loss, _class_weight(name, weight, c, include_background, loss), reduction)


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
    p, y, _ = _probabilities(name, input, target, activation, ignore_index)
    c = p.shape[1]
    p, y = _drop_background(p, include_background), _drop_background(y, include_background)
    tp, fp, fn = _confusion(p, y, aggregate)
    loss = _tversky_units(tp, fp, fn, alpha, beta, smooth_nr, smooth_dr)
    return _reduce_units(name, loss, _class_weight(name, weight, c, include_background, loss), reduction)


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
    p, y, _ = _probabilities(name, input, target, activation, ignore_index)
    c = p.shape[1]
    p, y = _drop_background(p, include_background), _drop_background(y, include_background)
    tp, fp, fn = _confusion(p, y, aggregate)
    u = _tversky_units(tp, fp, fn, alpha, beta, smooth_nr, smooth_dr)
    pos = u > 0
    loss = torch.where(pos, torch.where(pos, u, torch.ones_like(u)) ** gamma, torch.zeros_like(u))
    return _reduce_units(name, loss, _class_weight(name, weight, c, include_background, loss), reduction)


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
    p, y, _ = _probabilities(name, input, target, activation, ignore_index)
    p, y = _drop_background(p, include_background), _drop_background(y, include_background)
    tp, fp, fn = _confusion(p, y, aggregate)
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


# -- Lovász -------------------------------------------------------------------------------------


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

    .. math::
        \ell_c = \sum_{k} m_{\pi(k)}\,g_k(\pi),\quad m_i = |y_{ic} - p_{ic}|,\quad
        g_k = \Delta_J(\{\pi(1..k)\}) - \Delta_J(\{\pi(1..k-1)\})

    where :math:`\pi` sorts the errors in decreasing order and :math:`\Delta_J` is the Jaccard
    loss of the set of mispredicted pixels. Every class counts (Berman et al.'s ``classes="all"``;
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

    References:
        Berman, Rannen Triki, Blaschko, "The Lovász-Softmax loss: A tractable surrogate for the
        optimization of the intersection-over-union measure in neural networks", CVPR 2018.
    """
    name = "lovasz_softmax_loss"
    p, y, _ = _probabilities(name, input, target, activation, ignore_index)
    c = p.shape[1]
    p, y = _drop_background(p, include_background), _drop_background(y, include_background)
    errors = _flatten_units((p - y).abs(), aggregate)
    loss = _lovasz_extension(errors, _flatten_units(y, aggregate))
    return _reduce_units(name, loss, _class_weight(name, weight, c, include_background, loss), reduction)


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

    .. math::
        \ell = \sum_k \left(1 - x_{\pi(k)} s_{\pi(k)}\right)_+ g_k(\pi),\qquad s_i = 2y_i - 1

    with :math:`\pi` sorting the hinge errors in decreasing order and :math:`g` the Jaccard-loss
    increments of the foreground (see :func:`lovasz_softmax_loss`). Convex and piecewise linear
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

    References:
        Berman, Rannen Triki, Blaschko, CVPR 2018 (see :func:`lovasz_softmax_loss`). Yu,
        Blaschko, "Learning Submodular Losses with the Lovász Hinge", ICML 2015.
    """
    name = "lovasz_hinge_loss"
    check_tensor(name, "logits", logits)
    check_tensor(name, "target", target, floating=False)
    if logits.dim() < 2:
        fail(name, "logits", "of shape (N, d1, ...) or (N, 1, d1, ...)", Raw(f"shape {tuple(logits.shape)}"))
    x = upcast(logits)
    n = x.shape[0]
    squeezed = x.shape[1] == 1 and tuple(target.shape) == (n, *x.shape[2:])
    if target.shape != x.shape and not squeezed:
        fail(name, "target", f"of the logits' shape {tuple(x.shape)}", Raw(f"shape {tuple(target.shape)}"))
    x, t = x.flatten(1), target.flatten(1)
    valid = t != ignore_index if not t.is_floating_point() else torch.ones_like(t, dtype=torch.bool)
    y = torch.where(valid, t, torch.zeros_like(t)).to(x.dtype)
    check_values_in(name, "target", y, (0, 1), "0 or 1")
    errors = torch.where(valid, torch.relu(1 - x * (2 * y - 1)), 0.0)
    if aggregate == "batch":
        errors, y = errors.reshape(1, -1), y.reshape(1, -1)
    loss = _lovasz_extension(errors, y)
    return reduce_loss(loss if aggregate == "image" else loss[0], reduction, name=name)


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
        num, den = per.flatten(1).sum(1), torch.full((n,), per[0].numel() if n else 1, dtype=x.dtype)
    else:  # class indices: torch's weighted mean per image over non-ignored pixels
        per = F.cross_entropy(x, target, weight=w, ignore_index=ignore_index, reduction="none")
        valid = target != ignore_index
        wy = valid.to(x.dtype) if w is None else torch.where(valid, w[torch.where(valid, target, 0)], 0.0)
        num, den = per.flatten(1).sum(1), wy.flatten(1).sum(1)
    return _ratio(num, den, den == 0)


@loss_function(
    lambda_dice=Param("float", "weight of the Dice term", ge=0),
    lambda_ce=Param("float", "weight of the cross-entropy term", ge=0),
    activation=Param("choice", "'softmax' (CE) or 'sigmoid' (BCE per channel)", choices=("softmax", "sigmoid")),
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
    p, y, x = _probabilities(name, input, target, activation, ignore_index)
    c, n = p.shape[1], p.shape[0]
    ce = _per_image_ce(x, target, y if target.shape == x.shape or activation == "sigmoid" else None,
                       activation, weight, ignore_index)
    p, y = _drop_background(p, include_background), _drop_background(y, include_background)
    tp, fp, fn = _confusion(p, y, aggregate)
    dice = _ratio(fp + fn + (smooth_dr - smooth_nr), 2 * tp + fp + fn + smooth_dr, (tp + fp + fn) == 0)
    w = _class_weight(name, weight, c, include_background, dice)
    dice = dice.mean(-1) if w is None else (dice * w).sum(-1) / w.sum()
    if aggregate == "batch":
        dice = dice.expand(n)
    return reduce_loss(lambda_dice * dice + lambda_ce * ce, reduction, name=name)
