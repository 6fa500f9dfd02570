"""Module of the torch CTC drop-in (torch's class name)."""

from .. import functional as _F
from ._factory import module_class

CTCLoss = module_class(_F.ctc_loss, "CTCLoss")

__all__ = ["CTCLoss"]
