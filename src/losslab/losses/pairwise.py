r"""Metric-learning losses over the pairs of a batch of embeddings: contrastive pairs and mined
triplets; the contrastive softmax losses (InfoNCE, NT-Xent, SupCon) are in
:mod:`.pairwise_softmax`, which shares this module's validation, samplers and derivative
helpers.

Conventions shared by every metric-learning loss (these and the angular-margin losses of
:mod:`.angular`):

* ``embeddings`` have shape (N, D) and ``labels`` are integer class indices of shape (N,); every
  pair, triplet or anchor of the batch is formed inside the loss.
* ``reduction="none"`` returns one loss per *unit* of the loss: per unordered pair
  (:func:`contrastive_loss`), per mined triplet (:func:`batch_triplet_loss`), per anchor
  (:func:`info_nce_loss`, :func:`nt_xent_loss`, :func:`supcon_loss`, :func:`arcface_loss`).
  Units without a valid partner (an anchor with no positive, a batch of one) are left out, so
  ``"mean"`` is the mean over the valid units and ``"sum"`` their sum. A batch with no valid unit
  returns ``0`` with the autograd graph connected, never NaN.
* Euclidean distances are exact pairwise differences (``torch.cdist`` without the matrix-product
  shortcut, so duplicates are at distance exactly 0); at distance 0 the gradient is the
  subgradient 0, never ``inf``/NaN. Cosine similarities L2-normalise with
  ``torch.nn.functional.normalize`` (a zero embedding has no direction; it is treated as the zero
  vector).
* Mining (hard, semi-hard negatives) selects indices without gradient; the loss is then
  differentiated with the picks fixed (the picks are piecewise constant in the embeddings).
* float16/bfloat16 inputs are computed in float32.

Distributed training: every loss here computes the loss of the batch it is given. Gather the
embeddings (and labels) of all ranks with :func:`losslab.distributed.all_gather_with_grad` and
each rank computes the *global* loss (same value on every rank), and receives the exact gradient
of that global loss for its own shard. See :mod:`losslab.distributed` for the world-size factor
under DDP's gradient averaging.

The derivative helpers are written from the formulas: Euclidean distances differentiate to unit
vectors (0 at distance 0), cosines through the normalisation
:math:`\partial \hat x / \partial x = (I - \hat x \hat x^T)/\|x\|`, and the mined triplets of
:func:`mine_triplets` are held fixed (mining is piecewise constant). Each loss carries its catalog
entry (:func:`entry`); tested in ``tests/functional/test_metric_learning.py``.
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
    check_integer_tensor,
    check_tensor,
    fail,
    loss_function,
)
from ..catalog._spec import Case, Head, Sampler, When
from ._entry import entry

__all__ = [
    "pairwise_distances",
    "contrastive_loss",
    "batch_triplet_loss",
    "mine_triplets",
]

DISTANCE = Param("choice", "distance between embeddings", choices=("euclidean", "cosine"))
MINING = Param("choice", "which triplets count", choices=("all", "hard", "semihard"))


# -- validation and distances ------------------------------------------------------------------


def _embeddings(name: str, x: torch.Tensor, arg: str = "embeddings") -> torch.Tensor:
    check_tensor(name, arg, x)
    if x.dim() != 2:
        fail(name, arg, "of shape (N, D)", Raw(f"shape {tuple(x.shape)}"))
    return upcast(x)


def _labelled(
    name: str, embeddings: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    x = _embeddings(name, embeddings)
    check_integer_tensor(name, "labels", labels)
    if tuple(labels.shape) != (x.shape[0],):
        fail(
            name,
            "labels",
            f"of shape (N,) = ({x.shape[0]},) to match 'embeddings' {tuple(x.shape)}",
            Raw(f"shape {tuple(labels.shape)}"),
        )
    return x, labels


def pairwise_distances(x: torch.Tensor, distance: str = "euclidean") -> torch.Tensor:
    """(N, N) distances: exact Euclidean (``0`` with gradient 0 for duplicates), or ``1 - cos``.

    Memory is O(N^2) (O(N^2 D) is never materialised). Also accepts stacked (M, N, D) batches.
    """
    if distance == "euclidean":
        return torch.cdist(x, x, compute_mode="donot_use_mm_for_euclid_dist")
    u = F.normalize(x, dim=-1)
    return 1.0 - u @ u.transpose(-1, -2)


def _masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(positive, negative) masks: same label and not self; different label."""
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    eye = torch.eye(labels.shape[0], dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


# -- samplers and derivative helpers shared with pairwise_softmax ------------------------------


N, D, C = 8, 4, 4
_LABELS = torch.tensor([0, 0, 0, 1, 1, 2, 2, 3])  # class 3 has no positive: exercises exclusions

RAW_HEAD = Head("identity", "D", "an embedding; distances are taken on the raw outputs")
NORM_HEAD = Head("identity", "D", "an embedding; the loss L2-normalises it (cosine similarities)")

NON_PROPERTIES = dict(convex=False, symmetric=None)


def _randn(gen: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=torch.float64)


def _labels(gen: torch.Generator) -> torch.Tensor:
    return _LABELS[torch.randperm(N, generator=gen)]


DISTRIBUTED_NOTE = (
    "Distributed: pass embeddings and labels gathered with losslab.distributed.all_gather_with_grad; "
    "every rank then computes the global loss and gets the exact gradient for its own shard "
    "(multiply the loss by the world size to match single-process parameter gradients under DDP)."
)


def _lab_make(gen, dtype, scale):
    y = _labels(gen)
    return Case(((scale * _randn(gen, N, D)).to(dtype), y))


def _lab_perfect(gen, dtype):
    # every class at its own point, classes 5 * sqrt(2) apart (beyond the default margins)
    y = _labels(gen)
    x = 5.0 * torch.eye(C, D, dtype=torch.float64)[y] + _randn(gen, 1, D)
    return Case((x.to(dtype), y))


def _lab_empty(dtype):
    return Case((torch.zeros(0, D, dtype=dtype), torch.zeros(0, dtype=torch.long)))


def _unit_project(x: torch.Tensor, g_hat: torch.Tensor) -> torch.Tensor:
    """Chain rule through x_hat = x / ||x||: (g - (g . x_hat) x_hat) / ||x||."""
    norm = x.norm(dim=-1, keepdim=True)
    u = x / norm
    return (g_hat - (g_hat * u).sum(-1, keepdim=True) * u) / norm


def _dist_grads(x, i, j, distance):
    """d_ij and its gradients w.r.t. x_i and x_j, per pair."""
    if distance == "euclidean":
        diff = x[i] - x[j]
        d = diff.norm(dim=-1)
        unit = torch.where(d.unsqueeze(-1) > 0, diff / d.clamp_min(1e-300).unsqueeze(-1), 0.0)
        return d, unit, -unit
    u = x / x.norm(dim=-1, keepdim=True)
    cos = (u[i] * u[j]).sum(-1)
    return 1 - cos, -_unit_project(x[i], u[j]), -_unit_project(x[j], u[i])


def _scatter(x, idx, g):
    return torch.zeros_like(x).index_add_(0, idx, g)


# -- contrastive (pair) loss -------------------------------------------------------------------


def _pair_kink(dtype):
    # two identical positives: the Euclidean distance has its kink at 0
    x = torch.tensor([[0.0, 0, 0, 0], [0.0, 0, 0, 0], [3.0, 0, 0, 0]], dtype=dtype)
    return Case((x, torch.tensor([0, 0, 1])))


LABELLED_PAIRS = Sampler(
    "labelled_embeddings", make=_lab_make, perfect=_lab_perfect, kink=_pair_kink, empty=_lab_empty
)


def _contrastive_grad(x, labels, *, pos_margin, neg_margin, distance, **_):
    i, j = torch.triu_indices(len(x), len(x), 1)
    d, gi, gj = _dist_grads(x, i, j, distance)
    same = labels[i] == labels[j]
    dl_dd = torch.where(
        same, (d > pos_margin).to(x.dtype), -(d < neg_margin).to(x.dtype)
    ).unsqueeze(1)
    return _scatter(x, i, dl_dd * gi) + _scatter(x, j, dl_dd * gj)


@entry(
    module="ContrastiveLoss",
    family="metric_learning",
    tasks=("metric_learning",),
    input_kind="embeddings",
    heads={"metric_learning": RAW_HEAD},
    formula=r"\ell_{ij} = [y_i = y_j]\max(0, d_{ij} - m_+) + [y_i \ne y_j]\max(0, m_- - d_{ij}),"
    r"\quad d_{ij} = \|x_i - x_j\|,\ i < j",
    derivative=r"\frac{\partial \ell_{ij}}{\partial x_i} = -\frac{\partial \ell_{ij}}{\partial x_j} = "
    r"\left([y_i = y_j][d_{ij} > m_+] - [y_i \ne y_j][d_{ij} < m_-]\right)\frac{x_i - x_j}{d_{ij}}"
    r"\quad (0 \text{ at } d_{ij} = 0)",
    derivative_fn=_contrastive_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=True,
        smooth=False,
        bounded=False,
        robust_to_outliers=True,
        **{**NON_PROPERTIES, "convex": When("neg_margin == 0")},
    ),
    references=(
        "Hadsell, Chopra and LeCun, Dimensionality Reduction by Learning an Invariant Mapping, CVPR 2006",
    ),
    summary="Every pair of the batch: positives pulled within pos_margin, negatives pushed beyond neg_margin.",
    when_to_use="Learning an embedding from class labels when pairs are all you need; the "
    "simplest metric loss, a good baseline for retrieval and verification.",
    sampler=LABELLED_PAIRS,
    notes="Per-element losses are the N(N-1)/2 pairs. " + DISTRIBUTED_NOTE,
)
@loss_function(
    reduction=REDUCTION,
    pos_margin=Param("float", "distance below which a positive pair costs nothing", ge=0),
    neg_margin=Param("float", "distance beyond which a negative pair costs nothing", ge=0),
    distance=DISTANCE,
)
def contrastive_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    *,
    pos_margin: float = 0.0,
    neg_margin: float = 1.0,
    distance: str = "euclidean",
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Contrastive pair loss over every unordered pair of the batch.

    Positive pairs are pulled within :math:`m_+`, negative pairs pushed beyond :math:`m_-` (the
    hinge form of pytorch-metric-learning's ``ContrastiveLoss``; Hadsell
    et al. square both terms).

    Args:
        embeddings: (N, D).
        labels: (N,) integer class labels.
        pos_margin: :math:`m_+ \ge 0`.
        neg_margin: :math:`m_- \ge 0`.
        distance: ``"euclidean"`` or ``"cosine"`` (:math:`1 - \cos`).
        reduction: ``"none"`` gives the N(N-1)/2 pair losses in row-major upper-triangle order
            (``torch.triu_indices(N, N, 1)``); ``"mean"`` averages over all pairs (zero ones
            included; pytorch-metric-learning averages over the non-zero ones).

    Example:
        >>> import torch, losslab.functional as LF
        >>> x = torch.tensor([[0.0, 0.0], [0.0, 0.5], [0.3, 0.0]])
        >>> LF.contrastive_loss(x, torch.tensor([0, 0, 1]), reduction="none")
        tensor([0.5000, 0.7000, 0.4169])
    """
    name = "contrastive_loss"
    x, labels = _labelled(name, embeddings, labels)
    n = x.shape[0]
    i, j = torch.triu_indices(n, n, 1, device=x.device)
    d = pairwise_distances(x, distance)[i, j]
    same = labels[i] == labels[j]
    loss = torch.where(same, F.relu(d - pos_margin), F.relu(neg_margin - d))
    return reduce_loss(loss, reduction, name=name)


# -- triplet loss with in-batch mining ---------------------------------------------------------


def _pair_distances(
    x: torch.Tensor, i: torch.Tensor, j: torch.Tensor, distance: str
) -> torch.Tensor:
    """Distances of the pairs (i[k], j[k]) only (same values as :func:`pairwise_distances`)."""
    if distance == "euclidean":
        return torch.linalg.vector_norm(x[i] - x[j], dim=-1)  # gradient 0 at distance 0
    u = F.normalize(x, dim=-1)
    return 1.0 - (u[i] * u[j]).sum(-1)


def _mine(d: torch.Tensor, labels: torch.Tensor, mining: str) -> tuple[torch.Tensor, ...]:
    pos, neg = _masks(labels)
    if mining == "all" or d.shape[0] == 0:
        return torch.nonzero(pos.unsqueeze(2) & neg.unsqueeze(1), as_tuple=True)
    has_neg = neg.any(1)
    inf = torch.tensor(math.inf, dtype=d.dtype, device=d.device)
    if mining == "hard":
        a = torch.nonzero(pos.any(1) & has_neg).flatten()
        p = torch.where(pos[a], d[a], -inf).argmax(1)
        n = torch.where(neg[a], d[a], inf).argmin(1)
        return a, p, n
    a, p = torch.nonzero(pos & has_neg.unsqueeze(1), as_tuple=True)
    dap = d[a, p].unsqueeze(1)
    negs, dan = neg[a], d[a]
    outside = negs & (dan > dap)
    nearest_outside = torch.where(outside, dan, inf).argmin(1)
    farthest = torch.where(negs, dan, -inf).argmax(1)
    return a, p, torch.where(outside.any(1), nearest_outside, farthest)


@torch.no_grad()
def mine_triplets(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    *,
    mining: str = "all",
    distance: str = "euclidean",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Indices (anchor, positive, negative) of the triplets :func:`batch_triplet_loss` uses.

    * ``"all"``: every (a, p, n) with ``y_a = y_p``, ``a != p``, ``y_n != y_a`` (lexicographic).
    * ``"hard"`` (batch hard, Hermans et al. 2017): per anchor with a positive and a negative, the
      farthest positive and the nearest negative.
    * ``"semihard"`` (Schroff et al. 2015, as in TensorFlow's ``triplet_semihard_loss``): per
      positive pair (a, p) whose anchor has a negative, the nearest negative farther than p
      (``d_an > d_ap``); if there is none, the farthest negative.

    Ties go to the lowest index.
    """
    d = pairwise_distances(upcast(embeddings.detach()), distance)
    a, p, n = _mine(d, labels, mining)
    return a, p, n


