"""The chunked analytic-gradient fast path of focal, log-cosh and Barron's robust loss.

The reference is each loss's plain autograd path (``reduction="none"``, which never takes the fast
path, then ``.mean()``/``.sum()``): values and input gradients must match for every option, over
chunk boundaries, for a non-unit upstream gradient, a second backward and ``create_graph``.
"""

from __future__ import annotations

import math

import pytest
import torch

import losslab.functional as LF
from losslab.functional import _fused

CASES = [
    ("sigmoid_focal_loss", {}),
    ("sigmoid_focal_loss", {"gamma": 0.0}),
    ("sigmoid_focal_loss", {"gamma": 0.5, "alpha": None}),
    ("sigmoid_focal_loss", {"gamma": 3.0, "alpha": 0.6}),
    ("sigmoid_focal_loss", {"soft": True}),
    ("sigmoid_focal_loss", {"weight": "row"}),
    ("sigmoid_focal_loss", {"weight": "full"}),
    ("log_cosh_loss", {}),
    ("log_cosh_loss", {"weight": "row"}),
    *[
        ("general_robust_loss", {"alpha": a, "scale": 0.7})
        for a in (2.0, 1.0, 0.0, -2.0, -math.inf, 1e-4, 0.5, 4.0)
    ],
    ("general_robust_loss", {"alpha": 1.0, "weight": "full"}),
]


def _inputs(name, kw, shape, dtype, gen):
    x = (torch.randn(shape, generator=gen, dtype=torch.float64) * 3).to(dtype)
    if name == "sigmoid_focal_loss":
        t = torch.rand(shape, generator=gen, dtype=torch.float64)
        t = t if kw.get("soft") else (t > 0.7).double()
    else:
        t = torch.randn(shape, generator=gen, dtype=torch.float64) * 3
    args = {k: v for k, v in kw.items() if k not in ("soft", "weight")}
    if kw.get("weight") == "row":
        args["weight"] = torch.rand(shape[-1], generator=gen, dtype=torch.float64).to(dtype)
    elif kw.get("weight") == "full":
        args["weight"] = torch.rand(shape, generator=gen, dtype=torch.float64).to(dtype)
    return x, t.to(dtype), args


def _plain(name, x, t, args, reduction):
    per = getattr(LF, name)(x, t, reduction="none", **args)
    return per.mean() if reduction == "mean" else per.sum()


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(_fused, "_CHUNK", 7)  # several chunks and a partial last one


