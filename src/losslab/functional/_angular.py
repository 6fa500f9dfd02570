r"""Angular-margin softmax losses on embeddings and class centres: ArcFace and CosFace.

Shapes, ``reduction`` (one loss per anchor) and the float16/bfloat16 policy follow the
metric-learning conventions of :mod:`losslab.losses.pairwise`.
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
from ..losses.pairwise import _labelled

__all__ = [
    "arcface_loss",
    "cosface_loss",
]


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

    :math:`\ell_i = -\log \frac{e^{s\cos(\theta_{y_i} + m)}}{e^{s\cos(\theta_{y_i} + m)} +
    \sum_{j \ne y_i} e^{s \cos\theta_j}}`, :math:`\cos\theta_j = \cos(x_i, w_j)`. Beyond
    :math:`\theta_y > \pi - m` the target logit continues as :math:`\cos\theta_y - (1 - \cos m)`
    (continuous and decreasing; Deng et al.'s code uses :math:`\cos\theta - m \sin m` there,
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

    References:
        Deng, Guo, Xue and Zafeiriou, "ArcFace: Additive Angular Margin Loss for Deep Face
        Recognition", CVPR 2019.
    """
    name = "arcface_loss"
    cos, labels = _margin_inputs(name, embeddings, labels, weight)
    cos_y = cos.gather(1, labels.unsqueeze(1)).squeeze(1)
    loss = _margin_softmax(cos, labels, _arcface_target(cos_y, margin), scale)
    return reduce_loss(loss, reduction, name=name)


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

    :math:`\ell_i = -\log \frac{e^{s(\cos\theta_{y_i} - m)}}{e^{s(\cos\theta_{y_i} - m)} +
    \sum_{j \ne y_i} e^{s \cos\theta_j}}`. :class:`losslab.nn.CosFaceLoss` owns ``weight``.

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

    References:
        Wang et al., "CosFace: Large Margin Cosine Loss for Deep Face Recognition", CVPR 2018.
    """
    name = "cosface_loss"
    cos, labels = _margin_inputs(name, embeddings, labels, weight)
    cos_y = cos.gather(1, labels.unsqueeze(1)).squeeze(1)
    loss = _margin_softmax(cos, labels, cos_y - margin, scale)
    return reduce_loss(loss, reduction, name=name)
