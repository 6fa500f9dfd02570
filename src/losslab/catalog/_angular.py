"""Catalog entries of the angular-margin metric-learning losses (ArcFace, CosFace).

The analytic derivatives are written from the formulas, with the class centres fixed: the margin
softmax's gradient in the cosines, chained through the normalisation
:math:`\\partial \\hat x / \\partial x = (I - \\hat x \\hat x^T)/\\|x\\|`.
"""

from __future__ import annotations

import math

import torch

from .. import functional as LF
from .. import nn as LN
from ..losses.pairwise import NON_PROPERTIES, NORM_HEAD, C, D, N, _labels, _randn, _unit_project
from ._registry import register
from ._spec import Case, LossSpec, Sampler, When

# -- samplers ---------------------------------------------------------------------------------


def _centres(gen):
    return _randn(gen, C, D)


def _centres_make(gen, dtype, scale):
    y = _labels(gen)
    return Case(((scale * _randn(gen, N, D)).to(dtype), y, _centres(gen).to(dtype)))


def _centres_perfect(gen, dtype):
    y = _labels(gen)
    w = torch.eye(C, D, dtype=torch.float64)
    x = w[y] * (1.0 + torch.rand(N, 1, generator=gen, dtype=torch.float64))
    return Case((x.to(dtype), y, w.to(dtype)))


def _centres_empty(dtype):
    return Case(
        (
            torch.zeros(0, D, dtype=dtype),
            torch.zeros(0, dtype=torch.long),
            torch.eye(C, D, dtype=dtype),
        )
    )


def _arcface_kink(dtype, margin=0.5):
    # theta_y = pi - m: where cos(theta + m) hands over to the straight continuation
    x = torch.zeros(1, D, dtype=torch.float64)
    x[0, 0], x[0, 1] = math.cos(math.pi - margin), math.sin(math.pi - margin)
    return Case((x.to(dtype), torch.tensor([0]), torch.eye(C, D, dtype=dtype)))


CENTRES = Sampler(
    "embeddings_with_centres", make=_centres_make, perfect=_centres_perfect, empty=_centres_empty
)
CENTRES_KINK = Sampler(
    "embeddings_with_centres",
    make=_centres_make,
    perfect=_centres_perfect,
    kink=_arcface_kink,
    empty=_centres_empty,
)


# -- derivative helpers -----------------------------------------------------------------------


def _margin_grad(x, labels, w, target, slope, scale):
    """Gradient w.r.t. x of CE(scale * cos with cos_y -> target(cos_y)); slope = d target/d cos_y."""
    wh = w / w.norm(dim=1, keepdim=True)
    cos = (x / x.norm(dim=1, keepdim=True)) @ wh.T
    onehot = torch.nn.functional.one_hot(labels, len(w)).to(x.dtype)
    cos_y = (cos * onehot).sum(1)
    logits = scale * torch.where(onehot > 0, target(cos_y).unsqueeze(1), cos)
    dl_dz = torch.softmax(logits, dim=1) - onehot
    dl_dcos = scale * dl_dz * torch.where(onehot > 0, slope(cos_y).unsqueeze(1), 1.0)
    return _unit_project(x, dl_dcos @ wh)


def _arcface_grad(x, labels, w, *, margin=0.5, scale=64.0, **_):
    cm, sm = math.cos(margin), math.sin(margin)
    beyond = lambda c: c <= -cm  # noqa: E731  (theta >= pi - m)

    def target(c):
        return torch.where(beyond(c), c - (1 - cm), c * cm - torch.sqrt(1 - c * c) * sm)

    def slope(c):
        return torch.where(beyond(c), 1.0, cm + c * sm / torch.sqrt(1 - c * c))

    return _margin_grad(x, labels, w, target, slope, scale)


def _cosface_grad(x, labels, w, *, margin=0.35, scale=64.0, **_):
    return _margin_grad(x, labels, w, lambda c: c - margin, torch.ones_like, scale)


