r"""Fast cross entropy on logits and fused linear cross entropy (chunked, lean backward).

Both losses compute, per row :math:`i` with (optionally soft-capped) logits
:math:`z_i = \mathrm{cap}\cdot\tanh(x_i/\mathrm{cap})` and :math:`\mathrm{lse}_i = \log\sum_c e^{z_{ic}}`,

.. math::
    \ell_i = (1-\varepsilon)\,w_{y_i}(\mathrm{lse}_i - z_{iy_i})
      + \frac{\varepsilon}{C}\sum_c w_c(\mathrm{lse}_i - z_{ic})
      + \lambda\, w_{y_i}\,\mathrm{lse}_i^2,

exactly what ``F.cross_entropy(z, y, weight=w, label_smoothing=eps, reduction="none")`` plus the
z-loss :math:`\lambda\,w_{y}\,\mathrm{lse}^2` gives; ``"mean"`` divides the sum by
:math:`\sum_i w_{y_i}` over non-ignored rows (torch's weighted mean; the count without weights).

How they save time and memory (measured in ``benchmarks/``):

* :func:`fast_cross_entropy` never stores the log-softmax: it keeps the per-row log-sum-exp
  (plus a reference to the logits the caller holds anyway) and writes ``softmax - smoothed
  one-hot`` (with the z-loss and soft-cap chain-rule terms) chunk by chunk, in place, into the
  one gradient buffer it returns. For ``"mean"``/``"sum"`` with logits that require grad this
  happens during the forward pass while each chunk is in cache (the logits are read once, not
  twice; backward hands the buffer over, scaled in place if the upstream gradient is not 1);
  for ``"none"`` the backward recomputes it chunk-wise with the per-row upstream gradient.
  ``F.cross_entropy`` keeps the (N, C) log-softmax and allocates two more (N, C) tensors in
  backward; the gradient buffer is the only logits-sized allocation here.
* :func:`linear_cross_entropy` never materialises the N x V logits: rows are processed in chunks
  (one reused (rows, V) buffer); for ``"mean"``/``"sum"`` the gradients of hidden, weight and
  bias are produced during the forward pass (three matrix products in all, no recomputation) and
  handed over in backward; for ``"none"`` the backward recomputes each chunk with the upstream
  per-row gradient (four products), so ``(loss * r).sum()`` gets the right gradient. Rows whose
  target is ``ignore_index`` are dropped before any matrix product. Gradients are accumulated in
  float32 (float64 for float64 inputs), also for float16/bfloat16 inputs.

Neither supports double backward (the gradient is not itself differentiable); use the reference
composition for Hessians.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, NamedTuple

import torch

from .._reduction import HALF_DTYPES
from .._validation import (
    IGNORE_INDEX,
    LABEL_SMOOTHING,
    REDUCTION,
    WEIGHT_PER_CLASS,
    Param,
    Raw,
    check_class_indices,
    check_integer_tensor,
    check_tensor,
    fail,
    loss_function,
)
from ._common import check_class_logits, check_class_weight

__all__ = ["fast_cross_entropy", "linear_cross_entropy", "auto_chunk_rows"]

LSE_SQUARE_SCALE = Param(
    "float", "weight of the z-loss lse^2 that keeps the log-partition near 0", ge=0
)
SOFTCAP = Param(
    "float", "logit soft-cap: logits become cap * tanh(logits / cap)", gt=0, optional=True
)
CHUNK_SIZE = Param("int", "rows per chunk (None: chosen automatically)", ge=1, optional=True)

#: Bytes of logits per chunk of :func:`fast_cross_entropy`. Small chunks stay in cache but each
#: costs a few parallel regions; on a busy 2-core machine 16 MiB measured best (see benchmarks/).
_CE_CHUNK_BYTES = 16 << 20
#: Upper budget for the (rows, V) buffer of :func:`linear_cross_entropy` (also <= free / 16).
_LINEAR_BUDGET_BYTES = 128 << 20


class _Opts(NamedTuple):
    ignore_index: int
    eps: float
    zloss: float
    cap: float | None
    reduction: str


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in HALF_DTYPES else dtype


def _ranges(n: int, step: int) -> list[tuple[int, int]]:
    return [(s, min(s + step, n)) for s in range(0, n, step)]


# -- row math shared by both losses -----------------------------------------------------------


def _row_loss(
    lse: torch.Tensor,
    zy: torch.Tensor,
    zs: torch.Tensor | None,
    wy: torch.Tensor | None,
    wsum: float,
    c: int,
    o: _Opts,
    nll: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-row loss from lse, the target logit and (for smoothing) the w-weighted logit sum.

    ``nll`` (``-log softmax(z)_y`` when known directly) replaces ``lse - zy``, which loses the
    low bits of the difference when the logits are large.
    """
    base = lse - zy if nll is None else nll
    loss = base if wy is None else wy * base
    if o.eps:
        loss = (1 - o.eps) * loss + (o.eps / c) * (wsum * lse - zs)
    if o.zloss:
        sq = lse * lse
        loss = loss + o.zloss * (sq if wy is None else wy * sq)
    return loss


