"""Catalog entries of the torch pair and triplet drop-ins (hinge embedding, ranking, cosine, triplet)."""

from __future__ import annotations

import torch

from .. import functional as LF
from .. import nn as LN
from ._registry import register
from ._samplers import DISTANCE_PAIRS, EMBEDDING_PAIRS, RANKING_PAIRS, TRIPLETS
from ._spec import Head, LossSpec

EMBED_HEAD = Head("identity", "D", "an embedding (often L2-normalised)")


def _hinge_emb_grad(x, y, *, margin=1.0, **_):
    return torch.where(y == 1, torch.ones_like(x), -(margin - x > 0).to(x.dtype))


register(
    LossSpec(
        name="hinge_embedding_loss",
        function=LF.hinge_embedding_loss,
        module=LN.HingeEmbeddingLoss,
        family="metric_learning",
        tasks=("metric_learning",),
        input_kind="real",
        heads={
            "metric_learning": Head("identity", "1", "a distance between the two items of a pair")
        },
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
        drop_in_for="torch.nn.functional.hinge_embedding_loss",
        notes="Properties assume distances x >= 0; for a negative x with y = 1 the loss is negative.",
    )
)


def _ranking_grad(x1, x2, y, *, margin=0.0, **_):
    return torch.where(-y * (x1 - x2) + margin > 0, -y, torch.zeros_like(y)).to(x1.dtype)


register(
    LossSpec(
        name="margin_ranking_loss",
        function=LF.margin_ranking_loss,
        module=LN.MarginRankingLoss,
        family="ranking",
        tasks=("ranking",),
        input_kind="real",
        heads={
            "ranking": Head(
                "identity", "1", "a score per item; the two items are scored separately"
            )
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
        drop_in_for="torch.nn.functional.margin_ranking_loss",
        notes="'symmetric' negates both scores together with the preference.",
    )
)


def _cosine_grad(x1, x2, y, *, margin=0.0, **_):
    eps = 1e-12  # torch adds it to both squared norms
    m1 = (x1 * x1).sum(-1, keepdim=True) + eps
    m2 = (x2 * x2).sum(-1, keepdim=True) + eps
    cos = (x1 * x2).sum(-1, keepdim=True) / torch.sqrt(m1 * m2)
    dcos = x2 / torch.sqrt(m1 * m2) - cos * x1 / m1
    yy = y.unsqueeze(-1)
    return torch.where(yy == 1, -dcos, (cos - margin > 0).to(x1.dtype) * dcos)


register(
    LossSpec(
        name="cosine_embedding_loss",
        function=LF.cosine_embedding_loss,
        module=LN.CosineEmbeddingLoss,
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
        drop_in_for="torch.nn.functional.cosine_embedding_loss",
    )
)


def _pnorm_grad(v, p):
    norm = torch.linalg.vector_norm(v, ord=p, dim=-1, keepdim=True)
    return torch.sign(v) * v.abs() ** (p - 1) / norm ** (p - 1)


def _triplet_grad(a, pos, neg, *, margin=1.0, p=2.0, eps=1e-6, swap=False, **_):
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


register(
    LossSpec(
        name="triplet_margin_loss",
        function=LF.triplet_margin_loss,
        module=LN.TripletMarginLoss,
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
        drop_in_for="torch.nn.functional.triplet_margin_loss",
        notes="Properties are w.r.t. the anchor with the other embeddings fixed; 'bounded' "
        "scales all three embeddings together (with p and n fixed the loss is at most d(p, n) + m).",
    )
)
