"""Declared parameter constraints and the one error-message template.

Every loss declares its keyword hyperparameters as :class:`Param` objects attached to the
function by :func:`loss_function`. The same declarations drive validation at call time, the
catalog's parameter table, the CLI, and the contract test that feeds an invalid value to every
parameter of every loss.

Messages always read ``"<loss>: '<argument>' must be <expectation>, got <value>"``. Values and
shapes raise :class:`ValueError`, types and dtypes raise :class:`TypeError`.

Checks that look at tensor *contents* (class indices in range, probabilities in [0, 1], targets in
{0, 1}, log-probabilities <= 0, logits that look like probabilities) need a device
synchronisation; switch them off with :func:`set_content_checks` or the :func:`content_checks`
context manager (or ``LOSSLAB_CONTENT_CHECKS=0``) once a pipeline is trusted.

Warnings losslab emits are :class:`LosslabWarning` subclasses (filter them with ``warnings``:
``warnings.filterwarnings("ignore", category=losslab.InputDomainWarning)``); they point at the
line of the caller's code that called the loss, so Python's default filter shows each once per
call site.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

__all__ = [
    "LosslabWarning",
    "InputDomainWarning",
    "Param",
    "Raw",
    "fail",
    "loss_function",
    "content_checks",
    "set_content_checks",
    "content_checks_enabled",
]

F = TypeVar("F", bound=Callable[..., Any])

_CONTENT_CHECKS = os.environ.get("LOSSLAB_CONTENT_CHECKS", "1") not in ("0", "false", "False")


def set_content_checks(enabled: bool) -> None:
    """Turn the checks that read tensor contents on or off globally."""
    global _CONTENT_CHECKS
    _CONTENT_CHECKS = bool(enabled)


def content_checks_enabled() -> bool:
    return _CONTENT_CHECKS


@contextlib.contextmanager
def content_checks(enabled: bool) -> Iterator[None]:
    """Temporarily turn content checks on or off (``with content_checks(False): ...``)."""
    previous = _CONTENT_CHECKS
    set_content_checks(enabled)
    try:
        yield
    finally:
        set_content_checks(previous)


class LosslabWarning(UserWarning):
    """Base class of the warnings losslab emits."""


class InputDomainWarning(LosslabWarning):
    """A loss's input looks like it belongs to another domain (probabilities given to a loss on
    logits or on log-probabilities); see :func:`warn_if_probabilities`."""


class Raw(str):
    """A pre-formatted description of the received value (shown without quotes)."""


def _fmt(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, torch.Tensor):
        if value.numel() <= 6:
            return f"tensor({value.tolist()})"
        return f"tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    return repr(value)


def fail(
    loss: str, arg: str, expected: str, got: Any, *, kind: type[Exception] = ValueError
) -> None:
    """Raise the project's one error message."""
    raise kind(f"{loss}: '{arg}' must be {expected}, got {_fmt(got)}")


