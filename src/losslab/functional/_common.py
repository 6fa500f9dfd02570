"""Small helpers shared by the loss families (validation + dtype handling, never the math).

The torch drop-ins (the ``_torch_*`` modules) keep torch's names, option names and semantics and
delegate to torch. What losslab adds on top of torch:

* hyperparameters are keyword-only and validated with losslab's messages (torch's deprecated
  ``size_average``/``reduce`` are not accepted);
* input/target shape mismatches raise ``ValueError`` (torch warns and broadcasts, which is
  almost always a bug);
* float16/bfloat16 inputs are computed in float32 (the result is float32);
* ``reduction="mean"`` over an empty batch (or one whose targets are all ignored) returns 0 with
  the graph connected instead of NaN.

Conventions of the losses losslab computes itself (focal, poly-1, margin, noise-robust,
logit-adjusted, JS):

* inputs are **logits** (raw scores), except :func:`js_div`, whose input is log-probabilities;
  input domains are guarded by content checks: a loss on logits warns
  (:class:`~losslab._validation.InputDomainWarning`, once per call site) when its input looks
  like probabilities (the rule is in :func:`~losslab._validation.warn_if_probabilities`), and
  ``js_div`` rejects positive log-probabilities with ``ValueError``. The torch drop-ins on logits
  warn the same way; ``nll_loss`` and ``kl_div`` (log-probabilities) warn when given
  probabilities but accept any real input, as torch does; ``ctc_loss`` and the hinge losses on
  raw scores (``multi_margin_loss``, ``multilabel_margin_loss``, ``multiclass_hinge_loss``,
  ``hinge_loss``) are not checked;
* class-index targets must have an integer dtype: a float target shaped like the indices raises
  ``TypeError`` ("<loss>: 'target' must be integer class indices, got float32");
* class-indexed losses take logits ``(N, C)`` or ``(N, C, d1, ...)`` and integer targets
  ``(N,)`` or ``(N, d1, ...)``; targets equal to ``ignore_index`` (default ``-100``) contribute
  0 and never reach an indexing operation (:func:`class_inputs` replaces them by class 0 and
  returns the mask);
* a per-class ``weight`` multiplies each element by ``w[y]`` and ``"mean"`` is then the weighted
  mean ``sum_i w[y_i] l_i / sum_i w[y_i]`` over non-ignored elements, as in
  ``torch.nn.functional.cross_entropy``; without weights ``"mean"`` divides by the number of
  non-ignored elements (:func:`reduce_class`);
* everything is computed in log space (``logsigmoid``, ``log_softmax``, ``logsumexp``), never by
  clamping probabilities, so values and gradients stay finite for logits of any magnitude.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .._reduction import reduce_loss, upcast
from .._validation import (
    Param,
    Raw,
    check_broadcast,
    check_class_indices,
    check_integer_tensor,
    check_same_shape,
    check_shape,
    check_tensor,
    check_values_in,
    fail,
    warn_if_probabilities,
)

__all__ = [
    "HINGE_MARGIN",
    "SOFTMAX_ADVICE",
    "SIGMOID_ADVICE",
    "prepare_pair",
    "empty_mean_guard",
    "upcast_optional",
    "element_weight",
    "log1mexp",
    "log_one_minus_softmax_target",
    "check_signed_target",
    "check_class_weight",
    "check_class_logits",
    "has_unignored",
    "class_inputs",
    "class_weight",
    "gather_class",
    "reduce_class",
]

#: The margin of torch's hinge drop-ins (any real value, as in torch).
HINGE_MARGIN = Param("float", "margin of the hinge")

#: What to do instead when a loss on logits receives probabilities (:func:`warn_if_probabilities`).
SOFTMAX_ADVICE = "pass the scores before softmax"
SIGMOID_ADVICE = "pass the scores before sigmoid"


def prepare_pair(
    loss: str, input: torch.Tensor, target: torch.Tensor, *, same_shape: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check two floating tensors (and their shapes) and return them upcast to float32 if half."""
    check_tensor(loss, "input", input)
    check_tensor(loss, "target", target)
    if same_shape:
        check_same_shape(loss, "input", input, "target", target)
    return upcast(input), upcast(target)


def empty_mean_guard(
    call: Callable[[str], torch.Tensor], reduction: str, has_elements: bool
) -> torch.Tensor:
    """Call a torch loss; a 'mean' over nothing gives a connected 0 instead of NaN."""
    if reduction == "mean" and not has_elements:
        return call("sum") * 0.0
    return call(reduction)


def upcast_optional(x: torch.Tensor | None) -> torch.Tensor | None:
    """:func:`upcast` for an optional tensor argument (a weight, a ``pos_weight``)."""
    return None if x is None else upcast(x)


def element_weight(
    loss: str, weight: torch.Tensor | None, like: torch.Tensor, *, arg: str = "weight"
) -> torch.Tensor | None:
    """A per-element weight checked to broadcast to ``like`` without enlarging it, upcast from
    half precision (else ``ValueError`` "<loss>: 'weight' must be broadcastable to the loss
    shape ..."). What ``"mean"`` divides by is stated once in :mod:`losslab._reduction`."""
    if weight is None:
        return None
    check_broadcast(loss, arg, weight, like.shape)
    return upcast(weight)


