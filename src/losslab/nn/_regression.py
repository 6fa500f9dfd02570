"""Modules of the regression losses (hyperparameters validated once; forward calls the function)."""

from .. import functional as _F
from ._factory import module_class

LogCoshLoss = module_class(_F.log_cosh_loss, "LogCoshLoss")
QuantileLoss = module_class(_F.quantile_loss, "QuantileLoss")
MSLELoss = module_class(_F.msle_loss, "MSLELoss")
MAPELoss = module_class(_F.mape_loss, "MAPELoss")
GeneralRobustLoss = module_class(_F.general_robust_loss, "GeneralRobustLoss")

__all__ = ["GeneralRobustLoss", "LogCoshLoss", "MAPELoss", "MSLELoss", "QuantileLoss"]
