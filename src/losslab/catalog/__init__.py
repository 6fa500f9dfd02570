r"""The loss catalog: every loss described as data (formula, derivative, head, properties, ...).

>>> from losslab import catalog
>>> catalog.get("mse_loss").formula
'\\ell = (x - y)^2'
>>> catalog.get("mse_los")
Traceback (most recent call last):
...
losslab.catalog._registry.UnknownLossError: catalog: unknown loss 'mse_los'. Did you mean 'mse_loss'...
"""

from ._checks import derivative_error
from ._latex import render as render_formula
from ._registry import UnknownLossError, get, list_losses, names, register, suggest, unregister
from ._spec import INPUT_KINDS, PROPERTIES, TASKS, Case, Head, LossSpec, Sampler, When

__all__ = [
    "Case",
    "Head",
    "INPUT_KINDS",
    "LossSpec",
    "PROPERTIES",
    "Sampler",
    "TASKS",
    "UnknownLossError",
    "derivative_error",
    "get",
    "list_losses",
    "names",
    "render_formula",
    "register",
    "suggest",
    "unregister",
    "When",
]