# -- entries ----------------------------------------------------------------------------------

_MARGIN_NOTE = (
    "Properties are w.r.t. the embeddings with the class centres fixed. zero_at_perfect holds to "
    "1e-6 at the default scale s = 64 (an aligned embedding pays (C-1) exp(-s (1 - m')) with "
    "orthogonal centres), as for cross-entropy at confident logits. Each sample's loss involves "
    "only its own embedding, so gathering across ranks is not needed (the centres are ordinary "
    "parameters that DDP averages)."
)

register(
    LossSpec(
        name="arcface_loss",
        function=LF.arcface_loss,
        module=LN.ArcFaceLoss,
        family="metric_learning",
        tasks=("metric_learning",),
        input_kind="embeddings",
        heads={"metric_learning": NORM_HEAD},
        formula=r"\ell = -\log\frac{e^{s\cos(\theta_y + m)}}{e^{s\cos(\theta_y + m)} + \sum_{j \ne y} e^{s\cos\theta_j}},"
        r"\quad \cos\theta_j = \cos(x, w_j)",
        derivative=r"\frac{\partial \ell}{\partial x} = \frac{I - \hat x \hat x^T}{\|x\|}\, s\sum_j (p_j - [j = y])"
        r"\,\phi_j'\,\hat w_j,\quad \phi_y' = \cos m + \frac{\cos\theta_y \sin m}{\sin\theta_y}\ "
        r"(\theta_y < \pi - m;\ 1 \text{ beyond}),\ \phi_{j \ne y}' = 1",
        derivative_fn=_arcface_grad,
        properties=dict(
            nonnegative=True,
            zero_at_perfect=When("scale * cos(margin) >= 15", examples_extra=({"scale": 8.0},)),
            smooth=False,
            bounded=True,
            robust_to_outliers=True,
            **NON_PROPERTIES,
        ),
        references=(
            "Deng, Guo, Xue and Zafeiriou, ArcFace: Additive Angular Margin Loss for Deep Face Recognition, CVPR 2019",
        ),
        summary="Softmax over scaled cosines to learnable class centres, with an additive angular margin on the true class.",
        when_to_use="Face recognition and other open-set identification with many classes; "
        "the module learns one centre per class (no pair or triplet sampling).",
        sampler=CENTRES_KINK,
        notes="Not smooth at theta_y = pi - m (where the target logit continues linearly). "
        + _MARGIN_NOTE,
    )
)

register(
    LossSpec(
        name="cosface_loss",
        function=LF.cosface_loss,
        module=LN.CosFaceLoss,
        family="metric_learning",
        tasks=("metric_learning",),
        input_kind="embeddings",
        heads={"metric_learning": NORM_HEAD},
        formula=r"\ell = -\log\frac{e^{s(\cos\theta_y - m)}}{e^{s(\cos\theta_y - m)} + \sum_{j \ne y} e^{s\cos\theta_j}}",
        derivative=r"\frac{\partial \ell}{\partial x} = \frac{I - \hat x \hat x^T}{\|x\|}\, s\sum_j (p_j - [j = y])\,\hat w_j",
        derivative_fn=_cosface_grad,
        properties=dict(
            nonnegative=True,
            zero_at_perfect=When("scale * (1 - margin) >= 15", examples_extra=({"scale": 8.0},)),
            smooth=True,
            bounded=True,
            robust_to_outliers=True,
            **NON_PROPERTIES,
        ),
        references=(
            "Wang et al., CosFace: Large Margin Cosine Loss for Deep Face Recognition, CVPR 2018",
        ),
        summary="Softmax over scaled cosines to learnable class centres, with an additive cosine margin on the true class.",
        when_to_use="Like ArcFace (face recognition, open-set identification); the cosine margin is "
        "simpler and smooth.",
        sampler=CENTRES,
        notes=_MARGIN_NOTE,
    )
)
