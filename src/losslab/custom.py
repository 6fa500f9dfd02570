r"""Your own losses as first-class citizens: catalog, CLI and lab, like the built-ins.

Register a plain function (or an ``nn.Module`` class or instance) with :func:`register_loss`,
as a decorator or a call; it goes through :func:`losslab.catalog.register`, the path every
built-in takes, and then shows in ``losslab losses``, ``losslab show``, ``losslab derivatives``
(autograd only unless you give ``derivative_fn``) and competes in ``losslab compare --loss
package.module:name``::

    >>> import torch, losslab
    >>> @losslab.register_loss(tasks=("regression",), summary="Cubed absolute error.")
    ... def cubed_error(input, target):
    ...     return (input - target).abs() ** 3          # per-element losses
    >>> losslab.catalog.get("cubed_error").function(torch.tensor([2.0]), torch.tensor([0.0]))
    tensor(8.)
    >>> _ = losslab.catalog.unregister("cubed_error")

**The callable.** ``fn(input, target, **hyperparameters)`` with two positional inputs. If it has
a ``reduction`` parameter it must honour ``"none"`` (per-element or per-sample losses: first
dimension = batch size), ``"mean"`` and ``"sum"`` (a scalar); if not, it must return per-element
losses and losslab reduces them with :func:`losslab._reduction.reduce_loss` (the one reduction).
Keyword parameters with defaults become the loss's hyperparameters (module ``__init__``
arguments). A module *class* is instantiated with the hyperparameters at every call (its
``reduction`` too when its ``__init__`` takes one); a module *instance* is called as is (when it
has a string ``reduction`` attribute, torch-style, a shallow copy with the requested reduction is
used, so the instance is never modified).

**Validation at registration.** The signature; the name (an unused identifier; a built-in's name
is never replaced); the metadata (tasks, input kind, properties, heads); and one call on a small
sample from the declared sampler (or the default one for the input kind): the result must be a
floating tensor, a scalar for ``"mean"``, per-element for ``"none"``, and differentiable with
respect to the input. Errors read ``register_loss: '<what>' must be <expected>, got <value>``.

**Defaults for missing metadata.** ``name``: the function's name (a class's name in snake case);
``input_kind``: ``"real"`` for regression, ``"logits"`` otherwise; ``tasks``: ``("regression",)``
for real inputs (other input kinds must say their tasks); ``heads``: inferred from the input kind
and task (a logit, C logits, a sigmoid probability, a real value...); properties left unknown
(``None``); formula/derivative shown as "(not given)" and "(autograd)".

**Loading by import path** (:func:`load_loss`) is always explicit: ``importlib`` imports the
named module and the named attribute is registered if it is not yet; nothing is read from a data
or configuration file, and a stored study never triggers an import. The command line also finds
modules in the current directory (``load_loss(path, search_cwd=True)``).
"""

from __future__ import annotations

import copy
import importlib
import inspect
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

from . import catalog
from ._reduction import reduce_loss
from ._validation import REDUCTION, Raw, fail, loss_function
from .catalog import INPUT_KINDS, PROPERTIES, TASKS, Head, LossSpec, Sampler
from .catalog._common import CLASS_HEAD, LOGIT_HEAD, PROB_HEAD, REAL_HEAD
from .catalog._samplers import (
    BINARY_LOGITS,
    BINARY_PROBS,
    CLASS_LOG_PROBS,
    CLASS_LOGITS,
    MULTILABEL_LOGITS,
    REGRESSION,
)

__all__ = ["LossLoadError", "load_loss", "register_loss", "unregister_loss"]

_WHO = "register_loss"
_MULTILABEL_HEAD = Head("identity", "C", "one logit per label")
#: (input_kind, task) -> the output head a loss expects when its metadata does not say
_DEFAULT_HEADS: dict[tuple[str, str], Head] = {
    **{("real", t): REAL_HEAD for t in ("regression", "anomaly")},
    **{("logits", t): LOGIT_HEAD for t in ("binary", "imbalanced", "anomaly")},
    ("logits", "multiclass"): CLASS_HEAD,
    ("logits", "segmentation"): CLASS_HEAD,
    ("logits", "multilabel"): _MULTILABEL_HEAD,
    **{("probabilities", t): PROB_HEAD for t in ("binary", "imbalanced")},
    ("probabilities", "multiclass"): Head("softmax", "C", "C class probabilities"),
    ("log_probabilities", "multiclass"): Head("log_softmax", "C", "C log-probabilities"),
}
#: (input_kind, task) -> the sampler used to validate a loss that declares none
_DEFAULT_SAMPLERS: dict[tuple[str, str], Sampler] = {
    **{("real", t): REGRESSION for t in ("regression", "anomaly")},
    **{("logits", t): BINARY_LOGITS for t in ("binary", "imbalanced", "anomaly")},
    ("logits", "multiclass"): CLASS_LOGITS,
    ("logits", "multilabel"): MULTILABEL_LOGITS,
    **{("probabilities", t): BINARY_PROBS for t in ("binary", "imbalanced")},
    ("log_probabilities", "multiclass"): CLASS_LOG_PROBS,
}

