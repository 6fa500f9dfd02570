"""Modules of the classification losses (thin shells over :mod:`losslab.functional`)."""

from .. import functional as _F
from ._factory import module_class

SigmoidFocalLoss = module_class(_F.sigmoid_focal_loss, "SigmoidFocalLoss")
SoftmaxFocalLoss = module_class(_F.softmax_focal_loss, "SoftmaxFocalLoss")
Poly1CrossEntropyLoss = module_class(_F.poly1_cross_entropy, "Poly1CrossEntropyLoss")
HingeLoss = module_class(_F.hinge_loss, "HingeLoss")
SquaredHingeLoss = module_class(_F.squared_hinge_loss, "SquaredHingeLoss")
MulticlassHingeLoss = module_class(_F.multiclass_hinge_loss, "MulticlassHingeLoss")
GeneralizedCrossEntropyLoss = module_class(
    _F.generalized_cross_entropy, "GeneralizedCrossEntropyLoss"
)
SymmetricCrossEntropyLoss = module_class(_F.symmetric_cross_entropy, "SymmetricCrossEntropyLoss")
LogitAdjustedCrossEntropyLoss = module_class(
    _F.logit_adjusted_cross_entropy, "LogitAdjustedCrossEntropyLoss"
)
JSDivLoss = module_class(_F.js_div, "JSDivLoss")

__all__ = [
    "GeneralizedCrossEntropyLoss",
    "HingeLoss",
    "JSDivLoss",
    "LogitAdjustedCrossEntropyLoss",
    "MulticlassHingeLoss",
    "Poly1CrossEntropyLoss",
    "SigmoidFocalLoss",
    "SoftmaxFocalLoss",
    "SquaredHingeLoss",
    "SymmetricCrossEntropyLoss",
]
