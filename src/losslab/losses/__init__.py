"""Loss families: one module per family, each function with its catalog entry beside it.

A family module (``regression.py``, ...) holds the family's loss functions, each decorated with
:func:`entry` (the catalog entry: formula, derivative, references, properties, sampler, the name
of its :mod:`losslab.nn` class). The public faces read those entries: :mod:`losslab.functional`
re-exports the functions, :mod:`losslab.nn` generates the modules (:func:`module_classes`) and
:mod:`losslab.catalog` registers the specs (:func:`register_family`). See :mod:`._entry`.

Families moved here so far: :data:`FAMILY_MODULES`. The others still live in the older layout
(``functional/_<family>.py`` + ``catalog/_<family>.py`` + ``nn/_<family>.py``).
"""

# The public face first: a family module imported on its own (``import
# losslab.losses.regression``) would otherwise be found half-built by losslab.functional, which
# re-exports it. Importing losslab.functional imports every family module, completely, in turn.
from .. import functional as _functional  # noqa: F401
from ._entry import Entry, entries, entry, module_classes, register_family

__all__ = ["FAMILY_MODULES", "Entry", "entries", "entry", "module_classes", "register_family"]

#: the family modules of this package, in the order the public faces list them; a family past
#: ~500 lines is split by what its losses compute (``regression_robust``, ...), one test file per
#: family all the same (``tests/functional/test_regression.py``)
FAMILY_MODULES = (
    "regression",
    "regression_likelihood",
    "regression_robust",
    "regression_relative",
    "noisy_labels",
    "imbalance",
    "focal",
    "margin",
    "divergence",
    "cost_sensitive",
    "lovasz",
    "transport",
    "sinkhorn",
    "mmd",
    "sequence",
    "embedding",
    "overlap",
    "overlap_combined",
    "classification",
    "classification_margin",
    "pairwise",
    "pairwise_softmax",
    "angular",
    "adversarial",
    "adversarial_training",
    "fast_ce",
    "linear_ce",
    "rl",
    "metric_surrogates",
    "uncertainty",
)