def _coefficients(
    s: torch.Tensor, lse: torch.Tensor, wy: torch.Tensor | None, wsum: float, c: int, o: _Opts
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """dl/dz_i = a_i softmax(z_i) - b_i w - t_i onehot(y_i), for upstream row scales ``s``."""
    sw = s if wy is None else s * wy
    a = (1 - o.eps) * sw
    if o.eps:
        a = a + (o.eps * wsum / c) * s
    if o.zloss:
        a = a + (2 * o.zloss) * sw * lse
    b = s * (o.eps / c) if o.eps else None
    return a, b, (1 - o.eps) * sw


def _finish_grad(
    work: torch.Tensor,
    b: torch.Tensor | None,
    t: torch.Tensor,
    y: torch.Tensor,
    w: torch.Tensor | None,
    tanh: torch.Tensor | None,
) -> None:
    """In place: ``work`` holds a * softmax; subtract the smoothing and target terms, chain cap."""
    if b is not None:
        if w is None:
            work.sub_(b.unsqueeze(1))
        else:
            work.addr_(b, w, alpha=-1)
    work.scatter_add_(1, y.unsqueeze(1), -t.unsqueeze(1).to(work.dtype))
    if tanh is not None:  # d cap*tanh(x/cap) / dx = 1 - tanh^2
        work.mul_(tanh.square_().neg_().add_(1))


def _capped(x: torch.Tensor, cd: torch.dtype, cap: float | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(z, tanh) for a chunk of raw logits: z in the compute dtype (a view when nothing changes)."""
    z = x.to(cd)
    if cap is None:
        return z, None
    t = torch.tanh(z / cap)
    return t * cap, t


def _rows_of(x: torch.Tensor, cd: torch.dtype, cap: float | None) -> Callable[[torch.Tensor], torch.Tensor]:
    """Recompute the (capped, compute-dtype) logits of rows ``idx`` of the raw chunk ``x``."""
    return lambda idx: _capped(x.index_select(0, idx), cd, cap)[0]


class _Rows(NamedTuple):
    """Per-row data of one chunk: safe targets, w[y] (or None), upstream scale (or None)."""

    y: torch.Tensor
    wy: torch.Tensor | None
    s: torch.Tensor | None


def _target_terms(z: torch.Tensor, r: _Rows, cw: torch.Tensor | None, o: _Opts) -> tuple[torch.Tensor, torch.Tensor | None]:
    """z[i, y_i] and (with smoothing) sum_c w_c z_ic, read before ``z`` is overwritten."""
    zy = z.gather(1, r.y.unsqueeze(1)).squeeze(1)
    zs = (torch.mv(z, cw) if cw is not None else z.sum(1)) if o.eps else None
    return zy, zs


def _py_floor(dtype: torch.dtype) -> float:
    """p_y below this (float32: ~1e-31) may have lost precision to underflow: lse is recomputed."""
    fi = torch.finfo(dtype)
    return fi.tiny / fi.eps


def _softmax_chunk(
    z: torch.Tensor,
    out: torch.Tensor,
    r: _Rows,
    cw: torch.Tensor | None,
    wsum: float,
    o: _Opts,
    rows_logits: Callable[[torch.Tensor], torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Write softmax(z) into ``out`` (which may be ``z``); return (lse, loss) of the chunk.

    One fused, row-local softmax pass replaces max / subtract / exp / sum / scale passes over the
    chunk. The log-sum-exp is read off the target's probability, ``lse = z_y - log p_y``, which is
    exact to a few ulp while ``p_y`` is a normal float; for the rare rows where it underflowed
    (a target logit ~87 below the row's maximum, in float32) ``rows_logits(idx)`` recomputes
    those rows' logits and their log-sum-exp is taken directly.
    """
    c = z.shape[1]
    zy, zs = _target_terms(z, r, cw, o)
    if out is z and z.device.type != "cpu":  # in place only where the kernel is known alias-safe
        out.copy_(torch.softmax(z, 1))
    else:
        torch.softmax(z, 1, out=out)
    py = out.gather(1, r.y.unsqueeze(1)).squeeze(1)
    nll = py.log().neg_()
    lse = zy + nll
    low = py < _py_floor(out.dtype)
    if bool(low.any()):
        idx = low.nonzero().squeeze(1)
        lse_low = torch.logsumexp(rows_logits(idx), 1)
        lse = lse.index_copy(0, idx, lse_low)
        nll = nll.index_copy(0, idx, lse_low - zy.index_select(0, idx))
    return lse, _row_loss(lse, zy, zs, r.wy, wsum, c, o, nll)


def _grad_chunk(
    z: torch.Tensor,
    out: torch.Tensor,
    r: _Rows,
    cw: torch.Tensor | None,
    wsum: float,
    o: _Opts,
    tanh: torch.Tensor | None,
    rows_logits: Callable[[torch.Tensor], torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Write dl/dx of one chunk into ``out`` (which may be ``z`` itself); return (lse, loss).

    The forward pass (which precomputes the gradient) and a recomputing backward run exactly
    these operations, so both give bitwise the same gradient.
    """
    lse, loss = _softmax_chunk(z, out, r, cw, wsum, o, rows_logits)
    a, b, t = _coefficients(r.s, lse, r.wy, wsum, z.shape[1], o)  # type: ignore[arg-type]
    out.mul_(a.unsqueeze(1))
    _finish_grad(out, b, t, r.y, cw, tanh)
    return lse, loss


def _stats_chunk(z: torch.Tensor, r: _Rows, cw: torch.Tensor | None, wsum: float, o: _Opts, *, inplace: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(lse, loss) of one chunk; ``inplace`` may overwrite ``z`` (a scratch buffer)."""
    zy, zs = _target_terms(z, r, cw, o)
    if inplace:
        mx = z.amax(1)
        lse = z.sub_(mx.unsqueeze(1)).exp_().sum(1).log_().add_(mx)
    else:
        lse = torch.logsumexp(z, 1)
    return lse, _row_loss(lse, zy, zs, r.wy, wsum, z.shape[1], o)


# -- cross entropy on logits ------------------------------------------------------------------


class _FastCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None, o: _Opts, rows: int, grad: bool
    ) -> torch.Tensor:
        n, c = x.shape
        cd = _compute_dtype(x.dtype)
        valid = y != o.ignore_index
        safe = torch.where(valid, y, torch.zeros_like(y))
        wy = None if w is None else w[safe]
        wsum = float(w.sum()) if w is not None else float(c)
        denom = valid.sum().to(cd) if wy is None else torch.where(valid, wy, 0.0).sum()
        lse = torch.empty(n, dtype=cd, device=x.device)
        loss = torch.empty(n, dtype=cd, device=x.device)
        # For a scalar loss the gradient (for an upstream gradient of 1) is written during the
        # forward pass, while each chunk is in cache: the logits are read once, not twice.
        g = torch.empty(x.shape, dtype=x.dtype, device=x.device) if grad and o.reduction != "none" else None
        s_all = _upstream(torch.ones((), dtype=cd, device=x.device), valid, denom, o.reduction)
        scratch = o.cap is not None or x.dtype != cd  # z is then a copy we may overwrite
        for s, e in _ranges(n, rows):
            z, tanh = _capped(x[s:e], cd, o.cap)
            r = _Rows(safe[s:e], None if wy is None else wy[s:e], s_all[s:e])
            if g is None:
                lse[s:e], loss[s:e] = _stats_chunk(z, r, w, wsum, o, inplace=scratch)
                continue
            out = g[s:e]
            work = out if out.dtype == cd else z  # z is a scratch copy when the dtypes differ
            lse[s:e], loss[s:e] = _grad_chunk(z, work, r, w, wsum, o, tanh, _rows_of(x[s:e], cd, o.cap))
            if work is not out:
                out.copy_(work)
        loss = torch.where(valid, loss, 0.0)
        ctx.save_for_backward(x, safe, valid, lse, w)
        ctx.meta = (o, rows, wsum, denom)
        ctx.grad = g
        if o.reduction == "none":
            return loss
        total = loss.sum()
        if o.reduction == "sum":
            return total
        return torch.where(denom > 0, total / denom.clamp_min(torch.finfo(cd).tiny), total * 0.0)

    @staticmethod
    def backward(ctx: Any, go: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        if ctx.grad is not None:  # computed in forward for an upstream gradient of 1
            grad, ctx.grad = ctx.grad, None
            if not bool(go == 1):
                grad.mul_(go.to(grad.dtype))
            return grad, None, None, None, None, None
        x, safe, valid, lse, w = ctx.saved_tensors
        o, rows, wsum, denom = ctx.meta
        n, c = x.shape
        cd = lse.dtype
        s_all = _upstream(go.to(cd), valid, denom, o.reduction)
        wy = None if w is None else w[safe]
        grad = torch.empty(x.shape, dtype=x.dtype, device=x.device)
        for st, e in _ranges(n, rows):
            z, tanh = _capped(x[st:e], cd, o.cap)
            out = grad[st:e]
            work = out if out.dtype == cd else z
            r = _Rows(safe[st:e], None if wy is None else wy[st:e], s_all[st:e])
            _grad_chunk(z, work, r, w, wsum, o, tanh, _rows_of(x[st:e], cd, o.cap))
            if work is not out:
                out.copy_(work)
        return grad, None, None, None, None, None


def _upstream(go: torch.Tensor, valid: torch.Tensor, denom: torch.Tensor, reduction: str) -> torch.Tensor:
    """Per-row scale of dl/dz: the upstream gradient, the mask and the mean's normaliser."""
    mask = valid.to(go.dtype)
    if reduction in ("none", "sum"):
        return go * mask
    return torch.where(denom > 0, go / denom.clamp_min(torch.finfo(go.dtype).tiny), 0.0) * mask


@loss_function(
    weight=WEIGHT_PER_CLASS,
    ignore_index=IGNORE_INDEX,
    label_smoothing=LABEL_SMOOTHING,
    lse_square_scale=LSE_SQUARE_SCALE,
    softcap=SOFTCAP,
    reduction=REDUCTION,
    chunk_size=CHUNK_SIZE,
)
def fast_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    lse_square_scale: float = 0.0,
    softcap: float | None = None,
    reduction: str = "mean",
    chunk_size: int | None = None,
) -> torch.Tensor:
    r"""Softmax cross entropy on logits with a lean, chunked backward (plus z-loss and soft-cap).

    Same value and gradient as ``F.cross_entropy(cap * tanh(logits / cap), target, weight=...,
    ignore_index=..., label_smoothing=..., reduction=...)`` plus the z-loss
    :math:`\lambda\,w_y\,\mathrm{lse}^2` (see the module docstring for the formula), but the
    only logits-sized allocation is the gradient itself, written chunk by chunk in place (during
    forward for ``"mean"``/``"sum"``, in backward for ``"none"``): about a third of the extra
    memory of ``F.cross_entropy``, and faster on large C (``benchmarks/``).

    Args:
        logits: (N, C) or (N, C, d1, ...) scores (the latter is moved to (N*d1*..., C), a copy).
        target: class indices (N,) or (N, d1, ...); ``ignore_index`` entries count for nothing.
        weight: optional per-class weight (C,); ``"mean"`` is then torch's weighted mean.
        ignore_index: target value that is skipped.
        label_smoothing: in [0, 1], mixed with the uniform distribution as in torch.
        lse_square_scale: z-loss weight :math:`\lambda` (PaLM uses 1e-4), >= 0.
        softcap: if set, logits are replaced by ``softcap * tanh(logits / softcap)`` first.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.
        chunk_size: rows per chunk (default: about 16 MiB of logits per chunk).

    float16/bfloat16 logits are computed in float32 chunk by chunk (the loss is float32, the
    gradient has the logits' dtype). Double backward is not supported.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.fast_cross_entropy(torch.tensor([[2.0, 0.0, 0.0]]), torch.tensor([0]))
        tensor(0.2395)

    References:
        Good, "Rational decisions", JRSS-B 1952; Chowdhery et al., "PaLM", JMLR 2023 (z-loss);
        Gemma Team, "Gemma 2", 2024 (logit soft-capping); Hsu et al., "Liger Kernel", 2024.
    """
    name = "fast_cross_entropy"
    c = check_class_logits(name, logits, target, arg="logits")
    check_class_indices(name, "target", target, c, ignore_index)
    check_class_weight(name, weight, c)
    x = logits.movedim(1, -1).reshape(-1, c) if logits.dim() > 2 else logits
    cd = _compute_dtype(x.dtype)
    rows = chunk_size or max(1, _CE_CHUNK_BYTES // max(1, c * torch.finfo(cd).bits // 8))
    opts = _Opts(ignore_index, float(label_smoothing), float(lse_square_scale), softcap, reduction)
    w = None if weight is None else weight.detach().to(device=x.device, dtype=cd)
    grad = torch.is_grad_enabled() and x.requires_grad
    out = _FastCrossEntropy.apply(x.contiguous(), target.reshape(-1), w, opts, rows, grad)
    return out.reshape(target.shape) if reduction == "none" else out


# -- fused linear cross entropy ---------------------------------------------------------------


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


def auto_chunk_rows(n: int, d: int, v: int, *, dtype: torch.dtype = torch.float32,
                    device: torch.device | str = "cpu", buffers: int = 1) -> int:
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


def _project(hc: torch.Tensor, wc: torch.Tensor, bc: torch.Tensor | None, out: torch.Tensor) -> torch.Tensor:
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
        z = _project(hi, wc, bc, torch.empty(hi.shape[0], wc.shape[0], dtype=wc.dtype, device=wc.device))
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
        denom = wy.sum() if wy is not None else torch.tensor(float(hv.shape[0]), dtype=cd, device=h.device)
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

    Args:
        hidden: (N, D) features (e.g. the last hidden states, flattened over the sequence).
        weight: (V, D) projection.
        target: (N,) class indices; ``ignore_index`` rows are skipped before any product.
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

    References:
        Wijmans et al., "Cut Your Losses in Large-Vocabulary Language Models", ICLR 2025;
        Hsu et al., "Liger Kernel: Efficient Triton Kernels for LLM Training", 2024.
    """
    name = "linear_cross_entropy"
    _check_linear_inputs(name, hidden, weight, target, bias)
    v, d = weight.shape
    check_class_indices(name, "target", target, v, ignore_index)
    check_class_weight(name, class_weight, v, arg="class_weight")
    cd = _compute_dtype(hidden.dtype)
    rows = chunk_size or auto_chunk_rows(
        hidden.shape[0], d, v, dtype=hidden.dtype, device=hidden.device,
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
    return _LinearCrossEntropy.apply(
        hidden.contiguous(), weight.contiguous(), bias, target, cw, opts, rows, needs
    )


def _check_linear_inputs(
    name: str, hidden: Any, weight: Any, target: Any, bias: Any
) -> None:
    check_tensor(name, "hidden", hidden)
    check_tensor(name, "weight", weight)
    check_integer_tensor(name, "target", target)
    if hidden.dim() != 2:
        fail(name, "hidden", "of shape (N, D)", Raw(f"shape {tuple(hidden.shape)}"))
    if weight.dim() != 2 or weight.shape[1] != hidden.shape[1]:
        fail(name, "weight", f"of shape (V, D) with D = {hidden.shape[1]}", Raw(f"shape {tuple(weight.shape)}"))
    if weight.dtype != hidden.dtype:
        fail(name, "weight", f"of the dtype of 'hidden' ({hidden.dtype})", weight.dtype, kind=TypeError)
    if tuple(target.shape) != (hidden.shape[0],):
        fail(name, "target", f"of shape (N,) = ({hidden.shape[0]},)", Raw(f"shape {tuple(target.shape)}"))
    if bias is not None:
        check_tensor(name, "bias", bias)
        if tuple(bias.shape) != (weight.shape[0],):
            fail(name, "bias", f"of shape (V,) = ({weight.shape[0]},)", Raw(f"shape {tuple(bias.shape)}"))

