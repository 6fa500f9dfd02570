r"""Cost-sensitive losses: mistakes of different kinds cost different amounts.

A cost matrix :math:`c_{yj}` says what predicting class :math:`j` costs when the truth is
:math:`y` (zero on the diagonal when correct answers are free). The Bayes-optimal decision
predicts the class of least expected cost :math:`\sum_y P(y \mid x)\, c_{yj}` (Elkan 2001); for two
classes with false-negative cost :math:`c_{FN}` and false-positive cost :math:`c_{FP}` that is
"predict positive when :math:`p \ge c_{FP} / (c_{FP} + c_{FN})`".

Two ways to put costs into training, both here:

* **expected cost** (:func:`cost_sensitive_cross_entropy`, :func:`binary_expected_cost_loss`): the
  loss *is* the expected cost of the model's predictive distribution. Bounded and directly the
  quantity to minimise, but, like a squared error on probabilities, its gradient vanishes when a
  prediction is confidently wrong; ``ce_weight`` adds cross entropy to keep it alive;
* **cost-weighted cross entropy** (:func:`binary_cost_sensitive_loss`): the log-loss of positives
  weighted by :math:`c_{FN}` and of negatives by :math:`c_{FP}` (the articles' fraud example:
  missing a fraud costs more than a false alarm). Convex and never saturating; its minimiser is the
  probability re-weighted so that the 0.5 threshold becomes the cost-optimal one.

Each function carries its catalog entry (:func:`entry`); tested in
``tests/functional/test_cost_sensitive.py``.

References:
    Elkan, "The Foundations of Cost-Sensitive Learning", IJCAI 2001.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._reduction import reduce_loss, upcast
from .._validation import (
    REDUCTION,
    Param,
    check_class_indices,
    check_probabilities,
    check_same_shape,
    check_shape,
    check_tensor,
    loss_function,
    warn_if_probabilities,
)
from ..catalog._common import CLASS_HEAD, LOGIT_HEAD, onehot
from ..catalog._samplers import BINARY_LOGITS, CLASS_LOGITS
from ..catalog._spec import When
from ..functional._common import SIGMOID_ADVICE, SOFTMAX_ADVICE, check_class_logits, gather_class
from ._entry import entry

__all__ = [
    "binary_cost_sensitive_loss",
    "binary_expected_cost_loss",
    "cost_sensitive_cross_entropy",
]


COST_MATRIX = Param(
    "tensor", "cost[y, j] of predicting class j when the truth is y, shape (C, C)", ge=0, ndim=2
)


CE_WEIGHT = Param("float", "weight of an added cross-entropy term (0: pure expected cost)", ge=0)


FN_COST = Param("float", "cost of a false negative (a missed positive)", ge=0)


FP_COST = Param("float", "cost of a false positive (a false alarm)", ge=0)


ELKAN = "Elkan, The Foundations of Cost-Sensitive Learning, IJCAI 2001"


# -- expected cost, multiclass -----------------------------------------------------------------


#: a (4, 4) cost matrix for the contract tests: zero diagonal, asymmetric costs
_COST = torch.tensor(
    [[0.0, 1.0, 2.0, 5.0], [1.0, 0.0, 1.0, 2.0], [3.0, 1.0, 0.0, 1.0], [10.0, 2.0, 1.0, 0.0]],
    dtype=torch.float64,
)


def _cost_ce_grad(x, y, *, cost_matrix, ce_weight, **_):
    p = torch.softmax(x, dim=1)
    rows = cost_matrix.to(x.dtype)[y]
    expected = (p * rows).sum(dim=1, keepdim=True)
    return p * (rows - expected) + ce_weight * (p - onehot(y, x))


@entry(
    module="CostSensitiveCrossEntropyLoss",
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
@loss_function(cost_matrix=COST_MATRIX, ce_weight=CE_WEIGHT, reduction=REDUCTION)
def cost_sensitive_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    cost_matrix: torch.Tensor,
    ce_weight: float = 0.0,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Expected misclassification cost of the softmax prediction (optionally plus cross entropy).

    :math:`\ell = \sum_j p_j\, c_{y j} + \lambda\,(-\log p_y)`, :math:`p = \operatorname{softmax}(x)`,
    :math:`\lambda` = ``ce_weight``. With the 0-1 cost (0 on the diagonal, 1 elsewhere) and
    :math:`\lambda = 0` it is the expected 0-1 error :math:`1 - p_y`.

    Args:
        logits: (N, C) or (N, C, d1, ...) scores.
        target: (N,) or (N, d1, ...) class indices.
        cost_matrix: (C, C) non-negative costs, rows = true class, columns = predicted class.
        ce_weight: weight of the cross-entropy term; 0 (default) gives the pure expected cost,
            which is bounded by the largest cost but whose gradient vanishes for confidently
            wrong predictions; a small value (e.g. 0.1) keeps such examples learning.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"`` (mean over elements).

    Example:
        >>> import torch, losslab.functional as LF
        >>> cost = torch.tensor([[0.0, 1.0], [5.0, 0.0]])  # missing class 1 costs 5
        >>> logits = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
        >>> LF.cost_sensitive_cross_entropy(logits, torch.tensor([0, 1]), cost_matrix=cost, reduction="none")
        tensor([0.5000, 2.5000])
    """
    name = "cost_sensitive_cross_entropy"
    c = check_class_logits(name, logits, target, arg="logits")
    check_class_indices(name, "target", target, c)
    check_shape(name, "cost_matrix", cost_matrix, (c, c), "(C, C)")
    x = upcast(logits)
    warn_if_probabilities(name, "logits", x, dim=1, advice=SOFTMAX_ADVICE)
    logp = torch.log_softmax(x, dim=1)
    cost = cost_matrix.to(x.dtype)
    # cost rows of the true classes, moved to the class dimension: (N, C, d1, ...)
    rows = cost[target].movedim(-1, 1)
    loss = (logp.exp() * rows).sum(dim=1)
    if ce_weight:
        loss = loss - ce_weight * gather_class(logp, target)
    return reduce_loss(loss, reduction, name=name)


