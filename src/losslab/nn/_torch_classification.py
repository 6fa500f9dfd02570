"""Modules of the torch classification drop-ins (torch's class names)."""

from .. import functional as _F
from ._factory import module_class

BCEWithLogitsLoss = module_class(_F.binary_cross_entropy_with_logits, "BCEWithLogitsLoss")
CrossEntropyLoss = module_class(_F.cross_entropy, "CrossEntropyLoss")
BCELoss = module_class(_F.binary_cross_entropy, "BCELoss")
NLLLoss = module_class(_F.nll_loss, "NLLLoss")
KLDivLoss = module_class(_F.kl_div, "KLDivLoss")
SoftMarginLoss = module_class(_F.soft_margin_loss, "SoftMarginLoss")
MultiMarginLoss = module_class(_F.multi_margin_loss, "MultiMarginLoss")
MultiLabelMarginLoss = module_class(_F.multilabel_margin_loss, "MultiLabelMarginLoss")
MultiLabelSoftMarginLoss = module_class(_F.multilabel_soft_margin_loss, "MultiLabelSoftMarginLoss")

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "KLDivLoss",
    "MultiLabelMarginLoss",
    "MultiLabelSoftMarginLoss",
    "MultiMarginLoss",
    "NLLLoss",
    "SoftMarginLoss",
]
