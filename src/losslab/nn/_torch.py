"""Modules of the torch drop-ins (torch's class names)."""

from .. import functional as _F
from ._factory import module_class

MSELoss = module_class(_F.mse_loss, "MSELoss")
L1Loss = module_class(_F.l1_loss, "L1Loss")
MAELoss = L1Loss
BCEWithLogitsLoss = module_class(_F.binary_cross_entropy_with_logits, "BCEWithLogitsLoss")
CrossEntropyLoss = module_class(_F.cross_entropy, "CrossEntropyLoss")

__all__ = ["BCEWithLogitsLoss", "CrossEntropyLoss", "L1Loss", "MAELoss", "MSELoss"]
