"""Module of the logit-adjusted loss (thin shell over :mod:`losslab.functional`)."""

from .. import functional as _F
from ._factory import module_class

LogitAdjustedCrossEntropyLoss = module_class(
    _F.logit_adjusted_cross_entropy, "LogitAdjustedCrossEntropyLoss"
)

__all__ = ["LogitAdjustedCrossEntropyLoss"]
