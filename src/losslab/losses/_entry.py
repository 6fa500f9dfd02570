r"""The catalog entry written beside its loss function: :func:`entry` and what reads it.

A family module (``losslab/losses/<family>.py``) holds its loss functions and, on each, the
``@entry(...)`` decorator with everything the catalog knows about that loss::

    @entry(
        module="LogCoshLoss",                       # the generated losslab.nn class
        family="regression",
        formula=r"\ell = \log\cosh(x - y)",         # LaTeX, written once: docstring + catalog
        derivative=r"\frac{\partial \ell}{\partial x} = \tanh(x - y)",
        derivative_fn=_log_cosh_grad,               # defaults come from the function
        references=("Chen, Tian, Zheng, ...",),     # written once: docstring + catalog
        tasks=("regression",), input_kind="real", heads={"regression": REAL_HEAD},
        properties=dict(...), summary="...", when_to_use="...", sampler=REGRESSION,
    )
    @loss_function(reduction=REDUCTION, weight=WEIGHT_PER_ELEMENT)
    def log_cosh_loss(input, target, *, reduction="mean", weight=None): ...

``entry`` goes *above* ``loss_function`` (it describes the validated function the public sees).
Its keyword arguments are :class:`~losslab.catalog.LossSpec`'s fields except ``name``,
``function``, ``module`` and ``drop_in_for``, plus:

* ``module``: the class name under :mod:`losslab.nn`; ``module_aliases``: more names for the
  same class (``MAELoss`` for ``L1Loss``);
* ``drop_in``: for a torch drop-in, torch's module class (``torch.nn.HuberLoss``): the class is
  built by :func:`losslab.nn._factory.drop_in_class` (torch's name and constructor signature) and
  ``drop_in_for`` is ``torch.nn.functional.<function name>``;
* ``hand_written=True``: the class named ``module`` is written by hand in :mod:`losslab.nn` (a
  stateful module, e.g. one owning learnable class centres, with ``function`` set to the loss
  function) and is not generated; the catalog registers that class all the same.

What the decorator does, at import of the family module:

1. builds the :class:`LossSpec` (so a bad entry, e.g. a :class:`~losslab.catalog.When` rule
   reading an undeclared hyperparameter, fails when the module is imported);
2. appends a ``Formula`` and a ``References`` section, rendered from the entry, to the
   function's docstring, after its ``Example:`` (so the docstring must not have its own
   ``References:`` section; the doctests run unchanged);
3. wraps ``derivative_fn`` so that hyperparameters it is not given take the loss function's
   defaults (the helper declares ``*, eps`` without repeating ``eps``'s default);
4. records the entry under its family module, in order, and returns the function unchanged.

The public faces read the recorded entries, so nothing is listed twice:

* :mod:`losslab.functional` star-imports the family module (its ``__all__``);
* :mod:`losslab.nn` calls :func:`module_classes` (one generated class per entry, plus aliases);
* :mod:`losslab.catalog` registers the specs through :func:`register_family` (from
  ``catalog/_builtins.py``, when the catalog is first used, as for every built-in), with
  ``module`` set to the :mod:`losslab.nn` class.

Moving a family here: see the "Adding a loss" section of the README.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import textwrap
from collections.abc import Callable
from typing import Any, TypeVar

import torch

from ..catalog._spec import LossSpec

__all__ = ["Entry", "entry", "entries", "module_classes", "register_family"]

F = TypeVar("F", bound=Callable[..., Any])

#: family module name (``losslab.losses.regression``) -> its entries, in declaration order
_ENTRIES: dict[str, list[Entry]] = {}


@dataclasses.dataclass(frozen=True)
class Entry:
    """One loss as declared beside its function: its spec (``module`` still None) and its class."""

    spec: LossSpec
    module: str
    module_aliases: tuple[str, ...] = ()
    drop_in: type[torch.nn.Module] | None = None
    hand_written: bool = False


def _with_defaults(
    derivative_fn: Callable[..., torch.Tensor], fn: Callable[..., Any]
) -> Callable[..., torch.Tensor]:
    """``derivative_fn`` called with the loss function's keyword defaults it accepts and is not given."""
    sig = inspect.signature(derivative_fn)
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    defaults = {
        n: p.default
        for n, p in inspect.signature(fn).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
        and p.default is not inspect.Parameter.empty
        and n not in ("reduction", "weight")
        and (takes_any or n in sig.parameters)
    }

    @functools.wraps(derivative_fn)
    def with_defaults(*args: Any, **kwargs: Any) -> torch.Tensor:
        return derivative_fn(*args, **{**defaults, **kwargs})

    return with_defaults