def _is_real(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


@dataclass(frozen=True)
class Param:
    """A declared constraint on one keyword hyperparameter.

    kind: ``"float"``, ``"int"``, ``"bool"``, ``"choice"``, ``"tensor"`` (a tensor, checked for
    floating dtype and optional shape rank), or ``"float_or_tensor"``.
    Bounds ``ge``/``gt``/``le``/``lt`` apply to numbers and to every element of a tensor.
    """

    kind: str
    doc: str = ""
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: tuple[Any, ...] = ()
    optional: bool = False
    ndim: int | None = None
    allow_inf: bool = False

    # -- description -------------------------------------------------------------------------
    def bounds_text(self) -> str:
        parts = []
        if self.gt is not None:
            parts.append(f"> {self.gt:g}")
        if self.ge is not None:
            parts.append(f">= {self.ge:g}")
        if self.lt is not None:
            parts.append(f"< {self.lt:g}")
        if self.le is not None:
            parts.append(f"<= {self.le:g}")
        return " and ".join(parts)

    def describe(self) -> str:
        if self.kind == "choice":
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        else:
            base = {
                "float": "a real number",
                "int": "an integer",
                "bool": "a bool",
                "tensor": "a floating-point tensor"
                + (f" with {self.ndim} dimension(s)" if self.ndim is not None else ""),
                "float_or_tensor": "a real number or a floating-point tensor",
            }[self.kind]
            b = self.bounds_text()
            text = base + (f" {b}" if b else "")
            if self.kind in ("float", "float_or_tensor") and not self.allow_inf:
                text = text.replace("a real number", "a finite real number", 1)
        if self.optional:
            text += " (or None)"
        return text

    # -- checking ----------------------------------------------------------------------------
    def _in_bounds_number(self, v: float) -> bool:
        if math.isnan(v):
            return False
        if math.isinf(v) and not self.allow_inf:
            return False
        if self.ge is not None and not v >= self.ge:
            return False
        if self.gt is not None and not v > self.gt:
            return False
        if self.le is not None and not v <= self.le:
            return False
        if self.lt is not None and not v < self.lt:
            return False
        return True

    def _in_bounds_tensor(self, t: torch.Tensor) -> bool:
        if not content_checks_enabled():
            return True
        t = t.detach()
        if torch.isnan(t).any():
            return False
        if not self.allow_inf and torch.isinf(t).any():
            return False
        if self.ge is not None and not bool((t >= self.ge).all()):
            return False
        if self.gt is not None and not bool((t > self.gt).all()):
            return False
        if self.le is not None and not bool((t <= self.le).all()):
            return False
        if self.lt is not None and not bool((t < self.lt).all()):
            return False
        return True

    def check(self, loss: str, name: str, value: Any) -> None:
        if value is None:
            if self.optional:
                return
            fail(loss, name, self.describe(), value, kind=TypeError)
        k = self.kind
        if k == "choice":
            if value not in self.choices:
                fail(loss, name, self.describe(), value)
            return
        if k == "bool":
            if not isinstance(value, bool):
                fail(loss, name, self.describe(), value, kind=TypeError)
            return
        if k == "int":
            if not isinstance(value, int) or isinstance(value, bool):
                fail(loss, name, self.describe(), value, kind=TypeError)
            if not self._in_bounds_number(value):
                fail(loss, name, self.describe(), value)
            return
        if isinstance(value, torch.Tensor):
            if k == "float":
                fail(loss, name, self.describe(), value, kind=TypeError)
            if not value.is_floating_point():
                fail(loss, name, self.describe(), value, kind=TypeError)
            if self.ndim is not None and value.dim() != self.ndim:
                fail(loss, name, self.describe(), value)
            if not self._in_bounds_tensor(value):
                fail(loss, name, self.describe(), value)
            return
        if k == "tensor":
            fail(loss, name, self.describe(), value, kind=TypeError)
        if not _is_real(value):
            fail(loss, name, self.describe(), value, kind=TypeError)
        if not self._in_bounds_number(float(value)):
            fail(loss, name, self.describe(), value)

    # -- test support ------------------------------------------------------------------------
    def invalid_values(self) -> list[tuple[Any, type[Exception]]]:
        """Values this parameter must reject, with the exception type expected."""
        bad: list[tuple[Any, type[Exception]]] = []
        if self.kind == "choice":
            return [("__not_a_choice__", ValueError)]
        if self.kind == "bool":
            return [("yes", TypeError)]
        if not self.optional:
            bad.append((None, TypeError))
        bad.append(("1.0", TypeError))
        for lo in (self.ge, self.gt):
            if lo is not None:
                below = lo - 1 if self.kind == "int" else (lo - 0.5 if self.gt is None else lo)
                bad.append((self._as_kind(below), ValueError))
        for hi in (self.le, self.lt):
            if hi is not None:
                above = hi + 1 if self.kind == "int" else (hi + 0.5 if self.lt is None else hi)
                bad.append((self._as_kind(above), ValueError))
        if self.kind in ("float", "float_or_tensor") and not self.allow_inf:
            bad.append((math.nan, ValueError))
        if self.kind == "int":
            bad.append((1.5, TypeError))
        if self.kind == "tensor":
            bad.append((torch.tensor([1, 2]), TypeError))
        return bad

    def _as_kind(self, v: float) -> Any:
        if self.kind == "int":
            return int(v)
        if self.kind == "tensor":
            return torch.full((2,) if self.ndim in (None, 1) else (2,) * self.ndim, float(v))
        return float(v)


REDUCTION = Param("choice", "how per-element losses are combined", choices=("none", "mean", "sum"))
DIV_REDUCTION = Param(
    "choice",
    "how pointwise terms are combined; 'batchmean' divides the sum by the batch size",
    choices=("none", "mean", "sum", "batchmean"),
)
WEIGHT_PER_CLASS = Param("tensor", "per-class weight, shape (C,)", ge=0, optional=True, ndim=1)
WEIGHT_PER_ELEMENT = Param(
    "tensor",
    "per-element weight, broadcast to the per-element loss (never enlarging it); see "
    "losslab._reduction for what 'mean' divides by",
    ge=0,
    optional=True,
)
POS_WEIGHT = Param(
    "tensor",
    "weight of the positive term, broadcast to 'input' (typically one value per label, shape (C,))",
    ge=0,
    optional=True,
)
IGNORE_INDEX = Param("int", "target value whose elements are skipped")
LABEL_SMOOTHING = Param(
    "float", "mass moved from the target class to the uniform distribution", ge=0, le=1
)


def loss_function(name: str | None = None, **params: Param) -> Callable[[F], F]:
    """Attach declared constraints to a loss function and check keyword arguments on each call."""

    def decorate(fn: F) -> F:
        loss_name = name or fn.__name__

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for key, value in kwargs.items():
                p = params.get(key)
                if p is not None:
                    p.check(loss_name, key, value)
            return fn(*args, **kwargs)

        wrapper.__losslab_params__ = dict(params)  # type: ignore[attr-defined]
        wrapper.__losslab_name__ = loss_name  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def declared_params(fn: Callable[..., Any]) -> Mapping[str, Param]:
    return getattr(fn, "__losslab_params__", {})


# -- tensor checks --------------------------------------------------------------------------


def check_tensor(loss: str, arg: str, x: Any, *, floating: bool = True) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        fail(loss, arg, "a torch.Tensor", Raw(type(x).__name__), kind=TypeError)
    if floating and not x.is_floating_point():
        fail(loss, arg, "a floating-point tensor", x.dtype, kind=TypeError)
    return x


def dtype_name(dtype: torch.dtype) -> Raw:
    """``float32`` for ``torch.float32`` (for messages)."""
    return Raw(str(dtype).removeprefix("torch."))


def check_integer_tensor(
    loss: str, arg: str, x: Any, *, what: str = "class indices"
) -> torch.Tensor:
    """An integer tensor of ``what`` ("<loss>: 'target' must be integer class indices, got
    float32" for a float one)."""
    if not isinstance(x, torch.Tensor):
        fail(loss, arg, f"a torch.Tensor of {what}", Raw(type(x).__name__), kind=TypeError)
    if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
        fail(loss, arg, f"integer {what}", dtype_name(x.dtype), kind=TypeError)
    return x


def check_same_shape(loss: str, a_name: str, a: torch.Tensor, b_name: str, b: torch.Tensor) -> None:
    if a.shape != b.shape:
        fail(
            loss,
            b_name,
            f"of the same shape as '{a_name}' {tuple(a.shape)}",
            Raw(f"shape {tuple(b.shape)}"),
        )


def check_broadcast(
    loss: str, arg: str, t: torch.Tensor, shape: Sequence[int], what: str = "the loss shape"
) -> None:
    """``t`` must broadcast to ``shape`` without enlarging it (a per-element weight, a tensor
    hyperparameter): the result of ``t * loss`` keeps the loss's shape."""
    shape = torch.Size(shape)
    try:
        ok = torch.broadcast_shapes(t.shape, shape) == shape
    except RuntimeError:
        ok = False
    if not ok:
        fail(loss, arg, f"broadcastable to {what} {tuple(shape)}", Raw(f"shape {tuple(t.shape)}"))


def check_shape(loss: str, arg: str, x: torch.Tensor, expected: Sequence[int], text: str) -> None:
    if tuple(x.shape) != tuple(expected):
        fail(loss, arg, f"of shape {text} = {tuple(expected)}", Raw(f"shape {tuple(x.shape)}"))


def check_class_indices(
    loss: str, arg: str, target: torch.Tensor, num_classes: int, ignore_index: int | None = None
) -> None:
    if not content_checks_enabled() or target.numel() == 0:
        return
    t = target.detach()
    lo_t, hi_t = t.aminmax()
    lo, hi = int(lo_t), int(hi_t)
    if 0 <= lo and hi < num_classes:  # one pass in the common case; no boolean indexing
        return
    if ignore_index is not None:
        valid = t != ignore_index
        if not bool(valid.any()):
            return
        # ignored entries take a valid class's place (lo or hi of the rest are what matter)
        flat = valid.reshape(-1)
        fill = t.reshape(-1)[flat.to(torch.uint8).argmax()]  # the first counted entry
        lo_t, hi_t = torch.where(valid, t, fill).aminmax()
        lo, hi = int(lo_t), int(hi_t)
    if lo < 0 or hi >= num_classes:
        bad = lo if lo < 0 else hi
        extra = f" or ignore_index={ignore_index}" if ignore_index is not None else ""
        fail(loss, arg, f"class indices in [0, {num_classes - 1}]{extra}", bad)


def check_in_range(loss: str, arg: str, x: torch.Tensor, lo: float, hi: float, text: str) -> None:
    if not content_checks_enabled() or x.numel() == 0:
        return
    xd = x.detach()
    x_lo, x_hi = xd.aminmax()
    if bool(x_lo >= lo) and bool(x_hi <= hi):  # one pass in the common case (NaN fails it)
        return
    bad = ~((xd >= lo) & (xd <= hi))
    if bool(bad.any()):
        fail(loss, arg, text, float(xd[bad][0]))


def check_probabilities(loss: str, arg: str, x: torch.Tensor) -> None:
    check_in_range(loss, arg, x, 0.0, 1.0, "probabilities in [0, 1]")


def check_values_in(
    loss: str, arg: str, x: torch.Tensor, allowed: Sequence[float], text: str
) -> None:
    if not content_checks_enabled() or x.numel() == 0:
        return
    ok = torch.zeros_like(x, dtype=torch.bool)
    for v in allowed:
        ok |= x == v
    if not bool(ok.all()):
        fail(loss, arg, text, float(x[~ok][0]))


def check_finite(loss: str, arg: str, x: torch.Tensor) -> None:
    if not content_checks_enabled() or x.numel() == 0:
        return
    if not bool(torch.isfinite(x.detach()).all()):
        fail(loss, arg, "finite (no NaN or inf)", Raw("a tensor containing NaN or inf"))


def check_log_probabilities(loss: str, arg: str, x: torch.Tensor) -> None:
    """Log-probabilities are <= 0 (``-inf`` allowed); a positive value raises ``ValueError``."""
    check_in_range(loss, arg, x, -math.inf, 0.0, "log-probabilities <= 0")


# -- input-domain warnings --------------------------------------------------------------------

#: Binary (one score per element) inputs need at least this many values to be judged.
PROBABILITY_MIN_ELEMENTS = 32
#: ... and must reach within this distance of both 0 and 1.
PROBABILITY_EDGE = 0.1

#: Modules whose frames are skipped when a warning looks for the caller's line: the loss layers
#: (the lab, the CLI and the report are callers like any user code) and torch (nn.Module calls).
_INTERNAL = ("losslab.", "torch.")
_CALLERS = ("losslab.lab", "losslab.cli", "losslab.report")


def _caller_stacklevel() -> int:
    """``stacklevel`` for a ``warnings.warn`` made by this function's caller that names the first
    frame outside losslab's loss layers and torch."""
    frame = sys._getframe(1)  # the caller of warnings.warn (stacklevel 1)
    level = 1
    while frame.f_back is not None:
        module = frame.f_globals.get("__name__", "")
        if not module.startswith(_INTERNAL) or module.startswith(_CALLERS):
            break
        frame = frame.f_back
        level += 1
    return level


def _some_inside(x: torch.Tensor) -> bool:
    """Whether some value is strictly inside (0, 1) (all-hard 0/1 inputs are not flagged)."""
    return bool(((x > 0) & (x < 1)).any())


def warn_if_probabilities(
    loss: str,
    arg: str,
    x: torch.Tensor,
    *,
    dim: int | None,
    takes: str = "logits",
    advice: str,
) -> None:
    """Warn (:class:`InputDomainWarning`) when ``x`` looks like probabilities.

    The rule (a content check: skipped when content checks are off; one pass over ``x`` and one
    device synchronisation in the common case, a second pass only when every value is in
    [0, 1]):

    * ``dim`` given (one distribution per slice along ``dim``, e.g. the classes of a softmax
      loss): every value in [0, 1], at least 2 entries along ``dim``, and every slice sums to 1
      (within 1e-3, 1e-2 for float16/bfloat16). Scores rarely do this by chance.
    * ``dim=None`` (one independent score per element, e.g. a sigmoid loss): every value in
      [0, 1], at least :data:`PROBABILITY_MIN_ELEMENTS` (32) values, and they reach both ends
      (min <= 0.1 and max >= 0.9). Fewer values, or values bunched inside (0.1, 0.9), are never
      flagged: logits confined to [0, 1] happen (a batch of one class early in training), logits
      confined to [0, 1] that also span it are rare.

    In both cases an input made only of exact 0s and 1s is not flagged: one-hot scores are more
    often hand-made logits (or labels) than a softmax's output.

    The message reads ``"<loss>: '<arg>' looks like probabilities (...); this loss takes <takes>:
    <advice>"``. The warning points at the caller's line (the first frame outside losslab's loss
    layers and torch), so with Python's default filter it shows once per call site.
    """
    if not _CONTENT_CHECKS or x.numel() == 0:
        return
    xd = x.detach()
    lo, hi = xd.aminmax()
    if dim is None:
        if xd.numel() < PROBABILITY_MIN_ELEMENTS:
            return
        edge = PROBABILITY_EDGE
        if not bool((lo >= 0) & (hi <= 1) & (lo <= edge) & (hi >= 1 - edge)):
            return
        if not _some_inside(xd):
            return
        what = f"every value in [0, 1], the smallest <= {edge:g}, the largest >= {1 - edge:g}"
    else:
        if xd.dim() == 0 or xd.shape[dim] < 2 or not bool((lo >= 0) & (hi <= 1)):
            return
        tol = 1e-2 if xd.dtype in (torch.float16, torch.bfloat16) else 1e-3
        sums = xd.sum(dim, dtype=torch.float64 if xd.dtype == torch.float64 else torch.float32)
        if not bool(((sums - 1).abs() <= tol).all()) or not _some_inside(xd):
            return
        what = f"every value in [0, 1], rows sum to 1 along dim {dim}"
    warnings.warn(
        f"{loss}: '{arg}' looks like probabilities ({what}); this loss takes {takes}: {advice}",
        InputDomainWarning,
        stacklevel=_caller_stacklevel(),
    )
