"""Modules of the torch drop-ins (torch's class names)."""

from .. import functional as _F
from ._factory import module_class

MSELoss = module_class(_F.mse_loss, "MSELoss")
L1Loss = module_class(_F.l1_loss, "L1Loss")
MAELoss = L1Loss
BCEWithLogitsLoss = module_class(_F.binary_cross_entropy_with_logits, "BCEWithLogitsLoss")
CrossEntropyLoss = module_class(_F.cross_entropy, "CrossEntropyLoss")
HuberLoss = module_class(_F.huber_loss, "HuberLoss")
SmoothL1Loss = module_class(_F.smooth_l1_loss, "SmoothL1Loss")
PoissonNLLLoss = module_class(_F.poisson_nll_loss, "PoissonNLLLoss")
GaussianNLLLoss = module_class(_F.gaussian_nll_loss, "GaussianNLLLoss")
BCELoss = module_class(_F.binary_cross_entropy, "BCELoss")
NLLLoss = module_class(_F.nll_loss, "NLLLoss")
KLDivLoss = module_class(_F.kl_div, "KLDivLoss")
HingeEmbeddingLoss = module_class(_F.hinge_embedding_loss, "HingeEmbeddingLoss")
MarginRankingLoss = module_class(_F.margin_ranking_loss, "MarginRankingLoss")
SoftMarginLoss = module_class(_F.soft_margin_loss, "SoftMarginLoss")
MultiMarginLoss = module_class(_F.multi_margin_loss, "MultiMarginLoss")
MultiLabelMarginLoss = module_class(_F.multilabel_margin_loss, "MultiLabelMarginLoss")
MultiLabelSoftMarginLoss = module_class(_F.multilabel_soft_margin_loss, "MultiLabelSoftMarginLoss")
CosineEmbeddingLoss = module_class(_F.cosine_embedding_loss, "CosineEmbeddingLoss")
TripletMarginLoss = module_class(_F.triplet_margin_loss, "TripletMarginLoss")
CTCLoss = module_class(_F.ctc_loss, "CTCLoss")

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "CTCLoss",
    "CosineEmbeddingLoss",
    "CrossEntropyLoss",
    "GaussianNLLLoss",
    "HingeEmbeddingLoss",
    "HuberLoss",
    "KLDivLoss",
    "L1Loss",
    "MAELoss",
    "MSELoss",
    "MarginRankingLoss",
    "MultiLabelMarginLoss",
    "MultiLabelSoftMarginLoss",
    "MultiMarginLoss",
    "NLLLoss",
    "PoissonNLLLoss",
    "SmoothL1Loss",
    "SoftMarginLoss",
    "TripletMarginLoss",
]
