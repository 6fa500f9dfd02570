"""Modules of the angular-margin metric-learning losses: ArcFace and CosFace.

``ArcFaceLoss`` and ``CosFaceLoss`` are not thin shells: they own the learnable class centres (an
``nn.Parameter`` of shape (C, D), so an optimiser over the module's parameters learns them) and
call the pure functions :func:`losslab.functional.arcface_loss` /
:func:`~losslab.functional.cosface_loss` with them. Their catalog entries, beside the functions in
:mod:`losslab.losses.angular`, say ``hand_written=True``: the classes are not generated, and the
catalog registers these.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch

from .. import functional as _F
from .._validation import Param, declared_params, fail

_SIZE = Param("int", "a size", ge=1, optional=True)


class _MarginSoftmaxLoss(torch.nn.Module):
    """Shared body of ArcFace/CosFace: learnable (C, D) class centres plus the margin loss."""

    function: Callable[..., torch.Tensor]
    weight: torch.nn.Parameter | None

    def __init__(
        self,
        num_classes: int | None = None,
        embedding_dim: int | None = None,
        **hparams: Any,
    ) -> None:
        super().__init__()
        fn = type(self).function
        name = fn.__losslab_name__  # type: ignore[attr-defined]
        params = declared_params(fn)
        defaults = {
            p.name: p.default
            for p in inspect.signature(fn).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        }
        unknown = sorted(set(hparams) - set(defaults))
        if unknown:
            raise TypeError(
                f"{type(self).__name__}: unexpected hyperparameter {unknown[0]!r}; "
                f"expected some of {sorted(defaults)}"
            )
        for key, value in hparams.items():
            params[key].check(name, key, value)
        _SIZE.check(name, "num_classes", num_classes)
        _SIZE.check(name, "embedding_dim", embedding_dim)
        if (num_classes is None) != (embedding_dim is None):
            fail(name, "embedding_dim", "given together with 'num_classes'", embedding_dim)
        self._hparams = {**defaults, **hparams}
        if num_classes is not None and embedding_dim is not None:
            # the class centres; only their directions matter (Deng et al. use N(0, 0.01^2))
            self.weight = torch.nn.Parameter(torch.randn(num_classes, embedding_dim) * 0.01)
        else:
            self.register_parameter("weight", None)

    def hyperparameters(self) -> dict[str, Any]:
        """The keyword hyperparameters passed to the function (not the centres)."""
        return dict(self._hparams)

    def forward(
        self, embeddings: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Loss of ``embeddings`` (N, D) with ``labels`` (N,) against the module's centres.

        ``weight`` (C, D) replaces the module's own centres for this call (for a module built
        without ``num_classes``, or centres shared with another module).
        """
        centres = self.weight if weight is None else weight
        if centres is None:
            fail(
                type(self).function.__losslab_name__,
                "weight",  # type: ignore[attr-defined]
                "passed to forward when the module has no centres (no num_classes)",
                None,
                kind=TypeError,
            )
        return type(self).function(embeddings, labels, centres, **self._hparams)

    def extra_repr(self) -> str:
        shape = None if self.weight is None else tuple(self.weight.shape)
        return ", ".join([f"centres={shape}", *(f"{k}={v!r}" for k, v in self._hparams.items())])


class ArcFaceLoss(_MarginSoftmaxLoss):
    """ArcFace with learnable class centres: ``ArcFaceLoss(num_classes, embedding_dim, margin=0.5,
    scale=64.0)``; ``forward(embeddings, labels)``. See :func:`losslab.functional.arcface_loss`.

    Example:
        >>> import torch, losslab.nn as LN
        >>> _ = torch.manual_seed(0)
        >>> loss_fn = LN.ArcFaceLoss(10, 32)
        >>> loss = loss_fn(torch.randn(8, 32), torch.randint(0, 10, (8,)))
        >>> loss.backward()
        >>> loss_fn.weight.grad.shape
        torch.Size([10, 32])
    """

    function = staticmethod(_F.arcface_loss)


class CosFaceLoss(_MarginSoftmaxLoss):
    """CosFace with learnable class centres: ``CosFaceLoss(num_classes, embedding_dim,
    margin=0.35, scale=64.0)``; ``forward(embeddings, labels)``. See
    :func:`losslab.functional.cosface_loss`."""

    function = staticmethod(_F.cosface_loss)


__all__ = [
    "ArcFaceLoss",
    "CosFaceLoss",
]
