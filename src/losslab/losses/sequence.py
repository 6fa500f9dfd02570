"""Drop-in for ``torch.nn.functional.ctc_loss``, with the gradient w.r.t. ``log_probs`` corrected.

Same name, option names and semantics as torch, delegating to torch; what losslab adds
(validation, float32 for half inputs, a connected 0 for an empty ``"mean"``) is listed in
:mod:`losslab.functional._common`. The function carries its catalog entry (:func:`entry`), whose
reference derivative is the alpha-beta recursion; tested in
``tests/functional/test_torch_dropins.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._reduction import reduce_loss, upcast
from .._validation import (
    REDUCTION,
    Param,
    check_class_indices,
    check_in_range,
    check_integer_tensor,
    check_shape,
    check_tensor,
    content_checks_enabled,
    fail,
    loss_function,
)
from ..catalog._samplers import CTC_SEQUENCES
from ..catalog._spec import Head
from ._entry import entry

__all__ = ["ctc_loss"]


def _lengths(
    name: str, arg: str, x: torch.Tensor | list[int] | tuple[int, ...], n: int | None
) -> torch.Tensor:
    t = torch.as_tensor(x) if isinstance(x, (list, tuple)) else x
    check_integer_tensor(name, arg, t, what="lengths")
    expected = (n,) if n is not None else ()
    if tuple(t.shape) != expected and not (n is None and tuple(t.shape) == (1,)):
        fail(name, arg, f"of shape {expected}", f"shape {tuple(t.shape)}")
    return t.reshape(-1).long()


def _check_ctc(
    name: str,
    log_probs: torch.Tensor,
    targets: torch.Tensor,
    input_lengths: torch.Tensor | list[int] | tuple[int, ...],
    target_lengths: torch.Tensor | list[int] | tuple[int, ...],
    blank: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validate and return batched (T, N, C) log_probs, targets, input and target lengths."""
    check_tensor(name, "log_probs", log_probs)
    if log_probs.dim() not in (2, 3):
        fail(name, "log_probs", "of shape (T, N, C) or (T, C)", f"shape {tuple(log_probs.shape)}")
    check_integer_tensor(name, "targets", targets)
    batched = log_probs.dim() == 3
    t_max, c = log_probs.shape[0], log_probs.shape[-1]
    n = log_probs.shape[1] if batched else None
    il = _lengths(name, "input_lengths", input_lengths, n)
    tl = _lengths(name, "target_lengths", target_lengths, n)
    if blank >= c:
        fail(name, "blank", f"a class index < C = {c}", blank)
    lp = log_probs if batched else log_probs.unsqueeze(1)
    tg = targets if batched or targets.dim() != 1 else targets.unsqueeze(0)
    if tg.dim() not in (1, 2):
        fail(
            name, "targets", "of shape (N, S) or (sum(target_lengths),)", f"shape {tuple(tg.shape)}"
        )
    if tg.dim() == 2:
        check_shape(name, "targets", tg, (lp.shape[1], tg.shape[1]), "(N, S)")
    if not content_checks_enabled():  # everything below reads tensor contents
        return upcast(lp), tg, il, tl
    check_in_range(name, "input_lengths", il, 0, t_max, f"in [0, T = {t_max}]")
    if tg.dim() == 2:
        check_in_range(name, "target_lengths", tl, 0, tg.shape[1], f"in [0, S = {tg.shape[1]}]")
        used = tg[torch.arange(tg.shape[1], device=tg.device) < tl.to(tg.device).unsqueeze(1)]
    else:
        check_in_range(name, "target_lengths", tl, 0, float("inf"), ">= 0")
        if int(tl.sum()) != tg.numel():
            fail(name, "targets", f"of length sum(target_lengths) = {int(tl.sum())}", tg.numel())
        used = tg
    check_class_indices(name, "targets", used, c)
    if used.numel() and bool((used == blank).any()):
        fail(name, "targets", f"free of the blank index {blank}", blank)
    return upcast(lp), tg, il, tl


# -- CTC ---------------------------------------------------------------------------------------


