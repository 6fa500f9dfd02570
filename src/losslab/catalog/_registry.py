"""The registry of loss specs: lookup with did-you-mean, filtering, registration."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from ._spec import INPUT_KINDS, PROPERTIES, TASKS, LossSpec

__all__ = ["register", "unregister", "get", "list_losses", "names", "UnknownLossError", "suggest"]

_REGISTRY: dict[str, LossSpec] = {}
_ALIASES: dict[str, str] = {}


class UnknownLossError(KeyError, ValueError):
    """Raised by :func:`get` for a name the catalog does not know."""

    def __init__(self, name: str, suggestions: list[str]):
        self.name = name
        self.suggestions = suggestions
        hint = f" Did you mean {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""
        super().__init__(
            f"catalog: unknown loss {name!r}.{hint} See `losslab losses` for the list."
        )

    def __str__(self) -> str:
        return str(self.args[0])


def _ensure_builtins() -> None:
    from . import _builtins  # noqa: F401  (importing registers the built-in specs)


def suggest(name: str, n: int = 3) -> list[str]:
    _ensure_builtins()
    pool = list(_REGISTRY) + list(_ALIASES)
    return difflib.get_close_matches(name, pool, n=n, cutoff=0.5)


def register(spec: LossSpec, *, replace: bool = False) -> LossSpec:
    """Add a loss to the catalog (built-ins and user losses take this same path)."""
    if not isinstance(spec, LossSpec):
        raise TypeError(f"catalog.register: 'spec' must be a LossSpec, got {type(spec).__name__}")
    if not spec.name.isidentifier():
        raise ValueError(f"catalog.register: 'name' must be a Python identifier, got {spec.name!r}")
    taken = spec.name in _REGISTRY or spec.name in _ALIASES
    if taken and not replace:
        raise ValueError(
            f"catalog.register: 'name' must be unused (pass replace=True to override), got {spec.name!r}"
        )
    bad_tasks = [t for t in spec.tasks if t not in TASKS]
    if bad_tasks:
        raise ValueError(
            f"catalog.register: 'tasks' must be among {sorted(TASKS)}, got {bad_tasks}"
        )
    if spec.input_kind not in INPUT_KINDS:
        raise ValueError(
            f"catalog.register: 'input_kind' must be one of {INPUT_KINDS}, got {spec.input_kind!r}"
        )
    unknown = set(spec.properties) - set(PROPERTIES)
    if unknown:
        raise ValueError(
            f"catalog.register: 'properties' must use the keys {sorted(PROPERTIES)}, got {sorted(unknown)}"
        )
    for key, rule in spec.rules.items():
        unknown_names = [n for n in rule.names if n not in spec.params]
        if unknown_names:
            raise ValueError(
                f"catalog.register: 'properties' rules must read declared hyperparameters of {spec.name}, "
                f"got {key}={rule.condition!r} reading {', '.join(unknown_names)}"
            )
    _REGISTRY[spec.name] = spec
    for alias in spec.aliases:
        _ALIASES[alias] = spec.name
    return spec


def unregister(name: str) -> LossSpec:
    """Remove a user-registered loss (and its aliases) from the catalog; return its spec.

    Built-in losses cannot be removed. Tests that register losses call this in their cleanup so
    that the catalog-driven tests never see them.
    """
    _ensure_builtins()
    if name not in _REGISTRY:
        raise UnknownLossError(name, suggest(name))
    spec = _REGISTRY[name]
    if spec.builtin:
        raise ValueError(
            f"catalog.unregister: 'name' must be a user-registered loss (built-ins stay), got {name!r}"
        )
    del _REGISTRY[name]
    for alias in spec.aliases:
        if _ALIASES.get(alias) == name:
            del _ALIASES[alias]
    return spec


def get(name: str) -> LossSpec:
    """Return the spec of a loss by name or alias; unknown names raise with suggestions."""
    _ensure_builtins()
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name in _ALIASES:
        return _REGISTRY[_ALIASES[name]]
    raise UnknownLossError(name, suggest(name))


def names() -> list[str]:
    _ensure_builtins()
    return sorted(_REGISTRY)


def list_losses(
    *,
    task: str | None = None,
    properties: Iterable[str] = (),
    family: str | None = None,
) -> list[LossSpec]:
    """Specs filtered by task, by properties that must hold, and by family."""
    _ensure_builtins()
    if task is not None and task not in TASKS:
        raise ValueError(
            f"catalog.list_losses: 'task' must be one of {sorted(TASKS)}, got {task!r}"
        )
    props = list(properties)
    for p in props:
        if p not in PROPERTIES:
            raise ValueError(
                f"catalog.list_losses: 'properties' must be among {sorted(PROPERTIES)}, got {p!r}"
            )
    out = []
    for spec in sorted(_REGISTRY.values(), key=lambda s: (s.family, s.name)):
        if task is not None and task not in spec.tasks:
            continue
        if family is not None and spec.family != family:
            continue
        if any(spec.properties.get(p) is not True for p in props):
            continue
        out.append(spec)
    return out
