"""Metric-learning losses against naive float64 loops, pytorch-metric-learning (optional oracle),
and the edge cases: zero distances, batches without a valid pair, half precision, validation."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import losslab.functional as LF
import losslab.nn as LN
from losslab import catalog


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def batch(seed=0, n=8, d=3, labels=(0, 0, 0, 1, 1, 2, 2, 3)):
    x = torch.randn(n, d, generator=gen(seed), dtype=torch.float64)
    return x, torch.tensor(labels[:n])


# -- naive references: plain Python loops over pairs, triplets and anchors ------------------------


def dist(u, v, distance="euclidean"):
    u, v = u.tolist(), v.tolist()
    if distance == "euclidean":
        return math.sqrt(sum((a - b) ** 2 for a, b in zip(u, v)))
    dot = sum(a * b for a, b in zip(u, v))
    return 1 - dot / (math.sqrt(sum(a * a for a in u)) * math.sqrt(sum(b * b for b in v)))


def cos(u, v):
    return 1 - dist(u, v, "cosine")


def ref_contrastive(x, y, pm=0.0, nm=1.0, distance="euclidean"):
    out = []
    for i, j in itertools.combinations(range(len(x)), 2):
        d = dist(x[i], x[j], distance)
        out.append(max(0.0, d - pm) if y[i] == y[j] else max(0.0, nm - d))
    return out


def ref_triplets(x, y, mining="all", distance="euclidean"):
    n = len(x)
    d = [[dist(x[i], x[j], distance) for j in range(n)] for i in range(n)]
    trip = []
    for a in range(n):
        ps = [p for p in range(n) if p != a and y[p] == y[a]]
        ns = [k for k in range(n) if y[k] != y[a]]
        if not ps or not ns:
            continue
        if mining == "all":
            trip += [(a, p, k) for p in ps for k in ns]
        elif mining == "hard":
            p = max(ps, key=lambda j: d[a][j])
            k = min(ns, key=lambda j: d[a][j])
            trip.append((a, p, k))
        else:
            for p in ps:
                farther = [k for k in ns if d[a][k] > d[a][p]]
                k = (
                    min(farther, key=lambda j: d[a][j])
                    if farther
                    else max(ns, key=lambda j: d[a][j])
                )
                trip.append((a, p, k))
    return trip, d


def ref_triplet(x, y, margin=1.0, mining="all", distance="euclidean"):
    trip, d = ref_triplets(x, y, mining, distance)
    return [max(0.0, d[a][p] - d[a][k] + margin) for a, p, k in trip]


def ref_supcon(x, y, t=0.1):
    out = []
    for i in range(len(x)):
        others = [k for k in range(len(x)) if k != i]
        pos = [p for p in others if y[p] == y[i]]
        if not pos:
            continue
        log_den = math.log(sum(math.exp(cos(x[i], x[k]) / t) for k in others))
        out.append(-sum(cos(x[i], x[p]) / t - log_den for p in pos) / len(pos))
    return out


def ref_nt_xent(z1, z2, t=0.1):
    z = torch.cat([z1, z2])
    n = len(z1)
    out = []
    for i in range(2 * n):
        p = (i + n) % (2 * n)
        den = sum(math.exp(cos(z[i], z[k]) / t) for k in range(2 * n) if k != i)
        out.append(-(cos(z[i], z[p]) / t - math.log(den)))
    return out


def ref_info_nce(q, k, t=0.1):
    out = []
    for i in range(len(q)):
        den = sum(math.exp(cos(q[i], k[j]) / t) for j in range(len(k)))
        out.append(-(cos(q[i], k[i]) / t - math.log(den)))
    return out


def ref_margin(x, y, w, target, s):
    out = []
    for i in range(len(x)):
        logits = [
            s * (target(cos(x[i], w[j])) if j == y[i] else cos(x[i], w[j])) for j in range(len(w))
        ]
        top = max(logits)
        out.append(top + math.log(sum(math.exp(v - top) for v in logits)) - logits[int(y[i])])
    return out


def arc_target(m):
    def f(c):
        theta = math.acos(max(-1.0, min(1.0, c)))
        return math.cos(theta + m) if theta <= math.pi - m else c - (1 - math.cos(m))

    return f


def close(out, ref):
    torch.testing.assert_close(
        out, torch.tensor(ref, dtype=torch.float64).reshape(out.shape), rtol=1e-10, atol=1e-12
    )


# -- values ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
def test_contrastive_matches_loop(distance):
    x, y = batch(1)
    out = LF.contrastive_loss(
        x, y, pos_margin=0.1, neg_margin=1.5, distance=distance, reduction="none"
    )
    close(out, ref_contrastive(x, y, 0.1, 1.5, distance))


@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
@pytest.mark.parametrize("mining", ["all", "hard", "semihard"])
def test_triplet_matches_loop(mining, distance):
    x, y = batch(2)
    margin = 0.3 if distance == "cosine" else 1.0
    out = LF.batch_triplet_loss(
        x, y, margin=margin, mining=mining, distance=distance, reduction="none"
    )
    close(out, ref_triplet(x, y, margin, mining, distance))
    a, p, n = LF.mine_triplets(x, y, mining=mining, distance=distance)
    assert list(zip(a.tolist(), p.tolist(), n.tolist())) == ref_triplets(x, y, mining, distance)[0]


def test_semihard_prefers_the_nearest_negative_beyond_the_positive():
    # anchor 0 at the origin, positive 1 at distance 1, negatives at 0.5 (hard), 1.2 and 3.0
    x = torch.tensor([[0.0, 0], [1.0, 0], [0.5, 0], [0, 1.2], [0, 3.0]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1, 1])
    a, p, n = LF.mine_triplets(x, y, mining="semihard")
    assert (a[0].item(), p[0].item(), n[0].item()) == (0, 1, 3)


def test_supcon_matches_loop():
    x, y = batch(3)
    close(LF.supcon_loss(x, y, temperature=0.2, reduction="none"), ref_supcon(x, y, 0.2))


def test_nt_xent_and_info_nce_match_loops():
    z1, _ = batch(4, n=5)
    z2, _ = batch(5, n=5)
    close(LF.nt_xent_loss(z1, z2, temperature=0.3, reduction="none"), ref_nt_xent(z1, z2, 0.3))
    close(LF.info_nce_loss(z1, z2, temperature=0.3, reduction="none"), ref_info_nce(z1, z2, 0.3))


def test_nt_xent_is_supcon_with_one_positive_per_anchor():
    z1, _ = batch(4, n=5)
    z2, _ = batch(5, n=5)
    labels = torch.arange(5).repeat(2)
    torch.testing.assert_close(
        LF.nt_xent_loss(z1, z2, reduction="none"),
        LF.supcon_loss(torch.cat([z1, z2]), labels, reduction="none"),
    )


def test_arcface_and_cosface_match_loops():
    x, y = batch(6)
    w = torch.randn(4, 3, generator=gen(7), dtype=torch.float64)
    close(
        LF.arcface_loss(x, y, w, margin=0.4, scale=8.0, reduction="none"),
        ref_margin(x, y, w, arc_target(0.4), 8.0),
    )
    close(
        LF.cosface_loss(x, y, w, margin=0.3, scale=8.0, reduction="none"),
        ref_margin(x, y, w, lambda c: c - 0.3, 8.0),
    )


def test_arcface_beyond_pi_minus_m_is_continuous():
    w = torch.eye(2, dtype=torch.float64)
    m = 0.5
    ang = torch.tensor([math.pi - m - 1e-9, math.pi - m + 1e-9], dtype=torch.float64)
    x = torch.stack([ang.cos(), ang.sin()], 1)
    out = LF.arcface_loss(x, torch.tensor([0, 0]), w, margin=m, scale=4.0, reduction="none")
    assert abs(out[0] - out[1]).item() < 1e-6


@pytest.mark.parametrize("name", ["batch_triplet_loss", "contrastive_loss"])
@pytest.mark.parametrize(
    "kw",
    [
        {"mining": "hard"},
        {"mining": "semihard"},
        {"distance": "cosine"},
        {"distance": "cosine", "mining": "hard"},
    ],
)
def test_analytic_derivative_other_options(name, kw):
    if name == "contrastive_loss":
        kw = {k: v for k, v in kw.items() if k != "mining"}
    spec = catalog.get(name)
    x, y = batch(8)
    xg = x.clone().requires_grad_(True)
    spec.function(xg, y, reduction="sum", **kw).backward()
    torch.testing.assert_close(spec.derivative_fn(x, y, **kw), xg.grad, rtol=1e-9, atol=1e-12)


# -- pytorch-metric-learning as an independent oracle (conventions mapped in each test) -------------


def test_against_pytorch_metric_learning():
    pml = pytest.importorskip("pytorch_metric_learning")
    from pytorch_metric_learning import distances, losses, reducers

    x, y = batch(9, n=8, d=4)
    raw = distances.LpDistance(normalize_embeddings=False)
    # PML counts ordered pairs (i, j) and (j, i): twice losslab's unordered pairs
    c = losses.ContrastiveLoss(
        pos_margin=0.1, neg_margin=1.5, distance=raw, reducer=reducers.SumReducer()
    )
    assert c(x, y).item() == pytest.approx(
        2 * LF.contrastive_loss(x, y, pos_margin=0.1, neg_margin=1.5, reduction="sum").item(),
        rel=1e-9,
    )
    t = losses.TripletMarginLoss(margin=0.7, distance=raw, reducer=reducers.SumReducer())
    assert t(x, y).item() == pytest.approx(
        LF.batch_triplet_loss(x, y, margin=0.7, reduction="sum").item(), rel=1e-9
    )
    # PML's NT-Xent takes labels: two views of sample i share label i; mean over the 2N positive pairs
    z1, z2 = x[:4], x[4:]
    nt = losses.NTXentLoss(temperature=0.3)
    assert nt(torch.cat([z1, z2]), torch.arange(4).repeat(2)).item() == pytest.approx(
        LF.nt_xent_loss(z1, z2, temperature=0.3).item(), rel=1e-9
    )
    # SupCon: PML averages the non-zero anchor losses, i.e. the anchors with a positive
    assert losses.SupConLoss(temperature=0.2)(x, y).item() == pytest.approx(
        LF.supcon_loss(x, y, temperature=0.2).item(), rel=1e-9
    )
    # ArcFace: PML's margin is in degrees and its centres are (D, C)
    w = torch.randn(4, 4, generator=gen(10), dtype=torch.float64)
    arc = losses.ArcFaceLoss(4, 4, margin=math.degrees(0.4), scale=16.0).double()
    arc.W.data.copy_(w.T)
    assert arc(x, y).item() == pytest.approx(
        LF.arcface_loss(x, y, w, margin=0.4, scale=16.0).item(), rel=1e-7
    )
    cf = losses.CosFaceLoss(4, 4, margin=0.3, scale=16.0).double()
    cf.W.data.copy_(w.T)
    assert cf(x, y).item() == pytest.approx(
        LF.cosface_loss(x, y, w, margin=0.3, scale=16.0).item(), rel=1e-9
    )
    assert pml.__version__


# -- edge cases ---------------------------------------------------------------------------------


def _grad(fn, x, *rest, **kw):
    x = x.clone().requires_grad_(True)
    out = fn(x, *rest, **kw)
    out.backward()
    return out, x.grad


@pytest.mark.parametrize("kw", [{}, {"mining": "hard"}, {"mining": "semihard"}])
def test_zero_distances_give_finite_gradients(kw):
    x = torch.zeros(6, 3)  # every embedding identical: every distance is exactly 0
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    out, g = _grad(LF.batch_triplet_loss, x, y, **kw)
    assert out.item() == pytest.approx(1.0) and torch.isfinite(g).all()
    x = torch.ones(6, 3)
    for fn in (LF.contrastive_loss, LF.supcon_loss):
        out, g = _grad(fn, x, y)
        assert torch.isfinite(out) and torch.isfinite(g).all()
    out, g = _grad(LF.nt_xent_loss, x[:3], x[3:])
    assert torch.isfinite(out) and torch.isfinite(g).all()


def test_arcface_exactly_aligned_embedding_has_finite_gradient():
    w = torch.eye(3)
    out, g = _grad(LF.arcface_loss, w.clone(), torch.arange(3), w)
    assert torch.isfinite(out) and torch.isfinite(g).all()


@pytest.mark.parametrize(
    "fn, x, y",
    [
        (LF.contrastive_loss, torch.randn(1, 3), torch.tensor([0])),  # no pair at all
        (LF.batch_triplet_loss, torch.randn(4, 3), torch.tensor([1, 1, 1, 1])),  # no negative
        (LF.batch_triplet_loss, torch.randn(4, 3), torch.tensor([0, 1, 2, 3])),  # no positive
        (LF.supcon_loss, torch.randn(4, 3), torch.tensor([0, 1, 2, 3])),  # no positive
        (
            LF.supcon_loss,
            torch.randn(1, 3),
            torch.tensor([0]),
        ),  # a lone anchor: no candidate at all
        (LF.contrastive_loss, torch.randn(0, 3), torch.zeros(0, dtype=torch.long)),
    ],
)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_no_valid_pair_gives_connected_zero(fn, x, y, reduction):
    for kw in (
        ({}, {"mining": "hard"}, {"mining": "semihard"}) if fn is LF.batch_triplet_loss else ({},)
    ):
        out, g = _grad(fn, x, y, reduction=reduction, **kw)
        assert out.item() == 0.0 and not torch.isnan(out)
        assert g is not None and (g == 0).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs_give_float32(dtype):
    x, y = batch(11)
    xh = x.to(dtype)
    w = torch.randn(4, 3).to(dtype)
    for out, ref in [
        (LF.contrastive_loss(xh, y), LF.contrastive_loss(xh.float(), y)),
        (
            LF.batch_triplet_loss(xh, y, mining="semihard"),
            LF.batch_triplet_loss(xh.float(), y, mining="semihard"),
        ),
        (LF.supcon_loss(xh, y), LF.supcon_loss(xh.float(), y)),
        (LF.nt_xent_loss(xh[:4], xh[4:]), LF.nt_xent_loss(xh[:4].float(), xh[4:].float())),
        (LF.arcface_loss(xh, y, w), LF.arcface_loss(xh.float(), y, w.float())),
    ]:
        assert out.dtype == torch.float32
        torch.testing.assert_close(out, ref)


# -- property-based: any batch composition ------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    labels=st.lists(st.integers(0, 3), min_size=0, max_size=7),
    seed=st.integers(0, 1000),
    mining=st.sampled_from(["all", "hard", "semihard"]),
)
def test_any_batch_composition_matches_loops(labels, seed, mining):
    y = torch.tensor(labels, dtype=torch.long)
    x = torch.randn(len(labels), 3, generator=gen(seed), dtype=torch.float64)
    close(LF.contrastive_loss(x, y, reduction="none"), ref_contrastive(x, y))
    close(
        LF.batch_triplet_loss(x, y, mining=mining, reduction="none"),
        ref_triplet(x, y, mining=mining),
    )
    close(LF.supcon_loss(x, y, reduction="none"), ref_supcon(x, y))
    for fn in (LF.contrastive_loss, LF.supcon_loss):
        out = fn(x.clone().requires_grad_(True), y)
        assert torch.isfinite(out) and out.requires_grad


# -- validation ---------------------------------------------------------------------------------------


def test_validation_messages():
    x, y = batch(0)
    with pytest.raises(
        ValueError, match=r"^supcon_loss: 'labels' must be of shape \(N,\) = \(8,\)"
    ):
        LF.supcon_loss(x, y[:5])
    with pytest.raises(
        ValueError, match=r"^contrastive_loss: 'embeddings' must be of shape \(N, D\)"
    ):
        LF.contrastive_loss(x[0], y[:1])
    with pytest.raises(
        TypeError,
        match=r"^batch_triplet_loss: 'labels' must be integer class indices, got float64$",
    ):
        LF.batch_triplet_loss(x, y.double())
    with pytest.raises(
        ValueError, match=r"^nt_xent_loss: 'temperature' must be a finite real number > 0, got 0.0"
    ):
        LF.nt_xent_loss(x, x, temperature=0.0)
    with pytest.raises(
        ValueError, match=r"^info_nce_loss: 'key' must be of the same shape as 'query'"
    ):
        LF.info_nce_loss(x, x[:, :2])
    with pytest.raises(
        ValueError, match=r"^arcface_loss: 'weight' must be of shape \(C, D\) with D = 3"
    ):
        LF.arcface_loss(x, y, torch.randn(4, 2))
    with pytest.raises(
        ValueError, match=r"^cosface_loss: 'labels' must be class indices in \[0, 2\]"
    ):
        LF.cosface_loss(x, y, torch.randn(3, 3))
    with pytest.raises(ValueError, match=r"^batch_triplet_loss: 'mining' must be one of"):
        LF.batch_triplet_loss(x, y, mining="easy")


# -- ArcFace / CosFace modules own their class centres ---------------------------------------------------


@pytest.mark.parametrize("cls", [LN.ArcFaceLoss, LN.CosFaceLoss])
def test_margin_modules_learn_their_centres(cls):
    torch.manual_seed(0)
    x, y = batch(12, n=8, d=4)
    loss_fn = cls(4, 4, scale=8.0)
    assert [n for n, _ in loss_fn.named_parameters()] == ["weight"]
    opt = torch.optim.SGD(loss_fn.parameters(), lr=0.5)
    first = loss_fn(x, y).item()
    for _ in range(30):
        opt.zero_grad()
        loss_fn(x, y).backward()
        opt.step()
    assert loss_fn(x, y).item() < first
    torch.testing.assert_close(loss_fn(x, y), cls.function(x, y, loss_fn.weight, scale=8.0))


def test_margin_module_validation():
    with pytest.raises(ValueError, match=r"^arcface_loss: 'margin' must be"):
        LN.ArcFaceLoss(3, 2, margin=-0.1)
    with pytest.raises(ValueError, match=r"^arcface_loss: 'embedding_dim' must be given together"):
        LN.ArcFaceLoss(3)
    with pytest.raises(TypeError, match=r"^cosface_loss: 'weight' must be passed to forward"):
        LN.CosFaceLoss()(torch.randn(2, 3), torch.tensor([0, 1]))
    with pytest.raises(TypeError, match="unexpected hyperparameter 'gamma'"):
        LN.CosFaceLoss(gamma=1.0)