# -- binary ------------------------------------------------------------------------------------


def _binary_inputs(
    name: str, logits: torch.Tensor, target: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    check_tensor(name, "logits", logits)
    check_tensor(name, "target", target)
    check_same_shape(name, "logits", logits, "target", target)
    check_probabilities(name, "target", target)
    x = upcast(logits)
    warn_if_probabilities(name, "logits", x, dim=None, advice=SIGMOID_ADVICE)
    return x, upcast(target)


def _binary_cs_grad(x, t, *, fn_cost, fp_cost, **_):
    return -fn_cost * t * torch.sigmoid(-x) + fp_cost * (1 - t) * torch.sigmoid(x)


@entry(
    module="BinaryCostSensitiveLoss",
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
@loss_function(fn_cost=FN_COST, fp_cost=FP_COST, reduction=REDUCTION)
def binary_cost_sensitive_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    fn_cost: float = 1.0,
    fp_cost: float = 1.0,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Binary cross entropy with separate false-negative and false-positive costs.

    :math:`\ell = -\,c_{FN}\, t \log\sigma(x) - c_{FP}\,(1 - t) \log(1 - \sigma(x))`, computed with
    log-sigmoid (finite for any logit). With :math:`c_{FN} = c_{FP} = 1` it is BCE; in general it is
    BCE with ``pos_weight`` :math:`c_{FN}/c_{FP}`, times :math:`c_{FP}`. Its minimiser puts
    :math:`\sigma(x) = 1/2` exactly where the cost-optimal threshold :math:`c_{FP}/(c_{FP}+c_{FN})`
    on the true probability lies, so the usual 0.5 decision threshold becomes cost-optimal.

    Args:
        logits: any shape.
        target: labels in [0, 1] (hard or soft), same shape.
        fn_cost: :math:`c_{FN}`, weight of the positives' term (missing a positive).
        fp_cost: :math:`c_{FP}`, weight of the negatives' term (a false alarm).
        reduction: ``"none"`` | ``"mean"`` | ``"sum"`` (mean over elements).

    Example:
        >>> import torch, losslab.functional as LF
        >>> x, t = torch.zeros(2), torch.tensor([1.0, 0.0])
        >>> LF.binary_cost_sensitive_loss(x, t, fn_cost=10.0, fp_cost=1.0, reduction="none")
        tensor([6.9315, 0.6931])
    """
    x, t = _binary_inputs("binary_cost_sensitive_loss", logits, target)
    loss = -(fn_cost * t * F.logsigmoid(x) + fp_cost * (1 - t) * F.logsigmoid(-x))
    return reduce_loss(loss, reduction, name="binary_cost_sensitive_loss")


def _binary_ec_grad(x, t, *, fn_cost, fp_cost, **_):
    s = torch.sigmoid(x) * torch.sigmoid(-x)
    return (-fn_cost * t + fp_cost * (1 - t)) * s


@entry(
    module="BinaryExpectedCostLoss",
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
@loss_function(fn_cost=FN_COST, fp_cost=FP_COST, reduction=REDUCTION)
def binary_expected_cost_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    fn_cost: float = 1.0,
    fp_cost: float = 1.0,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Expected cost of a randomised decision that flags positive with probability :math:`\sigma(x)`.

    The loss (formula below) computes :math:`1 - \sigma(x)` as :math:`\sigma(-x)`. Bounded by the
    larger cost; its gradient vanishes for confidently wrong logits (as for any loss on
    probabilities).

    Args:
        logits: any shape.
        target: labels in [0, 1], same shape.
        fn_cost: :math:`c_{FN}`; fp_cost: :math:`c_{FP}`.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"`` (mean over elements).

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.binary_expected_cost_loss(torch.zeros(2), torch.tensor([1.0, 0.0]), fn_cost=10.0, reduction="none")
        tensor([5.0000, 0.5000])
    """
    x, t = _binary_inputs("binary_expected_cost_loss", logits, target)
    loss = fn_cost * t * torch.sigmoid(-x) + fp_cost * (1 - t) * torch.sigmoid(x)
    return reduce_loss(loss, reduction, name="binary_expected_cost_loss")
