"""Checks run from the catalog itself (used by ``losslab derivatives``)."""

from __future__ import annotations

import torch

from ._spec import LossSpec

__all__ = ["derivative_error"]


def derivative_error(spec: LossSpec, *, seeds: int = 3, scale: float = 1.0) -> float | None:
    """Largest |analytic derivative - autograd| over random float64 cases (None: no analytic form).

    The loss is summed (``reduction="sum"``) and differentiated w.r.t. its first input.
    """
    if spec.derivative_fn is None:
        return None
    worst = 0.0
    for seed in range(seeds):
        case = spec.sampler.make(torch.Generator().manual_seed(seed), torch.float64, scale)
        kwargs = {**spec.test_kwargs, **case.kwargs}
        x = case.args[0].detach().clone().requires_grad_(True)
        loss = spec.function(x, *case.args[1:], reduction="sum", **kwargs)
        (auto,) = torch.autograd.grad(loss, x)
        analytic = spec.derivative_fn(*case.args, **kwargs)
        worst = max(worst, (analytic - auto).abs().max().item() if auto.numel() else 0.0)
    return worst