def log1mexp(x: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(x)) for x <= 0, accurate on both sides of -log 2 (Maechler 2012)."""
    return torch.where(
        x > -0.6931471805599453, torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x))
    )


def log_one_minus_softmax_target(
    logits: torch.Tensor, target: torch.Tensor, dim: int = 1
) -> torch.Tensor:
    """log(1 - p_y) computed from logits as logsumexp over the other classes minus logsumexp.

    Exact and finite with finite gradients even when p_y rounds to 1 (no log(0) anywhere).
    ``target`` must hold valid class indices (replace ignored ones before calling).
    """
    onehot = torch.zeros_like(logits, dtype=torch.bool).scatter_(dim, target.unsqueeze(dim), True)
    others = logits.masked_fill(onehot, float("-inf"))
    return torch.logsumexp(others, dim=dim) - torch.logsumexp(logits, dim=dim)


# -- validation shared by several families ---------------------------------------------------


def check_signed_target(
    loss: str, target: torch.Tensor, expected: tuple[int, ...], text: str
) -> None:
    """A {-1, 1} target (integer or floating) of shape ``expected`` (described by ``text``)."""
    check_tensor(loss, "target", target, floating=False)
    if tuple(target.shape) != expected:
        fail(loss, "target", f"of shape {text} = {expected}", f"shape {tuple(target.shape)}")
    check_values_in(loss, "target", target, (-1, 1), "values in {-1, 1}")


def check_class_weight(
    loss: str, weight: torch.Tensor | None, c: int, *, arg: str = "weight"
) -> None:
    """An optional per-class tensor (``weight``, ``alpha``, ...) must have shape (C,)."""
    if weight is not None:
        check_shape(loss, arg, weight, (c,), "(C,)")


def check_class_logits(
    loss: str, logits: torch.Tensor, target: torch.Tensor, *, arg: str = "input"
) -> int:
    """Validate (N, C, *) scores named ``arg`` against (N, *) integer targets; return C."""
    check_tensor(loss, arg, logits)
    check_integer_tensor(loss, "target", target)
    if logits.dim() < 2:
        fail(loss, arg, "of shape (N, C) or (N, C, d1, ...)", Raw(f"shape {tuple(logits.shape)}"))
    expected = (logits.shape[0], *logits.shape[2:])
    if tuple(target.shape) != expected:
        fail(
            loss,
            "target",
            f"of shape (N, d1, ...) = {expected} to match '{arg}' {tuple(logits.shape)}",
            Raw(f"shape {tuple(target.shape)}"),
        )
    return logits.shape[1]


def has_unignored(target: torch.Tensor, ignore_index: int) -> bool:
    """Whether any class-index target counts (is not ``ignore_index``)."""
    return bool((target != ignore_index).any()) if target.numel() else False


# -- class-indexed losses computed by losslab (not delegated to torch) ------------------------


def class_inputs(
    loss: str,
    logits: torch.Tensor,
    target: torch.Tensor,
    ignore_index: int,
    *,
    arg: str = "logits",
    softmax_input: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Validate; return float32-or-wider logits, safe targets (ignored -> 0), valid mask, C.

    ``softmax_input``: the loss applies a softmax over dim 1 to ``logits``, so probabilities
    given instead get an :class:`~losslab._validation.InputDomainWarning` (margin losses on raw
    scores pass False).
    """
    c = check_class_logits(loss, logits, target, arg=arg)
    check_class_indices(loss, "target", target, c, ignore_index)
    if softmax_input:
        warn_if_probabilities(loss, arg, logits, dim=1, advice=SOFTMAX_ADVICE)
    valid = target != ignore_index
    safe = torch.where(valid, target, torch.zeros_like(target))
    return upcast(logits), safe, valid, c


def class_weight(
    loss: str, weight: torch.Tensor | None, c: int, x: torch.Tensor, safe: torch.Tensor
) -> torch.Tensor | None:
    """``w[y]`` per element (or None), after checking that the weight has shape (C,)."""
    if weight is None:
        return None
    check_class_weight(loss, weight, c)
    return weight.to(x.dtype)[safe]


def gather_class(t: torch.Tensor, safe: torch.Tensor) -> torch.Tensor:
    """``t[n, y_n, ...]`` for (N, C, *) ``t`` and (N, *) class indices."""
    return t.gather(1, safe.unsqueeze(1)).squeeze(1)


def reduce_class(
    loss_name: str,
    loss: torch.Tensor,
    valid: torch.Tensor,
    w_y: torch.Tensor | None,
    reduction: str,
) -> torch.Tensor:
    """Apply w[y] and the mask; 'mean' divides by sum of w[y] (or the count) over valid ones."""
    if w_y is not None:
        loss = loss * w_y
    loss = torch.where(valid, loss, torch.zeros_like(loss))
    mask = valid.to(loss.dtype)
    denominator = mask.sum() if w_y is None else (w_y * mask).sum()
    return reduce_loss(loss, reduction, name=loss_name, denominator=denominator)
