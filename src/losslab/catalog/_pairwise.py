"""Catalog entries of the pair, triplet and contrastive metric-learning losses (pairs, mined
triplets, InfoNCE, NT-Xent, SupCon).

The analytic derivatives are written from the formulas: Euclidean distances differentiate to unit
vectors (0 at distance 0), cosines through the normalisation
:math:`\\partial \\hat x / \\partial x = (I - \\hat x \\hat x^T)/\\|x\\|`, and the mined triplets of
:func:`losslab.functional.mine_triplets` are held fixed (mining is piecewise constant).
"""

from __future__ import annotations

import math

import torch

from .. import functional as LF
from .. import nn as LN
from ._registry import register
from ._spec import Case, Head, LossSpec, Sampler, When

N, D, C = 8, 4, 4
_LABELS = torch.tensor([0, 0, 0, 1, 1, 2, 2, 3])  # class 3 has no positive: exercises exclusions

RAW_HEAD = Head("identity", "D", "an embedding; distances are taken on the raw outputs")
NORM_HEAD = Head("identity", "D", "an embedding; the loss L2-normalises it (cosine similarities)")

NON_PROPERTIES = dict(convex=False, symmetric=None)


def _randn(gen: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=torch.float64)


def _labels(gen: torch.Generator) -> torch.Tensor:
    return _LABELS[torch.randperm(N, generator=gen)]


# -- samplers ---------------------------------------------------------------------------------


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


def _pair_kink(dtype):
    # two identical positives: the Euclidean distance has its kink at 0
    x = torch.tensor([[0.0, 0, 0, 0], [0.0, 0, 0, 0], [3.0, 0, 0, 0]], dtype=dtype)
    return Case((x, torch.tensor([0, 0, 1])))


def _triplet_kink(dtype):
    # d_ap = 1, d_an = 2 and margin 1: the hinge of triplet (0, 1, 2) sits exactly at 0
    x = torch.tensor([[0.0, 0, 0, 0], [1.0, 0, 0, 0], [2.0, 0, 0, 0]], dtype=dtype)
    return Case((x, torch.tensor([0, 0, 1])))


LABELLED_PAIRS = Sampler(
    "labelled_embeddings", make=_lab_make, perfect=_lab_perfect, kink=_pair_kink, empty=_lab_empty
)
LABELLED_TRIPLETS = Sampler(
    "labelled_embeddings",
    make=_lab_make,
    perfect=_lab_perfect,
    kink=_triplet_kink,
    empty=_lab_empty,
)
LABELLED = Sampler("labelled_embeddings", make=_lab_make, perfect=_lab_perfect, empty=_lab_empty)


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


# -- derivative helpers -----------------------------------------------------------------------


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


def _contrastive_grad(x, labels, *, pos_margin=0.0, neg_margin=1.0, distance="euclidean", **_):
    i, j = torch.triu_indices(len(x), len(x), 1)
    d, gi, gj = _dist_grads(x, i, j, distance)
    same = labels[i] == labels[j]
    dl_dd = torch.where(
        same, (d > pos_margin).to(x.dtype), -(d < neg_margin).to(x.dtype)
    ).unsqueeze(1)
    return _scatter(x, i, dl_dd * gi) + _scatter(x, j, dl_dd * gj)


def _triplet_grad(x, labels, *, margin=1.0, mining="all", distance="euclidean", **_):
    a, p, n = LF.mine_triplets(x, labels, mining=mining, distance=distance)
    d_ap, ga_p, gp = _dist_grads(x, a, p, distance)
    d_an, ga_n, gn = _dist_grads(x, a, n, distance)
    active = (d_ap - d_an + margin > 0).to(x.dtype).unsqueeze(1)
    return (
        _scatter(x, a, active * (ga_p - ga_n))
        + _scatter(x, p, active * gp)
        - _scatter(x, n, active * gn)
    )


def _softmax_without_self(s):
    eye = torch.eye(len(s), dtype=torch.bool)
    return torch.softmax(s.masked_fill(eye, -math.inf), dim=1)


def _self_similarity_grad(z, dl_ds, temperature):
    """Gradient of sum(dl_ds * S) with S = z_hat z_hat^T / tau, w.r.t. z (S is symmetric in z)."""
    u = z / z.norm(dim=1, keepdim=True)
    return _unit_project(z, (dl_ds + dl_ds.T) @ u / temperature)


def _supcon_grad(x, labels, *, temperature=0.1, **_):
    u = x / x.norm(dim=1, keepdim=True)
    prob = _softmax_without_self(u @ u.T / temperature)
    pos = (labels[:, None] == labels[None, :]) & ~torch.eye(len(x), dtype=torch.bool)
    count = pos.sum(1, keepdim=True)
    valid = (count > 0).to(x.dtype)
    dl_ds = valid * (prob - pos.to(x.dtype) / count.clamp_min(1))
    return _self_similarity_grad(x, dl_ds, temperature)


def _nt_xent_grad(z1, z2, *, temperature=0.1, **_):
    n = len(z1)
    z = torch.cat([z1, z2])
    u = z / z.norm(dim=1, keepdim=True)
    partner = torch.eye(2 * n, dtype=z.dtype).roll(n, dims=1)
    dl_ds = _softmax_without_self(u @ u.T / temperature) - partner
    return _self_similarity_grad(z, dl_ds, temperature)[:n]


def _info_nce_grad(q, k, *, temperature=0.1, **_):
    qh, kh = q / q.norm(dim=1, keepdim=True), k / k.norm(dim=1, keepdim=True)
    dl_ds = torch.softmax(qh @ kh.T / temperature, dim=1) - torch.eye(len(q), dtype=q.dtype)
    return _unit_project(q, dl_ds @ kh / temperature)


# -- entries ----------------------------------------------------------------------------------

DISTRIBUTED_NOTE = (
    "Distributed: pass embeddings and labels gathered with losslab.distributed.all_gather_with_grad; "
    "every rank then computes the global loss and gets the exact gradient for its own shard "
    "(multiply the loss by the world size to match single-process parameter gradients under DDP)."
)

register(
    LossSpec(
        name="contrastive_loss",
        function=LF.contrastive_loss,
        module=LN.ContrastiveLoss,
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
)

register(
    LossSpec(
        name="batch_triplet_loss",
        function=LF.batch_triplet_loss,
        module=LN.BatchTripletLoss,
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
)

register(
    LossSpec(
        name="info_nce_loss",
        function=LF.info_nce_loss,
        module=LN.InfoNCELoss,
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
)

register(
    LossSpec(
        name="nt_xent_loss",
        function=LF.nt_xent_loss,
        module=LN.NTXentLoss,
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
)

register(
    LossSpec(
        name="supcon_loss",
        function=LF.supcon_loss,
        module=LN.SupConLoss,
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
)
