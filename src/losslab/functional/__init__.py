"""Pure loss functions. Inputs are logits unless the name or first argument says otherwise.

One module per family; each lists its public names in ``__all__``.
"""

from . import (
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
from ._divergence import *  # noqa: F403
from ._focal import *  # noqa: F403
from ._imbalance import *  # noqa: F403
from ._margin import *  # noqa: F403
from ._noisy_labels import *  # noqa: F403
from ._regression import *  # noqa: F403
from ._torch_classification import *  # noqa: F403
from ._torch_embedding import *  # noqa: F403
from ._torch_regression import *  # noqa: F403
from ._torch_sequence import *  # noqa: F403

__all__ = [
    *_torch_regression.__all__,
    *_torch_classification.__all__,
    *_torch_embedding.__all__,
    *_torch_sequence.__all__,
    *_regression.__all__,
    *_focal.__all__,
    *_margin.__all__,
    *_noisy_labels.__all__,
    *_divergence.__all__,
    *_imbalance.__all__,
]
