"""Modules of the torch regression drop-ins (torch's class names)."""

import torch

from .. import functional as _F
from ._factory import drop_in_class

MSELoss = drop_in_class(_F.mse_loss, torch.nn.MSELoss)
L1Loss = drop_in_class(_F.l1_loss, torch.nn.L1Loss)
MAELoss = L1Loss
HuberLoss = drop_in_class(_F.huber_loss, torch.nn.HuberLoss)
SmoothL1Loss = drop_in_class(_F.smooth_l1_loss, torch.nn.SmoothL1Loss)
PoissonNLLLoss = drop_in_class(_F.poisson_nll_loss, torch.nn.PoissonNLLLoss)
GaussianNLLLoss = drop_in_class(_F.gaussian_nll_loss, torch.nn.GaussianNLLLoss)

__all__ = [
    "GaussianNLLLoss",
    "HuberLoss",
    "L1Loss",
    "MAELoss",
    "MSELoss",
    "PoissonNLLLoss",
    "SmoothL1Loss",
]
