r"""Angular-margin softmax losses on embeddings and class centres: ArcFace and CosFace.

Shapes, ``reduction`` (one loss per anchor) and the float16/bfloat16 policy follow the
metric-learning conventions of :mod:`.pairwise`. The derivative helpers are written from the
formulas, with the class centres fixed: the margin softmax's gradient in the cosines, chained
through the normalisation :math:`\partial \hat x / \partial x = (I - \hat x \hat x^T)/\|x\|`.

:class:`losslab.nn.ArcFaceLoss` and :class:`losslab.nn.CosFaceLoss` own the learnable class
centres, so they are written by hand in :mod:`losslab.nn._angular` (``hand_written=True`` in the
entries) rather than generated. Each loss carries its catalog entry (:func:`entry`); tested in
``tests/functional/test_metric_learning.py``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .._reduction import reduce_loss, upcast
from .._validation import (
    REDUCTION,
    Param,
    Raw,
    check_class_indices,
    check_tensor,
    fail,
    loss_function,
)
from ..catalog._spec import Case, Sampler, When
from ._entry import entry
from .pairwise import NON_PROPERTIES, NORM_HEAD, C, D, N, _labelled, _labels, _randn, _unit_project

__all__ = [
    "arcface_loss",
    "cosface_loss",
]


# -- shared: validation, margin softmax, samplers, derivative helpers --------------------------


def _margin_inputs(
    name: str, embeddings: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate; return the (N, C) cosines between embeddings and class centres, and labels."""
    x, labels = _labelled(name, embeddings, labels)
    check_tensor(name, "weight", weight)
    if weight.dim() != 2 or weight.shape[1] != x.shape[1]:
        fail(
            name,
            "weight",
            f"of shape (C, D) with D = {x.shape[1]} (class centres)",
            Raw(f"shape {tuple(weight.shape)}"),
        )
    check_class_indices(name, "labels", labels, weight.shape[0])
    w = upcast(weight)
    dtype = torch.promote_types(x.dtype, w.dtype)
    cos = F.normalize(x.to(dtype), dim=1) @ F.normalize(w.to(dtype), dim=1).T
    return cos, labels


def _margin_softmax(
    cos: torch.Tensor, labels: torch.Tensor, target: torch.Tensor, scale: float
) -> torch.Tensor:
    """Per-sample cross-entropy of ``scale * cos`` with the target cosine replaced by ``target``."""
    onehot = F.one_hot(labels, cos.shape[1]).to(torch.bool)
    logits = scale * torch.where(onehot, target.unsqueeze(1), cos)
    return torch.logsumexp(logits, dim=1) - scale * target


def _arcface_target(cos_y: torch.Tensor, margin: float) -> torch.Tensor:
    r""":math:`\cos(\theta + m)` for :math:`\theta \le \pi - m`, continued by the line
    :math:`\cos\theta - (1 - \cos m)` beyond (where :math:`\cos(\theta+m)` would rise again).

    :math:`\sin\theta = \sqrt{1 - \cos^2\theta}` is taken as 0 with gradient 0 where
    :math:`1 - \cos^2\theta \le 0` (exactly aligned embeddings), so the gradient stays finite.
    """
    s2 = 1.0 - cos_y * cos_y
    ok = s2 > 0
    sin_y = torch.where(
        ok, torch.sqrt(torch.where(ok, s2, torch.ones_like(s2))), torch.zeros_like(s2)
    )
    arc = cos_y * math.cos(margin) - sin_y * math.sin(margin)
    return torch.where(cos_y > math.cos(math.pi - margin), arc, cos_y - (1.0 - math.cos(margin)))


SCALE = Param("float", "scale s of the cosine logits", gt=0)


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


_MARGIN_NOTE = (
    "Properties are w.r.t. the embeddings with the class centres fixed. zero_at_perfect holds to "
    "1e-6 at the default scale s = 64 (an aligned embedding pays (C-1) exp(-s (1 - m')) with "
    "orthogonal centres), as for cross-entropy at confident logits. Each sample's loss involves "
    "only its own embedding, so gathering across ranks is not needed (the centres are ordinary "
    "parameters that DDP averages)."
)


