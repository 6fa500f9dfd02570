"""The data model of the catalog: one :class:`LossSpec` per loss."""

from __future__ import annotations

import ast
import inspect
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from .._validation import Param, Raw, declared_params, fail
from .._vocabulary import INPUT_KINDS, PROPERTIES, TASKS

__all__ = ["Case", "Sampler", "Head", "LossSpec", "When", "PROPERTIES", "TASKS", "INPUT_KINDS"]


@dataclass(frozen=True)
class Case:
    """Concrete arguments for calling a loss: positional tensors plus keyword options.

    ``args[0]`` is the input the derivative is taken with respect to.
    """

    args: tuple[torch.Tensor, ...]
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def with_input(self, x: torch.Tensor) -> Case:
        return Case((x, *self.args[1:]), self.kwargs)


@dataclass(frozen=True)
class Sampler:
    """How to make valid inputs for a loss.

    make(gen, dtype, scale): random valid arguments; ``scale`` sets the size of the error (or
        the magnitude of logits), so scale=1e4 produces the extreme inputs of the contract.
    perfect(gen, dtype): arguments where the prediction is perfect (None: no such notion).
    mirror(case): the same case with the error mirrored (None: symmetry does not apply).
    kink(dtype): a case at a point where the loss is not differentiable (for smooth=False).
    empty(dtype): arguments with an empty batch.
    """

    name: str
    make: Callable[[torch.Generator, torch.dtype, float], Case]
    perfect: Callable[[torch.Generator, torch.dtype], Case] | None = None
    mirror: Callable[[Case], Case] | None = None
    kink: Callable[[torch.dtype], Case] | None = None
    empty: Callable[[torch.dtype], Case] | None = None


