"""The fast cross entropy and the fused linear cross entropy against the reference composition.

The reference is written independently of the implementation: ``F.cross_entropy`` (torch's own
loss, with its weight / ignore_index / label_smoothing semantics) on soft-capped logits
``cap * tanh(x / cap)``, plus the z-loss ``lambda * w_y * logsumexp(z)^2`` on counted rows, with
torch's weighted-mean normaliser; for the linear loss the logits are materialised with
``F.linear``. Values and gradients (of hidden, weight and bias) must match for every option,
every reduction, chunk boundaries and ignored chunks.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import losslab.functional as LF
import losslab.nn as LN
from losslab.losses.linear_ce import auto_chunk_rows

IGN = -100

OPTIONS = [
    {},
    {"weight": True},
    {"label_smoothing": 0.2},
    {"lse_square_scale": 0.05},
    {"softcap": 2.5},
    {"weight": True, "label_smoothing": 0.1},
    {"weight": True, "label_smoothing": 0.3, "lse_square_scale": 0.1, "softcap": 1.5},
]
REDUCTIONS = ["none", "mean", "sum"]


def reference(
    z,
    y,
    *,
    weight=None,
    ignore_index=IGN,
    label_smoothing=0.0,
    lse_square_scale=0.0,
    softcap=None,
    reduction="mean",
):
    z = z.float() if z.dtype in (torch.float16, torch.bfloat16) else z
    if softcap is not None:
        z = softcap * torch.tanh(z / softcap)
    ce = F.cross_entropy(
        z,
        y,
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        reduction="none",
    )
    valid = y != ignore_index
    wy = torch.ones_like(ce) if weight is None else weight[torch.where(valid, y, 0)]
    zl = torch.where(valid, lse_square_scale * wy * torch.logsumexp(z, 1) ** 2, 0.0)
    loss = ce + zl
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / torch.where(valid, wy, 0.0).sum()


def _targets(n, c, gen, ignore_every=4):
    y = torch.randint(0, c, (n,), generator=gen)
    if ignore_every:
        y[::ignore_every] = IGN
    return y


def _opts(opts, c, dtype, gen, key="weight"):
    kw = {k: v for k, v in opts.items() if k != "weight"}
    if opts.get("weight"):
        kw[key] = torch.rand(c, generator=gen, dtype=torch.float64).to(dtype) + 0.1
    return kw


def _upstream(out, gen):
    """A random upstream gradient: per-row weights for 'none', a non-unit scalar otherwise."""
    if out.dim() == 0:
        return torch.tensor(1.7, dtype=out.dtype)
    return torch.randn(out.shape, generator=gen, dtype=torch.float64).to(out.dtype)


# -- fast_cross_entropy -------------------------------------------------------------------------


@pytest.mark.parametrize("opts", OPTIONS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_fast_ce_matches_reference_float64(opts, reduction):
    gen = torch.Generator().manual_seed(0)
    n, c = 37, 11  # 37 rows in chunks of 8: the last chunk is partial
    x = (3 * torch.randn(n, c, generator=gen, dtype=torch.float64)).requires_grad_()
    y = _targets(n, c, gen)
    kw = _opts(opts, c, torch.float64, gen)
    ref = reference(x, y, reduction=reduction, **kw)
    out = LF.fast_cross_entropy(x, y, reduction=reduction, chunk_size=8, **kw)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    up = _upstream(ref, gen)
    (g_ref,) = torch.autograd.grad((ref * up).sum(), x)
    (g,) = torch.autograd.grad((out * up).sum(), x)
    torch.testing.assert_close(g, g_ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("opts", OPTIONS)
def test_fast_ce_plain_backward_float32(opts):
    gen = torch.Generator().manual_seed(1)
    x = (4 * torch.randn(50, 300, generator=gen)).requires_grad_()
    y = _targets(50, 300, gen, ignore_every=7)
    kw = _opts(opts, 300, torch.float32, gen)
    ref = reference(x, y, **kw)
    (g_ref,) = torch.autograd.grad(ref, x)
    out = LF.fast_cross_entropy(x, y, chunk_size=16, **kw)
    out.backward()  # upstream gradient 1: the gradient precomputed in forward is handed over
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(x.grad, g_ref, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize(
    "opts", [{}, {"label_smoothing": 0.1, "lse_square_scale": 0.01, "softcap": 5.0}]
)
def test_fast_ce_half_precision(dtype, opts):
    gen = torch.Generator().manual_seed(2)
    x32 = 3 * torch.randn(40, 257, generator=gen)
    x = x32.to(dtype).requires_grad_()
    y = _targets(40, 257, gen)
    ref_in = x.detach().float().requires_grad_()
    ref = reference(ref_in, y, **opts)
    ref.backward()
    out = LF.fast_cross_entropy(x, y, chunk_size=16, **opts)
    out.backward()
    assert out.dtype == torch.float32 and x.grad.dtype == dtype
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)  # computed in float32
    torch.testing.assert_close(x.grad.float(), ref_in.grad, rtol=2e-2, atol=1e-4)


def test_fast_ce_chunk_with_all_targets_ignored_and_all_ignored():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(30, 7, generator=gen, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 7, (30,), generator=gen)
    y[8:16] = IGN  # the whole second chunk
    for red in REDUCTIONS:
        ref = reference(x, y, reduction=red)
        out = LF.fast_cross_entropy(x, y, reduction=red, chunk_size=8)
        torch.testing.assert_close(out, ref)
        up = _upstream(ref, gen)
        torch.testing.assert_close(
            torch.autograd.grad((out * up).sum(), x)[0], torch.autograd.grad((ref * up).sum(), x)[0]
        )
    y_all = torch.full((30,), IGN)
    out = LF.fast_cross_entropy(x, y_all)
    assert out.item() == 0.0 and out.requires_grad
    out.backward()
    assert torch.equal(x.grad, torch.zeros_like(x))


def test_fast_ce_empty_batch_and_spatial_logits():
    x = torch.zeros(0, 5, requires_grad=True)
    out = LF.fast_cross_entropy(x, torch.zeros(0, dtype=torch.long))
    assert out.item() == 0.0
    out.backward()
    assert x.grad.shape == (0, 5)
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(3, 5, 4, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 5, (3, 4, 2), generator=gen)
    for red in REDUCTIONS:
        ref = F.cross_entropy(x, y, reduction=red, label_smoothing=0.1)
        out = LF.fast_cross_entropy(x, y, reduction=red, label_smoothing=0.1)
        assert out.shape == ref.shape
        torch.testing.assert_close(out, ref)
        torch.testing.assert_close(
            torch.autograd.grad(out.sum(), x)[0], torch.autograd.grad(ref.sum(), x)[0]
        )


def test_fast_ce_retain_graph_gives_the_same_gradient_twice():
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(20, 9, generator=gen, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 9, (20,), generator=gen)
    out = LF.fast_cross_entropy(x, y, label_smoothing=0.1, chunk_size=6)
    (g1,) = torch.autograd.grad(out, x, retain_graph=True)
    (g2,) = torch.autograd.grad(out, x)
    torch.testing.assert_close(g1, g2, rtol=0, atol=0)
    torch.testing.assert_close(g1, torch.autograd.grad(reference(x, y, label_smoothing=0.1), x)[0])


def test_fast_ce_module_and_no_grad():
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(10, 6, generator=gen)
    y = torch.randint(0, 6, (10,), generator=gen)
    m = LN.FastCrossEntropyLoss(label_smoothing=0.1, softcap=3.0)
    torch.testing.assert_close(m(x, y), reference(x, y, label_smoothing=0.1, softcap=3.0))
    with torch.no_grad():
        torch.testing.assert_close(LF.fast_cross_entropy(x, y), F.cross_entropy(x, y))


@pytest.mark.parametrize(
    "call, exc, message",
    [
        (
            lambda x, y: LF.fast_cross_entropy(x, y[:-1]),
            ValueError,
            r"^fast_cross_entropy: 'target' must be of shape \(N, d1, \.\.\.\) = \(4,\)",
        ),
        (
            lambda x, y: LF.fast_cross_entropy(x, y + 10),
            ValueError,
            r"^fast_cross_entropy: 'target' must be class indices in \[0, 2\]",
        ),
        (
            lambda x, y: LF.fast_cross_entropy(x, y, weight=torch.ones(4)),
            ValueError,
            r"^fast_cross_entropy: 'weight' must be of shape \(C,\) = \(3,\)",
        ),
        (
            lambda x, y: LF.fast_cross_entropy(x, y, softcap=0.0),
            ValueError,
            r"^fast_cross_entropy: 'softcap' must be a finite real number > 0 \(or None\), got 0.0",
        ),
        (
            lambda x, y: LF.fast_cross_entropy(x, y, lse_square_scale=-1.0),
            ValueError,
            r"^fast_cross_entropy: 'lse_square_scale' must be a finite real number >= 0, got -1.0",
        ),
        (
            lambda x, y: LF.fast_cross_entropy(x, y, chunk_size=0),
            ValueError,
            r"^fast_cross_entropy: 'chunk_size' must be an integer >= 1 \(or None\), got 0",
        ),
        (
            lambda x, y: LF.fast_cross_entropy(x.long(), y),
            TypeError,
            r"^fast_cross_entropy: 'logits' must be a floating-point tensor",
        ),
        (
            lambda x, y: LF.fast_cross_entropy(x, y.float()),
            TypeError,
            r"^fast_cross_entropy: 'target' must be integer class indices, got float32$",
        ),
    ],
)
def test_fast_ce_validation(call, exc, message):
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 1])
    with pytest.raises(exc, match=message):
        call(x, y)


# -- linear_cross_entropy -----------------------------------------------------------------------


def _linear_case(n, d, v, dtype, gen, *, bias=True, ignore_every=4):
    h = torch.randn(n, d, generator=gen, dtype=torch.float64).to(dtype).requires_grad_()
    w = (torch.randn(v, d, generator=gen, dtype=torch.float64) / d**0.5).to(dtype).requires_grad_()
    b = (
        torch.randn(v, generator=gen, dtype=torch.float64).to(dtype).requires_grad_()
        if bias
        else None
    )
    return h, w, b, _targets(n, v, gen, ignore_every)


def _params(h, w, b):
    return (h, w) if b is None else (h, w, b)


@pytest.mark.parametrize("opts", OPTIONS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_linear_ce_matches_materialised_reference_float64(opts, reduction):
    gen = torch.Generator().manual_seed(10)
    h, w, b, y = _linear_case(37, 6, 13, torch.float64, gen)
    kw = _opts(opts, 13, torch.float64, gen)
    ref = reference(F.linear(h, w, b), y, reduction=reduction, **kw)
    if "weight" in kw:
        kw["class_weight"] = kw.pop("weight")
    out = LF.linear_cross_entropy(h, w, y, bias=b, reduction=reduction, chunk_size=8, **kw)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    up = _upstream(ref, gen)  # 'none': (loss * random weights).sum(), the peers' known bug
    g_ref = torch.autograd.grad((ref * up).sum(), _params(h, w, b))
    g = torch.autograd.grad((out * up).sum(), _params(h, w, b))
    for a, r in zip(g, g_ref):
        torch.testing.assert_close(a, r, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_linear_ce_plain_backward_float32_without_bias(reduction):
    gen = torch.Generator().manual_seed(11)
    h, w, _, y = _linear_case(70, 16, 301, torch.float32, gen, bias=False, ignore_every=0)
    ref = reference(F.linear(h, w), y, reduction=reduction, label_smoothing=0.1)
    g_ref = torch.autograd.grad(ref.sum(), (h, w))
    out = LF.linear_cross_entropy(h, w, y, reduction=reduction, label_smoothing=0.1, chunk_size=32)
    out.sum().backward()
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(h.grad, g_ref[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(w.grad, g_ref[1], rtol=1e-4, atol=1e-5)


def test_linear_ce_chunk_boundaries_and_ignored_chunk():
    gen = torch.Generator().manual_seed(12)
    h, w, b, y = _linear_case(29, 5, 9, torch.float64, gen, ignore_every=0)
    y[0:8] = IGN  # a chunk's worth of ignored rows, and a partial last chunk
    for rows in (1, 4, 7, 8, 29, 100):
        for red in REDUCTIONS:
            ref = reference(F.linear(h, w, b), y, reduction=red)
            out = LF.linear_cross_entropy(h, w, y, bias=b, reduction=red, chunk_size=rows)
            torch.testing.assert_close(out, ref)
            up = _upstream(ref, gen)
            for a, r in zip(
                torch.autograd.grad((out * up).sum(), (h, w, b)),
                torch.autograd.grad((ref * up).sum(), (h, w, b)),
            ):
                torch.testing.assert_close(a, r)
    y_all = torch.full((29,), IGN)
    out = LF.linear_cross_entropy(h, w, y_all, bias=b)
    assert out.item() == 0.0 and out.requires_grad
    gh, gw, gb = torch.autograd.grad(out, (h, w, b))
    assert not gh.any() and not gw.any() and not gb.any()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_linear_ce_half_inputs_accumulate_in_float32(dtype):
    gen = torch.Generator().manual_seed(13)
    h, w, b, y = _linear_case(64, 32, 500, dtype, gen)
    hr, wr, br = (t.detach().float().requires_grad_() for t in (h, w, b))
    ref = reference(F.linear(hr, wr, br), y, label_smoothing=0.1)
    ref.backward()
    out = LF.linear_cross_entropy(h, w, y, bias=b, label_smoothing=0.1, chunk_size=16)
    out.backward()
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    for got, want in ((h.grad, hr.grad), (w.grad, wr.grad), (b.grad, br.grad)):
        assert got.dtype == dtype
        # the float32-accumulated gradient, rounded once to the input dtype
        torch.testing.assert_close(got, want.to(dtype), rtol=1e-2, atol=1e-3)


def test_linear_ce_retain_graph_frozen_inputs_and_no_grad():
    gen = torch.Generator().manual_seed(14)
    h, w, b, y = _linear_case(20, 4, 7, torch.float64, gen)
    out = LF.linear_cross_entropy(h, w, y, bias=b, lse_square_scale=0.1)
    g1 = torch.autograd.grad(out, (h, w, b), retain_graph=True)
    g2 = torch.autograd.grad(out, (h, w, b))
    for a, c in zip(g1, g2):
        torch.testing.assert_close(a, c, rtol=0, atol=0)
    frozen = h.detach()
    out = LF.linear_cross_entropy(frozen, w, y)
    (gw,) = torch.autograd.grad(out, w)
    torch.testing.assert_close(gw, torch.autograd.grad(reference(F.linear(frozen, w), y), w)[0])
    with torch.no_grad():
        out = LF.linear_cross_entropy(h, w, y, bias=b)
    assert not out.requires_grad
    torch.testing.assert_close(out, reference(F.linear(h, w, b), y).detach())


@pytest.mark.parametrize("opts", OPTIONS)
@pytest.mark.parametrize("dtype, drop", [(torch.float32, 300.0), (torch.float64, 1000.0)])
def test_underflowed_target_probability_takes_the_direct_log_sum_exp(opts, dtype, drop):
    """Both losses read lse off softmax(z)_y; when that underflows they must recompute it.

    Some rows' target logit sits ``drop`` below the rest (p_y is 0 or subnormal in ``dtype``):
    values and gradients must still equal the reference, computed in float64.
    """
    gen = torch.Generator().manual_seed(16)
    n, c = 24, 11
    y = _targets(n, c, gen, ignore_every=5)
    x64 = torch.randn(n, c, generator=gen, dtype=torch.float64)
    far = torch.arange(n) % 3 == 0
    x64[far, y.clamp_min(0)[far]] -= drop
    kw = _opts(opts, c, torch.float64, gen)
    tol = {"rtol": 1e-5, "atol": 1e-4} if dtype == torch.float32 else {}
    for red in REDUCTIONS:
        xr = x64.clone().requires_grad_()
        ref = reference(xr, y, reduction=red, **kw)
        up = _upstream(ref, gen)
        (g_ref,) = torch.autograd.grad((ref * up).sum(), xr)
        x = x64.to(dtype).requires_grad_()
        out = LF.fast_cross_entropy(
            x,
            y,
            reduction=red,
            chunk_size=7,
            **{k: (v.to(dtype) if torch.is_tensor(v) else v) for k, v in kw.items()},
        )
        assert torch.isfinite(out).all()
        (g,) = torch.autograd.grad((out * up.to(dtype)).sum(), x)
        torch.testing.assert_close(out.double(), ref.detach(), **tol)
        torch.testing.assert_close(g.double(), g_ref, **tol)
    # the linear loss: the target class's bias pushes the same rows' target logits far down
    h = torch.randn(n, 5, generator=gen, dtype=torch.float64)
    w = torch.randn(c, 5, generator=gen, dtype=torch.float64) / 5**0.5
    b = torch.zeros(c, dtype=torch.float64)
    b[0] = -drop
    y_lin = torch.where(far, 0, y.clamp_min(1))
    y_lin[1::5] = IGN
    lkw = dict(kw)
    if "weight" in lkw:
        lkw["class_weight"] = lkw.pop("weight").to(dtype)
    for red in REDUCTIONS:
        leaves = [t.clone().requires_grad_() for t in (h, w, b)]
        ref = reference(F.linear(*leaves), y_lin, reduction=red, **kw)
        up = _upstream(ref, gen)
        g_ref = torch.autograd.grad((ref * up).sum(), leaves)
        mine = [t.to(dtype).requires_grad_() for t in (h, w, b)]
        out = LF.linear_cross_entropy(
            mine[0], mine[1], y_lin, bias=mine[2], reduction=red, chunk_size=7, **lkw
        )
        g = torch.autograd.grad((out * up.to(dtype)).sum(), mine)
        torch.testing.assert_close(out.double(), ref.detach(), **tol)
        for a, r in zip(g, g_ref):
            torch.testing.assert_close(a.double(), r, **tol)


def test_linear_ce_empty_batch():
    h = torch.zeros(0, 4, requires_grad=True)
    w = torch.randn(6, 4, requires_grad=True)
    out = LF.linear_cross_entropy(h, w, torch.zeros(0, dtype=torch.long))
    assert out.item() == 0.0
    out.backward()
    assert h.grad.shape == (0, 4) and not w.grad.any()


def test_linear_head_module_matches_linear_layer():
    gen = torch.Generator().manual_seed(15)
    torch.manual_seed(0)
    head = LN.LinearCrossEntropyHead(8, 21, softcap=4.0, chunk_size=5)
    h = torch.randn(17, 8, generator=gen)
    y = torch.randint(0, 21, (17,), generator=gen)
    out = head(h, y)
    out.backward()
    grads = (head.weight.grad.clone(), head.bias.grad.clone())
    head.zero_grad()
    ref = reference(head.logits(h), y, softcap=4.0)
    ref.backward()
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(grads[0], head.weight.grad)
    torch.testing.assert_close(grads[1], head.bias.grad)


@pytest.mark.parametrize("opts", [{}, {"weight": True, "label_smoothing": 0.1}, {"softcap": 2.5}])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_linear_ce_takes_sequence_hidden_states(opts, reduction):
    """(B, T, D) hidden states with (B, T) targets, as cross_entropy takes (N, C, d1) logits:
    equal to the materialised reference and to the flattened call, values and gradients."""
    gen = torch.Generator().manual_seed(14)
    bsz, t, d, v = 3, 7, 5, 11
    h, w, b, y = _linear_case(bsz * t, d, v, torch.float64, gen)
    h3 = h.detach().reshape(bsz, t, d).requires_grad_()
    y2 = y.reshape(bsz, t)
    kw = _opts(opts, v, torch.float64, gen)
    # reference: torch's cross entropy on the (B, V, T) logits
    ref = reference(F.linear(h3, w, b).movedim(-1, 1), y2, reduction=reduction, **kw)
    if "weight" in kw:
        kw["class_weight"] = kw.pop("weight")
    out = LF.linear_cross_entropy(h3, w, y2, bias=b, reduction=reduction, chunk_size=4, **kw)
    assert out.shape == ((bsz, t) if reduction == "none" else ())
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    h2 = h3.detach().reshape(-1, d).requires_grad_()
    flat = LF.linear_cross_entropy(
        h2, w, y2.reshape(-1), bias=b, reduction=reduction, chunk_size=4, **kw
    )
    torch.testing.assert_close(out.reshape(flat.shape), flat, rtol=0, atol=0)
    up = _upstream(ref, gen)
    g = torch.autograd.grad((out * up).sum(), (h3, w, b))
    g_ref = torch.autograd.grad((ref * up).sum(), (h3, w, b))
    g_flat = torch.autograd.grad((flat * up.reshape(flat.shape)).sum(), (h2, w, b))
    for a, r, f in zip(g, g_ref, g_flat):
        torch.testing.assert_close(a, r, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(a.reshape(f.shape), f, rtol=0, atol=0)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_linear_ce_sequence_gradcheck(reduction):
    gen = torch.Generator().manual_seed(15)
    h = torch.randn(2, 3, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.randn(5, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(5, generator=gen, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([[0, 4, IGN], [2, 2, 1]])
    assert torch.autograd.gradcheck(
        lambda h, w, b: LF.linear_cross_entropy(
            h, w, y, bias=b, reduction=reduction, label_smoothing=0.1, chunk_size=2
        ),
        (h, w, b),
    )


def test_linear_ce_unbatched_and_empty_leading_shapes():
    gen = torch.Generator().manual_seed(16)
    h = torch.randn(4, generator=gen, dtype=torch.float64)
    w = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    one = LF.linear_cross_entropy(h, w, torch.tensor(3), reduction="none")
    assert one.shape == ()
    torch.testing.assert_close(one, F.cross_entropy(w @ h, torch.tensor(3)))
    empty = LF.linear_cross_entropy(
        torch.zeros(2, 0, 4, dtype=torch.float64),
        w,
        torch.zeros(2, 0, dtype=torch.long),
        reduction="none",
    )
    assert empty.shape == (2, 0)


def test_auto_chunk_rows():
    assert auto_chunk_rows(8192, 1024, 50257) % 16 == 0
    assert 32 <= auto_chunk_rows(8192, 1024, 50257) <= 8192
    assert auto_chunk_rows(5, 4, 10) == 5  # never more rows than there are
    assert auto_chunk_rows(100_000, 64, 256_000) >= 32  # a floor for the matrix products


@pytest.mark.parametrize(
    "call, exc, message",
    [
        (
            lambda h, w, y: LF.linear_cross_entropy(h, w[:, :3], y),
            ValueError,
            r"^linear_cross_entropy: 'weight' must be of shape \(V, D\) with D = 4",
        ),
        (
            lambda h, w, y: LF.linear_cross_entropy(h[0, 0], w, y),
            ValueError,
            r"^linear_cross_entropy: 'hidden' must be of shape \(\.\.\., D\), e\.g\. \(N, D\) or "
            r"\(B, T, D\), got shape \(\)$",
        ),
        (
            lambda h, w, y: LF.linear_cross_entropy(h[None], w, y),
            ValueError,
            r"^linear_cross_entropy: 'target' must be of shape \(\.\.\.\) = \(1, 5\), the leading "
            r"dimensions of 'hidden' \(1, 5, 4\), got shape \(5,\)$",
        ),
        (
            lambda h, w, y: LF.linear_cross_entropy(h, w.double(), y),
            TypeError,
            r"^linear_cross_entropy: 'weight' must be of the dtype of 'hidden'",
        ),
        (
            lambda h, w, y: LF.linear_cross_entropy(h, w, y[:-1]),
            ValueError,
            r"^linear_cross_entropy: 'target' must be of shape \(\.\.\.\) = \(5,\)",
        ),
        (
            lambda h, w, y: LF.linear_cross_entropy(h, w, y.float()),
            TypeError,
            r"^linear_cross_entropy: 'target' must be integer class indices, got float32$",
        ),
        (
            lambda h, w, y: LF.linear_cross_entropy(h, w, y, bias=torch.zeros(2)),
            ValueError,
            r"^linear_cross_entropy: 'bias' must be of shape \(V,\) = \(6,\)",
        ),
        (
            lambda h, w, y: LF.linear_cross_entropy(h, w, y + 6),
            ValueError,
            r"^linear_cross_entropy: 'target' must be class indices in \[0, 5\]",
        ),
        (
            lambda h, w, y: LF.linear_cross_entropy(h, w, y, class_weight=torch.ones(5)),
            ValueError,
            r"^linear_cross_entropy: 'class_weight' must be of shape \(C,\) = \(6,\)",
        ),
        (
            lambda h, w, y: LF.linear_cross_entropy(h, w, y, chunk_size=1.5),
            TypeError,
            r"^linear_cross_entropy: 'chunk_size' must be an integer >= 1 \(or None\), got 1.5",
        ),
    ],
)
def test_linear_ce_validation(call, exc, message):
    h, w, y = torch.randn(5, 4), torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 5])
    with pytest.raises(exc, match=message):
        call(h, w, y)


# -- CUDA (optional) -----------------------------------------------------------------------------


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    gen = torch.Generator().manual_seed(20)
    x = torch.randn(33, 1000, generator=gen)
    y = _targets(33, 1000, gen)
    xc = x.cuda().requires_grad_()
    out = LF.fast_cross_entropy(
        xc, y.cuda(), label_smoothing=0.1, softcap=8.0, lse_square_scale=1e-3
    )
    out.backward()
    xr = x.clone().requires_grad_()
    ref = reference(xr, y, label_smoothing=0.1, softcap=8.0, lse_square_scale=1e-3)
    ref.backward()
    torch.testing.assert_close(out.cpu(), ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(xc.grad.cpu(), xr.grad, rtol=1e-4, atol=1e-6)
    h, w, b, y = _linear_case(40, 16, 300, torch.float32, gen)
    hc, wc, bc = (t.detach().cuda().requires_grad_() for t in (h, w, b))
    out = LF.linear_cross_entropy(hc, wc, y.cuda(), bias=bc, reduction="none", chunk_size=16)
    ref = reference(F.linear(h, w, b), y, reduction="none")
    torch.testing.assert_close(out.cpu(), ref, rtol=1e-5, atol=1e-5)
    up = torch.randn(40, generator=gen)
    gc = torch.autograd.grad((out * up.cuda()).sum(), (hc, wc, bc))
    gr = torch.autograd.grad((ref * up).sum(), (h, w, b))
    for a, r in zip(gc, gr):
        torch.testing.assert_close(a.cpu(), r, rtol=1e-4, atol=1e-5)
