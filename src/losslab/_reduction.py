r"""The only reduction code in losslab.

``reduction`` means the same thing for every loss:

* ``"none"`` – the per-element (or per-sample) losses, unreduced (weights already applied);
* ``"sum"`` – their sum;
* ``"mean"`` – their mean over elements, :math:`\frac1N\sum_i \ell_i`, with two rules for
  weighted losses:

  - **per-element weight** (``weight`` declared with ``WEIGHT_PER_ELEMENT``, broadcast to the
    per-element loss and never enlarging it): ``"mean"`` is :math:`\frac1N\sum_i w_i \ell_i`
    with :math:`N` the number of elements of the unreduced loss, i.e. ``(w * l).mean()``. The
    weights scale the loss; they do not renormalise it (a 0/1 mask keeps dividing by all
    elements: for the mean over the kept elements use ``"sum"`` and divide by the mask's
    sum). Every loss losslab defines follows this rule, as do torch's
    ``binary_cross_entropy(_with_logits)`` and ``huber_loss``. Two torch drop-ins keep torch's
    different arithmetic: ``mse_loss`` and ``l1_loss`` divide by the sum of the (broadcast)
    weights, :math:`\sum_i w_i \ell_i / \sum_i w_i`, as their docstrings say;
  - **per-class weight** (``WEIGHT_PER_CLASS``, one value per class, or ignored elements):
    the weighted mean :math:`\sum_i w_{y_i}\ell_i / \sum_i w_{y_i}` over the elements that
    count, as in ``torch.nn.functional.cross_entropy``;

* ``"batchmean"`` (divergences only) – the sum divided by the batch size (first dimension).

An empty batch (or one whose elements are all ignored, or whose weights are all 0 where the
weights are the normaliser) reduces to ``0`` with the autograd graph still connected, never to
NaN.
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
