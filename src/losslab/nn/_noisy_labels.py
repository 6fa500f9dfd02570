"""Modules of the noise-robust losses (thin shells over :mod:`losslab.functional`)."""

from .. import functional as _F
from ._factory import module_class

GeneralizedCrossEntropyLoss = module_class(
    _F.generalized_cross_entropy, "GeneralizedCrossEntropyLoss"
)
SymmetricCrossEntropyLoss = module_class(_F.symmetric_cross_entropy, "SymmetricCrossEntropyLoss")

__all__ = ["GeneralizedCrossEntropyLoss", "SymmetricCrossEntropyLoss"]
