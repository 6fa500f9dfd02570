"""Module of the torch CTC drop-in (torch's class name)."""

import torch

from .. import functional as _F
from ._factory import drop_in_class

CTCLoss = drop_in_class(_F.ctc_loss, torch.nn.CTCLoss)

__all__ = ["CTCLoss"]
