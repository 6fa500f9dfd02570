"""Modules of the pair, triplet and contrastive metric-learning losses (thin shells over
:mod:`losslab.functional`; built with :func:`module_class`)."""

from .. import functional as _F
from ._factory import module_class

ContrastiveLoss = module_class(_F.contrastive_loss, "ContrastiveLoss")
BatchTripletLoss = module_class(_F.batch_triplet_loss, "BatchTripletLoss")
InfoNCELoss = module_class(_F.info_nce_loss, "InfoNCELoss")
NTXentLoss = module_class(_F.nt_xent_loss, "NTXentLoss")
SupConLoss = module_class(_F.supcon_loss, "SupConLoss")

__all__ = [
    "BatchTripletLoss",
    "ContrastiveLoss",
    "InfoNCELoss",
    "NTXentLoss",
    "SupConLoss",
]
