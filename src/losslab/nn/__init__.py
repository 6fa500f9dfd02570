"""Loss modules: thin shells over :mod:`losslab.functional` (hyperparameters validated once).

Each module is built by :func:`losslab.nn._factory.module_class` from its function, so its
``__init__`` takes the function's keyword-only hyperparameters and ``forward`` calls the function.
"""

from . import _classification, _regression, _torch
from ._classification import *  # noqa: F403
from ._factory import module_class
from ._regression import *  # noqa: F403
from ._torch import *  # noqa: F403

__all__ = ["module_class", *_torch.__all__, *_regression.__all__, *_classification.__all__]
