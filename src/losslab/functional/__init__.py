"""Pure loss functions. Inputs are logits unless the name or first argument says otherwise.

One module per family; each lists its public names in ``__all__``. The ``_common`` module (and
``losslab.losses._segmentation``) hold helpers shared by several families and export nothing.
``__all__`` here lists losses only; helpers that are not losses are documented in
:mod:`losslab.utils` (and stay importable from here).
"""

from ..losses import (  # the families moved to losslab.losses (one module per family)
    adversarial,
    adversarial_training,
    angular,
    classification,
    classification_margin,
    cost_sensitive,
    divergence,
    embedding,
    fast_ce,
    focal,
    imbalance,
    linear_ce,
    lovasz,
    margin,
    metric_surrogates,
    mmd,
    noisy_labels,
    overlap,
    overlap_combined,
    pairwise,
    pairwise_softmax,
    regression,
    regression_likelihood,
    regression_relative,
    regression_robust,
    rl,
    sequence,
    sinkhorn,
    transport,
    uncertainty,
)
from ..losses.adversarial import *  # noqa: F403
from ..losses.adversarial_training import *  # noqa: F403
from ..losses.angular import *  # noqa: F403
from ..losses.classification import *  # noqa: F403
from ..losses.classification_margin import *  # noqa: F403
from ..losses.cost_sensitive import *  # noqa: F403
from ..losses.divergence import *  # noqa: F403
from ..losses.embedding import *  # noqa: F403
from ..losses.fast_ce import *  # noqa: F403
from ..losses.focal import *  # noqa: F403
from ..losses.imbalance import *  # noqa: F403
from ..losses.linear_ce import *  # noqa: F403
from ..losses.lovasz import *  # noqa: F403
from ..losses.margin import *  # noqa: F403
from ..losses.metric_surrogates import *  # noqa: F403
from ..losses.mmd import *  # noqa: F403
from ..losses.noisy_labels import *  # noqa: F403
from ..losses.overlap import *  # noqa: F403
from ..losses.overlap_combined import *  # noqa: F403
from ..losses.pairwise import *  # noqa: F403
from ..losses.pairwise_softmax import *  # noqa: F403
from ..losses.regression import *  # noqa: F403
from ..losses.regression_likelihood import *  # noqa: F403
from ..losses.regression_relative import *  # noqa: F403
from ..losses.regression_robust import *  # noqa: F403
from ..losses.rl import *  # noqa: F403
from ..losses.sequence import *  # noqa: F403
from ..losses.sinkhorn import *  # noqa: F403
from ..losses.transport import *  # noqa: F403
from ..losses.uncertainty import *  # noqa: F403
from . import (
    _regularization,
)
from ._regularization import *  # noqa: F403

__all__ = [
    *regression.__all__,
    *regression_likelihood.__all__,
    *classification.__all__,
    *classification_margin.__all__,
    *embedding.__all__,
    *sequence.__all__,
    *regression_robust.__all__,
    *regression_relative.__all__,
    *focal.__all__,
    *margin.__all__,
    *noisy_labels.__all__,
    *divergence.__all__,
    *imbalance.__all__,
    *overlap.__all__,
    *overlap_combined.__all__,
    *lovasz.__all__,
    *transport.__all__,
    *sinkhorn.__all__,
    *mmd.__all__,
    *adversarial.__all__,
    *adversarial_training.__all__,
    *pairwise.__all__,
    *pairwise_softmax.__all__,
    *angular.__all__,
    *cost_sensitive.__all__,
    *fast_ce.__all__,
    *linear_ce.__all__,
    *rl.__all__,
    *metric_surrogates.__all__,
    *uncertainty.__all__,
    *_regularization.__all__,
]

#: Helpers, not losses: still importable from here (``losslab.functional.NAME``, unchanged), but
#: documented in, and listed by, :mod:`losslab.utils`; ``__all__`` lists losses only.
_HELPERS = (
    "class_counts",
    "inverse_frequency_weights",
    "effective_number_weights",
    "pairwise_distances",
    "mine_triplets",
    "penalized_parameters",
    "NORM_LAYERS",
    "auto_chunk_rows",
)
__all__ = [name for name in __all__ if name not in _HELPERS]
