"""Drop-ins for the pair and triplet losses of ``torch.nn.functional`` (hinge embedding, margin
ranking, cosine embedding, triplet margin).

Same names, option names and semantics as torch, delegating to torch; what losslab adds
(validation, float32 for half inputs, a connected 0 for an empty ``"mean"``) is listed in
:mod:`losslab.functional._common`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._reduction import upcast
from .._validation import REDUCTION, Param, check_same_shape, check_tensor, fail, loss_function
from ._common import HINGE_MARGIN, check_signed_target, empty_mean_guard

__all__ = [
    "hinge_embedding_loss",
    "margin_ranking_loss",
    "cosine_embedding_loss",
    "triplet_margin_loss",
]


@loss_function(reduction=REDUCTION, margin=HINGE_MARGIN)
def hinge_embedding_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    margin: float = 1.0,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Hinge embedding loss (drop-in for ``F.hinge_embedding_loss``).

    :math:`\ell = x` if :math:`y = 1`, :math:`\max(0, m - x)` if :math:`y = -1`. The input is
    usually a distance (>= 0) between the two items of a pair: similar pairs are pulled
    together, dissimilar ones pushed beyond the margin.

    Args:
        input: distances (any real values are accepted), any shape.
        target: values in {-1, 1}, same shape.
        margin: the margin :math:`m`.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.hinge_embedding_loss(torch.tensor([0.3, 0.4]), torch.tensor([1, -1]), reduction="none")
        tensor([0.3000, 0.6000])

    References:
        Hadsell, Chopra and LeCun, "Dimensionality Reduction by Learning an Invariant Mapping",
        CVPR 2006.
    """
    name = "hinge_embedding_loss"
    check_tensor(name, "input", input)
    check_signed_target(name, target, tuple(input.shape), "of 'input'")
    x, y = upcast(input), upcast(target)
    return empty_mean_guard(
        lambda r: F.hinge_embedding_loss(x, y, margin=margin, reduction=r), reduction, x.numel() > 0
    )


@loss_function(reduction=REDUCTION, margin=HINGE_MARGIN)
def margin_ranking_loss(
    input1: torch.Tensor,
    input2: torch.Tensor,
    target: torch.Tensor,
    *,
    margin: float = 0.0,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Margin ranking loss (drop-in for ``F.margin_ranking_loss``).

    :math:`\ell = \max(0, -y\,(x_1 - x_2) + m)`: ``y = 1`` asks for :math:`x_1 > x_2 + m`,
    ``y = -1`` for :math:`x_2 > x_1 + m`.

    Args:
        input1: scores, shape (N,) (or any shape).
        input2: scores, same shape.
        target: values in {-1, 1}, same shape.
        margin: the margin :math:`m`.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.margin_ranking_loss(torch.tensor([1.0, 1.0]), torch.tensor([0.0, 0.0]),
        ...                        torch.tensor([1, -1]), reduction="none")
        tensor([0., 1.])

    References:
        Herbrich, Graepel and Obermayer, "Large Margin Rank Boundaries for Ordinal Regression",
        Advances in Large Margin Classifiers, 2000.
    """
    name = "margin_ranking_loss"
    check_tensor(name, "input1", input1)
    check_tensor(name, "input2", input2)
    check_same_shape(name, "input1", input1, "input2", input2)
    check_signed_target(name, target, tuple(input1.shape), "of 'input1'")
    x1, x2, y = upcast(input1), upcast(input2), upcast(target)
    return empty_mean_guard(
        lambda r: F.margin_ranking_loss(x1, x2, y, margin=margin, reduction=r),
        reduction,
        x1.numel() > 0,
    )


def _check_embeddings(name: str, **tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    (first, a), *rest = tensors.items()
    check_tensor(name, first, a)
    if a.dim() not in (1, 2):
        fail(name, first, "of shape (N, D) or (D,)", f"shape {tuple(a.shape)}")
    for key, t in rest:
        check_tensor(name, key, t)
        check_same_shape(name, first, a, key, t)
    return tuple(upcast(t) for t in tensors.values())


@loss_function(
    reduction=REDUCTION, margin=Param("float", "cosine margin for dissimilar pairs", ge=-1, le=1)
)
def cosine_embedding_loss(
    input1: torch.Tensor,
    input2: torch.Tensor,
    target: torch.Tensor,
    *,
    margin: float = 0.0,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Cosine embedding loss (drop-in for ``F.cosine_embedding_loss``).

    With :math:`c = \cos(x_1, x_2)`: :math:`\ell = 1 - c` if :math:`y = 1`, and
    :math:`\max(0, c - m)` if :math:`y = -1`. Bounded (at most 2) and invariant to the
    norms of the embeddings.

    Args:
        input1: embeddings of shape (N, D) or (D,).
        input2: same shape.
        target: values in {-1, 1}, shape (N,) (or ()).
        margin: in [-1, 1]; 0 to 0.5 is typical.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 1.0]])
        >>> LF.cosine_embedding_loss(a, b, torch.tensor([1]))
        tensor(0.2929)

    References:
        Bromley et al., "Signature Verification using a Siamese Time Delay Neural Network",
        NeurIPS 1993.
    """
    name = "cosine_embedding_loss"
    x1, x2 = _check_embeddings(name, input1=input1, input2=input2)
    check_signed_target(name, target, tuple(x1.shape[:-1]), "(N,) (or () for (D,) inputs)")
    y = upcast(target)
    return empty_mean_guard(
        lambda r: F.cosine_embedding_loss(x1, x2, y, margin=margin, reduction=r),
        reduction,
        x1.numel() > 0,
    )


@loss_function(
    reduction=REDUCTION,
    margin=Param("float", "required gap between the negative and positive distances", gt=0),
    p=Param("float", "degree of the p-norm distance", gt=0),
    eps=Param("float", "added to the difference before the norm (keeps the gradient finite)", gt=0),
    swap=Param("bool", "use the smaller of d(a, n) and d(p, n) as the negative distance"),
)
def triplet_margin_loss(
    anchor: torch.Tensor,
    positive: torch.Tensor,
    negative: torch.Tensor,
    *,
    margin: float = 1.0,
    p: float = 2.0,
    eps: float = 1e-6,
    swap: bool = False,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Triplet margin loss (drop-in for ``F.triplet_margin_loss``).

    :math:`\ell = \max(0,\ d(a, p) - d(a, n) + m)` with :math:`d(u, v) = \|u - v + \epsilon\|_p`;
    ``swap=True`` replaces :math:`d(a, n)` by :math:`\min(d(a, n), d(p, n))`.

    Args:
        anchor: embeddings of shape (N, D) or (D,).
        positive: same shape.
        negative: same shape.
        margin: > 0.
        p: degree of the norm, > 0.
        eps: > 0.
        swap: the distance swap of Balntas et al.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> a, p, n = torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.5]])
        >>> LF.triplet_margin_loss(a, p, n)
        tensor(0.5000)

    References:
        Schroff, Kalenichenko and Philbin, "FaceNet: A Unified Embedding for Face Recognition
        and Clustering", CVPR 2015; Balntas et al., "Learning local feature descriptors with
        triplets and shallow convolutional neural networks", BMVC 2016 (swap).
    """
    name = "triplet_margin_loss"
    a, pos, neg = _check_embeddings(name, anchor=anchor, positive=positive, negative=negative)
    return empty_mean_guard(
        lambda r: F.triplet_margin_loss(
            a, pos, neg, margin=margin, p=p, eps=eps, swap=swap, reduction=r
        ),
        reduction,
        a.numel() > 0,
    )
