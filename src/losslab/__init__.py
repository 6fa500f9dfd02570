"""losslab: PyTorch loss functions that behave the same way, describe themselves, and can be
compared on real data.

* :mod:`losslab.functional` – pure functions;
* :mod:`losslab.nn` – modules;
* :mod:`losslab.catalog` – every loss described as data.
"""

from . import functional, nn
from ._validation import content_checks, content_checks_enabled, set_content_checks
from .custom import load_loss, register_loss, unregister_loss

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "catalog",
    "content_checks",
    "content_checks_enabled",
    "functional",
    "load_loss",
    "nn",
    "register_loss",
    "set_content_checks",
    "unregister_loss",
]


def __getattr__(name: str):  # lazy: the catalog imports every family
    if name == "catalog":
        import importlib

        return importlib.import_module("losslab.catalog")
    raise AttributeError(f"module 'losslab' has no attribute {name!r}")
