"""Chunked elementwise losses with an analytic gradient: the fast path of several losses.

A *kernel* ``kernel(x, *others, grad=...) -> (loss, dloss/dx or None)`` writes one loss's
elementwise value and derivative with plain torch operations. :func:`fused_elementwise` runs it:

* for ``"mean"``/``"sum"`` with an input that requires grad, chunk by chunk over the flattened
  input (``_CHUNK`` elements, so the kernel's temporaries stay in cache), summing the loss and
  writing the derivative into one input-sized buffer during the forward pass; backward hands
  that buffer over, scaled in place by the upstream gradient. Autograd's graph of the same
  formula instead keeps several input-sized intermediates and runs about twice as many passes
  over memory in backward (see ``benchmarks/``: ``elementwise/*``).
* for ``"none"`` (or a second backward, or ``create_graph=True``) backward re-runs the kernel on
  the saved input; under ``create_graph`` those operations are recorded, so the loss stays
  twice differentiable.

Callers use it only when every tensor other than the input is a constant (no gradient wanted)
and the input is not empty; otherwise they take their plain autograd path, which is also the
reference the tests hold the fast path to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

__all__ = ["fused_elementwise", "plain_autograd_only", "use_fused"]

#: Elements per chunk: 256 Ki float32 = 1 MiB per temporary, so a kernel's temporaries stay in
#: cache while each operation still amortises its dispatch; on the 2-core test machine 16 Ki,
#: 64 Ki and 1 Mi measured slower (focal: 0.62x, 1.14x and 1.15x of the naive composition's
#: speed, against 1.30x at 256 Ki).
_CHUNK = 1 << 18

Kernel = Callable[..., tuple[torch.Tensor, torch.Tensor | None]]


def plain_autograd_only(x: torch.Tensor) -> bool:
    """True under torch.func transforms (grad, vmap, jacrev, ...) or for a forward-mode dual
    tensor: custom autograd Functions without ``setup_context``/``jvp`` do not run there, so the
    losses take their plain composition."""
    if torch._C._are_functorch_transforms_active():
        return True
    return torch.autograd.forward_ad.unpack_dual(x).tangent is not None


def use_fused(
    reduction: str,
    x: torch.Tensor,
    *others: torch.Tensor | None,
    weight: torch.Tensor | None = None,
) -> bool:
    """True when the fast path applies: a scalar reduction, a non-empty input, constants for
    every other tensor (no gradient wanted), a weight (if any) that broadcasts to the input's
    shape without enlarging it, and no torch.func transform or forward-mode AD in play."""
    if reduction == "none" or x.numel() == 0 or plain_autograd_only(x):
        return False
    if any(
        o is not None and (o.requires_grad or plain_autograd_only(o)) for o in (*others, weight)
    ):
        return False
    if weight is None:
        return True
    try:
        return torch.broadcast_shapes(weight.shape, x.shape) == x.shape
    except RuntimeError:
        return False


def fused_elementwise(
    kernel: Kernel,
    x: torch.Tensor,
    others: tuple[torch.Tensor, ...],
    reduction: str,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Reduce ``weight * kernel(x, *others)`` with the kernel's analytic gradient w.r.t. ``x``.

    ``others`` and ``weight`` must broadcast to ``x`` (they are expanded, and copied only when
    they do not already have its shape) and must not require grad (see :func:`use_fused`).
    ``"mean"`` divides by ``x.numel()``.
    """
    # the dtype the plain composition computes in (float64 for a float64 target; weights are
    # cast to the loss's dtype there, so they do not promote)
    dtype = x.dtype
    for t in others:
        dtype = torch.promote_types(dtype, t.dtype)
    x = x.to(dtype)
    others = tuple(_like(o, x) for o in others)
    w = None if weight is None else _like(weight, x)
    grad = torch.is_grad_enabled() and x.requires_grad
    return _Fused.apply(x, kernel, reduction, grad, w, *others)


def _like(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``t`` on x's device and dtype, expanded to x's shape, contiguous."""
    t = t.to(device=x.device, dtype=x.dtype)
    if t.shape != x.shape:
        t = t.expand(x.shape)
    return t.contiguous()


def _run(
    kernel: Kernel,
    x: torch.Tensor,
    others: tuple[torch.Tensor, ...],
    w: torch.Tensor | None,
    grad: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    loss, g = kernel(x, *others, grad=grad)
    if w is not None:
        loss = loss * w
        g = None if g is None else g * w
    return loss, g


class _Fused(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: torch.Tensor,
        kernel: Kernel,
        reduction: str,
        grad: bool,
        w: torch.Tensor | None,
        *others: torch.Tensor,
    ) -> torch.Tensor:
        ctx.kernel, ctx.reduction = kernel, reduction
        ctx.save_for_backward(x, w, *others)
        ctx.g = None
        if reduction == "none":
            return _run(kernel, x, others, w, grad=False)[0]
        xf = x.reshape(-1)
        of = [o.reshape(-1) for o in others]
        wf = None if w is None else w.reshape(-1)
        want = grad  # (False under no_grad: no gradient buffer is built)
        g = torch.empty_like(xf) if want else None
        total = torch.zeros((), dtype=x.dtype, device=x.device)
        for s in range(0, xf.numel(), _CHUNK):
            e = s + _CHUNK
            loss, gc = _run(
                kernel,
                xf[s:e],
                tuple(o[s:e] for o in of),
                None if wf is None else wf[s:e],
                grad=want,
            )
            total += loss.sum()
            if g is not None:
                g[s:e] = gc
        ctx.g = g
        return total / xf.numel() if reduction == "mean" else total

    @staticmethod
    def backward(ctx: Any, go: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        x, w, *others = ctx.saved_tensors
        nones = (None,) * (4 + len(others))
        scale = go / x.numel() if ctx.reduction == "mean" else go
        if ctx.g is not None and not torch.is_grad_enabled():
            g, ctx.g = ctx.g, None  # computed in forward: hand it over once
            return (g.view(x.shape).mul_(scale), *nones)
        _, g = _run(ctx.kernel, x, tuple(others), w, grad=True)
        return (g * scale, *nones)  # type: ignore[operator]