@dataclass(frozen=True)
class Head:
    """The output layer a loss expects: activation and number of units."""

    activation: (
        str  # "identity", "sigmoid", "softmax", "log_softmax", "tanh", "softplus", "l2_normalize"
    )
    units: str  # "1", "C", "D" (embedding size), "Q" (number of quantiles), "2" (mean and variance)
    note: str = ""
    #: a head with several named outputs (a mean and a variance, four NIG parameters): each
    #: output's name and activation, in the order the loss takes them, splitting the units
    #: evenly (empty: one output, ``activation``); :meth:`split` applies them
    outputs: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        unknown = [a for _, a in self.outputs if a not in _HEAD_ACTIVATIONS]
        if unknown:
            raise ValueError(
                f"Head: 'outputs' activations must be among {sorted(_HEAD_ACTIVATIONS)}, "
                f"got {unknown[0]!r}"
            )

    def describe(self) -> str:
        if self.outputs:
            parts = ", ".join(f"{n} ({a})" for n, a in self.outputs)
            text = f"{self.units} unit(s): {parts}"
            return f"{text}; {self.note}" if self.note else text
        act = "no activation (raw outputs)" if self.activation == "identity" else self.activation
        text = f"{self.units} unit(s), {act}"
        return f"{text}; {self.note}" if self.note else text

    def split(self, z: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Raw outputs (..., units) -> one tensor per declared output, activated.

        The last dimension is cut into ``len(outputs)`` equal chunks (a chunk of width 1 is
        squeezed): ``(..., 2)`` with outputs mean and var gives two ``(...)`` tensors.

        >>> head = Head("identity", "2", outputs=(("mean", "identity"), ("var", "softplus")))
        >>> mean, var = head.split(torch.tensor([[1.0, 0.0]]))
        >>> mean, var
        (tensor([1.]), tensor([0.6931]))
        """
        outputs = self.outputs or (("output", self.activation),)
        k = len(outputs)
        if z.dim() == 0 or z.shape[-1] % k:
            raise ValueError(
                f"Head.split: 'z' must have a last dimension divisible by {k} "
                f"({', '.join(n for n, _ in outputs)}), got shape {tuple(z.shape)}"
            )
        chunks = z.chunk(k, dim=-1) if k > 1 else (z,)
        return tuple(
            _HEAD_ACTIVATIONS[act](c.squeeze(-1) if k > 1 and c.shape[-1] == 1 else c)
            for c, (_, act) in zip(chunks, outputs, strict=True)
        )


_HEAD_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "identity": lambda z: z,
    "softplus": torch.nn.functional.softplus,
    "softplus_plus_one": lambda z: torch.nn.functional.softplus(z) + 1,
    "exp": torch.exp,
    "sigmoid": torch.sigmoid,
    "softmax": lambda z: torch.softmax(z, dim=-1),
    "log_softmax": lambda z: torch.log_softmax(z, dim=-1),
    "tanh": torch.tanh,
}


# -- hyperparameter-dependent properties -------------------------------------------------------

_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


_ARITHMETIC = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_FUNCTIONS = {"cos": torch.cos, "exp": torch.exp, "log": torch.log, "abs": torch.abs}


def _apply(fn: str, v: Any) -> Any:
    return _FUNCTIONS[fn](
        v if isinstance(v, torch.Tensor) else torch.tensor(float(v), dtype=torch.float64)
    )


def _all(value: Any) -> bool:
    """A comparison's truth; a tensor hyperparameter (one value per column) must hold everywhere."""
    return bool(value.all()) if isinstance(value, torch.Tensor) else bool(value)


@dataclass(frozen=True)
class When:
    """A property that holds exactly when a condition on the hyperparameters does.

    ``condition`` is a small Python expression over hyperparameter names: comparisons
    (``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, chained) of names, constants and arithmetic
    of them (``+ - * /``, ``cos``, ``exp``, ``log``, ``abs``), joined by ``and`` / ``or`` / ``not``. It is the one statement of the rule: shown
    as written by ``losslab show`` ("yes if alpha >= 1"), evaluated by
    :meth:`LossSpec.properties_at`, and it proposes its own test settings (:meth:`examples`).
    A tensor hyperparameter satisfies a comparison only if every element does.

    >>> rule = When("alpha >= 1")
    >>> rule.holds({"alpha": 2.0}), rule.holds({"alpha": 0.5})
    (True, False)
    >>> When("fn_cost == fp_cost").names
    ('fn_cost', 'fp_cost')
    """

    condition: str
    #: extra hyperparameter settings the contract tests check this property at
    examples_extra: tuple[Mapping[str, Any], ...] = ()

    def __post_init__(self) -> None:
        try:
            tree = ast.parse(self.condition, mode="eval").body
        except SyntaxError as exc:
            raise ValueError(
                f"When: 'condition' must be a Python expression, got {self.condition!r}"
            ) from exc
        self._check(tree)
        object.__setattr__(self, "_tree", tree)

    def _check(self, node: ast.AST) -> None:
        if isinstance(node, ast.BoolOp):
            for v in node.values:
                self._check(v)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            self._check(node.operand)
        elif isinstance(node, ast.Compare):
            if not all(type(op) in _COMPARE for op in node.ops):
                raise ValueError(
                    f"When: 'condition' must compare with ==, !=, <, <=, >, >=, got {self.condition!r}"
                )
            for operand in (node.left, *node.comparators):
                if not self._is_operand(operand):
                    raise ValueError(
                        "When: 'condition' must compare hyperparameter names and constants, "
                        f"got {self.condition!r}"
                    )
        else:
            raise ValueError(
                f"When: 'condition' must be comparisons joined by and/or/not, got {self.condition!r}"
            )

    @classmethod
    def _is_operand(cls, node: ast.AST) -> bool:
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return cls._is_operand(node.operand)
        if isinstance(node, ast.BinOp):
            return (
                type(node.op) in _ARITHMETIC
                and cls._is_operand(node.left)
                and cls._is_operand(node.right)
            )
        if isinstance(node, ast.Call):
            return (
                isinstance(node.func, ast.Name)
                and node.func.id in _FUNCTIONS
                and len(node.args) == 1
                and not node.keywords
                and cls._is_operand(node.args[0])
            )
        return isinstance(node, (ast.Name, ast.Constant))

    @property
    def names(self) -> tuple[str, ...]:
        """The hyperparameters the condition reads, in order of appearance."""
        calls = {id(n.func) for n in ast.walk(self._tree) if isinstance(n, ast.Call)}  # type: ignore[attr-defined]
        seen = [
            n.id for n in ast.walk(self._tree) if isinstance(n, ast.Name) and id(n) not in calls
        ]  # type: ignore[attr-defined]
        return tuple(dict.fromkeys(seen))

    def holds(self, hparams: Mapping[str, Any]) -> bool:
        """The condition's truth at ``hparams`` (every name in :attr:`names` must be given)."""
        missing = [n for n in self.names if n not in hparams]
        if missing:
            raise KeyError(f"When({self.condition!r}): no value for {', '.join(missing)}")
        return self._eval(self._tree, hparams)  # type: ignore[attr-defined]

    def _value(self, node: ast.AST, hp: Mapping[str, Any]) -> Any:
        if isinstance(node, ast.UnaryOp):
            return -self._value(node.operand, hp)
        if isinstance(node, ast.BinOp):
            return _ARITHMETIC[type(node.op)](
                self._value(node.left, hp), self._value(node.right, hp)
            )
        if isinstance(node, ast.Call):
            return _apply(node.func.id, self._value(node.args[0], hp))  # type: ignore[attr-defined]
        if isinstance(node, ast.Name):
            return hp[node.id]
        return node.value  # type: ignore[attr-defined]

    def _eval(self, node: ast.AST, hp: Mapping[str, Any]) -> bool:
        if isinstance(node, ast.BoolOp):
            parts = (self._eval(v, hp) for v in node.values)
            return all(parts) if isinstance(node.op, ast.And) else any(parts)
        if isinstance(node, ast.UnaryOp):
            return not self._eval(node.operand, hp)
        if not isinstance(node, ast.Compare):  # _check admits only these three node kinds
            raise TypeError(f"When: cannot evaluate {ast.dump(node)} in {self.condition!r}")
        left = self._value(node.left, hp)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = self._value(right_node, hp)
            if not _all(_COMPARE[type(op)](left, right)):
                return False
            left = right
        return True

    def candidates(self, name: str, base: Mapping[str, Any]) -> list[Any]:
        """Values of ``name`` worth testing: each constant it is compared with, and +-0.5, +-1
        around it; for a comparison with another hyperparameter, that one's value in ``base``."""
        out: list[Any] = []
        for node in ast.walk(self._tree):  # type: ignore[attr-defined]
            if not isinstance(node, ast.Compare):
                continue
            operands = [node.left, *node.comparators]
            if not any(isinstance(o, ast.Name) and o.id == name for o in operands):
                continue
            for o in operands:
                if not isinstance(o, (ast.Name, ast.Constant, ast.UnaryOp)):
                    continue  # arithmetic: the rule's examples_extra give the settings
                if isinstance(o, ast.Name):
                    if o.id != name and o.id in base:
                        out.append(base[o.id])
                    continue
                v = self._value(o, base)
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    out.append(v)
                else:
                    out += [v + d for d in (-1, -0.5, 0, 0.5, 1)]
        return out

    def __str__(self) -> str:
        return self.condition


@dataclass(frozen=True)
class LossSpec:
    """Everything losslab knows about one loss."""

    name: str
    function: Callable[..., torch.Tensor]
    module: type[torch.nn.Module] | None
    family: str
    tasks: tuple[str, ...]
    input_kind: str
    heads: Mapping[str, Head]
    formula: str
    derivative: str
    derivative_fn: Callable[..., torch.Tensor] | None
    #: each property: True, False, None (does not apply / unknown) or a :class:`When` rule over
    #: the hyperparameters. After construction this holds the values at the catalog's setting
    #: (:meth:`setting`); the rules move to :attr:`rules`; :meth:`properties_at` resolves them.
    properties: Mapping[str, bool | None | When]
    references: tuple[str, ...]
    summary: str
    when_to_use: str
    sampler: Sampler
    #: keyword options used when the contract tests call the loss (e.g. a class prior)
    test_kwargs: Mapping[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    drop_in_for: str | None = None  # "torch.nn.functional.<name>" for the torch drop-ins
    builtin: bool = True
    notes: str = ""
    #: the hyperparameter-dependent properties (filled from the When values of ``properties``)
    rules: Mapping[str, When] = field(default_factory=dict)

    def __post_init__(self) -> None:
        declared = dict(self.properties)
        rules = {k: v for k, v in self.rules.items() if k in declared}
        rules.update({k: v for k, v in declared.items() if isinstance(v, When)})
        setting = {**self.defaults, **self.test_kwargs}
        for key, rule in list(rules.items()):
            missing = [n for n in rule.names if n not in setting]
            if missing:
                raise ValueError(
                    f"LossSpec {self.name}: 'properties' rule {key}={rule.condition!r} must read "
                    f"hyperparameters with a default or test_kwargs value, got {', '.join(missing)}"
                )
            plain = declared[key]
            # dataclasses.replace passes the resolved values back: a rule stays unless the value
            # given for its property contradicts it (an explicit override)
            if not isinstance(plain, When) and plain != rule.holds(setting):
                del rules[key]
        resolved = {k: (rules[k].holds(setting) if k in rules else v) for k, v in declared.items()}
        object.__setattr__(self, "rules", rules)
        object.__setattr__(self, "properties", resolved)

    @property
    def params(self) -> Mapping[str, Param]:
        return declared_params(self.function)

    def setting(self, **hparams: Any) -> dict[str, Any]:
        """Hyperparameters: the function's defaults, the catalog's ``test_kwargs``, then
        ``hparams``, each checked against its declared constraint (the loss's own message)."""
        loss = getattr(self.function, "__losslab_name__", self.name)
        params = self.params
        for name, value in hparams.items():
            if name not in params or name == "reduction":
                names = [n for n in params if n != "reduction"]
                expected = f"one of {', '.join(names)}" if names else "absent (the loss has none)"
                fail(loss, "hyperparameter", expected, Raw(repr(name)))
            params[name].check(loss, name, value)
        return {**self.defaults, **self.test_kwargs, **hparams}

    def properties_at(self, **hparams: Any) -> dict[str, bool | None]:
        """Every property at these hyperparameters (the rest at the catalog's setting).

        >>> from losslab import catalog
        >>> robust = catalog.get("general_robust_loss")
        >>> robust.properties_at(alpha=2.0)["convex"], robust.properties_at(alpha=0.0)["convex"]
        (True, False)
        >>> robust.properties_at(alpha=float("nan"))
        Traceback (most recent call last):
        ...
        ValueError: general_robust_loss: 'alpha' must be a real number or a floating-point tensor < inf, got nan
        """
        setting = self.setting(**hparams)
        return {
            k: (self.rules[k].holds(setting) if k in self.rules else v)
            for k, v in self.properties.items()
        }

    def describe_property(self, key: str) -> str:
        """``"yes"``, ``"no"``, ``"n/a"`` or the rule (``"yes if alpha >= 1"``)."""
        if key in self.rules:
            return f"yes if {self.rules[key].condition}"
        value = self.properties[key]
        return "n/a" if value is None else ("yes" if value else "no")

    @property
    def defaults(self) -> dict[str, Any]:
        sig = inspect.signature(self.function)
        return {
            n: p.default
            for n, p in sig.parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not inspect.Parameter.empty
        }

    def head_for(self, task: str) -> Head:
        """The head for one of the loss's tasks ("*" in ``heads`` covers every declared task)."""
        if task not in self.tasks:
            raise KeyError(f"{self.name}: no output head declared for task {task!r}")
        if task in self.heads:
            return self.heads[task]
        if "*" in self.heads:
            return self.heads["*"]
        raise KeyError(f"{self.name}: no output head declared for task {task!r}")
