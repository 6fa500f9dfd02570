"""Pure loss functions. Inputs are logits unless the name or first argument says otherwise.

One module per family; each lists its public names in ``__all__``.
"""

from . import _classification, _imbalance, _regression, _torch
from ._classification import *  # noqa: F403
from ._imbalance import *  # noqa: F403
from ._regression import *  # noqa: F403
from ._torch import *  # noqa: F403

__all__ = [*_torch.__all__, *_regression.__all__, *_classification.__all__, *_imbalance.__all__]
