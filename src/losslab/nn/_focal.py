"""Modules of the focal and poly-1 losses (thin shells over :mod:`losslab.functional`)."""

from .. import functional as _F
from ._factory import module_class

SigmoidFocalLoss = module_class(_F.sigmoid_focal_loss, "SigmoidFocalLoss")
SoftmaxFocalLoss = module_class(_F.softmax_focal_loss, "SoftmaxFocalLoss")
Poly1CrossEntropyLoss = module_class(_F.poly1_cross_entropy, "Poly1CrossEntropyLoss")

__all__ = ["Poly1CrossEntropyLoss", "SigmoidFocalLoss", "SoftmaxFocalLoss"]
