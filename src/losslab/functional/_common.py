"""Small helpers shared by the loss families (validation + dtype handling, never the math)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .._reduction import upcast
from .._validation import Raw, check_same_shape, check_tensor, fail

__all__ = ["prepare_pair", "empty_mean_guard", "log1mexp", "log_one_minus_softmax_target"]


def prepare_pair(
    loss: str, input: torch.Tensor, target: torch.Tensor, *, same_shape: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check two floating tensors (and their shapes) and return them upcast to float32 if half."""
    check_tensor(loss, "input", input)
    check_tensor(loss, "target", target)
    if same_shape:
        check_same_shape(loss, "input", input, "target", target)
    return upcast(input), upcast(target)


def empty_mean_guard(
    call: Callable[[str], torch.Tensor], reduction: str, has_elements: bool
) -> torch.Tensor:
    """Call a torch loss; a 'mean' over nothing gives a connected 0 instead of NaN."""
    if reduction == "mean" and not has_elements:
        return call("sum") * 0.0
    return call(reduction)


def log1mexp(x: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(x)) for x <= 0, accurate on both sides of -log 2 (Maechler 2012)."""
    return torch.where(x > -0.6931471805599453, torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def log_one_minus_softmax_target(logits: torch.Tensor, target: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """log(1 - p_y) computed from logits as logsumexp over the other classes minus logsumexp.

    Exact and finite with finite gradients even when p_y rounds to 1 (no log(0) anywhere).
    ``target`` must hold valid class indices (replace ignored ones before calling).
    """
    onehot = torch.zeros_like(logits, dtype=torch.bool).scatter_(dim, target.unsqueeze(dim), True)
    others = logits.masked_fill(onehot, float("-inf"))
    return torch.logsumexp(others, dim=dim) - torch.logsumexp(logits, dim=dim)


def check_class_logits(loss: str, logits: torch.Tensor, target: torch.Tensor) -> int:
    """Validate (N, C, *) logits against (N, *) integer targets; return C."""
    from .._validation import check_integer_tensor

    check_tensor(loss, "input", logits)
    check_integer_tensor(loss, "target", target)
    if logits.dim() < 2:
        fail(loss, "input", "of shape (N, C) or (N, C, d1, ...)", Raw(f"shape {tuple(logits.shape)}"))
    expected = (logits.shape[0], *logits.shape[2:])
    if tuple(target.shape) != expected:
        fail(
            loss,
            "target",
            f"of shape (N, d1, ...) = {expected} to match 'input' {tuple(logits.shape)}",
            Raw(f"shape {tuple(target.shape)}"),
        )
    return logits.shape[1]
