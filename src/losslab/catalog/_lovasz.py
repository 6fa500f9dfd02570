"""Catalog entries of the Lovász segmentation losses (Lovász-Softmax, Lovász hinge).

The analytic gradients are the Jaccard-loss increments of the sorted errors, derived by hand (the
Lovász extension is linear between sort orders), for hard labels: (N, C, H, W) logits with
(N, H, W) class indices (softmax), (N, 1, H, W) logits with {0, 1} targets (hinge).
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
    BINARY_SEG_HEAD,
    BINARY_SEG_LOGITS,
    _softmax_vjp,
)
from ._spec import LossSpec

# -- derivative helpers (hard labels, default options) ----------------------------------------------


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


def _lovasz_hinge_grad(x, y, **_):
    n = x.shape[0]
    xf, yf = x.reshape(n, -1), y.reshape(n, -1)
    s = 2 * yf - 1
    err = torch.relu(1 - xf * s)
    order = torch.sort(err, dim=-1, descending=True).indices
    g = torch.zeros_like(err).scatter(-1, order, _jaccard_increments(yf.gather(-1, order)))
    return (g * (err > 0).to(x.dtype) * -s).reshape(x.shape)


# -- specs ----------------------------------------------------------------------------------------

register(
    LossSpec(
        name="lovasz_softmax_loss",
        function=LF.lovasz_softmax_loss,
        module=LN.LovaszSoftmaxLoss,
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
)

register(
    LossSpec(
        name="lovasz_hinge_loss",
        function=LF.lovasz_hinge_loss,
        module=LN.LovaszHingeLoss,
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
)
