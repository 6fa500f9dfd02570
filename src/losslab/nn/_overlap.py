"""Modules of the overlap segmentation losses (thin shells over :mod:`losslab.functional`)."""

from .. import functional as _F
from ._factory import module_class

DiceLoss = module_class(_F.dice_loss, "DiceLoss")
GeneralizedDiceLoss = module_class(_F.generalized_dice_loss, "GeneralizedDiceLoss")
JaccardLoss = module_class(_F.jaccard_loss, "JaccardLoss")
TverskyLoss = module_class(_F.tversky_loss, "TverskyLoss")
FocalTverskyLoss = module_class(_F.focal_tversky_loss, "FocalTverskyLoss")
DiceCELoss = module_class(_F.dice_ce_loss, "DiceCELoss")

__all__ = [
    "DiceCELoss",
    "DiceLoss",
    "FocalTverskyLoss",
    "GeneralizedDiceLoss",
    "JaccardLoss",
    "TverskyLoss",
]
