"""Fused linear cross entropy: the output projection and CE without the N x V logits.

The row math (log-sum-exp, smoothing, z-loss, soft-cap, the per-row gradient factors) is shared
with :mod:`.fast_ce`, whose module notes describe both losses. The entry's input (``args[0]``) is
the hidden features (N, D); its sampler also makes the (V, D) projection (``args[1]``) and the
targets, which always include the last class so that a projection with a row too few is a
detectable mismatch. Properties and derivatives are with respect to the hidden features, the
projection fixed: the loss is convex in them (a convex function of an affine map) and its
gradient, ``(softmax - onehot) @ W``, is bounded by the weights however large the features grow.
Tested in ``tests/functional/test_fast_ce.py``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, NamedTuple

import torch

from .._validation import (
    IGNORE_INDEX,
    LABEL_SMOOTHING,
    REDUCTION,
    WEIGHT_PER_CLASS,
    Raw,
    check_class_indices,
    check_integer_tensor,
    check_tensor,
    fail,
    loss_function,
)
from ..catalog._common import onehot
from ..catalog._samplers import BIG
from ..catalog._spec import Case, Head, Sampler
from ..functional._common import check_class_weight
from ._entry import entry
from .fast_ce import (
    _PROPERTIES,
    CHUNK_SIZE,
    LSE_SQUARE_SCALE,
    SOFTCAP,
    _capped,
    _coefficients,
    _compute_dtype,
    _grad_chunk,
    _Opts,
    _ranges,
    _Rows,
    _softmax_chunk,
    _stats_chunk,
)

__all__ = ["linear_cross_entropy", "auto_chunk_rows"]

#: Upper budget for the (rows, V) buffer of :func:`linear_cross_entropy` (also <= free / 16).
_LINEAR_BUDGET_BYTES = 128 << 20


def _available_bytes(device: torch.device) -> int | None:
    """Free memory on ``device`` (CUDA: mem_get_info; CPU: /proc/meminfo or sysconf)."""
    try:
        if device.type == "cuda":
            return int(torch.cuda.mem_get_info(device)[0])
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, AttributeError, RuntimeError):
        return None


def auto_chunk_rows(
    n: int,
    d: int,
    v: int,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    buffers: int = 1,
) -> int:
    """Rows per chunk for :func:`linear_cross_entropy`.

    The (rows, V) working buffer(s) get at most 128 MiB and 1/16 of the free memory (CUDA:
    ``mem_get_info``; CPU: ``/proc/meminfo`` or ``sysconf``; the fixed budget if neither
    answers). Then at least 32 rows (matrix products with fewer rows run far below peak and
    re-read the (V, D) weight gradient once per chunk), a multiple of 16, at most N. ``d`` does
    not change the buffer but is part of the signature so a future rule can use it.
    """
    del d
    item = torch.finfo(_compute_dtype(dtype)).bits // 8
    per_row = max(1, v * item * buffers)
    budget = _LINEAR_BUDGET_BYTES
    free = _available_bytes(torch.device(device))
    if free is not None:
        budget = min(budget, free // 16)
    rows = max(32, budget // per_row) // 16 * 16
    return int(max(1, min(rows, n)))


class _LinearPass(NamedTuple):
    loss: torch.Tensor
    lse: torch.Tensor
    gh: torch.Tensor | None
    gw: torch.Tensor | None
    gb: torch.Tensor | None


def _linear_pass(
    h: torch.Tensor,
    wc: torch.Tensor,
    bc: torch.Tensor | None,
    y: torch.Tensor,
    cw: torch.Tensor | None,
    o: _Opts,
    rows: int,
    scale: torch.Tensor | None,
    needs: tuple[bool, bool, bool],
) -> _LinearPass:
    """One chunked pass over the (valid) rows; gradients too when ``scale`` (dl/dloss_i) is given.

    Without a soft-cap the chunk's gradient ``a_i softmax(z_i) - b_i w - t_i onehot(y_i)`` is never
    formed: the products use the plain softmax and the per-row factors are applied to the small
    (rows, D) operands, the one-hot and smoothing terms added as row gathers / rank-1 updates. That
    leaves one row-local softmax pass as the only elementwise work on the (rows, V) buffer.
    """
    m, v = h.shape[0], wc.shape[0]
    cd, dev = wc.dtype, h.device
    wsum = float(cw.sum()) if cw is not None else float(v)
    wy = None if cw is None else cw[y]
    loss = torch.empty(m, dtype=cd, device=dev)
    lse = torch.empty(m, dtype=cd, device=dev)
    grads = scale is not None
    gh = torch.empty(m, h.shape[1], dtype=cd, device=dev) if grads and needs[0] else None
    # the first chunk's product writes gw (beta = 0): no separate zero fill of the (V, D) buffer
    gw = (torch.empty_like(wc) if m else torch.zeros_like(wc)) if grads and needs[1] else None
    gb = torch.zeros(v, dtype=cd, device=dev) if grads and needs[2] else None
    # smoothing's -b_i * w term: gh gets b_i * (w @ W), gw and gb one rank-1 update at the end
    smooth = grads and bool(o.eps) and o.cap is None
    w_vec = (cw if cw is not None else torch.ones(v, dtype=cd, device=dev)) if smooth else None
    w_proj = torch.mv(wc.t(), w_vec) if smooth and gh is not None else None  # type: ignore[arg-type]
    hb = torch.zeros(h.shape[1], dtype=cd, device=dev) if smooth else None
    b_total = torch.zeros((), dtype=cd, device=dev) if smooth else None
    r = min(rows, max(m, 1))
    buf = torch.empty(r, v, dtype=cd, device=dev)
    buf2 = torch.empty(r, v, dtype=cd, device=dev) if o.cap is not None else None
    for s, e in _ranges(m, rows):
        hc = h[s:e].to(cd)
        z = buf[: e - s]
        _project(hc, wc, bc, z)
        tanh = None
        if o.cap is not None:
            tanh = z.div_(o.cap).tanh_()
            z = torch.mul(tanh, o.cap, out=buf2[: e - s])  # type: ignore[index]
        yc = y[s:e]
        rr = _Rows(yc, None if wy is None else wy[s:e], None if scale is None else scale[s:e])
        if scale is None:
            lse[s:e], loss[s:e] = _stats_chunk(z, rr, cw, wsum, o, inplace=True)
            continue
        recompute = _rows_projected(hc, wc, bc, o.cap)
        if o.cap is not None:  # the tanh chain needs the full gradient in the buffer
            lse[s:e], loss[s:e] = _grad_chunk(z, z, rr, cw, wsum, o, tanh, recompute)
            if gh is not None:
                torch.mm(z, wc, out=gh[s:e])
            if gw is not None:
                _accumulate(gw, z.t(), hc, first=s == 0)
            if gb is not None:
                gb.add_(z.sum(0))
            continue
        lse[s:e], loss[s:e] = _softmax_chunk(z, z, rr, cw, wsum, o, recompute)
        a, b, t = _coefficients(rr.s, lse[s:e], rr.wy, wsum, v, o)  # type: ignore[arg-type]
        if gh is not None:
            g = gh[s:e]
            torch.mm(z, wc, out=g)
            g.mul_(a.unsqueeze(1)).sub_(wc.index_select(0, yc) * t.unsqueeze(1))
            if b is not None:
                g.addr_(b, w_proj, alpha=-1)  # type: ignore[arg-type]
        if gw is not None:
            _accumulate(gw, z.t(), hc * a.unsqueeze(1), first=s == 0)
            gw.index_add_(0, yc, hc * t.unsqueeze(1), alpha=-1)
        if gb is not None:
            gb.addmv_(z.t(), a)
            gb.index_add_(0, yc, t, alpha=-1)
        if b is not None:
            hb.add_(torch.mv(hc.t(), b))  # type: ignore[union-attr]
            b_total.add_(b.sum())  # type: ignore[union-attr]
    if smooth:
        if gw is not None:
            gw.addr_(w_vec, hb, alpha=-1)  # type: ignore[arg-type]
        if gb is not None:
            gb.sub_(w_vec * b_total)  # type: ignore[operator]
    return _LinearPass(loss, lse, gh, gw, gb)


def _accumulate(acc: torch.Tensor, a: torch.Tensor, b: torch.Tensor, *, first: bool) -> None:
    """acc = a @ b on the first chunk (acc uninitialised), acc += a @ b after it."""
    if first:
        torch.mm(a, b, out=acc)
    else:
        acc.addmm_(a, b)


def _project(
    hc: torch.Tensor, wc: torch.Tensor, bc: torch.Tensor | None, out: torch.Tensor
) -> torch.Tensor:
    """out = hc @ wc.T (+ bc)."""
    if bc is None:
        return torch.mm(hc, wc.t(), out=out)
    return torch.addmm(bc, hc, wc.t(), out=out)


def _rows_projected(
    hc: torch.Tensor, wc: torch.Tensor, bc: torch.Tensor | None, cap: float | None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Recompute the (capped) logits of rows ``idx`` of a chunk from its hidden states."""

    def rows(idx: torch.Tensor) -> torch.Tensor:
        hi = hc.index_select(0, idx)
        z = _project(
            hi, wc, bc, torch.empty(hi.shape[0], wc.shape[0], dtype=wc.dtype, device=wc.device)
        )
        return _capped(z, wc.dtype, cap)[0]

    return rows


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        h: torch.Tensor,
        wt: torch.Tensor,
        bias: torch.Tensor | None,
        y: torch.Tensor,
        cw: torch.Tensor | None,
        o: _Opts,
        rows: int,
        needs: tuple[bool, bool, bool],
    ) -> torch.Tensor:
        n = h.shape[0]
        cd = _compute_dtype(h.dtype)
        valid = y != o.ignore_index
        idx = None if bool(valid.all()) else valid.nonzero().squeeze(1)
        hv, yv = (h, y) if idx is None else (h.index_select(0, idx), y.index_select(0, idx))
        wc = wt.to(cd)
        bc = None if bias is None else bias.to(cd)
        wy = None if cw is None else cw[yv]
        denom = (
            wy.sum()
            if wy is not None
            else torch.tensor(float(hv.shape[0]), dtype=cd, device=h.device)
        )
        grads = any(needs)
        scale = None
        if grads and o.reduction != "none":
            s = 1.0 if o.reduction == "sum" else (1.0 / float(denom) if float(denom) > 0 else 0.0)
            scale = torch.full((hv.shape[0],), s, dtype=cd, device=h.device)
        res = _linear_pass(hv, wc, bc, yv, cw, o, rows, scale, needs)
        loss = res.loss
        if idx is not None:
            loss = torch.zeros(n, dtype=cd, device=h.device).index_copy_(0, idx, loss)
        ctx.save_for_backward(h, wt, bias, y, cw, res.lse)
        ctx.meta = (o, rows, needs, idx, denom)
        ctx.grads = (res.gh, res.gw, res.gb) if scale is not None else None
        if o.reduction == "none":
            return loss
        total = loss.sum()
        if o.reduction == "sum":
            return total
        return torch.where(denom > 0, total / denom.clamp_min(torch.finfo(cd).tiny), total * 0.0)

    @staticmethod
    def backward(ctx: Any, go: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        h, wt, bias, y, cw, lse = ctx.saved_tensors
        o, rows, needs, idx, denom = ctx.meta
        cd = lse.dtype
        go = go.to(cd)
        if ctx.grads is not None:  # precomputed in forward for go == 1: hand them over once
            gh, gw, gb = ctx.grads
            ctx.grads = None
            if not bool(go == 1):
                for g in (gh, gw, gb):
                    if g is not None:
                        g.mul_(go)
        else:
            hv, yv = (h, y) if idx is None else (h.index_select(0, idx), y.index_select(0, idx))
            m = hv.shape[0]
            if o.reduction == "none":
                scale = go if idx is None else go.index_select(0, idx)
            elif o.reduction == "sum":
                scale = go.expand(m)
            else:
                scale = (go / denom if float(denom) > 0 else go * 0.0).expand(m)
            wc = wt.to(cd)
            bc = None if bias is None else bias.to(cd)
            res = _linear_pass(hv, wc, bc, yv, cw, o, rows, scale.contiguous(), needs)
            gh, gw, gb = res.gh, res.gw, res.gb
        if gh is not None and idx is not None:
            gh = torch.zeros(h.shape, dtype=cd, device=h.device).index_copy_(0, idx, gh)
        return (
            None if gh is None else gh.to(h.dtype),
            None if gw is None else gw.to(wt.dtype),
            None if gb is None or bias is None else gb.to(bias.dtype),
            None,
            None,
            None,
            None,
            None,
        )


N, D, V = 6, 5, 4


def _randn(gen: torch.Generator, *shape: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)


def _targets(gen: torch.Generator) -> torch.Tensor:
    y = torch.randint(0, V, (N,), generator=gen)
    y[-1] = V - 1
    return y


def _linear_make(gen: torch.Generator, dtype: torch.dtype, scale: float) -> Case:
    h = (scale * _randn(gen, N, D, dtype=torch.float64)).to(dtype)
    return Case((h, _randn(gen, V, D, dtype=dtype), _targets(gen)))


def _linear_perfect(gen: torch.Generator, dtype: torch.dtype) -> Case:
    y = _targets(gen)
    w = torch.cat([torch.eye(V), torch.zeros(V, D - V)], dim=1).to(dtype)
    h = BIG * torch.nn.functional.one_hot(y, D).to(dtype)
    return Case((h, w, y))


def _linear_empty(dtype: torch.dtype) -> Case:
    return Case(
        (
            torch.zeros(0, D, dtype=dtype),
            torch.ones(V, D, dtype=dtype),
            torch.zeros(0, dtype=torch.long),
        )
    )


LINEAR_HIDDEN = Sampler(
    "linear_hidden", make=_linear_make, perfect=_linear_perfect, empty=_linear_empty
)


def _linear_grad(h: torch.Tensor, w: torch.Tensor, y: torch.Tensor, **_: object) -> torch.Tensor:
    z = h @ w.t()
    return (torch.softmax(z, dim=1) - onehot(y, z)) @ w


@entry(
    module="LinearCrossEntropyLoss",
    family="classification",
    tasks=("multiclass",),
    input_kind="embeddings",
    heads={
        "*": Head(
            "identity",
            "D",
            "the features entering the output layer; its (V, D) weight is the loss's "
            "second argument (or use nn.LinearCrossEntropyHead)",
        )
    },
    formula=r"\ell = \mathrm{CE}(h W^\top + b,\ y)\ \text{(options as fast\_cross\_entropy)}",
    derivative=r"\frac{\partial \ell}{\partial h} = \left(\operatorname{softmax}(hW^\top)"
    r" - \mathrm{onehot}(y)\right) W",
    derivative_fn=_linear_grad,
    properties=_PROPERTIES,
    references=(
        "Wijmans et al., Cut Your Losses in Large-Vocabulary Language Models, ICLR 2025",
        "Hsu et al., Liger Kernel: Efficient Triton Kernels for LLM Training, 2024",
    ),
    summary="Output projection fused with cross entropy: the N x V logits are never stored.",
    when_to_use="Language-model (or any large-vocabulary) output layers, where the logits "
    "dominate memory: memory grows with N*D + V*D instead of N*V.",
    sampler=LINEAR_HIDDEN,
    notes="Properties are w.r.t. the hidden features with the projection fixed. No double "
    "backward.",
)
@loss_function(
    class_weight=WEIGHT_PER_CLASS,
    ignore_index=IGNORE_INDEX,
    label_smoothing=LABEL_SMOOTHING,
    lse_square_scale=LSE_SQUARE_SCALE,
    softcap=SOFTCAP,
    reduction=REDUCTION,
    chunk_size=CHUNK_SIZE,
)
def linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    target: torch.Tensor,
    *,
    bias: torch.Tensor | None = None,
    class_weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    lse_square_scale: float = 0.0,
    softcap: float | None = None,
    reduction: str = "mean",
    chunk_size: int | None = None,
) -> torch.Tensor:
    r"""Cross entropy of a linear layer's output, without materialising the N x V logits.

    Equal (value and gradients w.r.t. ``hidden``, ``weight`` and ``bias``) to
    ``fast_cross_entropy(hidden @ weight.T + bias, target, ...)``, i.e. to
    ``F.cross_entropy(F.linear(hidden, weight, bias), target, ...)`` plus the z-loss and
    soft-cap, but the rows are processed in chunks of ``chunk_size`` with one reused (rows, V)
    buffer, so memory grows with N*D + V*D instead of N*V.

    ``weight`` is the projection (an ``nn.Linear``/LM-head weight, shape (V, D)); per-class loss
    weights are ``class_weight`` (torch's ``F.linear_cross_entropy`` calls these two
    ``linear_weight`` and ``weight``).

    Shapes follow ``cross_entropy``'s: ``hidden`` is (..., D) (any number of leading
    dimensions, e.g. (B, T, D) hidden states of a sequence model) and ``target`` has its leading
    shape (...) (e.g. (B, T)); ``reduction="none"`` returns the per-position losses of shape (...).
    The leading dimensions are flattened internally (the same numbers and gradients as the call
    on ``hidden.reshape(-1, D)`` and ``target.reshape(-1)``), so there is nothing to reshape.

    Args:
        hidden: (..., D) features, e.g. (N, D) or (B, T, D) last hidden states.
        weight: (V, D) projection.
        target: (...) class indices, the leading shape of ``hidden``; ``ignore_index``
            positions are skipped before any product.
        bias: optional (V,) projection bias.
        class_weight: optional per-class loss weight (V,) (torch's weighted mean for ``"mean"``).
        ignore_index, label_smoothing, lse_square_scale, softcap, reduction: as in
            :func:`fast_cross_entropy`.
        chunk_size: rows per chunk; default :func:`auto_chunk_rows` (from N, D, V and free
            memory).

    Gradients are accumulated in float32 for float16/bfloat16 inputs (float64 for float64) and
    returned in the inputs' dtypes; the loss is float32 for half inputs. Double backward is not
    supported.

    Example:
        >>> import torch, losslab.functional as LF
        >>> h, w = torch.eye(3)[:1] * 2.0, torch.eye(3)
        >>> LF.linear_cross_entropy(h, w, torch.tensor([0]))
        tensor(0.2395)
    """
    name = "linear_cross_entropy"
    _check_linear_inputs(name, hidden, weight, target, bias)
    v, d = weight.shape
    check_class_indices(name, "target", target, v, ignore_index)
    check_class_weight(name, class_weight, v, arg="class_weight")
    lead = target.shape
    h2, y1 = hidden.reshape(-1, d), target.reshape(-1)  # (..., D) -> (N, D): views when possible
    cd = _compute_dtype(hidden.dtype)
    rows = chunk_size or auto_chunk_rows(
        h2.shape[0],
        d,
        v,
        dtype=hidden.dtype,
        device=hidden.device,
        buffers=1 if softcap is None else 2,
    )
    opts = _Opts(ignore_index, float(label_smoothing), float(lse_square_scale), softcap, reduction)
    cw = None if class_weight is None else class_weight.detach().to(device=hidden.device, dtype=cd)
    grad_on = torch.is_grad_enabled()
    needs = (
        grad_on and hidden.requires_grad,
        grad_on and weight.requires_grad,
        grad_on and bias is not None and bias.requires_grad,
    )
    out = _LinearCrossEntropy.apply(
        h2.contiguous(), weight.contiguous(), bias, y1, cw, opts, rows, needs
    )
    return out.reshape(lead) if reduction == "none" else out