def _shift(v: torch.Tensor, k: int) -> torch.Tensor:
    """v moved k places right (k > 0) or left (k < 0), filled with -inf."""
    out = torch.full_like(v, float("-inf"))
    if k > 0:
        out[k:] = v[:-k]
    else:
        out[:k] = v[-k:]
    return out


def _ctc_sample_grad(lp: torch.Tensor, labels: torch.Tensor, blank: int) -> torch.Tensor:
    """-gamma for one sample: lp (T, C), labels (S,); alpha-beta recursion in log space."""
    ext = torch.full((2 * labels.numel() + 1,), blank, dtype=torch.long)
    ext[1::2] = labels
    # a path may skip the blank between two different labels
    skip = torch.zeros(ext.numel(), dtype=torch.bool)
    skip[2:] = (ext[2:] != blank) & (ext[2:] != ext[:-2])
    emit = lp[:, ext]  # (T, L)
    t_len, n_ext = emit.shape
    ninf = torch.full((n_ext,), float("-inf"), dtype=lp.dtype)
    alpha = [torch.where(torch.arange(n_ext) < 2, emit[0], ninf)]
    for t in range(1, t_len):
        prev = alpha[-1]
        hop = torch.where(skip, _shift(prev, 2), ninf)
        alpha.append(torch.logsumexp(torch.stack([prev, _shift(prev, 1), hop]), 0) + emit[t])
    beta = [torch.where(torch.arange(n_ext) >= n_ext - 2, torch.zeros_like(ninf), ninf)]
    for t in range(t_len - 2, -1, -1):
        nxt = beta[0] + emit[t + 1]
        hop = torch.where(_shift(skip, -2), _shift(nxt, -2), ninf)
        beta.insert(0, torch.logsumexp(torch.stack([nxt, _shift(nxt, -1), hop]), 0))
    post = torch.stack(alpha) + torch.stack(beta)  # log p(path through (t, s)), (T, L)
    post = torch.exp(post - torch.logsumexp(post[-1], 0))
    grad = torch.zeros_like(lp)
    grad.index_add_(1, ext, -post)
    return grad


def _ctc_grad(log_probs, targets, input_lengths, target_lengths, *, blank, **_):
    grad = torch.zeros_like(log_probs)
    for n in range(log_probs.shape[1]):
        t_n, s_n = int(input_lengths[n]), int(target_lengths[n])
        grad[:t_n, n] = _ctc_sample_grad(log_probs[:t_n, n], targets[n, :s_n], blank)
    return grad


