"""Modules of the torch classification drop-ins (torch's class names)."""

import torch

from .. import functional as _F
from ._factory import drop_in_class

BCEWithLogitsLoss = drop_in_class(_F.binary_cross_entropy_with_logits, torch.nn.BCEWithLogitsLoss)
CrossEntropyLoss = drop_in_class(_F.cross_entropy, torch.nn.CrossEntropyLoss)
BCELoss = drop_in_class(_F.binary_cross_entropy, torch.nn.BCELoss)
NLLLoss = drop_in_class(_F.nll_loss, torch.nn.NLLLoss)
KLDivLoss = drop_in_class(_F.kl_div, torch.nn.KLDivLoss)
SoftMarginLoss = drop_in_class(_F.soft_margin_loss, torch.nn.SoftMarginLoss)
MultiMarginLoss = drop_in_class(_F.multi_margin_loss, torch.nn.MultiMarginLoss)
MultiLabelMarginLoss = drop_in_class(_F.multilabel_margin_loss, torch.nn.MultiLabelMarginLoss)
MultiLabelSoftMarginLoss = drop_in_class(
    _F.multilabel_soft_margin_loss, torch.nn.MultiLabelSoftMarginLoss
)

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
