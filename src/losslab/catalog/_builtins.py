"""Importing this module registers every built-in loss spec (one module per family)."""

from . import (  # noqa: F401
    _divergence,
    _focal,
    _imbalance,
    _margin,
    _noisy_labels,
    _regression,
    _torch_classification,
    _torch_embedding,
    _torch_regression,
    _torch_sequence,
)
