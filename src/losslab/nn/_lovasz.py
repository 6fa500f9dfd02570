"""Modules of the Lovász segmentation losses (thin shells over :mod:`losslab.functional`)."""

from .. import functional as _F
from ._factory import module_class

LovaszSoftmaxLoss = module_class(_F.lovasz_softmax_loss, "LovaszSoftmaxLoss")
LovaszHingeLoss = module_class(_F.lovasz_hinge_loss, "LovaszHingeLoss")

__all__ = [
    "LovaszHingeLoss",
    "LovaszSoftmaxLoss",
]
