"""Module of the Jensen–Shannon divergence (thin shell over :mod:`losslab.functional`)."""

from .. import functional as _F
from ._factory import module_class

JSDivLoss = module_class(_F.js_div, "JSDivLoss")

__all__ = ["JSDivLoss"]