def _render_doc(doc: str | None, spec: LossSpec) -> str:
    """The function's docstring with the entry's formula, derivative and references appended."""
    body = inspect.cleandoc(doc or "")
    if "\nReferences:" in f"\n{body}":
        raise ValueError(
            f"entry for {spec.name}: the docstring must not have its own 'References:' section "
            "(the entry's references are rendered into it)"
        )
    refs = "\n".join(
        textwrap.fill(
            r,
            92,
            initial_indent="    ",
            subsequent_indent="        ",
            break_on_hyphens=False,  # a reference reads back whole ("soft-capping", not "soft- capping")
        )
        for r in spec.references
    )
    return (
        f"{body}\n\n"
        f"Formula:\n    :math:`{spec.formula}`\n\n"
        f"    Derivative: :math:`{spec.derivative}`\n\n"
        f"References:\n{refs}\n"
    )


def entry(
    *,
    module: str,
    module_aliases: tuple[str, ...] = (),
    drop_in: type[torch.nn.Module] | None = None,
    hand_written: bool = False,
    **fields: Any,
) -> Callable[[F], F]:
    """Declare the catalog entry of the loss function below (see the module docstring)."""

    def decorate(fn: F) -> F:
        name = getattr(fn, "__losslab_name__", fn.__name__)
        if drop_in is not None and drop_in.__name__ != module:
            raise ValueError(
                f"entry for {name}: a drop-in's module is torch's name {drop_in.__name__!r}, got {module!r}"
            )
        if hand_written and (drop_in is not None or module_aliases):
            raise ValueError(
                f"entry for {name}: a hand-written module takes neither drop_in nor module_aliases"
            )
        kw = dict(fields)
        derivative_fn = kw.pop("derivative_fn", None)
        spec = LossSpec(
            name=name,
            function=fn,
            module=None,
            derivative_fn=None if derivative_fn is None else _with_defaults(derivative_fn, fn),
            drop_in_for=None if drop_in is None else f"torch.nn.functional.{fn.__name__}",
            **kw,
        )
        fn.__doc__ = _render_doc(fn.__doc__, spec)
        _ENTRIES.setdefault(fn.__module__, []).append(
            Entry(spec, module, tuple(module_aliases), drop_in, hand_written)
        )
        return fn

    return decorate


def entries(family_module: str) -> list[Entry]:
    """The entries of a family module (``"regression"`` or ``"losslab.losses.regression"``), in order."""
    full = family_module if "." in family_module else f"losslab.losses.{family_module}"
    importlib.import_module(full)
    return list(_ENTRIES.get(full, []))


def module_classes(family_module: str) -> dict[str, type[torch.nn.Module]]:
    """The :mod:`losslab.nn` classes of a family, generated from its entries (aliases included;
    hand-written classes are not generated, :mod:`losslab.nn` imports them itself)."""
    from ..nn._factory import drop_in_class, module_class

    out: dict[str, type[torch.nn.Module]] = {}
    for e in entries(family_module):
        if e.hand_written:
            continue
        fn = e.spec.function
        cls = drop_in_class(fn, e.drop_in) if e.drop_in is not None else module_class(fn, e.module)
        out[e.module] = cls
        out.update(dict.fromkeys(e.module_aliases, cls))
    return out


def register_family(family_module: str) -> list[LossSpec]:
    """Register a family's specs in the catalog, each with its :mod:`losslab.nn` class."""
    from .. import nn
    from ..catalog._registry import register

    return [
        register(dataclasses.replace(e.spec, module=getattr(nn, e.module)))
        for e in entries(family_module)
    ]
