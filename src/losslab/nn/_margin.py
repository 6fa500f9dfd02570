"""Modules of the margin (SVM) losses (thin shells over :mod:`losslab.functional`)."""

from .. import functional as _F
from ._factory import module_class

HingeLoss = module_class(_F.hinge_loss, "HingeLoss")
SquaredHingeLoss = module_class(_F.squared_hinge_loss, "SquaredHingeLoss")
MulticlassHingeLoss = module_class(_F.multiclass_hinge_loss, "MulticlassHingeLoss")

__all__ = ["HingeLoss", "MulticlassHingeLoss", "SquaredHingeLoss"]
