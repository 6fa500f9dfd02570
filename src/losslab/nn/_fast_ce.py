"""The fused linear cross entropy's output layer, written by hand (it owns the projection's
weight and bias; no catalog entry). The loss modules ``FastCrossEntropyLoss`` and
``LinearCrossEntropyLoss`` are generated from their entries in :mod:`losslab.losses.fast_ce` and
:mod:`losslab.losses.linear_ce`."""

from __future__ import annotations

import math
from typing import Any

import torch

__all__ = ["LinearCrossEntropyHead"]


class LinearCrossEntropyHead(torch.nn.Module):
    """An output layer (``nn.Linear(in_features, num_classes)``) fused with its cross entropy.

    ``forward(hidden, target)`` returns :func:`losslab.functional.linear_cross_entropy` of the
    layer's own ``weight`` and ``bias``; ``hidden`` is (..., in_features) with ``target`` of its
    leading shape, e.g. (B, T, D) with (B, T); the (..., num_classes) logits are never materialised.
    ``logits(hidden)`` gives them when you do need them (evaluation, sampling). Loss options
    (``ignore_index``, ``label_smoothing``, ``lse_square_scale``, ``softcap``, ``reduction``,
    ``chunk_size``, ``class_weight``) are keyword-only and validated here.
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        *,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        **loss_options: Any,
    ) -> None:
        super().__init__()
        from . import LinearCrossEntropyLoss  # generated when losslab.nn is imported

        self.loss = LinearCrossEntropyLoss(**loss_options)
        self.weight = torch.nn.Parameter(
            torch.empty(num_classes, in_features, device=device, dtype=dtype)
        )
        self.bias = (
            torch.nn.Parameter(torch.empty(num_classes, device=device, dtype=dtype))
            if bias
            else None
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """nn.Linear's initialisation."""
        torch.nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.weight.shape[1]) if self.weight.shape[1] else 0.0
            torch.nn.init.uniform_(self.bias, -bound, bound)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.linear(hidden, self.weight, self.bias)

    def forward(self, hidden: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.loss(hidden, self.weight, target, bias=self.bias)
