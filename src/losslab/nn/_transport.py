"""Modules of the distribution distances (thin shells over :mod:`losslab.functional`)."""

from .. import functional as _F
from ._factory import module_class

Wasserstein1DLoss = module_class(_F.wasserstein_1d, "Wasserstein1DLoss")
SinkhornLoss = module_class(_F.sinkhorn_loss, "SinkhornLoss")
MMDLoss = module_class(_F.mmd_loss, "MMDLoss")

__all__ = [
    "MMDLoss",
    "SinkhornLoss",
    "Wasserstein1DLoss",
]
