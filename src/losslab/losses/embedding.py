"""Drop-ins for the pair and triplet losses of ``torch.nn.functional`` (hinge embedding, margin
ranking, cosine embedding, triplet margin).

Same names, option names and semantics as torch, delegating to torch; what losslab adds
(validation, float32 for half inputs, a connected 0 for an empty ``"mean"``) is listed in
:mod:`losslab.functional._common`. Each function carries its catalog entry (:func:`entry`);
tested in ``tests/functional/test_torch_dropins.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._reduction import upcast
from .._validation import REDUCTION, Param, check_same_shape, check_tensor, fail, loss_function
from ..catalog._samplers import DISTANCE_PAIRS, EMBEDDING_PAIRS, RANKING_PAIRS, TRIPLETS
from ..catalog._spec import Head
from ..functional._common import HINGE_MARGIN, check_signed_target, empty_mean_guard
from ._entry import entry

__all__ = [
    "hinge_embedding_loss",
    "margin_ranking_loss",
    "cosine_embedding_loss",
    "triplet_margin_loss",
]

EMBED_HEAD = Head("identity", "D", "an embedding (often L2-normalised)")


# -- hinge embedding -------------------------------------------------------------------------


def _hinge_emb_grad(x, y, *, margin, **_):
    return torch.where(y == 1, torch.ones_like(x), -(margin - x > 0).to(x.dtype))


@entry(
    module="HingeEmbeddingLoss",
    family="metric_learning",
    tasks=("metric_learning",),
    input_kind="real",
    heads={"metric_learning": Head("identity", "1", "a distance between the two items of a pair")},
    formula=r"\ell = \begin{cases} x & y = 1 \\ \max(0, m - x) & y = -1 \end{cases}",
    derivative=r"\frac{\partial \ell}{\partial x} = \begin{cases} 1 & y = 1 \\ -[x < m] & y = -1 \end{cases}",
    derivative_fn=_hinge_emb_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=True,
        convex=True,
        smooth=False,
        bounded=False,
        robust_to_outliers=True,
        symmetric=None,
    ),
    references=(
        "Hadsell, Chopra and LeCun, Dimensionality Reduction by Learning an Invariant Mapping, CVPR 2006",
    ),
    summary="Contrastive hinge on a pair distance: pull similar pairs to 0, push dissimilar beyond the margin.",
    when_to_use="Learning embeddings or similarity from labelled pairs, with the distance "
    "computed outside the loss (e.g. an L1 or L2 distance).",
    sampler=DISTANCE_PAIRS,
    notes="Properties assume distances x >= 0; for a negative x with y = 1 the loss is negative.",
    drop_in=torch.nn.HingeEmbeddingLoss,
)
@loss_function(reduction=REDUCTION, margin=HINGE_MARGIN)
def hinge_embedding_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    margin: float = 1.0,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Hinge embedding loss (drop-in for ``F.hinge_embedding_loss``).

    The input is usually a distance (>= 0) between the two items of a pair: similar pairs
    (``y = 1``) are pulled together, dissimilar ones (``y = -1``) pushed beyond the margin.

    Args:
        input: distances (any real values are accepted), any shape.
        target: values in {-1, 1}, same shape.
        margin: the margin :math:`m`.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.hinge_embedding_loss(torch.tensor([0.3, 0.4]), torch.tensor([1, -1]), reduction="none")
        tensor([0.3000, 0.6000])
    """
    name = "hinge_embedding_loss"
    check_tensor(name, "input", input)
    check_signed_target(name, target, tuple(input.shape), "of 'input'")
    x, y = upcast(input), upcast(target)
    return empty_mean_guard(
        lambda r: F.hinge_embedding_loss(x, y, margin=margin, reduction=r), reduction, x.numel() > 0
    )


# -- margin ranking --------------------------------------------------------------------------


def _ranking_grad(x1, x2, y, *, margin, **_):
    return torch.where(-y * (x1 - x2) + margin > 0, -y, torch.zeros_like(y)).to(x1.dtype)


@entry(
    module="MarginRankingLoss",
    family="ranking",
    tasks=("ranking",),
    input_kind="real",
    heads={
        "ranking": Head("identity", "1", "a score per item; the two items are scored separately")
    },
    formula=r"\ell = \max(0, -y\,(x_1 - x_2) + m)",
    derivative=r"\frac{\partial \ell}{\partial x_1} = -y\,[-y(x_1 - x_2) + m > 0]",
    derivative_fn=_ranking_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=True,
        convex=True,
        smooth=False,
        bounded=False,
        robust_to_outliers=True,
        symmetric=True,
    ),
    references=(
        "Herbrich, Graepel and Obermayer, Large Margin Rank Boundaries for Ordinal Regression, "
        "Advances in Large Margin Classifiers 2000",
    ),
    summary="Pairwise ranking hinge: the preferred item must outscore the other by the margin.",
    when_to_use="Learning to rank from pairwise preferences (search, recommendation). "
    "A positive margin keeps pushing until the pair is separated by it.",
    sampler=RANKING_PAIRS,
    notes="'symmetric' negates both scores together with the preference.",
    drop_in=torch.nn.MarginRankingLoss,
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

    ``y = 1`` asks for :math:`x_1 > x_2 + m`, ``y = -1`` for :math:`x_2 > x_1 + m`.

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


