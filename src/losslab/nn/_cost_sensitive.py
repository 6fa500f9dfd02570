"""Modules of the cost-sensitive losses (thin shells over :mod:`losslab.functional`)."""

from .. import functional as _F
from ._factory import module_class

CostSensitiveCrossEntropyLoss = module_class(
    _F.cost_sensitive_cross_entropy, "CostSensitiveCrossEntropyLoss"
)
BinaryCostSensitiveLoss = module_class(_F.binary_cost_sensitive_loss, "BinaryCostSensitiveLoss")
BinaryExpectedCostLoss = module_class(_F.binary_expected_cost_loss, "BinaryExpectedCostLoss")

__all__ = ["BinaryCostSensitiveLoss", "BinaryExpectedCostLoss", "CostSensitiveCrossEntropyLoss"]
