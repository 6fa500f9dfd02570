"""Importing this module registers every built-in loss spec (one module per family)."""

from . import (  # noqa: F401
    _cost_sensitive,
    _distribution,
    _divergence,
    _fast_ce,
    _focal,
    _imbalance,
    _margin,
    _metric_learning,
    _noisy_labels,
    _regression,
    _segmentation,
    _torch_classification,
    _torch_embedding,
    _torch_regression,
    _torch_sequence,
)
