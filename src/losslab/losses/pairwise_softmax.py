"""Contrastive softmax losses over cosine similarities: InfoNCE (in-batch negatives), NT-Xent
(SimCLR's two views) and SupCon (supervised contrastive).

The conventions (shapes, ``reduction="none"`` per anchor, valid units, float32 for half inputs,
distributed training) are those of :mod:`.pairwise`, which also holds the shared validation,
samplers and derivative helpers. Each loss carries its catalog entry (:func:`entry`); tested in
``tests/functional/test_metric_learning.py``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .._reduction import reduce_loss, upcast
from .._validation import REDUCTION, Param, check_same_shape, check_tensor, loss_function
from ..catalog._spec import Case, Sampler
from ._entry import entry
from .pairwise import (
    DISTRIBUTED_NOTE,
    NON_PROPERTIES,
    NORM_HEAD,
    D,
    N,
    _embeddings,
    _lab_empty,
    _lab_make,
    _lab_perfect,
    _labelled,
    _masks,
    _randn,
    _unit_project,
)

__all__ = [
    "info_nce_loss",
    "nt_xent_loss",
    "supcon_loss",
]

TEMPERATURE = Param("float", "softmax temperature of the similarities", gt=0)


# -- shared ------------------------------------------------------------------------------------


def _log_softmax_without_self(sim: torch.Tensor) -> torch.Tensor:
    """Row-wise log-softmax of a square similarity matrix over the off-diagonal entries."""
    eye = torch.eye(sim.shape[0], dtype=torch.bool, device=sim.device)
    masked = sim.masked_fill(eye, -math.inf)
    return masked - torch.logsumexp(masked, dim=1, keepdim=True)


def _softmax_without_self(s):
    eye = torch.eye(len(s), dtype=torch.bool)
    return torch.softmax(s.masked_fill(eye, -math.inf), dim=1)


def _self_similarity_grad(z, dl_ds, temperature):
    """Gradient of sum(dl_ds * S) with S = z_hat z_hat^T / tau, w.r.t. z (S is symmetric in z)."""
    u = z / z.norm(dim=1, keepdim=True)
    return _unit_project(z, (dl_ds + dl_ds.T) @ u / temperature)


def _views_make(gen, dtype, scale):
    base = _randn(gen, N, D)
    q = scale * (base + 0.5 * _randn(gen, N, D))
    return Case((q.to(dtype), (base + 0.5 * _randn(gen, N, D)).to(dtype)))


def _views_perfect(gen, dtype):
    # both views identical and the samples mutually orthogonal (N = 4 <= D)
    z = torch.eye(4, D, dtype=torch.float64)[torch.randperm(4, generator=gen)]
    return Case(((2.0 * z).to(dtype), z.to(dtype)))


VIEWS = Sampler(
    "two_views",
    make=_views_make,
    perfect=_views_perfect,
    empty=lambda dtype: Case((torch.zeros(0, D, dtype=dtype), torch.zeros(0, D, dtype=dtype))),
)


# -- InfoNCE -----------------------------------------------------------------------------------


def _info_nce_grad(q, k, *, temperature, **_):
    qh, kh = q / q.norm(dim=1, keepdim=True), k / k.norm(dim=1, keepdim=True)
    dl_ds = torch.softmax(qh @ kh.T / temperature, dim=1) - torch.eye(len(q), dtype=q.dtype)
    return _unit_project(q, dl_ds @ kh / temperature)


@entry(
    module="InfoNCELoss",
    family="metric_learning",
    tasks=("metric_learning",),
    input_kind="embeddings",
    heads={"metric_learning": NORM_HEAD},
    formula=r"\ell_i = -\log\frac{e^{s_{ii}/\tau}}{\sum_{j=1}^N e^{s_{ij}/\tau}},\quad s_{ij} = \cos(q_i, k_j)",
    derivative=r"\frac{\partial \ell}{\partial q_i} = \frac{I - \hat q_i \hat q_i^T}{\|q_i\|}\,"
    r"\frac{1}{\tau}\sum_j (p_{ij} - [i = j])\,\hat k_j,\quad p_{ij} = \operatorname{softmax}_j(s_{ij}/\tau)",
    derivative_fn=_info_nce_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=False,
        smooth=True,
        bounded=True,
        robust_to_outliers=True,
        **NON_PROPERTIES,
    ),
    references=(
        "van den Oord, Li and Vinyals, Representation Learning with Contrastive Predictive Coding, 2018",
        "He et al., Momentum Contrast for Unsupervised Visual Representation Learning, CVPR 2020",
    ),
    summary="Each query must pick its own key among the batch's keys (cross-entropy over cosine similarities).",
    when_to_use="Self-supervised or cross-modal learning with paired views (query/key, image/text); "
    "more negatives (larger batches) help.",
    sampler=VIEWS,
    notes="Never exactly 0 at finite temperature: a perfect pair still pays log(1 + (N-1) e^{-1/tau}). "
    + DISTRIBUTED_NOTE,
)
@loss_function(reduction=REDUCTION, temperature=TEMPERATURE)
def info_nce_loss(
    query: torch.Tensor, key: torch.Tensor, *, temperature: float = 0.1, reduction: str = "mean"
) -> torch.Tensor:
    r"""InfoNCE with in-batch negatives: query i must pick key i among the N keys.

    Asymmetric (queries are anchors, keys are candidates: N
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
    """
    name = "info_nce_loss"
    q = _embeddings(name, query, "query")
    check_tensor(name, "key", key)
    check_same_shape(name, "query", query, "key", key)
    k = upcast(key)
    logits = F.normalize(q, dim=1) @ F.normalize(k, dim=1).T / temperature
    loss = torch.logsumexp(logits, dim=1) - logits.diagonal()
    return reduce_loss(loss, reduction, name=name)


# -- NT-Xent -----------------------------------------------------------------------------------


def _nt_xent_grad(z1, z2, *, temperature, **_):
    n = len(z1)
    z = torch.cat([z1, z2])
    u = z / z.norm(dim=1, keepdim=True)
    partner = torch.eye(2 * n, dtype=z.dtype).roll(n, dims=1)
    dl_ds = _softmax_without_self(u @ u.T / temperature) - partner
    return _self_similarity_grad(z, dl_ds, temperature)[:n]


@entry(
    module="NTXentLoss",
    family="metric_learning",
    tasks=("metric_learning",),
    input_kind="embeddings",
    heads={"metric_learning": NORM_HEAD},
    formula=r"\ell_i = -\log\frac{e^{s_{i,p(i)}/\tau}}{\sum_{k \ne i} e^{s_{ik}/\tau}},\ "
    r"z = [z_1; z_2],\ s_{ik} = \cos(z_i, z_k),\ i = 1..2N",
    derivative=r"\frac{\partial L}{\partial z_i} = \frac{I - \hat z_i \hat z_i^T}{\|z_i\|}\,"
    r"\frac{1}{\tau}\sum_k (G_{ik} + G_{ki})\hat z_k,\quad G_{ik} = p_{ik} - [k = p(i)]",
    derivative_fn=_nt_xent_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=False,
        smooth=True,
        bounded=True,
        robust_to_outliers=True,
        **NON_PROPERTIES,
    ),
    references=(
        "Chen, Kornblith, Norouzi and Hinton, A Simple Framework for Contrastive Learning of Visual Representations, ICML 2020",
    ),
    summary="SimCLR's loss: 2N anchors, each must find its other view among 2N - 1 candidates.",
    when_to_use="Self-supervised learning from two augmentations of each sample; temperature "
    "0.1-0.5 and large batches.",
    sampler=VIEWS,
    notes="Derivative w.r.t. the first view z1 (the second view fixed). " + DISTRIBUTED_NOTE,
)
@loss_function(reduction=REDUCTION, temperature=TEMPERATURE)
def nt_xent_loss(
    z1: torch.Tensor, z2: torch.Tensor, *, temperature: float = 0.1, reduction: str = "mean"
) -> torch.Tensor:
    r"""NT-Xent (SimCLR): two views of N samples, each of the 2N embeddings is an anchor.

    The positive of each anchor of :math:`[z_1; z_2]` is the other view of its sample.
    Normalisation: 2N anchors, each against 2N - 1 candidates (its positive
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


# -- SupCon ------------------------------------------------------------------------------------


LABELLED = Sampler("labelled_embeddings", make=_lab_make, perfect=_lab_perfect, empty=_lab_empty)


def _supcon_grad(x, labels, *, temperature, **_):
    u = x / x.norm(dim=1, keepdim=True)
    prob = _softmax_without_self(u @ u.T / temperature)
    pos = (labels[:, None] == labels[None, :]) & ~torch.eye(len(x), dtype=torch.bool)
    count = pos.sum(1, keepdim=True)
    valid = (count > 0).to(x.dtype)
    dl_ds = valid * (prob - pos.to(x.dtype) / count.clamp_min(1))
    return _self_similarity_grad(x, dl_ds, temperature)


@entry(
    module="SupConLoss",
    family="metric_learning",
    tasks=("metric_learning",),
    input_kind="embeddings",
    heads={"metric_learning": NORM_HEAD},
    formula=r"\ell_i = -\frac{1}{|P(i)|}\sum_{p \in P(i)} \log\frac{e^{s_{ip}/\tau}}{\sum_{a \ne i} e^{s_{ia}/\tau}},"
    r"\quad s_{ia} = \cos(x_i, x_a)",
    derivative=r"\frac{\partial L}{\partial x_i} = \frac{I - \hat x_i \hat x_i^T}{\|x_i\|}\,"
    r"\frac{1}{\tau}\sum_k (G_{ik} + G_{ki})\hat x_k,\quad G_{ik} = p_{ik} - \frac{[k \in P(i)]}{|P(i)|}",
    derivative_fn=_supcon_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=False,
        smooth=True,
        bounded=True,
        robust_to_outliers=True,
        **NON_PROPERTIES,
    ),
    references=("Khosla et al., Supervised Contrastive Learning, NeurIPS 2020",),
    summary="Contrastive loss with labels: every same-class sample is a positive (L_out form).",
    when_to_use="Supervised representation learning; robust to hyperparameters and often better "
    "than cross-entropy embeddings for retrieval. Wants several samples per class per batch.",
    sampler=LABELLED,
    notes="Per-element losses are the anchors with at least one positive. Not 0 at a perfect "
    "embedding: an anchor with |P| positives pays at least log |P|. " + DISTRIBUTED_NOTE,
)
@loss_function(reduction=REDUCTION, temperature=TEMPERATURE)
def supcon_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: float = 0.1,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Supervised contrastive loss (Khosla et al. 2020, :math:`\mathcal{L}^{sup}_{out}`).

    Every other sample with the anchor's label is a positive. Several views of a sample
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
