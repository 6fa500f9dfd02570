"""Build the thin ``nn.Module`` shell of a loss function.

A module validates its hyperparameters once in ``__init__`` (with the function's declared
constraints, so the messages are the same), stores tensors as buffers so ``.to(device)`` moves
them, and its ``forward`` only calls the function. ``forward`` never changes the module's state.

Every class built here derives from :class:`LossModule`, which adds the module algebra of
:mod:`losslab.nn._composite`: ``0.7 * DiceLoss() + 0.3 * BCEWithLogitsLoss()`` is a
:class:`~losslab.nn.CompositeLoss`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch

from .._validation import declared_params

__all__ = ["LossModule", "drop_in_class", "module_class"]

#: torch's pre-0.4 reduction arguments, still in its constructors' positional order
_LEGACY = ("size_average", "reduce")


class LossModule(torch.nn.Module):
    """Base class of losslab's loss modules: adds weighting and summing of losses.

    ``w * loss`` (``w`` a real number or a :class:`~losslab.nn.Schedule`) and ``loss + other``
    build a :class:`~losslab.nn.CompositeLoss` whose ``forward`` returns the weighted total.
    Any ``nn.Module`` may be the other operand of ``+``.
    """

    #: whether ``forward`` takes the batch (``False`` for parameter penalties, called with nothing)
    takes_inputs: bool = True

    def __mul__(self, weight: Any) -> Any:
        from ._composite import CompositeLoss

        return CompositeLoss([self]).__mul__(weight)

    __rmul__ = __mul__

    def __add__(self, other: Any) -> Any:
        from ._composite import CompositeLoss

        return CompositeLoss([self]).__add__(other)

    def __radd__(self, other: Any) -> Any:
        from ._composite import CompositeLoss

        return CompositeLoss([self]).__radd__(other)


def _torch_positional(
    torch_module: type[torch.nn.Module], allowed: dict[str, inspect.Parameter]
) -> list[str]:
    """The names torch's constructor binds positionally, in its order (checked against ``fn``)."""
    names = [
        p.name
        for p in list(inspect.signature(torch_module.__init__).parameters.values())[1:]
        if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    ]
    missing = [n for n in names if n not in allowed and n not in _LEGACY]
    if missing:  # a programming error in losslab, caught when the package is imported
        raise TypeError(f"drop-in for {torch_module.__name__}: the function lacks {missing}")
    return names


def module_class(
    fn: Callable[..., torch.Tensor],
    class_name: str,
    *,
    module: str = "losslab.nn",
    doc: str | None = None,
    torch_module: type[torch.nn.Module] | None = None,
) -> type[LossModule]:
    """The :class:`LossModule` subclass whose ``forward`` calls ``fn`` with stored hyperparameters.

    ``module``/``doc`` set the class's ``__module__`` and docstring (user losses registered with
    :func:`losslab.register_loss` live in the user's module, not in ``losslab.nn``).
    ``torch_module`` (drop-ins, see :func:`drop_in_class`): the constructor also takes torch's
    positional arguments in torch's order, and torch's legacy ``size_average``/``reduce``, which
    torch's own helper turns into ``reduction`` (with torch's deprecation warning).
    """
    loss_name = getattr(fn, "__losslab_name__", fn.__name__)
    params = declared_params(fn)
    sig = inspect.signature(fn)
    kwonly = [p for p in sig.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    allowed = {p.name: p for p in kwonly}
    required = [p.name for p in kwonly if p.default is inspect.Parameter.empty]
    positional = _torch_positional(torch_module, allowed) if torch_module is not None else []

    def __init__(self: torch.nn.Module, *args: Any, **hparams: Any) -> None:
        LossModule.__init__(self)
        if len(args) > len(positional):
            order = f" ({', '.join(positional)})" if positional else ""
            raise TypeError(
                f"{class_name}: takes at most {len(positional)} positional argument(s){order}, "
                f"got {len(args)}; pass hyperparameters by keyword"
            )
        for key, value in zip(positional, args):
            if key in hparams:
                raise TypeError(
                    f"{class_name}: got two values for {key!r} (positional and keyword)"
                )
            hparams[key] = value
        if positional:
            legacy = [hparams.pop(k, None) for k in _LEGACY]
            if any(v is not None for v in legacy):
                from torch.nn import _reduction

                hparams["reduction"] = _reduction.legacy_get_string(*legacy)
        unknown = sorted(set(hparams) - set(allowed))
        if unknown:
            raise TypeError(
                f"{class_name}: unexpected hyperparameter {unknown[0]!r}; "
                f"expected some of {sorted(allowed)}"
            )
        missing = [n for n in required if n not in hparams]
        if missing:
            raise TypeError(f"{class_name}: missing required hyperparameter {missing[0]!r}")
        self._hparams = {}
        self._buffer_names = []
        for key, value in hparams.items():
            if key in params:
                params[key].check(loss_name, key, value)
            if isinstance(value, torch.Tensor):
                self.register_buffer(key, value.detach().clone())
                self._buffer_names.append(key)
            else:
                self._hparams[key] = value

    def hyperparameters(self: torch.nn.Module) -> dict[str, Any]:
        """The hyperparameters this module passes to the function (buffers included)."""
        return {**self._hparams, **{k: getattr(self, k) for k in self._buffer_names}}

    def forward(self: torch.nn.Module, *inputs: Any, **call_kwargs: Any) -> torch.Tensor:
        return fn(*inputs, **{**self.hyperparameters(), **call_kwargs})

    def extra_repr(self: torch.nn.Module) -> str:
        parts = [f"{k}={v!r}" for k, v in self._hparams.items()]
        parts += [f"{k}=<tensor {tuple(getattr(self, k).shape)}>" for k in self._buffer_names]
        return ", ".join(parts)

    init_sig = inspect.Signature(
        [
            inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
            *(
                allowed[n].replace(kind=inspect.Parameter.POSITIONAL_OR_KEYWORD)
                if n in allowed
                else inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)
                for n in positional
            ),
            *(p for p in kwonly if p.name not in positional),
        ]
    )
    __init__.__signature__ = init_sig  # type: ignore[attr-defined]
    forward_params = [
        p for p in sig.parameters.values() if p.kind is not inspect.Parameter.KEYWORD_ONLY
    ]
    forward.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD), *forward_params],
        return_annotation=torch.Tensor,
    )
    doc = (
        doc
        if doc is not None
        else (
            f"Module form of :func:`losslab.functional.{fn.__name__}`.\n\n"
            f"Hyperparameters are keyword-only and validated here; ``forward`` calls the function.\n\n"
            + (fn.__doc__ or "").split("\n\n")[0]
        )
    )
    cls = type(
        class_name,
        (LossModule,),
        {
            "__init__": __init__,
            "forward": forward,
            "hyperparameters": hyperparameters,
            "extra_repr": extra_repr,
            "__doc__": doc,
            "__module__": module,
            "function": staticmethod(fn),
        },
    )
    cls.__qualname__ = class_name
    return cls


def drop_in_class(
    fn: Callable[..., torch.Tensor], torch_module: type[torch.nn.Module]
) -> type[LossModule]:
    """The module of a torch drop-in: torch's class name and torch's constructor signature.

    ``CrossEntropyLoss(weight, ignore_index=0)`` works as in torch; losslab's extra
    hyperparameters (if any) are keyword-only after torch's.
    """
    return module_class(fn, torch_module.__name__, torch_module=torch_module)
