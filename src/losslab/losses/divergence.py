"""Divergences between distributions: Jensen–Shannon (KL is the torch drop-in ``kl_div``).

Each function carries its catalog entry (:func:`entry`); tested in
``tests/functional/test_classification.py``.
"""

from __future__ import annotations

import math

import torch

from .._reduction import reduce_loss
from .._validation import (
    DIV_REDUCTION,
    Param,
    check_log_probabilities,
    check_probabilities,
    fail,
    loss_function,
)
from ..catalog._samplers import DISTRIBUTION_SWAP
from ..catalog._spec import Head
from ..functional._common import prepare_pair
from ._entry import entry

__all__ = ["js_div"]


_LOG2 = math.log(2.0)


def _xlogratio(p: torch.Tensor, log_p: torch.Tensor, log_m: torch.Tensor) -> torch.Tensor:
    """p * (log p - log m), 0 where p == 0, with no NaN in the value or the gradient."""
    pos = p > 0
    safe_log_p = torch.where(pos, log_p, torch.zeros_like(log_p))
    safe_log_m = torch.where(pos, log_m, torch.zeros_like(log_m))
    return torch.where(pos, p * (safe_log_p - safe_log_m), torch.zeros_like(p))


def _js_grad(log_q, p, **_):
    q = torch.exp(log_q)
    m = (p + q) / 2
    return 0.5 * q * (log_q - torch.log(m))


@entry(
    module="JSDivLoss",
    family="distribution",
    tasks=("distribution",),
    input_kind="log_probabilities",
    heads={"*": Head("log_softmax", "C", "log-probabilities, as for kl_div")},
    formula=r"\mathrm{JS}(P, Q) = \tfrac12 \mathrm{KL}(P \| M) + \tfrac12 \mathrm{KL}(Q \| M),"
    r"\quad M = \tfrac12 (P + Q)",
    derivative=r"\frac{\partial\, \mathrm{JS}}{\partial \log q_j} = \tfrac12\, q_j \log \frac{q_j}{m_j}",
    derivative_fn=_js_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=True,
        convex=False,  # not convex in the log-probabilities it takes (where q << p)
        smooth=True,
        bounded=True,  # at most log 2 per distribution
        robust_to_outliers=True,
        symmetric=True,  # swapping prediction and target
    ),
    references=(
        "Lin, Divergence Measures Based on the Shannon Entropy, IEEE Trans. Inf. Theory 1991",
    ),
    summary="Symmetric, bounded (<= log 2) smoothing of KL through the mixture M = (P + Q)/2.",
    when_to_use="Matching distributions whose supports may differ (KL would be infinite), "
    "consistency regularisation between two predictions (e.g. AugMix), or distillation where "
    "a symmetric, bounded penalty is wanted. Input is log-probabilities, like kl_div.",
    sampler=DISTRIBUTION_SWAP,
)
@loss_function(
    log_target=Param("bool", "whether 'target' holds log-probabilities"),
    reduction=DIV_REDUCTION,
    dim=Param("int", "the dimension that holds each distribution"),
)
def js_div(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    log_target: bool = False,
    reduction: str = "batchmean",
    dim: int = -1,
) -> torch.Tensor:
    r"""Jensen–Shannon divergence between the predicted and target distributions.

    With :math:`Q = \exp(\text{input})`, :math:`P` the target and :math:`M = (P + Q)/2`, the
    pointwise terms (``reduction="none"``) are

    .. math::
        j = \tfrac12\bigl[p (\log p - \log m) + q (\log q - \log m)\bigr],\qquad
        \log m = \operatorname{logaddexp}(\log p, \log q) - \log 2,

    each >= 0 (log-sum inequality), 0 where :math:`p = q = 0`; summed over ``dim`` they give
    :math:`\mathrm{JS}(P, Q) \in [0, \log 2]`. The divergence is symmetric in :math:`P, Q`,
    bounded, and finite where the supports differ (unlike KL).

    The default reduction is ``"batchmean"``: the sum divided by the number of distributions
    (``input.numel() / input.shape[dim]``; the batch size N for (N, C) inputs, like
    ``kl_div``'s ``"batchmean"``), i.e. the mean divergence. ``"mean"`` divides by the number of
    *elements*, as ``kl_div``'s ``"mean"`` does, which is the divergence divided by C, not the
    divergence; it is kept only for parity with ``kl_div``.

    Args:
        input: log-probabilities :math:`\log Q` (like ``kl_div``), any shape; a positive value
            raises ``ValueError`` (a content check; probabilities given by mistake are caught).
        target: probabilities :math:`P` in [0, 1] (log-probabilities <= 0 if ``log_target``),
            same shape.
        log_target: whether ``target`` is given in log space.
        reduction: ``"none"`` | ``"batchmean"`` | ``"sum"`` | ``"mean"``.
        dim: the dimension holding each distribution (used by ``"batchmean"``).

    Example:
        >>> import torch, losslab.functional as LF
        >>> p = torch.tensor([[1.0, 0.0]])
        >>> LF.js_div(torch.tensor([[0.0, 1.0]]).log(), p)  # disjoint supports: log 2
        tensor(0.6931)
    """
    name = "js_div"
    log_q, tgt = prepare_pair(name, input, target)
    if log_q.dim() == 0 or not -log_q.dim() <= dim < log_q.dim():
        fail(name, "dim", f"a valid dimension of 'input' with shape {tuple(log_q.shape)}", dim)
    check_log_probabilities(name, "input", log_q)
    if log_target:
        check_log_probabilities(name, "target", tgt)
        log_p = tgt
        p = torch.exp(log_p)
    else:
        check_probabilities(name, "target", tgt)
        p = tgt
        pos = p > 0
        log_p = torch.where(pos, torch.log(torch.where(pos, p, torch.ones_like(p))), -torch.inf)
    q = torch.exp(log_q)
    # where both are 0 the terms vanish; keep logaddexp(-inf, -inf) (NaN gradient) out of the graph
    both_zero = (p == 0) & (q == 0)
    log_m = (
        torch.logaddexp(
            torch.where(both_zero, torch.zeros_like(log_p), log_p),
            torch.where(both_zero, torch.zeros_like(log_q), log_q),
        )
        - _LOG2
    )
    terms = 0.5 * (_xlogratio(p, log_p, log_m) + _xlogratio(q, log_q, log_m))
    size = log_q.shape[dim]
    n_dist = log_q.numel() // size if size > 0 else 0
    return reduce_loss(terms, reduction, name=name, batch_size=n_dist)