# -- cosine embedding ------------------------------------------------------------------------


def _cosine_grad(x1, x2, y, *, margin, **_):
    eps = 1e-12  # torch adds it to both squared norms
    m1 = (x1 * x1).sum(-1, keepdim=True) + eps
    m2 = (x2 * x2).sum(-1, keepdim=True) + eps
    cos = (x1 * x2).sum(-1, keepdim=True) / torch.sqrt(m1 * m2)
    dcos = x2 / torch.sqrt(m1 * m2) - cos * x1 / m1
    yy = y.unsqueeze(-1)
    return torch.where(yy == 1, -dcos, (cos - margin > 0).to(x1.dtype) * dcos)


@entry(
    module="CosineEmbeddingLoss",
    family="metric_learning",
    tasks=("metric_learning",),
    input_kind="embeddings",
    heads={"metric_learning": EMBED_HEAD},
    formula=r"\ell = \begin{cases} 1 - \cos(x_1, x_2) & y = 1 \\ \max(0, \cos(x_1, x_2) - m) & y = -1 \end{cases}",
    derivative=r"\frac{\partial \cos}{\partial x_1} = \frac{x_2}{\|x_1\|\|x_2\|} - \cos(x_1, x_2)\frac{x_1}{\|x_1\|^2};\ "
    r"\frac{\partial \ell}{\partial x_1} = -\frac{\partial \cos}{\partial x_1}\ (y = 1),\ "
    r"[\cos > m]\frac{\partial \cos}{\partial x_1}\ (y = -1)",
    derivative_fn=_cosine_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=True,
        convex=False,
        smooth=False,
        bounded=True,
        robust_to_outliers=True,
        symmetric=None,
    ),
    references=(
        "Bromley et al., Signature Verification using a Siamese Time Delay Neural Network, NeurIPS 1993",
    ),
    summary="Pairwise loss on the cosine of two embeddings: similar pairs aligned, dissimilar ones below the margin.",
    when_to_use="Learning embeddings from labelled pairs when only direction matters "
    "(text and retrieval embeddings). Bounded and scale-invariant.",
    sampler=EMBEDDING_PAIRS,
    drop_in=torch.nn.CosineEmbeddingLoss,
)
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

    Similar pairs (``y = 1``) are pulled to cosine 1, dissimilar ones (``y = -1``) pushed below
    the cosine margin :math:`m`. Bounded (at most 2) and invariant to the norms of the
    embeddings.

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


# -- triplet margin --------------------------------------------------------------------------


def _pnorm_grad(v, p):
    norm = torch.linalg.vector_norm(v, ord=p, dim=-1, keepdim=True)
    return torch.sign(v) * v.abs() ** (p - 1) / norm ** (p - 1)


def _triplet_grad(a, pos, neg, *, margin, p, eps, swap, **_):
    vp, vn = a - pos + eps, a - neg + eps
    d_ap = torch.linalg.vector_norm(vp, ord=p, dim=-1, keepdim=True)
    d_an = torch.linalg.vector_norm(vn, ord=p, dim=-1, keepdim=True)
    g_neg = _pnorm_grad(vn, p)
    if swap:
        d_pn = torch.linalg.vector_norm(pos - neg + eps, ord=p, dim=-1, keepdim=True)
        g_neg = torch.where(d_pn < d_an, torch.zeros_like(g_neg), g_neg)
        d_an = torch.minimum(d_an, d_pn)
    active = (d_ap - d_an + margin > 0).to(a.dtype)
    return active * (_pnorm_grad(vp, p) - g_neg)


@entry(
    module="TripletMarginLoss",
    family="metric_learning",
    tasks=("metric_learning",),
    input_kind="embeddings",
    heads={"metric_learning": EMBED_HEAD},
    formula=r"\ell = \max\left(0,\ \|a - p\| - \|a - n\| + m\right)",
    derivative=r"\frac{\partial \ell}{\partial a} = [\ell > 0]\left(\frac{a - p}{\|a - p\|} - "
    r"\frac{a - n}{\|a - n\|}\right)\quad (p = 2)",
    derivative_fn=_triplet_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=True,
        convex=False,
        smooth=False,
        bounded=False,
        robust_to_outliers=True,
        symmetric=None,
    ),
    references=(
        "Schroff, Kalenichenko and Philbin, FaceNet: A Unified Embedding for Face Recognition and Clustering, CVPR 2015",
        "Balntas et al., Learning local feature descriptors with triplets and shallow convolutional neural networks, BMVC 2016",
    ),
    summary="The anchor must be closer to the positive than to the negative by the margin.",
    when_to_use="Metric learning (faces, retrieval) from triplets; mining informative "
    "(semi-hard) triplets matters more than the loss itself.",
    sampler=TRIPLETS,
    notes="Properties are w.r.t. the anchor with the other embeddings fixed; 'bounded' "
    "scales all three embeddings together (with p and n fixed the loss is at most d(p, n) + m).",
    drop_in=torch.nn.TripletMarginLoss,
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

    The distance is :math:`d(u, v) = \|u - v + \epsilon\|_p`; ``swap=True`` replaces :math:`d(a, n)` by :math:`\min(d(a, n), d(p, n))`.

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
