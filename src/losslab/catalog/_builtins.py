"""Importing this module registers every built-in loss spec (one module per family)."""

from . import (  # noqa: F401
    _adversarial,
    _angular,
    _cost_sensitive,
    _divergence,
    _fast_ce,
    _focal,
    _imbalance,
    _lovasz,
    _margin,
    _noisy_labels,
    _overlap,
    _pairwise,
    _regression,
    _torch_classification,
    _torch_embedding,
    _torch_regression,
    _torch_sequence,
    _transport,
)