#: name -> "module:qualname" of what was registered (lets the same object register again)
_ORIGINS: dict[str, str] = {}


class LossLoadError(ValueError):
    """:func:`load_loss` could not import or find the named loss (the message says why)."""


# -- helpers ----------------------------------------------------------------------------------


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _origin(obj: Any) -> str:
    target = obj if (inspect.isclass(obj) or inspect.isfunction(obj)) else type(obj)
    return f"{getattr(target, '__module__', '?')}:{getattr(target, '__qualname__', repr(target))}"


def _positional_ok(sig: inspect.Signature, skip_self: bool = False) -> bool:
    params = list(sig.parameters.values())[1 if skip_self else 0 :]
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return True
    positional = [
        p
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    return len(positional) >= 2


def _hyperparameters(sig: inspect.Signature, skip: int) -> list[inspect.Parameter]:
    """Keyword parameters with defaults (after the first ``skip`` positional ones), not reduction."""
    out = []
    for i, p in enumerate(sig.parameters.values()):
        if i < skip or p.name == "reduction":
            continue
        if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        if p.kind is inspect.Parameter.POSITIONAL_ONLY:
            continue
        out.append(
            inspect.Parameter(
                p.name, inspect.Parameter.KEYWORD_ONLY, default=p.default, annotation=p.annotation
            )
        )
    return out


def _signature_of(obj: Any, name: str) -> inspect.Signature:
    try:
        return inspect.signature(obj)
    except (TypeError, ValueError):
        fail(
            _WHO,
            name,
            "a callable whose signature can be inspected",
            Raw(type(obj).__name__),
            kind=TypeError,
        )
    raise AssertionError("unreachable")  # pragma: no cover


def _adapt(obj: Any, name: str) -> tuple[Callable[..., torch.Tensor], list[inspect.Parameter], str]:
    """(call(input, target, reduction, **hp), hyperparameters, description) for the user object."""
    if inspect.isclass(obj):
        if not issubclass(obj, torch.nn.Module):
            fail(
                _WHO,
                "fn",
                "a function, an nn.Module subclass or an nn.Module instance",
                Raw(f"class {obj.__name__}"),
                kind=TypeError,
            )
        if not _positional_ok(inspect.signature(obj.forward), skip_self=True):
            fail(
                _WHO,
                "fn",
                "a module whose forward takes two positional inputs (input, target)",
                Raw(f"forward{inspect.signature(obj.forward)}"),
                kind=TypeError,
            )
        init = inspect.signature(obj.__init__)
        takes_reduction = "reduction" in init.parameters
        hps = [p for p in _hyperparameters(init, 1) if p.default is not inspect.Parameter.empty]

        def call_class(x: torch.Tensor, t: torch.Tensor, reduction: str, **hp: Any) -> torch.Tensor:
            if takes_reduction:
                return obj(reduction=reduction, **hp)(x, t)
            return reduce_loss(obj(**hp)(x, t), reduction, name=name)

        return call_class, hps, f"nn.Module class {obj.__qualname__}"
    if isinstance(obj, torch.nn.Module):
        if not _positional_ok(inspect.signature(obj.forward)):
            fail(
                _WHO,
                "fn",
                "a module whose forward takes two positional inputs (input, target)",
                Raw(f"forward{inspect.signature(obj.forward)}"),
                kind=TypeError,
            )
        torch_style = isinstance(getattr(obj, "reduction", None), str)

        def call_instance(x: torch.Tensor, t: torch.Tensor, reduction: str) -> torch.Tensor:
            if torch_style:
                m = copy.copy(obj)  # shallow: shares parameters; the user's instance is untouched
                m.reduction = reduction
                return m(x, t)
            return reduce_loss(obj(x, t), reduction, name=name)

        return call_instance, [], f"nn.Module instance of {type(obj).__qualname__}"
    if not callable(obj):
        fail(
            _WHO,
            "fn",
            "a function, an nn.Module subclass or an nn.Module instance",
            Raw(type(obj).__name__),
            kind=TypeError,
        )
    sig = _signature_of(obj, "fn")
    if not _positional_ok(sig):
        fail(
            _WHO,
            "fn",
            "a callable taking two positional inputs (input, target)",
            Raw(f"a callable with signature {sig}"),
            kind=TypeError,
        )
    takes_reduction = "reduction" in sig.parameters
    hps = [p for p in _hyperparameters(sig, 2)]
    required = [p.name for p in hps if p.default is inspect.Parameter.empty]
    if required:
        fail(
            _WHO,
            "fn",
            "a callable whose keyword hyperparameters all have defaults",
            Raw(f"{required[0]!r} without a default"),
            kind=TypeError,
        )

    def call_fn(x: torch.Tensor, t: torch.Tensor, reduction: str, **hp: Any) -> torch.Tensor:
        if takes_reduction:
            return obj(x, t, reduction=reduction, **hp)
        return reduce_loss(obj(x, t, **hp), reduction, name=name)

    return call_fn, hps, f"function {getattr(obj, '__qualname__', repr(obj))}"


def _resolve_kind_and_tasks(
    input_kind: str | None, tasks: Iterable[str] | None
) -> tuple[str, tuple[str, ...]]:
    if tasks is not None:
        if isinstance(tasks, str):
            fail(_WHO, "tasks", "a tuple of task names, e.g. ('binary',)", tasks, kind=TypeError)
        tasks = tuple(tasks)
        bad = [t for t in tasks if t not in TASKS]
        if bad or not tasks:
            fail(_WHO, "tasks", f"a non-empty tuple of {', '.join(TASKS)}", tasks)
    if input_kind is not None and input_kind not in INPUT_KINDS:
        fail(_WHO, "input_kind", f"one of {', '.join(INPUT_KINDS)}", input_kind)
    if input_kind is None:
        input_kind = "real" if tasks is None or tasks == ("regression",) else "logits"
    if tasks is None:
        if input_kind != "real":
            fail(
                _WHO, "tasks", f"given for input_kind {input_kind!r} (e.g. tasks=('binary',))", None
            )
        tasks = ("regression",)
    return input_kind, tasks


def _resolve_heads(
    heads: Mapping[str, Head] | None, input_kind: str, tasks: tuple[str, ...]
) -> dict[str, Head]:
    out: dict[str, Head] = {}
    given = dict(heads or {})
    for key, head in given.items():
        if not isinstance(head, Head):
            fail(
                _WHO,
                "heads",
                "a mapping of task -> catalog.Head",
                Raw(f"{key!r}: {type(head).__name__}"),
                kind=TypeError,
            )
    for task in tasks:
        head = given.get(task, given.get("*")) or _DEFAULT_HEADS.get((input_kind, task))
        if head is None:
            fail(
                _WHO,
                "heads",
                f"given for task {task!r} (no default head for input_kind {input_kind!r})",
                None,
            )
        out[task] = head
    return out


def _resolve_properties(properties: Mapping[str, bool | None] | None) -> dict[str, bool | None]:
    given = dict(properties or {})
    unknown = sorted(set(given) - set(PROPERTIES))
    if unknown:
        fail(_WHO, "properties", f"keyed by {', '.join(PROPERTIES)}", unknown)
    for key, value in given.items():
        if value not in (True, False, None):
            fail(
                _WHO,
                "properties",
                "True, False or None for each property",
                Raw(f"{key}={value!r}"),
                kind=TypeError,
            )
    return {p: given.get(p) for p in PROPERTIES}


def _default_sampler(input_kind: str, tasks: tuple[str, ...]) -> Sampler:
    for task in tasks:
        sampler = _DEFAULT_SAMPLERS.get((input_kind, task))
        if sampler is not None:
            return sampler
    fail(
        _WHO,
        "sampler",
        f"given for input_kind {input_kind!r} and tasks {tasks} (no default sampler)",
        None,
    )
    raise AssertionError("unreachable")  # pragma: no cover


def _check_output(name: str, out: Any, reduction: str, batch: int) -> None:
    what = f"'{name}' (called with reduction={reduction!r})"
    if not isinstance(out, torch.Tensor):
        fail(
            _WHO,
            name,
            "a callable returning a torch.Tensor",
            Raw(f"{type(out).__name__} from {what}"),
            kind=TypeError,
        )
    if not out.is_floating_point():
        fail(
            _WHO,
            name,
            "a callable returning a floating-point tensor",
            Raw(f"{out.dtype} from {what}"),
            kind=TypeError,
        )
    if reduction == "none":
        if out.dim() == 0 or out.shape[0] != batch:
            fail(
                _WHO,
                name,
                f"a callable returning per-element losses for reduction='none' (first "
                f"dimension = batch size {batch}; without a 'reduction' parameter the callable must "
                f"always return them)",
                Raw(f"shape {tuple(out.shape)}"),
            )
    elif out.dim() != 0:
        fail(
            _WHO,
            name,
            f"a callable returning a scalar for reduction={reduction!r}",
            Raw(f"shape {tuple(out.shape)}"),
        )


def _trial_call(
    name: str, fn: Callable[..., torch.Tensor], sampler: Sampler, kwargs: Mapping[str, Any]
) -> None:
    case = sampler.make(torch.Generator().manual_seed(0), torch.float32, 1.0)
    x = case.args[0].detach().clone().requires_grad_(True)
    batch = x.shape[0] if x.dim() else 1
    for reduction in ("none", "mean"):
        try:
            out = fn(x, *case.args[1:], reduction=reduction, **{**case.kwargs, **kwargs})
        except Exception as exc:  # the user's code: report what failed and where
            raise ValueError(
                f"{_WHO}: {name!r} must run on a sample from sampler {sampler.name!r} (input of shape "
                f"{tuple(x.shape)}), got {type(exc).__name__}: {exc}"
            ) from exc
        _check_output(name, out, reduction, batch)
    (grad,) = torch.autograd.grad(out.sum(), x, allow_unused=True) if out.requires_grad else (None,)
    if grad is None:
        fail(
            _WHO,
            name,
            "differentiable with respect to its input (autograd reaches 'input')",
            Raw("a result with no gradient path to the input"),
        )


# -- public API -------------------------------------------------------------------------------


def register_loss(
    fn: Any = None,
    /,
    *,
    name: str | None = None,
    formula: str | None = None,
    derivative: str | None = None,
    derivative_fn: Callable[..., torch.Tensor] | None = None,
    tasks: Iterable[str] | None = None,
    heads: Mapping[str, Head] | None = None,
    input_kind: str | None = None,
    properties: Mapping[str, bool | None] | None = None,
    references: Iterable[str] = (),
    summary: str | None = None,
    when_to_use: str | None = None,
    sampler: Sampler | None = None,
    test_kwargs: Mapping[str, Any] | None = None,
    family: str = "custom",
    replace: bool = False,
) -> Any:
    """Register a user loss in the catalog; usable as ``@register_loss``, ``@register_loss(...)``
    or ``register_loss(fn, ...)``. Returns ``fn`` unchanged (its spec: ``catalog.get(name)``).

    Args:
        fn: a function ``(input, target, **hp)``, an ``nn.Module`` subclass or an instance.
        name: catalog name (default: the function's name; a class's name in snake case).
        formula, derivative: LaTeX shown by ``losslab show`` / ``derivatives``.
        derivative_fn: analytic derivative ``(input, target, **hp) -> d(sum of losses)/d input``,
            checked against autograd by ``losslab derivatives`` (default: autograd only).
        tasks, input_kind, heads: what the loss is for and the output head it expects (see the
            module docstring for the defaults).
        properties: any of :data:`losslab.catalog.PROPERTIES` (the rest stay unknown, None).
        references, summary, when_to_use: documentation shown by ``losslab show``.
        sampler: a :class:`losslab.catalog.Sampler` making valid inputs (default: from the input
            kind and tasks); used for the validation call and by ``losslab derivatives``.
        test_kwargs: hyperparameters for the validation call (and ``derivatives``).
        family: the family shown by ``losslab losses`` (default ``"custom"``).
        replace: replace a user loss registered earlier under the same name.

    Raises:
        TypeError, ValueError: with the message ``register_loss: '<what>' must be ..., got ...``.
    """
    metadata = dict(
        name=name,
        formula=formula,
        derivative=derivative,
        derivative_fn=derivative_fn,
        tasks=tasks,
        heads=heads,
        input_kind=input_kind,
        properties=properties,
        references=references,
        summary=summary,
        when_to_use=when_to_use,
        sampler=sampler,
        test_kwargs=test_kwargs,
        family=family,
        replace=replace,
    )
    if fn is None:
        return lambda obj: register_loss(obj, **metadata)
    _register(fn, **metadata)
    return fn


def _register(
    obj: Any,
    *,
    name: str | None,
    formula: str | None,
    derivative: str | None,
    derivative_fn: Callable[..., torch.Tensor] | None,
    tasks: Iterable[str] | None,
    heads: Mapping[str, Head] | None,
    input_kind: str | None,
    properties: Mapping[str, bool | None] | None,
    references: Iterable[str],
    summary: str | None,
    when_to_use: str | None,
    sampler: Sampler | None,
    test_kwargs: Mapping[str, Any] | None,
    family: str,
    replace: bool,
) -> LossSpec:
    from .nn import module_class

    if name is None:
        base = obj if (inspect.isclass(obj) or inspect.isfunction(obj)) else type(obj)
        raw = getattr(base, "__name__", "")
        name = raw if inspect.isfunction(obj) else _snake(raw)
    if not isinstance(name, str) or not name.isidentifier():
        fail(_WHO, "name", "a Python identifier", name)
    origin = _origin(obj)
    try:
        existing = catalog.get(name)
    except catalog.UnknownLossError:
        existing = None
    if existing is not None:
        if existing.builtin:
            fail(_WHO, "name", "a name no built-in loss uses", name)
        if not replace and _ORIGINS.get(name) != origin:
            fail(_WHO, "name", "unused (pass replace=True to replace your earlier loss)", name)
    if derivative_fn is not None and not callable(derivative_fn):
        fail(
            _WHO,
            "derivative_fn",
            "a callable (input, target, **hp) -> tensor",
            derivative_fn,
            kind=TypeError,
        )
    if sampler is not None and not isinstance(sampler, Sampler):
        fail(
            _WHO,
            "sampler",
            "a losslab.catalog.Sampler",
            Raw(type(sampler).__name__),
            kind=TypeError,
        )
    if isinstance(references, str):
        references = (references,)
    kind, task_tuple = _resolve_kind_and_tasks(input_kind, tasks)
    head_map = _resolve_heads(heads, kind, task_tuple)
    props = _resolve_properties(properties)
    sampler = sampler or _default_sampler(kind, task_tuple)

    call, hps, described = _adapt(obj, name)

    @loss_function(name, reduction=REDUCTION)
    def function(
        input: torch.Tensor, target: torch.Tensor, *, reduction: str = "mean", **hp: Any
    ) -> torch.Tensor:
        return call(input, target, reduction, **hp)

    doc = inspect.getdoc(obj) if (inspect.isfunction(obj) or inspect.isclass(obj)) else None
    function.__name__ = function.__qualname__ = name
    function.__module__ = getattr(obj, "__module__", None) or type(obj).__module__
    function.__doc__ = doc or f"User loss {name!r} ({described})."
    del function.__wrapped__  # the signature below is the catalog's view of the callable
    P = inspect.Parameter
    function.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            P("input", P.POSITIONAL_OR_KEYWORD),
            P("target", P.POSITIONAL_OR_KEYWORD),
            P("reduction", P.KEYWORD_ONLY, default="mean"),
            *hps,
        ],
        return_annotation=torch.Tensor,
    )
    _trial_call(name, function, sampler, dict(test_kwargs or {}))

    class_name = "".join(part.capitalize() for part in name.split("_")) or name
    module = module_class(
        function,
        class_name,
        module=function.__module__,
        doc=f"Module form of the user loss {name!r} ({described}).",
    )
    first_line = (doc or "").strip().split("\n")[0]
    spec = LossSpec(
        name=name,
        function=function,
        module=module,
        family=family,
        tasks=task_tuple,
        input_kind=kind,
        heads=head_map,
        formula=formula or "(not given)",
        derivative=derivative or ("(not given)" if derivative_fn is not None else "(autograd)"),
        derivative_fn=derivative_fn,
        properties=props,
        references=tuple(references),
        summary=summary or first_line or f"User loss ({described}).",
        when_to_use=when_to_use or "(not given)",
        sampler=sampler,
        test_kwargs=dict(test_kwargs or {}),
        builtin=False,
        notes=f"User loss registered from {described} in module {function.__module__}.",
    )
    catalog.register(spec, replace=existing is not None)
    _ORIGINS[name] = origin
    try:
        obj.__losslab_spec__ = (
            spec  # lets load_loss register the same object again after unregister
        )
    except (AttributeError, TypeError):
        pass
    return spec


