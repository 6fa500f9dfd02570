"""Helpers that go with the losses but are not losses themselves.

:mod:`losslab.functional` lists only losses in its ``__all__`` (the names the catalog describes,
plus the penalties and the WGAN-GP ``gradient_penalty`` that are added to a loss as one more
term). The helpers below are documented here; each is the same object as before, and
``losslab.functional.NAME`` keeps working for code written before this module existed.

Class weights for imbalanced data (feed them to a loss's ``weight``):

* :func:`class_counts` – examples per class, shape (C,);
* :func:`inverse_frequency_weights` – ``w_c ∝ 1 / n_c``, mean 1 by default;
* :func:`effective_number_weights` – class-balanced weights (Cui et al. 2019), sum C.

Metric learning:

* :func:`pairwise_distances` – (N, N) Euclidean or cosine distances;
* :func:`mine_triplets` – the (anchor, positive, negative) indices ``batch_triplet_loss`` uses.

Penalties on a model's weights:

* :func:`penalized_parameters` – the ``(name, tensor)`` pairs ``l1_penalty`` / ``l2_penalty`` /
  ``elastic_net_penalty`` apply to;
* :data:`NORM_LAYERS` – the normalisation layer types those penalties skip by default.

Memory:

* :func:`auto_chunk_rows` – rows per chunk for ``linear_cross_entropy``.

Example:
    >>> import torch
    >>> from losslab.utils import class_counts, inverse_frequency_weights
    >>> counts = class_counts(torch.tensor([0, 0, 0, 1]), 2)
    >>> counts
    tensor([3, 1])
    >>> inverse_frequency_weights(counts)
    tensor([0.5000, 1.5000], dtype=torch.float64)
"""

from __future__ import annotations

from .functional._regularization import NORM_LAYERS, penalized_parameters
from .losses.imbalance import class_counts, effective_number_weights, inverse_frequency_weights
from .losses.linear_ce import auto_chunk_rows
from .losses.pairwise import mine_triplets, pairwise_distances

__all__ = [
    "class_counts",
    "inverse_frequency_weights",
    "effective_number_weights",
    "pairwise_distances",
    "mine_triplets",
    "penalized_parameters",
    "NORM_LAYERS",
    "auto_chunk_rows",
]
