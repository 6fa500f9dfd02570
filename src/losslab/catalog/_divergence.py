"""Catalog entry of the Jensen–Shannon divergence."""

from __future__ import annotations

import torch

from .. import functional as LF
from .. import nn as LN
from ._registry import register
from ._samplers import DISTRIBUTION_SWAP
from ._spec import Head, LossSpec


def _js_grad(log_q, p, **_):
    q = torch.exp(log_q)
    m = (p + q) / 2
    return 0.5 * q * (log_q - torch.log(m))


register(
    LossSpec(
        name="js_div",
        function=LF.js_div,
        module=LN.JSDivLoss,
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
)