@entry(
    module="CTCLoss",
    family="sequence",
    tasks=("sequence",),
    input_kind="log_probabilities",
    heads={
        "sequence": Head("log_softmax", "C", "per frame, C classes including the blank; time first")
    },
    formula=r"\ell = -\log \sum_{\pi \in \mathcal{B}^{-1}(y)} \prod_{t} e^{x_{t, \pi_t}}",
    derivative=r"\frac{\partial \ell}{\partial x_{t,c}} = -\gamma_t(c) = "
    r"-\frac{1}{p(y \mid x)}\sum_{s:\,y'_s = c} \alpha_t(s)\,\beta_t(s)",
    derivative_fn=_ctc_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=True,
        convex=False,
        smooth=True,
        bounded=False,
        robust_to_outliers=True,
        symmetric=None,
    ),
    references=(
        "Graves, Fernández, Gomez and Schmidhuber, Connectionist Temporal Classification: Labelling "
        "Unsegmented Sequence Data with Recurrent Neural Networks, ICML 2006",
    ),
    summary="Negative log-probability of a label sequence, summed over all frame alignments.",
    when_to_use="Speech and handwriting recognition, and any sequence labelling without "
    "frame-level alignment, where the output is not longer than the input.",
    sampler=CTC_SEQUENCES,
    notes="derivative_fn runs the alpha-beta (forward-backward) recursion of Graves et al. "
    "in log space for padded (N, S) targets; gamma_t(c) is the posterior probability that "
    "frame t emits c. torch's kernel returns exp(x) - gamma (the gradient through a "
    "log_softmax), which is wrong w.r.t. log_probs themselves; losslab corrects it to -gamma "
    "(identical after a log_softmax). Not convex: minus a log-sum-exp of linear functions "
    "is concave.",
    drop_in=torch.nn.CTCLoss,
)
@loss_function(
    reduction=REDUCTION,
    blank=Param("int", "index of the blank class", ge=0),
    zero_infinity=Param(
        "bool", "replace infinite losses (impossible alignments) and their gradients by 0"
    ),
)
def ctc_loss(
    log_probs: torch.Tensor,
    targets: torch.Tensor,
    input_lengths: torch.Tensor | list[int] | tuple[int, ...],
    target_lengths: torch.Tensor | list[int] | tuple[int, ...],
    *,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> torch.Tensor:
    r"""Connectionist temporal classification loss (drop-in for ``F.ctc_loss``).

    The negative log-probability of the target, summed over every frame-level path that
    collapses (merge repeats, drop blanks) to it. ``"mean"`` divides each :math:`\ell_n` by its target length, then averages over the
    batch (torch's semantics); ``"sum"`` sums the :math:`\ell_n`.

    Gradient: torch's kernel returns :math:`e^{x} - \gamma` (:math:`\gamma` the posterior
    occupancy of each class), the gradient w.r.t. the logits *before* a ``log_softmax``, which
    is wrong w.r.t. ``log_probs`` itself (pytorch issues #52241, #181534). losslab adds a term of
    value 0 that removes :math:`e^{x}` on the frames each sample uses, so autograd returns the
    true gradient :math:`-\gamma`; through a ``log_softmax`` the result is unchanged.

    Args:
        log_probs: log-probabilities of shape (T, N, C) or (T, C) (time first), usually
            ``log_softmax`` of the network output over the last dimension.
        targets: class indices (never ``blank``), shape (N, S) padded, or the concatenated
            targets of shape (sum(target_lengths),); (S,) for unbatched input.
        input_lengths: frames used per sample, shape (N,) (tensor or sequence of ints).
        target_lengths: target length per sample, shape (N,).
        blank: index of the blank class.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.
        zero_infinity: give impossible alignments (input too short) loss and gradient 0.

    Example:
        >>> import torch, losslab.functional as LF
        >>> lp = torch.tensor([[[0.1, 0.8, 0.1]], [[0.1, 0.1, 0.8]]]).log()
        >>> LF.ctc_loss(lp, torch.tensor([[1, 2]]), [2], [2], reduction="sum")
        tensor(0.4463)
    """
    name = "ctc_loss"
    batched = log_probs.dim() == 3 if isinstance(log_probs, torch.Tensor) else True
    lp, tg, il, tl = _check_ctc(name, log_probs, targets, input_lengths, target_lengths, blank)
    if lp.shape[1] == 0:  # torch rejects an empty batch
        per_sample = lp.sum(dim=(0, 2)) * 0.0
    else:
        per_sample = F.ctc_loss(
            lp, tg, il, tl, blank=blank, reduction="none", zero_infinity=zero_infinity
        )
        if lp.requires_grad:
            per_sample = per_sample + _ctc_gradient_fix(lp, tg, il, tl, blank, zero_infinity)
    if not batched and reduction == "none":
        return per_sample[0]
    if reduction == "mean":
        per_sample = per_sample / tl.to(per_sample.device).clamp_min(1).to(per_sample.dtype)
    return reduce_loss(per_sample, reduction, name=name)


def _ctc_gradient_fix(
    lp: torch.Tensor,
    tg: torch.Tensor,
    il: torch.Tensor,
    tl: torch.Tensor,
    blank: int,
    zero_infinity: bool,
) -> torch.Tensor:
    """Per-sample terms of value 0 whose gradient is -exp(log_probs) on the frames in use."""
    used = torch.arange(lp.shape[0], device=lp.device).unsqueeze(1) < il.to(lp.device).unsqueeze(0)
    if zero_infinity:  # torch zeroes the whole gradient of an infinite loss: keep it zero
        with torch.no_grad():
            finite = torch.isfinite(F.ctc_loss(lp, tg, il, tl, blank=blank, reduction="none"))
        used = used & finite.unsqueeze(0)
    e = lp.exp()
    return -((e - e.detach()) * used.unsqueeze(-1)).sum(dim=(0, 2))
