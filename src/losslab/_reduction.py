"""The only reduction code in losslab.

``reduction`` means the same thing for every loss:

* ``"none"`` – the per-element (or per-sample) losses, unreduced;
* ``"sum"`` – their sum;
* ``"mean"`` – their mean over elements; when a loss is weighted by a per-class ``weight`` (or
  has ignored elements) the mean is the weighted mean ``sum(w_i * l_i) / sum(w_i)`` over the
  elements that count, as in ``torch.nn.functional.cross_entropy``;
* ``"batchmean"`` (divergences only) – the sum divided by the batch size (first dimension).

An empty batch (or one whose elements are all ignored) reduces to ``0`` with the autograd graph
still connected, never to NaN.
"""

from __future__ import annotations

import torch

from ._validation import fail

__all__ = ["reduce_loss", "upcast", "HALF_DTYPES"]

HALF_DTYPES = (torch.float16, torch.bfloat16)


def upcast(x: torch.Tensor) -> torch.Tensor:
    """Return ``x`` in float32 when it is float16/bfloat16, so losses accumulate in float32."""
    return x.float() if x.dtype in HALF_DTYPES else x


def reduce_loss(
    loss: torch.Tensor,
    reduction: str,
    *,
    name: str = "loss",
    denominator: torch.Tensor | None = None,
    batch_size: int | None = None,
) -> torch.Tensor:
    """Reduce per-element losses.

    Args:
        loss: per-element losses (already multiplied by any weights).
        reduction: ``"none"``, ``"mean"``, ``"sum"`` or ``"batchmean"``.
        name: the calling loss, for error messages.
        denominator: for ``"mean"``, the normaliser (e.g. the sum of the per-class weights of
            the elements that count). Defaults to the number of elements.
        batch_size: for ``"batchmean"``; defaults to ``loss.shape[0]``.
    """
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        total = loss.sum()
        if denominator is None:
            n = loss.numel()
            return total / n if n > 0 else total * 0.0
        denom = denominator.to(total.dtype)
        safe = torch.where(denom > 0, denom, torch.ones_like(denom))
        return torch.where(denom > 0, total / safe, total * 0.0)
    if reduction == "batchmean":
        n = batch_size if batch_size is not None else (loss.shape[0] if loss.dim() > 0 else 1)
        total = loss.sum()
        return total / n if n > 0 else total * 0.0
    fail(name, "reduction", "one of 'none', 'mean', 'sum'", reduction)
    raise AssertionError("unreachable")  # pragma: no cover
