"""Importing this module registers every built-in loss spec (one module per family).

Every built-in family lives in :mod:`losslab.losses` and registers from the entries beside its
functions.
"""

from ..losses import FAMILY_MODULES, register_family  # noqa: E402

for _module in FAMILY_MODULES:
    register_family(_module)