def unregister_loss(name: str) -> LossSpec:
    """Remove a user loss from the catalog (built-ins cannot be removed); return its spec."""
    spec = catalog.unregister(name)
    _ORIGINS.pop(name, None)
    return spec


_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def _import(module_name: str, search_cwd: bool) -> Any:
    """``importlib.import_module``, with the current directory first on sys.path for this import
    only when ``search_cwd`` (as ``python -m`` puts it there)."""
    if not search_cwd:
        return importlib.import_module(module_name)
    cwd = os.getcwd()
    sys.path.insert(0, cwd)
    importlib.invalidate_caches()  # a module file written after start-up must be found
    try:
        return importlib.import_module(module_name)
    finally:
        if sys.path and sys.path[0] == cwd:
            del sys.path[0]
        elif cwd in sys.path:  # the imported module moved it: remove the entry we added
            sys.path.remove(cwd)


def load_loss(path: str, *, search_cwd: bool = False) -> LossSpec:
    """Import ``"package.module:attribute"`` and return the loss's catalog spec.

    The attribute may be a function or module decorated with :func:`register_loss` (registered
    when its module is imported), an undecorated callable (registered now with default
    metadata, named after the attribute), or a :class:`~losslab.catalog.LossSpec`. The import is
    explicit (``importlib.import_module``); nothing else is executed.

    ``search_cwd=True`` also finds modules in the current directory, which goes first on
    ``sys.path`` for this import only, as ``python -m`` would put it. The command line (``losslab
    compare --loss mymod:fn``, ``losslab show mymod:fn``...) passes it: a path typed by the user is
    explicit intent. Library calls default to ``sys.path`` alone, so a program's behaviour does
    not depend on the directory it is started from.

    Raises:
        LossLoadError: a malformed path, a module that cannot be imported, a missing attribute.
    """
    if not isinstance(path, str) or not _PATH.match(path):
        raise LossLoadError(f"load_loss: 'path' must be 'package.module:attribute', got {path!r}")
    module_name, attr = path.split(":")
    try:
        mod = _import(module_name, search_cwd)
    except ModuleNotFoundError as exc:
        where = (
            f"looked in the current directory {os.getcwd()} and on sys.path"
            if search_cwd
            else "is its folder on sys.path / the package installed?"
        )
        raise LossLoadError(
            f"load_loss: 'path' must name an importable module, got {path!r} ({exc}; {where})"
        ) from exc
    except Exception as exc:
        raise LossLoadError(
            f"load_loss: importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    obj: Any = mod
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise LossLoadError(
                f"load_loss: 'path' must name an attribute of module {module_name!r}, "
                f"got {attr!r} (not found)"
            )
        obj = getattr(obj, part)
    spec = obj if isinstance(obj, LossSpec) else getattr(obj, "__losslab_spec__", None)
    if spec is None:
        try:
            return _register(obj, **{**_NO_METADATA, "name": attr.split(".")[-1]})
        except (TypeError, ValueError) as exc:
            raise LossLoadError(f"load_loss: {path!r} could not be registered: {exc}") from exc
    try:
        current = catalog.get(spec.name)
    except catalog.UnknownLossError:
        current = None
    if current is spec:
        return spec
    if current is not None:
        raise LossLoadError(
            f"load_loss: the name {spec.name!r} of {path!r} is taken by another loss"
        )
    catalog.register(spec)
    if not isinstance(obj, LossSpec):
        _ORIGINS[spec.name] = _origin(obj)
    return spec


_NO_METADATA: dict[str, Any] = dict(
    name=None,
    formula=None,
    derivative=None,
    derivative_fn=None,
    tasks=None,
    heads=None,
    input_kind=None,
    properties=None,
    references=(),
    summary=None,
    when_to_use=None,
    sampler=None,
    test_kwargs=None,
    family="custom",
    replace=False,
)
