"""Importing this module registers every built-in loss spec (one module per family).

Families moved to :mod:`losslab.losses` register from the entries beside their functions.
"""

from ..losses import FAMILY_MODULES, register_family  # noqa: E402
from . import (  # noqa: F401
    _fast_ce,
)

for _module in FAMILY_MODULES:
    register_family(_module)