def _triplet_kink(dtype):
    # d_ap = 1, d_an = 2 and margin 1: the hinge of triplet (0, 1, 2) sits exactly at 0
    x = torch.tensor([[0.0, 0, 0, 0], [1.0, 0, 0, 0], [2.0, 0, 0, 0]], dtype=dtype)
    return Case((x, torch.tensor([0, 0, 1])))


LABELLED_TRIPLETS = Sampler(
    "labelled_embeddings",
    make=_lab_make,
    perfect=_lab_perfect,
    kink=_triplet_kink,
    empty=_lab_empty,
)


def _triplet_grad(x, labels, *, margin, mining, distance, **_):
    a, p, n = mine_triplets(x, labels, mining=mining, distance=distance)
    d_ap, ga_p, gp = _dist_grads(x, a, p, distance)
    d_an, ga_n, gn = _dist_grads(x, a, n, distance)
    active = (d_ap - d_an + margin > 0).to(x.dtype).unsqueeze(1)
    return (
        _scatter(x, a, active * (ga_p - ga_n))
        + _scatter(x, p, active * gp)
        - _scatter(x, n, active * gn)
    )


@entry(
    module="BatchTripletLoss",
    family="metric_learning",
    tasks=("metric_learning",),
    input_kind="embeddings",
    heads={"metric_learning": RAW_HEAD},
    formula=r"\ell_{apn} = \max(0,\ d_{ap} - d_{an} + m)\ \text{over mined triplets (all, batch hard, semi-hard)}",
    derivative=r"\text{with the picks fixed: } \frac{\partial \ell}{\partial x_a} = [\ell > 0]"
    r"\left(\frac{x_a - x_p}{d_{ap}} - \frac{x_a - x_n}{d_{an}}\right),\ "
    r"\frac{\partial \ell}{\partial x_p} = -[\ell > 0]\frac{x_a - x_p}{d_{ap}},\ "
    r"\frac{\partial \ell}{\partial x_n} = [\ell > 0]\frac{x_a - x_n}{d_{an}}",
    derivative_fn=_triplet_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=True,
        smooth=False,
        bounded=False,
        robust_to_outliers=True,
        **NON_PROPERTIES,
    ),
    references=(
        "Schroff, Kalenichenko and Philbin, FaceNet: A Unified Embedding for Face Recognition and Clustering, CVPR 2015",
        "Hermans, Beyer and Leibe, In Defense of the Triplet Loss for Person Re-Identification, 2017",
    ),
    summary="Triplets mined inside the batch: each anchor closer to its positive than to its negative by a margin.",
    when_to_use="Retrieval, re-identification, faces; batch-hard or semi-hard mining usually "
    "trains faster than all triplets. Needs at least two samples per class in a batch.",
    sampler=LABELLED_TRIPLETS,
    notes="Per-element losses are the mined triplets (mining='all' in the contract tests). "
    + DISTRIBUTED_NOTE,
)
@loss_function(
    reduction=REDUCTION,
    margin=Param("float", "required gap between negative and positive distances", ge=0),
    mining=MINING,
    distance=DISTANCE,
)
def batch_triplet_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    *,
    margin: float = 1.0,
    mining: str = "all",
    distance: str = "euclidean",
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Triplet loss over the triplets mined inside the batch.

    One hinge per mined triplet (see :func:`mine_triplets`: ``"all"``, batch ``"hard"``, ``"semihard"``).

    Args:
        embeddings: (N, D).
        labels: (N,) integer class labels.
        margin: :math:`m \ge 0`.
        mining: ``"all"`` | ``"hard"`` | ``"semihard"``.
        distance: ``"euclidean"`` or ``"cosine"`` (:math:`1 - \cos`).
        reduction: ``"none"`` gives one loss per mined triplet (in :func:`mine_triplets` order);
            ``"mean"`` averages over all mined triplets, zero ones included (batch-all as used
            by Hermans et al. averages over the non-zero ones: ``loss.sum() / (loss > 0).sum()``).

    Example:
        >>> import torch, losslab.functional as LF
        >>> x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.5]])
        >>> LF.batch_triplet_loss(x, torch.tensor([0, 0, 1]), reduction="none")
        tensor([0.5000, 0.1972])
    """
    name = "batch_triplet_loss"
    x, labels = _labelled(name, embeddings, labels)
    with torch.no_grad():
        a, p, n = _mine(pairwise_distances(x.detach(), distance), labels, mining)
    if mining == "all":  # many triplets: gather from the distance matrix
        d = pairwise_distances(x, distance)
        d_ap, d_an = d[a, p], d[a, n]
    else:  # one triplet per anchor or pair: only the picked distances carry the graph
        d_ap, d_an = _pair_distances(x, a, p, distance), _pair_distances(x, a, n, distance)
    loss = F.relu(d_ap - d_an + margin)
    return reduce_loss(loss, reduction, name=name)