# -- ArcFace -----------------------------------------------------------------------------------


def _arcface_grad(x, labels, w, *, margin, scale, **_):
    cm, sm = math.cos(margin), math.sin(margin)
    beyond = lambda c: c <= -cm  # noqa: E731  (theta >= pi - m)

    def target(c):
        return torch.where(beyond(c), c - (1 - cm), c * cm - torch.sqrt(1 - c * c) * sm)

    def slope(c):
        return torch.where(beyond(c), 1.0, cm + c * sm / torch.sqrt(1 - c * c))

    return _margin_grad(x, labels, w, target, slope, scale)


@entry(
    module="ArcFaceLoss",
    hand_written=True,
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
@loss_function(
    reduction=REDUCTION,
    margin=Param("float", "additive angular margin m (radians)", ge=0, lt=math.pi),
    scale=SCALE,
)
def arcface_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    weight: torch.Tensor,
    *,
    margin: float = 0.5,
    scale: float = 64.0,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""ArcFace (additive angular margin) loss against class centres ``weight``.

    Beyond :math:`\theta_y > \pi - m` the target logit continues as
    :math:`\cos\theta_y - (1 - \cos m)` (continuous and decreasing; Deng et al.'s code uses :math:`\cos\theta - m \sin m` there,
    which jumps). :class:`losslab.nn.ArcFaceLoss` owns ``weight`` as a learnable parameter.

    Args:
        embeddings: (N, D).
        labels: (N,) class indices in [0, C).
        weight: (C, D) class centres (normalised inside).
        margin: :math:`m \in [0, \pi)`, radians.
        scale: :math:`s > 0`.
        reduction: ``"none"`` gives the (N,) per-sample losses.

    Example:
        >>> import torch, losslab.functional as LF
        >>> w = torch.eye(2)
        >>> LF.arcface_loss(torch.tensor([[1.0, 0.2]]), torch.tensor([0]), w, scale=4.0)
        tensor(0.0972)
    """
    name = "arcface_loss"
    cos, labels = _margin_inputs(name, embeddings, labels, weight)
    cos_y = cos.gather(1, labels.unsqueeze(1)).squeeze(1)
    loss = _margin_softmax(cos, labels, _arcface_target(cos_y, margin), scale)
    return reduce_loss(loss, reduction, name=name)


# -- CosFace -----------------------------------------------------------------------------------


def _cosface_grad(x, labels, w, *, margin, scale, **_):
    return _margin_grad(x, labels, w, lambda c: c - margin, torch.ones_like, scale)


@entry(
    module="CosFaceLoss",
    hand_written=True,
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
@loss_function(
    reduction=REDUCTION,
    margin=Param("float", "additive cosine margin m", ge=0, le=2),
    scale=SCALE,
)
def cosface_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    weight: torch.Tensor,
    *,
    margin: float = 0.35,
    scale: float = 64.0,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""CosFace (large margin cosine) loss against class centres ``weight``.

    :class:`losslab.nn.CosFaceLoss` owns ``weight`` as a learnable parameter.

    Args:
        embeddings: (N, D).
        labels: (N,) class indices in [0, C).
        weight: (C, D) class centres (normalised inside).
        margin: :math:`m \in [0, 2]`.
        scale: :math:`s > 0`.
        reduction: ``"none"`` gives the (N,) per-sample losses.

    Example:
        >>> import torch, losslab.functional as LF
        >>> w = torch.eye(2)
        >>> LF.cosface_loss(torch.tensor([[1.0, 0.2]]), torch.tensor([0]), w, scale=4.0)
        tensor(0.1620)
    """
    name = "cosface_loss"
    cos, labels = _margin_inputs(name, embeddings, labels, weight)
    cos_y = cos.gather(1, labels.unsqueeze(1)).squeeze(1)
    loss = _margin_softmax(cos, labels, cos_y - margin, scale)
    return reduce_loss(loss, reduction, name=name)
