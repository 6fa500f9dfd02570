"""The WGAN-GP gradient penalty's module, written by hand (its first argument is the critic, a
callable; it has no catalog entry). The GAN losses' modules are generated from their entries in
:mod:`losslab.losses.adversarial`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .. import functional as _F
from .._validation import declared_params


class GradientPenalty(torch.nn.Module):
    """Module form of :func:`losslab.functional.gradient_penalty` (WGAN-GP).

    Hyperparameters (``weight``, ``one_sided``, ``sample_dims``, ``reduction``) are keyword-only
    and validated here. ``forward(critic, real, fake, generator=None)`` calls the function; the
    random generator is passed per call, never stored, so ``forward`` does not change the
    module's state.
    """

    function = staticmethod(_F.gradient_penalty)

    def __init__(
        self,
        *,
        weight: float = 10.0,
        one_sided: bool = False,
        sample_dims: int = 1,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        params = declared_params(_F.gradient_penalty)
        self._hparams = {
            "weight": weight,
            "one_sided": one_sided,
            "sample_dims": sample_dims,
            "reduction": reduction,
        }
        for key, value in self._hparams.items():
            params[key].check("gradient_penalty", key, value)

    def hyperparameters(self) -> dict[str, Any]:
        return dict(self._hparams)

    def forward(
        self,
        critic: Callable[[torch.Tensor], torch.Tensor],
        real: torch.Tensor,
        fake: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        return _F.gradient_penalty(critic, real, fake, generator=generator, **self._hparams)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self._hparams.items())


__all__ = ["GradientPenalty"]