@pytest.mark.parametrize("name, kw", CASES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_fast_path_equals_the_plain_path_float64(name, kw, reduction, small_chunks):
    gen = torch.Generator().manual_seed(0)
    x, t, args = _inputs(name, kw, (5, 9), torch.float64, gen)
    xf, xr = x.clone().requires_grad_(), x.clone().requires_grad_()
    out = getattr(LF, name)(xf, t, reduction=reduction, **args)
    ref = _plain(name, xr, t, args, reduction)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-14)
    (out * 1.7).backward()
    (ref * 1.7).backward()
    torch.testing.assert_close(xf.grad, xr.grad, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name, kw", CASES)
def test_fast_path_float32_and_bfloat16(name, kw):
    gen = torch.Generator().manual_seed(1)
    n = 3 * _fused._CHUNK + 11  # the real chunk size, with a partial last chunk
    for dtype, tol in (
        (torch.float32, {"rtol": 1e-5, "atol": 1e-7}),
        (torch.bfloat16, {"rtol": 1e-2, "atol": 1e-5}),
    ):
        x, t, args = _inputs(name, kw, (n // 16 + 1, 16), dtype, gen)
        xf = x.clone().requires_grad_()
        xr = x.detach().double().requires_grad_()
        args64 = {k: (v.double() if torch.is_tensor(v) else v) for k, v in args.items()}
        out = getattr(LF, name)(xf, t, **args)
        ref = _plain(name, xr, t.double(), args64, "mean")
        out.backward()
        ref.backward()
        assert out.dtype == torch.float32
        assert xf.grad.dtype == dtype
        torch.testing.assert_close(out.double(), ref, **tol)
        torch.testing.assert_close(xf.grad.double(), xr.grad.to(dtype).double(), **tol)


def test_fast_path_is_taken_and_skipped_when_it_must_be(monkeypatch):
    calls = []
    real = _fused._Fused.apply
    monkeypatch.setattr(_fused._Fused, "apply", lambda *a: calls.append(1) or real(*a))
    x = torch.randn(10, requires_grad=True)
    t = torch.rand(10)
    LF.sigmoid_focal_loss(x, t)
    LF.log_cosh_loss(x, t, reduction="sum")
    LF.general_robust_loss(x, t, alpha=1.0)
    assert len(calls) == 3
    # targets that need a gradient, reduction="none", tensor alpha/scale, pos_weight: plain path
    LF.log_cosh_loss(x, t.clone().requires_grad_())
    LF.sigmoid_focal_loss(x, t, reduction="none")
    LF.general_robust_loss(x, t, alpha=torch.tensor(1.0))
    LF.general_robust_loss(x, t, alpha=1.0, scale=torch.tensor(0.5))
    LF.sigmoid_focal_loss(x, t, pos_weight=torch.tensor(2.0))
    LF.sigmoid_focal_loss(torch.zeros(0, requires_grad=True), torch.zeros(0))
    assert len(calls) == 3


@pytest.mark.parametrize("name, kw", [CASES[0], CASES[2], CASES[7], CASES[10], CASES[13]])
def test_fast_path_second_backward_and_create_graph(name, kw, small_chunks):
    gen = torch.Generator().manual_seed(2)
    x, t, args = _inputs(name, kw, (4, 5), torch.float64, gen)
    x = x.requires_grad_()
    out = getattr(LF, name)(x, t, **args)
    g1 = torch.autograd.grad(out, x, retain_graph=True)[0]
    g2 = torch.autograd.grad(out, x)[0]  # the forward's buffer was handed over: recomputed
    torch.testing.assert_close(g1, g2, rtol=1e-13, atol=1e-15)
    assert torch.autograd.gradgradcheck(lambda v: getattr(LF, name)(v, t, **args), (x,))
    # a target that needs a gradient goes the plain way and gets it (focal: soft labels, as the
    # plain path's log t has no finite derivative at hard 0/1 labels)
    if name == "sigmoid_focal_loss":
        t = 0.1 + 0.8 * t
    tt = t.clone().requires_grad_()
    gt = torch.autograd.grad(getattr(LF, name)(x, tt, **args), tt)[0]
    tr = t.clone().requires_grad_()
    want = torch.autograd.grad(_plain(name, x.detach(), tr, args, "mean"), tr)[0]
    torch.testing.assert_close(gt, want)


def test_fast_path_extreme_inputs_stay_finite():
    x = torch.tensor([-1e4, -100.0, -20.0, 0.0, 20.0, 100.0, 1e4], requires_grad=True)
    for t in (torch.zeros(7), torch.ones(7), torch.full((7,), 0.3)):
        for gamma in (0.0, 0.5, 2.0):
            out = LF.sigmoid_focal_loss(x, t, gamma=gamma)
            (g,) = torch.autograd.grad(out, x)
            ref = LF.sigmoid_focal_loss(
                x.detach().double().requires_grad_(), t.double(), gamma=gamma, reduction="none"
            )
            assert torch.isfinite(out) and torch.isfinite(g).all()
            torch.testing.assert_close(out.double(), ref.mean().detach(), rtol=1e-5, atol=1e-6)
    big = torch.tensor([1e30, -1e30, 3e38, 1e-30, 0.0], requires_grad=True)
    for alpha in (0.0, 1.0, -2.0, 0.5, -math.inf):
        out = LF.general_robust_loss(big, torch.zeros(5), alpha=alpha, reduction="sum")
        (g,) = torch.autograd.grad(out, big)
        assert torch.isfinite(out)
        assert torch.isfinite(g).all()
    out = LF.log_cosh_loss(torch.tensor([1e4, -1e4, 1e-4]).requires_grad_(), torch.zeros(3))
    assert torch.isfinite(out)


# -- the soft confusion counts of Dice / Jaccard / Tversky ----------------------------------------


@pytest.mark.parametrize("aggregate", ["image", "batch"])
def test_confusion_function_equals_the_plain_composition(aggregate):
    from losslab.losses.overlap import _confusion, _confusion_plain

    gen = torch.Generator().manual_seed(3)
    p = torch.rand(3, 4, 5, 6, generator=gen, dtype=torch.float64)
    y = torch.rand(3, 4, 5, 6, generator=gen, dtype=torch.float64)
    y[0, :, :2] = (y[0, :, :2] > 0.5).double()  # hard labels
    y[1, 0] = p[1, 0]  # exact ties: relu's derivative at 0 decides both
    p[2, 1, 0] = 0.0
    y[2, 1, 0] = 0.0
    ups = [torch.randn(3, 4, generator=gen, dtype=torch.float64) for _ in range(3)]
    if aggregate == "batch":
        ups = [u[0] for u in ups]
    results = []
    for fn in (_confusion, _confusion_plain):
        pp, yy = p.clone().requires_grad_(), y.clone().requires_grad_()
        counts = fn(pp, yy, aggregate)
        total = sum((c * u).sum() for c, u in zip(counts, ups))
        results.append((counts, torch.autograd.grad(total, (pp, yy))))
    (c1, g1), (c2, g2) = results
    for a, b in zip(c1 + g1, c2 + g2):
        torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-13)
    p2, y2 = (
        torch.rand(2, 3, 4, dtype=torch.float64, requires_grad=True),
        torch.rand(2, 3, 4, dtype=torch.float64),
    )
    assert torch.autograd.gradcheck(lambda q: _confusion(q, y2, aggregate), (p2,))
    assert torch.autograd.gradgradcheck(lambda q: _confusion(q, y2, aggregate), (p2,))


def test_dice_and_tversky_soft_targets_get_gradients():
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(2, 3, 4, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    y = torch.softmax(
        torch.randn(2, 3, 4, 4, generator=gen, dtype=torch.float64), 1
    ).requires_grad_()
    for fn in (LF.dice_loss, LF.tversky_loss):
        gx, gy = torch.autograd.grad(fn(x, y), (x, y))
        assert torch.autograd.gradcheck(lambda a, b, f=fn: f(a, b), (x, y))
        assert gx.abs().sum() > 0 and gy.abs().sum() > 0


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("aggregate", ["image", "batch"])
def test_hard_label_counts_equal_the_plain_composition(dtype, aggregate):
    """Index targets take tp = sum p*y, fp = sum p - tp, fn = sum y - tp (near-perfect units too)."""
    from losslab.losses.overlap import _confusion, _confusion_plain

    gen = torch.Generator().manual_seed(5)
    y = (
        torch.nn.functional.one_hot(torch.randint(0, 4, (3, 6, 7), generator=gen), 4)
        .movedim(-1, 1)
        .to(dtype)
    )
    p = torch.softmax(torch.randn(3, 4, 6, 7, generator=gen, dtype=torch.float64), 1).to(dtype)
    p[1] = y[1] * (1 - 1e-6) + 1e-6 / 4  # a near-perfect image: fp, fn are tiny differences
    ups = [torch.randn(3, 4, generator=gen, dtype=dtype) for _ in range(3)]
    if aggregate == "batch":
        ups = [u[0] for u in ups]
    out = []
    for fn, kw in ((_confusion, {"hard": True}), (_confusion_plain, {})):
        pp = p.clone().requires_grad_()
        counts = fn(pp, y, aggregate, **kw)
        (g,) = torch.autograd.grad(sum((c * u).sum() for c, u in zip(counts, ups)), pp)
        assert all((c >= 0).all() for c in counts)
        out.append((*counts, g))
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-14}
    for a, b in zip(*out):
        torch.testing.assert_close(a, b, **tol)


def test_near_perfect_dice_keeps_its_small_loss_with_index_targets():
    """Index and one-hot targets give the same tiny loss (no difference of large sums)."""
    gen = torch.Generator().manual_seed(6)
    y = torch.randint(0, 2, (1, 256, 256), generator=gen)
    onehot = torch.nn.functional.one_hot(y, 2).movedim(-1, 1).float()
    x = (onehot * 2 - 1) * 8 + 0.3 * torch.randn(1, 2, 256, 256, generator=gen)
    for fn in (LF.dice_loss, LF.tversky_loss, LF.jaccard_loss):
        a, b = fn(x, y), fn(x, onehot)
        ref = fn(x.double(), y)
        assert a > 0
        torch.testing.assert_close(a, b, rtol=1e-3, atol=0)
        # float32 probabilities near 1 are themselves rounded: a few % of a 1e-7 loss
        torch.testing.assert_close(a.double(), ref, rtol=5e-2, atol=0)


def test_index_and_one_hot_targets_agree_at_exact_ties():
    y = torch.tensor([[[0, 1], [1, 0]]])
    p0 = torch.tensor([[[[1.0, 0.0], [0.0, 0.7]], [[0.0, 1.0], [1.0, 0.3]]]])
    grads = []
    for target in (y, torch.nn.functional.one_hot(y, 2).movedim(-1, 1).float()):
        p = p0.clone().requires_grad_()
        LF.dice_loss(p, target, activation="none").backward()
        grads.append(p.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=0)


@pytest.mark.parametrize("alpha", [-2.0, 0.0, -math.inf, 0.5, 1.0, 1.5, 4.0])
def test_robust_fast_path_at_huge_and_infinite_residuals(alpha):
    """No inf * 0 and no underflow: the float32 derivative where z = (x - y)/c is huge or
    infinite equals the float64 plain path's (wherever that fits in float32) and the limits at
    |z| = inf (the plain float32 path gives NaN there)."""
    x = torch.tensor([float("inf"), -float("inf"), 3e38, 1e20, -1e30, 5.0, 0.0, 1e-30])
    limit = 0.0 if alpha < 1 else (1.0 if alpha == 1 else math.inf)
    for scale in (1.0, 0.5, 1e-20):
        xf = x.clone().requires_grad_()
        out = LF.general_robust_loss(xf, torch.zeros(8), alpha=alpha, scale=scale, reduction="sum")
        out.backward()
        x64 = x.double().requires_grad_()
        LF.general_robust_loss(
            x64, torch.zeros(8, dtype=torch.float64), alpha=alpha, scale=scale, reduction="none"
        ).sum().backward()
        if alpha == -math.inf:  # autograd of -expm1 forms exp(m) as expm1(m) + 1: 0 in the tail
            z64 = x.double() / scale
            x64.grad = z64 * torch.exp(-0.5 * z64 * z64) / scale
        # entries whose residual z and derivative are representable in float32
        fits = torch.isfinite(x64.grad) & (x64.grad.abs() < 3e38) & torch.isfinite(x / scale)
        torch.testing.assert_close(xf.grad[fits].double(), x64.grad[fits], rtol=1e-5, atol=1e-37)
        torch.testing.assert_close(xf.grad[:2], torch.tensor([limit, -limit]) / scale)
        if alpha <= 1:
            assert torch.isfinite(xf.grad).all()


def test_torch_func_and_forward_mode_take_the_plain_path():
    import torch.autograd.forward_ad as fwAD

    gen = torch.Generator().manual_seed(7)
    x = torch.randn(6, generator=gen, dtype=torch.float64)
    t = torch.rand(6, generator=gen, dtype=torch.float64)
    calls = {
        "focal": lambda v: LF.sigmoid_focal_loss(v, t),
        "log_cosh": lambda v: LF.log_cosh_loss(v, t),
        "robust": lambda v: LF.general_robust_loss(v, t, alpha=0.5),
    }
    for name, f in calls.items():
        xr = x.clone().requires_grad_()
        (want,) = torch.autograd.grad(f(xr), xr)
        torch.testing.assert_close(torch.func.grad(f)(x), want, msg=name)
        v = torch.randn(6, generator=gen, dtype=torch.float64)
        with fwAD.dual_level():
            tangent = fwAD.unpack_dual(f(fwAD.make_dual(x, v))).tangent
        torch.testing.assert_close(tangent, (want * v).sum(), msg=name)


def test_fast_path_promotes_like_the_plain_path():
    gen = torch.Generator().manual_seed(8)
    x = torch.randn(50, generator=gen).requires_grad_()
    t = torch.rand(50, generator=gen, dtype=torch.float64)
    for f in (
        lambda a, b, **k: LF.sigmoid_focal_loss(a, b, **k),
        lambda a, b, **k: LF.log_cosh_loss(a, b, **k),
        lambda a, b, **k: LF.general_robust_loss(a, b, alpha=1.0, **k),
    ):
        out = f(x, t, reduction="sum")
        ref = f(x, t, reduction="none").sum()
        assert out.dtype == ref.dtype == torch.float64
        torch.testing.assert_close(out, ref)
        (g,) = torch.autograd.grad(out, x)
        assert g.dtype == torch.float32
