"""Modules of the torch regression drop-ins (torch's class names)."""

from .. import functional as _F
from ._factory import module_class

MSELoss = module_class(_F.mse_loss, "MSELoss")
L1Loss = module_class(_F.l1_loss, "L1Loss")
MAELoss = L1Loss
HuberLoss = module_class(_F.huber_loss, "HuberLoss")
SmoothL1Loss = module_class(_F.smooth_l1_loss, "SmoothL1Loss")
PoissonNLLLoss = module_class(_F.poisson_nll_loss, "PoissonNLLLoss")
GaussianNLLLoss = module_class(_F.gaussian_nll_loss, "GaussianNLLLoss")

__all__ = [
    "GaussianNLLLoss",
    "HuberLoss",
    "L1Loss",
    "MAELoss",
    "MSELoss",
    "PoissonNLLLoss",
    "SmoothL1Loss",
]
