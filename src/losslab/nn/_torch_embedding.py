"""Modules of the torch pair and triplet drop-ins (torch's class names)."""

import torch

from .. import functional as _F
from ._factory import drop_in_class

HingeEmbeddingLoss = drop_in_class(_F.hinge_embedding_loss, torch.nn.HingeEmbeddingLoss)
MarginRankingLoss = drop_in_class(_F.margin_ranking_loss, torch.nn.MarginRankingLoss)
CosineEmbeddingLoss = drop_in_class(_F.cosine_embedding_loss, torch.nn.CosineEmbeddingLoss)
TripletMarginLoss = drop_in_class(_F.triplet_margin_loss, torch.nn.TripletMarginLoss)

__all__ = ["CosineEmbeddingLoss", "HingeEmbeddingLoss", "MarginRankingLoss", "TripletMarginLoss"]
