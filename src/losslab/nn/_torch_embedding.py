"""Modules of the torch pair and triplet drop-ins (torch's class names)."""

from .. import functional as _F
from ._factory import module_class

HingeEmbeddingLoss = module_class(_F.hinge_embedding_loss, "HingeEmbeddingLoss")
MarginRankingLoss = module_class(_F.margin_ranking_loss, "MarginRankingLoss")
CosineEmbeddingLoss = module_class(_F.cosine_embedding_loss, "CosineEmbeddingLoss")
TripletMarginLoss = module_class(_F.triplet_margin_loss, "TripletMarginLoss")

__all__ = ["CosineEmbeddingLoss", "HingeEmbeddingLoss", "MarginRankingLoss", "TripletMarginLoss"]
