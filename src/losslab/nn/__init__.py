"""Loss modules: thin shells over :mod:`losslab.functional` (hyperparameters validated once).

Each module is built by :func:`losslab.nn._factory.module_class` from its function, so its
``__init__`` takes the function's keyword-only hyperparameters and ``forward`` calls the function.
"""

from ..losses import FAMILY_MODULES, module_classes
from . import (
    _adaptive,
    _adversarial,
    _angular,
    _composite,
    _fast_ce,
    _regularization,
)
from ._adaptive import *  # noqa: F403
from ._adversarial import *  # noqa: F403
from ._angular import *  # noqa: F403
from ._composite import *  # noqa: F403
from ._factory import module_class
from ._fast_ce import *  # noqa: F403
from ._regularization import *  # noqa: F403

# the families moved to losslab.losses: their classes are generated from the entries
_generated = {m: module_classes(m) for m in FAMILY_MODULES}
globals().update({k: v for classes in _generated.values() for k, v in classes.items()})

__all__ = [
    "module_class",
    *_generated["regression"],
    *_generated["regression_likelihood"],
    *_generated["classification"],
    *_generated["classification_margin"],
    *_generated["embedding"],
    *_generated["sequence"],
    *_generated["regression_robust"],
    *_generated["regression_relative"],
    *_generated["focal"],
    *_generated["margin"],
    *_generated["noisy_labels"],
    *_generated["divergence"],
    *_generated["imbalance"],
    *_generated["overlap"],
    *_generated["overlap_combined"],
    *_generated["lovasz"],
    *_generated["transport"],
    *_generated["sinkhorn"],
    *_generated["mmd"],
    *_generated["adversarial"],
    *_adversarial.__all__,
    *_generated["adversarial_training"],
    *_generated["pairwise"],
    *_generated["pairwise_softmax"],
    *_angular.__all__,
    *_generated["cost_sensitive"],
    *_generated["fast_ce"],
    *_generated["linear_ce"],
    *_generated["uncertainty"],
    *_generated["rl"],
    *_generated["metric_surrogates"],
    *_fast_ce.__all__,
    *_composite.__all__,
    *_adaptive.__all__,
    *_regularization.__all__,
]