def _check_linear_inputs(name: str, hidden: Any, weight: Any, target: Any, bias: Any) -> None:
    check_tensor(name, "hidden", hidden)
    check_tensor(name, "weight", weight)
    check_integer_tensor(name, "target", target)
    if hidden.dim() < 1:
        fail(
            name,
            "hidden",
            "of shape (..., D), e.g. (N, D) or (B, T, D)",
            Raw(f"shape {tuple(hidden.shape)}"),
        )
    d = hidden.shape[-1]
    if weight.dim() != 2 or weight.shape[1] != d:
        fail(name, "weight", f"of shape (V, D) with D = {d}", Raw(f"shape {tuple(weight.shape)}"))
    if weight.dtype != hidden.dtype:
        fail(
            name,
            "weight",
            f"of the dtype of 'hidden' ({hidden.dtype})",
            weight.dtype,
            kind=TypeError,
        )
    lead = tuple(hidden.shape[:-1])
    if tuple(target.shape) != lead:
        fail(
            name,
            "target",
            f"of shape (...) = {lead}, the leading dimensions of 'hidden' {tuple(hidden.shape)}",
            Raw(f"shape {tuple(target.shape)}"),
        )
    if bias is not None:
        check_tensor(name, "bias", bias)
        if tuple(bias.shape) != (weight.shape[0],):
            fail(
                name,
                "bias",
                f"of shape (V,) = ({weight.shape[0]},)",
                Raw(f"shape {tuple(bias.shape)}"),
            )
