"""Catalog entries of the cost-sensitive losses (Elkan 2001)."""

from __future__ import annotations

import torch

from .. import functional as LF
from .. import nn as LN
from ._common import CLASS_HEAD, LOGIT_HEAD, onehot
from ._registry import register
from ._samplers import BINARY_LOGITS, CLASS_LOGITS
from ._spec import LossSpec, When

ELKAN = "Elkan, The Foundations of Cost-Sensitive Learning, IJCAI 2001"

#: a (4, 4) cost matrix for the contract tests: zero diagonal, asymmetric costs
_COST = torch.tensor(
    [[0.0, 1.0, 2.0, 5.0], [1.0, 0.0, 1.0, 2.0], [3.0, 1.0, 0.0, 1.0], [10.0, 2.0, 1.0, 0.0]],
    dtype=torch.float64,
)


def _cost_ce_grad(x, y, *, cost_matrix, ce_weight=0.0, **_):
    p = torch.softmax(x, dim=1)
    rows = cost_matrix.to(x.dtype)[y]
    expected = (p * rows).sum(dim=1, keepdim=True)
    return p * (rows - expected) + ce_weight * (p - onehot(y, x))


def _binary_cs_grad(x, t, *, fn_cost=1.0, fp_cost=1.0, **_):
    return -fn_cost * t * torch.sigmoid(-x) + fp_cost * (1 - t) * torch.sigmoid(x)


def _binary_ec_grad(x, t, *, fn_cost=1.0, fp_cost=1.0, **_):
    s = torch.sigmoid(x) * torch.sigmoid(-x)
    return (-fn_cost * t + fp_cost * (1 - t)) * s


register(
    LossSpec(
        name="cost_sensitive_cross_entropy",
        function=LF.cost_sensitive_cross_entropy,
        module=LN.CostSensitiveCrossEntropyLoss,
        family="cost_sensitive",
        tasks=("multiclass", "imbalanced"),
        input_kind="logits",
        heads={"*": CLASS_HEAD},
        formula=r"\ell = \sum_j p_j\, c_{y j} + \lambda\,(-\log p_y),\quad p = \operatorname{softmax}(x)",
        derivative=r"\frac{\partial \ell}{\partial x_k} = p_k(c_{y k} - \sum_j p_j c_{y j})"
        r" + \lambda\,(p_k - [k = y])",
        derivative_fn=_cost_ce_grad,
        properties=dict(
            nonnegative=True,  # costs are >= 0
            zero_at_perfect=True,  # with a zero diagonal
            convex=False,  # softmax probabilities are not convex in the logits
            smooth=True,
            bounded=When("ce_weight == 0"),  # at most the largest cost (with ce_weight = 0)
            robust_to_outliers=True,
            symmetric=None,
        ),
        references=(ELKAN,),
        summary="Expected misclassification cost of the softmax prediction under a (C, C) cost matrix.",
        when_to_use="Multiclass problems whose mistakes cost different amounts (e.g. confusing "
        "'malignant' with 'benign' is worse than the reverse). Minimises the expected cost directly; "
        "add ce_weight (e.g. 0.1) when confidently wrong examples stop learning, and predict the "
        "class of least expected cost rather than the argmax.",
        sampler=CLASS_LOGITS,
        test_kwargs={"cost_matrix": _COST},
        notes="Bounded and zero at a perfect prediction for ce_weight = 0 and a zero-diagonal cost "
        "matrix; with the 0-1 cost it is the expected error 1 - p_y.",
    )
)


register(
    LossSpec(
        name="binary_cost_sensitive_loss",
        function=LF.binary_cost_sensitive_loss,
        module=LN.BinaryCostSensitiveLoss,
        family="cost_sensitive",
        tasks=("binary", "imbalanced"),
        input_kind="logits",
        heads={"*": LOGIT_HEAD},
        formula=r"\ell = -c_{FN}\, t \log\sigma(x) - c_{FP}\,(1 - t)\log(1 - \sigma(x))",
        derivative=r"\frac{\partial \ell}{\partial x} = -c_{FN}\, t\, \sigma(-x) + c_{FP}\,(1 - t)\,\sigma(x)",
        derivative_fn=_binary_cs_grad,
        properties=dict(
            nonnegative=True,
            zero_at_perfect=True,
            convex=True,
            smooth=True,
            bounded=When(
                "fn_cost == 0 and fp_cost == 0", examples_extra=({"fn_cost": 0.0, "fp_cost": 0.0},)
            ),
            robust_to_outliers=True,  # |gradient| <= max(c_FN, c_FP)
            symmetric=When("fn_cost == fp_cost"),  # symmetric only when fn_cost == fp_cost
        ),
        references=(ELKAN,),
        summary="BCE whose positives are weighted by the false-negative cost and negatives by the "
        "false-positive cost.",
        when_to_use="Binary problems where a miss and a false alarm cost different amounts (fraud, "
        "screening): set fn_cost and fp_cost to the real costs; the 0.5 threshold then approximates "
        "the cost-optimal decision. Equivalent to BCE with pos_weight = fn_cost / fp_cost.",
        sampler=BINARY_LOGITS,
        test_kwargs={"fn_cost": 5.0, "fp_cost": 1.0},
        notes="Properties are those at the test costs (fn_cost=5, fp_cost=1); with equal costs it is "
        "symmetric (it is then c * BCE).",
    )
)


register(
    LossSpec(
        name="binary_expected_cost_loss",
        function=LF.binary_expected_cost_loss,
        module=LN.BinaryExpectedCostLoss,
        family="cost_sensitive",
        tasks=("binary", "imbalanced"),
        input_kind="logits",
        heads={"*": LOGIT_HEAD},
        formula=r"\ell = c_{FN}\, t\,(1 - \sigma(x)) + c_{FP}\,(1 - t)\,\sigma(x)",
        derivative=r"\frac{\partial \ell}{\partial x} = (c_{FP}(1 - t) - c_{FN}\, t)\,"
        r"\sigma(x)\,\sigma(-x)",
        derivative_fn=_binary_ec_grad,
        properties=dict(
            nonnegative=True,
            zero_at_perfect=True,
            convex=False,
            smooth=True,
            bounded=True,
            robust_to_outliers=True,
            symmetric=When("fn_cost == fp_cost"),  # symmetric only when fn_cost == fp_cost
        ),
        references=(ELKAN,),
        summary="Expected cost of flagging positive with probability sigmoid(x): bounded, directly "
        "the cost to minimise.",
        when_to_use="When the metric is the total cost and outliers or label noise make an unbounded "
        "loss risky; its gradient vanishes for confidently wrong logits, so start from a BCE-trained "
        "model or prefer binary_cost_sensitive_loss.",
        sampler=BINARY_LOGITS,
        test_kwargs={"fn_cost": 5.0, "fp_cost": 1.0},
        notes="Properties are those at the test costs (fn_cost=5, fp_cost=1).",
    )
)
