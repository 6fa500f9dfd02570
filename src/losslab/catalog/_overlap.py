"""Catalog entries of the overlap segmentation losses (Dice family, Dice + CE).

The sampler makes (N, C, H, W) logits with (N, H, W) class-index targets (hard labels), so the
analytic derivatives below are written for hard labels, from ``tp = sum p*y``,
``fp = sum p*(1-y)``, ``fn = sum (1-p)*y`` (the soft formulation of the functions reduces to these
when y is 0/1 and 0 < p < 1), then chained through the softmax:
``dL/dx = p * (dL/dp - sum_c p_c dL/dp_c)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import functional as LF
from .. import nn as LN
from ._registry import register
from ._segmentation_common import (
    _COMMON_SPEC,
    _DICE_LIKE,
    _SOFTMAX_CHAIN,
    SEG_PIXEL_LOGITS,
    SMOOTH,
    _softmax_vjp,
)
from ._spec import LossSpec, When

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

# -- derivative helpers (hard labels, default options) ----------------------------------------------


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


def _dice_grad(x, y, *, smooth_nr=SMOOTH, smooth_dr=SMOOTH, **_):
    p, e, tp, fp, fn = _parts(x, y)
    one, zero = torch.ones_like(tp), torch.zeros_like(tp)
    num, den = fp + fn + smooth_dr - smooth_nr, 2 * tp + fp + fn + smooth_dr
    return _softmax_vjp(p, _ratio_grad(num, den, zero, one, one, 2 * one, one, one, e))


def _jaccard_grad(x, y, **_):
    p, _, g = _tversky_dp(x, y, 1.0, 1.0)
    return _softmax_vjp(p, g)


def _tversky_grad(x, y, *, alpha=0.3, beta=0.7, **_):
    p, _, g = _tversky_dp(x, y, alpha, beta)
    return _softmax_vjp(p, g)


def _focal_tversky_grad(x, y, *, alpha=0.3, beta=0.7, gamma=0.75, **_):
    p, u, g = _tversky_dp(x, y, alpha, beta)
    return _softmax_vjp(p, _bcast(gamma * u ** (gamma - 1), g) * g)


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


def _dice_ce_grad(x, y, **_):
    p = torch.softmax(x, dim=1)
    e = F.one_hot(y, x.shape[1]).movedim(-1, 1).to(x.dtype)
    pixels = y[0].numel()
    return _dice_grad(x, y) / x.shape[1] + (p - e) / pixels


# -- specs ----------------------------------------------------------------------------------------

_SMOOTH_NOTE = (
    "smooth=False because the soft-label-correct form (tp = min(p, y)) has a kink at p == y "
    "with soft targets; with hard 0/1 targets the loss is smooth in the logits. Options: "
    "activation softmax/sigmoid/none, aggregate image/batch, smooth_nr/smooth_dr, "
    "include_background, ignore_index, per-class weight. Empty-mask policy: a unit empty in both "
    "target and prediction has loss 0; false positives on empty targets count (loss -> 1)."
)

register(
    LossSpec(
        name="dice_loss",
        function=LF.dice_loss,
        module=LN.DiceLoss,
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
)

register(
    LossSpec(
        name="generalized_dice_loss",
        function=LF.generalized_dice_loss,
        module=LN.GeneralizedDiceLoss,
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
)

register(
    LossSpec(
        name="jaccard_loss",
        function=LF.jaccard_loss,
        module=LN.JaccardLoss,
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
)

register(
    LossSpec(
        name="tversky_loss",
        function=LF.tversky_loss,
        module=LN.TverskyLoss,
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
)

register(
    LossSpec(
        name="focal_tversky_loss",
        function=LF.focal_tversky_loss,
        module=LN.FocalTverskyLoss,
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
)
register(
    LossSpec(
        name="dice_ce_loss",
        function=LF.dice_ce_loss,
        module=LN.DiceCELoss,
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
)
