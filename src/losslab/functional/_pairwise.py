r"""Metric-learning losses over the pairs of a batch of embeddings: contrastive pairs, mined
triplets and the contrastive softmax losses (InfoNCE, NT-Xent, SupCon).

Conventions shared by every metric-learning loss (these and the angular-margin losses of
:mod:`losslab.functional._angular`):

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
    check_same_shape,
    check_tensor,
    fail,
    loss_function,
)

__all__ = [
    "pairwise_distances",
    "contrastive_loss",
    "batch_triplet_loss",
    "mine_triplets",
    "info_nce_loss",
    "nt_xent_loss",
    "supcon_loss",
]

DISTANCE = Param("choice", "distance between embeddings", choices=("euclidean", "cosine"))
TEMPERATURE = Param("float", "softmax temperature of the similarities", gt=0)
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


# -- contrastive (pair) loss -------------------------------------------------------------------


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

    :math:`\ell_{ij} = [y_i = y_j]\max(0, d_{ij} - m_+) + [y_i \ne y_j]\max(0, m_- - d_{ij})`
    for :math:`i < j` (the hinge form of pytorch-metric-learning's ``ContrastiveLoss``; Hadsell
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

    References:
        Hadsell, Chopra and LeCun, "Dimensionality Reduction by Learning an Invariant Mapping",
        CVPR 2006.
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

    :math:`\ell_{apn} = \max(0,\ d_{ap} - d_{an} + m)` for each mined triplet (see
    :func:`mine_triplets`: ``"all"``, batch ``"hard"``, ``"semihard"``).

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

    References:
        Schroff, Kalenichenko and Philbin, "FaceNet: A Unified Embedding for Face Recognition
        and Clustering", CVPR 2015; Hermans, Beyer and Leibe, "In Defense of the Triplet Loss
        for Person Re-Identification", 2017.
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


# -- softmax over cosine similarities: InfoNCE, NT-Xent, SupCon ---------------------------------


def _log_softmax_without_self(sim: torch.Tensor) -> torch.Tensor:
    """Row-wise log-softmax of a square similarity matrix over the off-diagonal entries."""
    eye = torch.eye(sim.shape[0], dtype=torch.bool, device=sim.device)
    masked = sim.masked_fill(eye, -math.inf)
    return masked - torch.logsumexp(masked, dim=1, keepdim=True)


@loss_function(reduction=REDUCTION, temperature=TEMPERATURE)
def info_nce_loss(
    query: torch.Tensor, key: torch.Tensor, *, temperature: float = 0.1, reduction: str = "mean"
) -> torch.Tensor:
    r"""InfoNCE with in-batch negatives: query i must pick key i among the N keys.

    :math:`\ell_i = -\log \frac{\exp(s_{ii}/\tau)}{\sum_{j=1}^{N} \exp(s_{ij}/\tau)}`,
    :math:`s_{ij} = \cos(q_i, k_j)`. Asymmetric (queries are anchors, keys are candidates: N
    candidates per anchor). For the symmetric two-view loss see :func:`nt_xent_loss`.

    Args:
        query: (N, D).
        key: (N, D); row i is the positive of query i, the other rows its negatives.
        temperature: :math:`\tau > 0`.
        reduction: ``"none"`` gives the (N,) per-query losses.

    Example:
        >>> import torch, losslab.functional as LF
        >>> q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> LF.info_nce_loss(q, q, temperature=1.0)
        tensor(0.3133)

    References:
        van den Oord, Li and Vinyals, "Representation Learning with Contrastive Predictive
        Coding", 2018; He et al., "Momentum Contrast for Unsupervised Visual Representation
        Learning", CVPR 2020.
    """
    name = "info_nce_loss"
    q = _embeddings(name, query, "query")
    check_tensor(name, "key", key)
    check_same_shape(name, "query", query, "key", key)
    k = upcast(key)
    logits = F.normalize(q, dim=1) @ F.normalize(k, dim=1).T / temperature
    loss = torch.logsumexp(logits, dim=1) - logits.diagonal()
    return reduce_loss(loss, reduction, name=name)


@loss_function(reduction=REDUCTION, temperature=TEMPERATURE)
def nt_xent_loss(
    z1: torch.Tensor, z2: torch.Tensor, *, temperature: float = 0.1, reduction: str = "mean"
) -> torch.Tensor:
    r"""NT-Xent (SimCLR): two views of N samples, each of the 2N embeddings is an anchor.

    With :math:`z = [z_1; z_2]` (2N rows), :math:`s_{ik} = \cos(z_i, z_k)` and :math:`p(i)` the
    other view of sample i: :math:`\ell_i = -\log \frac{\exp(s_{i p(i)}/\tau)}{\sum_{k \ne i}
    \exp(s_{ik}/\tau)}`. Normalisation: 2N anchors, each against 2N - 1 candidates (its positive
    and 2N - 2 negatives, both views); ``"mean"`` divides by 2N as in SimCLR. Equals
    :func:`supcon_loss` on ``cat([z1, z2])`` with labels ``[0..N-1, 0..N-1]``.

    Args:
        z1: (N, D) first view.
        z2: (N, D) second view, row i the same sample as row i of ``z1``.
        temperature: :math:`\tau > 0`.
        reduction: ``"none"`` gives the (2N,) anchor losses, first view's anchors first.

    Example:
        >>> import torch, losslab.functional as LF
        >>> z = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> LF.nt_xent_loss(z, z, temperature=1.0)
        tensor(0.5514)

    References:
        Chen, Kornblith, Norouzi and Hinton, "A Simple Framework for Contrastive Learning of
        Visual Representations", ICML 2020.
    """
    name = "nt_xent_loss"
    a = _embeddings(name, z1, "z1")
    check_tensor(name, "z2", z2)
    check_same_shape(name, "z1", z1, "z2", z2)
    z = F.normalize(torch.cat([a, upcast(z2)]), dim=1)
    n = a.shape[0]
    log_p = _log_softmax_without_self(z @ z.T / temperature)
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    loss = -log_p.gather(1, partner.unsqueeze(1)).squeeze(1)
    return reduce_loss(loss, reduction, name=name)


@loss_function(reduction=REDUCTION, temperature=TEMPERATURE)
def supcon_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: float = 0.1,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Supervised contrastive loss (Khosla et al. 2020, :math:`\mathcal{L}^{sup}_{out}`).

    With :math:`s_{ik} = \cos(x_i, x_k)`, :math:`A(i)` every other sample and :math:`P(i)` those
    with the label of i: :math:`\ell_i = -\frac{1}{|P(i)|}\sum_{p \in P(i)} \log
    \frac{\exp(s_{ip}/\tau)}{\sum_{a \in A(i)} \exp(s_{ia}/\tau)}`. Several views of a sample
    are passed as extra rows with the same label. The paper's code also multiplies by
    ``temperature / base_temperature`` (1 by default); losslab does not.

    Args:
        embeddings: (N, D).
        labels: (N,) integer class labels.
        temperature: :math:`\tau > 0`.
        reduction: ``"none"`` gives the losses of the anchors that have at least one positive
            (in order); anchors without a positive are left out of ``"mean"`` too.

    Example:
        >>> import torch, losslab.functional as LF
        >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0]])
        >>> LF.supcon_loss(x, torch.tensor([0, 0, 1]), temperature=1.0, reduction="none")
        tensor([0.3146, 0.3424])

    References:
        Khosla et al., "Supervised Contrastive Learning", NeurIPS 2020.
    """
    name = "supcon_loss"
    x, labels = _labelled(name, embeddings, labels)
    u = F.normalize(x, dim=1)
    log_p = _log_softmax_without_self(u @ u.T / temperature)
    pos, _ = _masks(labels)
    count = pos.sum(1)
    valid = count > 0
    total = torch.where(pos, log_p, torch.zeros_like(log_p)).sum(1)
    loss = -(total[valid] / count[valid].to(total.dtype))
    return reduce_loss(loss, reduction, name=name)
