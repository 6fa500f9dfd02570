"""losslab: PyTorch loss functions that behave the same way, describe themselves, and can be
compared on real data.

* :mod:`losslab.functional` – pure functions;
* :mod:`losslab.nn` – modules;
* :mod:`losslab.catalog` – every loss described as data.

Everything is imported on first use, so ``import losslab`` (and ``losslab --help``) does not pay
for importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> the module that defines it (a module's own name: the module itself)
_LAZY = {
    "functional": "losslab.functional",
    "nn": "losslab.nn",
    "catalog": "losslab.catalog",
    "utils": "losslab.utils",
    "content_checks": "losslab._validation",
    "content_checks_enabled": "losslab._validation",
    "set_content_checks": "losslab._validation",
    "LosslabWarning": "losslab._validation",
    "InputDomainWarning": "losslab._validation",
    "load_loss": "losslab.custom",
    "register_loss": "losslab.custom",
    "unregister_loss": "losslab.custom",
    "advise": "losslab.lab.advisor",
    "tune": "losslab.lab.tuner",
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'losslab' has no attribute {name!r}")
    module = importlib.import_module(target)
    value = module if target.rsplit(".", 1)[-1] == name else getattr(module, name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
