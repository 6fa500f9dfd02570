"""Losses robust to label noise, on logits: generalized (L_q) and symmetric cross entropy,
bootstrapping (soft and hard), normalized and reverse cross entropy and the active-passive
combinations NCE+RCE and NCE+MAE.

Class-indexed conventions (``ignore_index``, per-class ``weight``, log-space computation) are
those of :mod:`losslab.functional._common`. Each function carries its catalog entry
(:func:`entry`); tested in ``tests/functional/test_classification.py`` (GCE, SCE) and
``tests/functional/test_noisy_labels.py`` (the others).
"""

from __future__ import annotations

import dataclasses

import torch

from .._validation import (
    IGNORE_INDEX,
    REDUCTION,
    WEIGHT_PER_CLASS,
    Param,
    Raw,
    fail,
    loss_function,
)
from ..catalog._common import CLASS_HEAD, onehot, softmax_parts
from ..catalog._samplers import CLASS_LOGITS, C, N
from ..catalog._spec import Case, When
from ..functional._common import (
    class_inputs,
    class_weight,
    gather_class,
    log_one_minus_softmax_target,
    reduce_class,
)
from ._entry import entry

__all__ = [
    "generalized_cross_entropy",
    "symmetric_cross_entropy",
    "soft_bootstrapped_cross_entropy",
    "hard_bootstrapped_cross_entropy",
    "normalized_cross_entropy",
    "reverse_cross_entropy",
    "nce_rce_loss",
    "nce_mae_loss",
]


def _gce_grad(x, y, *, q, **_):
    p, e, p_y = softmax_parts(x, y)
    return p_y**q * (p - e)


@entry(
    module="GeneralizedCrossEntropyLoss",
    family="noisy_labels",
    tasks=("multiclass", "noisy_labels"),
    input_kind="logits",
    heads={"*": CLASS_HEAD},
    formula=r"\ell = \frac{1 - p_y^{\,q}}{q},\quad p = \operatorname{softmax}(x)",
    derivative=r"\frac{\partial \ell}{\partial x_j} = p_y^{\,q}\,(p_j - [j = y])",
    derivative_fn=_gce_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=True,
        convex=False,
        smooth=True,
        bounded=True,
        robust_to_outliers=True,
        symmetric=None,
    ),
    references=(
        "Zhang & Sabuncu, Generalized Cross Entropy Loss for Training Deep Neural Networks "
        "with Noisy Labels, NeurIPS 2018",
    ),
    summary="L_q loss: between cross entropy (q -> 0) and MAE (q = 1), bounded by 1/q.",
    when_to_use="Training labels with a sizeable fraction of errors: confidently "
    "contradicted examples get a vanishing gradient instead of dominating. Trains slower "
    "than CE on clean data.",
    sampler=CLASS_LOGITS,
)
@loss_function(
    q=Param("float", "exponent: q -> 0 gives cross entropy, q = 1 gives MAE", gt=0, le=1),
    weight=WEIGHT_PER_CLASS,
    ignore_index=IGNORE_INDEX,
    reduction=REDUCTION,
)
def generalized_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    q: float = 0.7,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Generalized cross entropy (the :math:`L_q` loss), robust to label noise.

    .. math::
        \ell_i = w_{y_i} \frac{1 - p_{i y_i}^{\,q}}{q},\qquad
        p^{\,q}_{y} = \exp\bigl(q \log\operatorname{softmax}(x)_y\bigr)

    It interpolates between cross entropy (:math:`q \to 0`) and the mean absolute error
    :math:`1 - p_y` (:math:`q = 1`); it is bounded by :math:`1/q`.

    Args:
        logits: shape (N, C) or (N, C, d1, ...).
        target: class indices, shape (N,) or (N, d1, ...).
        q: in (0, 1].
        weight: optional per-class weight (C,); ``"mean"`` divides by :math:`\sum_i w_{y_i}`.
        ignore_index: target value whose elements are skipped.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.generalized_cross_entropy(torch.tensor([[2.0, 0.0, 0.0]]), torch.tensor([0]))
        tensor(0.2205)
    """
    name = "generalized_cross_entropy"
    x, safe, valid, c = class_inputs(name, logits, target, ignore_index)
    w_y = class_weight(name, weight, c, x, safe)
    log_py = gather_class(torch.log_softmax(x, dim=1), safe)
    loss = -torch.expm1(q * log_py) / q
    return reduce_class(name, loss, valid, w_y, reduction)


def _sce_grad(x, y, *, alpha, beta, log_zero, **_):
    p, e, p_y = softmax_parts(x, y)
    return (alpha - beta * log_zero * p_y) * (p - e)


@entry(
    module="SymmetricCrossEntropyLoss",
    family="noisy_labels",
    tasks=("multiclass", "noisy_labels"),
    input_kind="logits",
    heads={"*": CLASS_HEAD},
    formula=r"\ell = -\alpha \log p_y - \beta A (1 - p_y),\quad A = \text{log\_zero} < 0",
    derivative=r"\frac{\partial \ell}{\partial x_j} = (\alpha - \beta A p_y)(p_j - [j = y])",
    derivative_fn=_sce_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=True,
        convex=When("beta == 0"),  # the reverse term -A(1 - p_y) dominates with alpha=0.1, beta=1
        smooth=True,
        bounded=When("alpha == 0"),  # the alpha * CE part grows without bound
        robust_to_outliers=True,
        symmetric=None,
    ),
    references=(
        "Wang, Ma, Chen, Luo, Yi, Bailey, Symmetric Cross Entropy for Robust Learning with "
        "Noisy Labels, ICCV 2019",
    ),
    summary="Cross entropy plus reverse cross entropy (a bounded, noise-tolerant MAE-like term).",
    when_to_use="Noisy labels, especially with many classes: CE keeps learning hard classes, "
    "the reverse term tolerates wrong labels. alpha=0.1, beta=1 is the paper's CIFAR-10 "
    "setting; raise alpha for harder datasets.",
    sampler=CLASS_LOGITS,
)
@loss_function(
    alpha=Param("float", "weight of the cross-entropy term", ge=0),
    beta=Param("float", "weight of the reverse cross-entropy term", ge=0),
    log_zero=Param("float", "the value A that log(0) is replaced by in the reverse CE", lt=0),
    ignore_index=IGNORE_INDEX,
    reduction=REDUCTION,
)
def symmetric_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    alpha: float = 0.1,
    beta: float = 1.0,
    log_zero: float = -4.0,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Symmetric cross entropy: :math:`\alpha\,\mathrm{CE} + \beta\,\mathrm{RCE}`.

    .. math::
        \mathrm{RCE}_i = -\sum_k p_{ik} \log q_{ik} = -A\,(1 - p_{i y_i}),\qquad
        \ell_i = -\alpha \log p_{i y_i} - \beta A (1 - p_{i y_i})

    The reverse cross entropy swaps prediction and (one-hot) label; :math:`\log 0` of the label
    is replaced by :math:`A` (``log_zero`` < 0, the paper uses -4). :math:`1 - p_y` is computed
    in log space. The defaults :math:`\alpha = 0.1, \beta = 1` are the paper's CIFAR-10 setting.

    Args:
        logits: shape (N, C) or (N, C, d1, ...).
        target: class indices, shape (N,) or (N, d1, ...).
        alpha: weight of CE, >= 0.
        beta: weight of RCE, >= 0.
        log_zero: :math:`A < 0`.
        ignore_index: target value whose elements are skipped; ``"mean"`` divides by the
            number of non-ignored targets.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.symmetric_cross_entropy(torch.tensor([[2.0, 0.0, 0.0]]), torch.tensor([0]))
        tensor(0.8760)
    """
    name = "symmetric_cross_entropy"
    x, safe, valid, _ = class_inputs(name, logits, target, ignore_index)
    ce = -gather_class(torch.log_softmax(x, dim=1), safe)
    rce = -log_zero * torch.exp(log_one_minus_softmax_target(x, safe, dim=1))
    return reduce_class(name, alpha * ce + beta * rce, valid, None, reduction)


# -- bootstrapping (Reed et al. 2015) ---------------------------------------------------------

_REED = (
    "Reed, Lee, Anguelov, Szegedy, Erhan, Rabinovich, Training Deep Neural Networks on Noisy "
    "Labels with Bootstrapping, ICLR 2015 (workshop track)",
)


def _soft_bootstrap_grad(x, y, *, beta, **_):
    p, e, _ = softmax_parts(x, y)
    log_p = torch.log_softmax(x, dim=1)
    entropy = -(p * log_p).sum(dim=1, keepdim=True)
    return beta * (p - e) - (1 - beta) * p * (log_p + entropy)


@entry(
    module="SoftBootstrappedCrossEntropyLoss",
    family="noisy_labels",
    tasks=("multiclass", "noisy_labels"),
    input_kind="logits",
    heads={"*": CLASS_HEAD},
    formula=r"\ell = -\sum_k (\beta [k = y] + (1 - \beta) p_k) \log p_k "
    r"= \beta\,\mathrm{CE} + (1 - \beta) H(p)",
    derivative=r"\frac{\partial \ell}{\partial x_j} = \beta (p_j - [j = y]) "
    r"- (1 - \beta)\, p_j (\log p_j + H(p))",
    derivative_fn=_soft_bootstrap_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=True,
        convex=When("beta >= 0.75"),  # for C up to about 90 classes: see notes
        smooth=True,
        bounded=False,
        robust_to_outliers=True,
        symmetric=None,
    ),
    references=_REED,
    summary="Cross entropy against the label mixed with the model's own prediction "
    "(= CE plus an entropy penalty): confident predictions may overrule a wrong label.",
    when_to_use="Moderate label noise where the model's own confident predictions are more "
    "often right than the label; beta = 0.95 is the paper's setting. Gains over CE are "
    "usually small; prefer GCE or NCE+RCE at high noise rates.",
    sampler=CLASS_LOGITS,
    notes="Convex in the logits exactly when beta >= beta*(C), a threshold that grows with "
    "the number of classes C (the entropy term's curvature): 0.5 at C = 2, 0.56 at C = 4, 0.63 "
    "at C = 10, 0.76 at C = 100 (computed numerically). The rule 'beta >= 0.75' holds for C up "
    "to about 90; the default 0.95 is convex for any practical C.",
)
@loss_function(
    beta=Param("float", "weight of the given label; 1 - beta goes to the prediction", gt=0, le=1),
    ignore_index=IGNORE_INDEX,
    reduction=REDUCTION,
)
def soft_bootstrapped_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    beta: float = 0.95,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Soft bootstrapping: cross entropy against :math:`\beta\,\mathrm{onehot}(y) + (1-\beta)p`.

    .. math::
        \ell_i = -\sum_k \bigl(\beta [k = y_i] + (1 - \beta) p_{ik}\bigr) \log p_{ik}
               = -\beta \log p_{i y_i} + (1 - \beta) H(p_i)

    The prediction :math:`p` in the target is **not** detached: Reed et al. present the soft
    form as cross entropy plus a minimum-entropy regulariser (Grandvalet & Bengio), which is
    what the gradient through :math:`p` gives. With :math:`p` detached the second term's
    gradient, :math:`(1-\beta)(p - p)`, is zero and the loss trains exactly like
    :math:`\beta`-scaled cross entropy, so the detached variant would not bootstrap at all.
    :math:`\beta = 1` is cross entropy. Computed from ``log_softmax`` (:math:`p \log p` is 0,
    not NaN, where :math:`p` underflows).

    Args:
        logits: shape (N, C) or (N, C, d1, ...).
        target: class indices, shape (N,) or (N, d1, ...).
        beta: in (0, 1]: the weight of the given label (the paper uses 0.95).
        ignore_index: target value whose elements are skipped; ``"mean"`` divides by the
            number of non-ignored targets.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.soft_bootstrapped_cross_entropy(torch.tensor([[2.0, 0.0, 0.0]]), torch.tensor([0]))
        tensor(0.2608)
    """
    name = "soft_bootstrapped_cross_entropy"
    x, safe, valid, _ = class_inputs(name, logits, target, ignore_index)
    log_p = torch.log_softmax(x, dim=1)
    ce = -gather_class(log_p, safe)
    entropy = -(log_p.exp() * log_p).sum(dim=1)
    return reduce_class(name, beta * ce + (1 - beta) * entropy, valid, None, reduction)


def _hard_bootstrap_grad(x, y, *, beta, **_):
    p, e, _ = softmax_parts(x, y)
    return p - beta * e - (1 - beta) * onehot(x.argmax(dim=1), x)


def _tied_top_two(dtype: torch.dtype) -> Case:
    """Logits whose two largest entries tie (the argmax switches there), varied targets."""
    x = torch.zeros(N, C, dtype=torch.float64)
    x[:, 0] = x[:, 1] = 1.0
    x[:, 2:] = torch.linspace(-1.0, 0.5, N, dtype=torch.float64).unsqueeze(1)
    return Case((x.to(dtype), torch.arange(N) % C))


@entry(
    module="HardBootstrappedCrossEntropyLoss",
    family="noisy_labels",
    tasks=("multiclass", "noisy_labels"),
    input_kind="logits",
    heads={"*": CLASS_HEAD},
    formula=r"\ell = -\beta \log p_y - (1 - \beta) \log p_m,\quad m = \arg\max_k p_k",
    derivative=r"\frac{\partial \ell}{\partial x_j} = p_j - \beta [j = y] - (1 - \beta) [j = m]",
    derivative_fn=_hard_bootstrap_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=True,
        convex=When("beta == 1"),  # -log p_m = logsumexp(x) - max(x) is not convex
        smooth=When("beta == 1"),  # the gradient jumps where the argmax m switches
        bounded=False,
        robust_to_outliers=True,
        symmetric=None,
    ),
    references=_REED,
    summary="Cross entropy against the label mixed with the model's own argmax class: "
    "a confident prediction partly replaces a wrong label.",
    when_to_use="Label noise where the model's top class is usually right once it has "
    "learned a little (beta = 0.8 is the paper's setting); start from a model warmed up "
    "with CE, since early on the argmax is noise too.",
    sampler=dataclasses.replace(CLASS_LOGITS, kink=_tied_top_two),
)
@loss_function(
    beta=Param("float", "weight of the given label; 1 - beta goes to the argmax", gt=0, le=1),
    ignore_index=IGNORE_INDEX,
    reduction=REDUCTION,
)
def hard_bootstrapped_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    beta: float = 0.8,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Hard bootstrapping: cross entropy against :math:`\beta\,\mathrm{onehot}(y) +
    (1-\beta)\,\mathrm{onehot}(m)`, :math:`m` the predicted (argmax) class.

    .. math::
        \ell_i = -\beta \log p_{i y_i} - (1 - \beta) \log p_{i m_i},\qquad
        m_i = \arg\max_k x_{ik}

    The argmax is piecewise constant, so no gradient flows through the choice of :math:`m`
    (as in Reed et al.); the loss is continuous but its gradient jumps where two top logits
    tie (ties go to the lowest class index, as :func:`torch.argmax`). Where the prediction
    agrees with the label it is cross entropy; :math:`\beta = 1` is cross entropy.

    Args:
        logits: shape (N, C) or (N, C, d1, ...).
        target: class indices, shape (N,) or (N, d1, ...).
        beta: in (0, 1]: the weight of the given label (the paper uses 0.8).
        ignore_index: target value whose elements are skipped; ``"mean"`` divides by the
            number of non-ignored targets.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.hard_bootstrapped_cross_entropy(torch.tensor([[0.0, 2.0, 0.0]]), torch.tensor([0]))
        tensor(1.8395)
    """
    name = "hard_bootstrapped_cross_entropy"
    x, safe, valid, _ = class_inputs(name, logits, target, ignore_index)
    log_p = torch.log_softmax(x, dim=1)
    predicted = x.detach().argmax(dim=1)
    loss = -beta * gather_class(log_p, safe) - (1 - beta) * gather_class(log_p, predicted)
    return reduce_class(name, loss, valid, None, reduction)


# -- normalized and reverse cross entropy, active-passive losses (Ma et al. 2020) --------------

_MA = (
    "Ma, Huang, Wang, Romano, Erfani, Bailey, Normalized Loss Functions for Deep Learning "
    "with Noisy Labels, ICML 2020",
)
_WANG = (
    "Wang, Ma, Chen, Luo, Yi, Bailey, Symmetric Cross Entropy for Robust Learning with "
    "Noisy Labels, ICCV 2019",
)
_RCE_CODE_NOTE = (
    "A = log_zero = -4 as in Wang et al. 2019. The authors' public code clamps the one-hot "
    "label at 1e-4 instead (A = ln 1e-4 = -9.21, so its RCE is 2.3 times larger: pass "
    "log_zero=math.log(1e-4) to match it) and the probabilities at 1e-7."
)


def _nce_parts(name: str, logits: torch.Tensor, target: torch.Tensor, ignore_index: int):
    """Validated inputs, log-softmax, and NCE = log p_y / sum_j log p_j per element."""
    x, safe, valid, c = class_inputs(name, logits, target, ignore_index)
    if c < 2:
        fail(name, "logits", "of shape (N, C, ...) with C >= 2 classes", Raw(f"C = {c}"))
    log_p = torch.log_softmax(x, dim=1)
    nce = gather_class(log_p, safe) / log_p.sum(dim=1)
    return x, safe, valid, nce


def _nce_grad(x, y, **_):
    p, e, _ = softmax_parts(x, y)
    log_p = torch.log_softmax(x, dim=1)
    a = (log_p * e).sum(dim=1, keepdim=True)  # log p_y
    b = log_p.sum(dim=1, keepdim=True)  # sum_j log p_j
    return (e - p) / b - a * (1 - x.shape[1] * p) / b**2


def _mae_grad(x, y):
    p, e, p_y = softmax_parts(x, y)
    return p_y * (p - e)


_NCE_PROPERTIES = dict(
    nonnegative=True,
    zero_at_perfect=True,
    convex=False,  # bounded and not constant, so not convex
    smooth=True,
    bounded=True,
    robust_to_outliers=True,
    symmetric=None,
)


@entry(
    module="NormalizedCrossEntropyLoss",
    family="noisy_labels",
    tasks=("multiclass", "noisy_labels"),
    input_kind="logits",
    heads={"*": CLASS_HEAD},
    formula=r"\ell = \frac{\log p_y}{\sum_{j=1}^{C} \log p_j}",
    derivative=r"\frac{\partial \ell}{\partial x_k} = \frac{[k = y] - p_k}{S} "
    r"- \frac{\log p_y\,(1 - C p_k)}{S^2},\quad S = \sum_j \log p_j",
    derivative_fn=_nce_grad,
    properties=_NCE_PROPERTIES,
    references=_MA,
    summary="Cross entropy divided by the sum of the cross entropies against every class: "
    "in [0, 1], noise-tolerant (symmetric), but underfits alone.",
    when_to_use="As the active part of NCE+RCE or NCE+MAE; alone it is robust but learns "
    "slowly and underfits (Ma et al.).",
    sampler=CLASS_LOGITS,
    notes="The normaliser is the paper's sum over all labels j of CE(onehot(j), p) = "
    "-sum_j log p_j; the authors' public code computes the same.",
)
@loss_function(ignore_index=IGNORE_INDEX, reduction=REDUCTION)
def normalized_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Normalized cross entropy (NCE): cross entropy over its sum across all labels.

    .. math::
        \mathrm{NCE}_i = \frac{-\sum_k q_{ik} \log p_{ik}}{-\sum_{j=1}^{C} \sum_k
        [k = j] \log p_{ik}} = \frac{\log p_{i y_i}}{\sum_{j=1}^{C} \log p_{ij}}

    Ma et al.'s normalisation :math:`L(f(x), y) / \sum_j L(f(x), j)` applied to cross
    entropy with one-hot :math:`q`: the denominator is the sum of the cross entropies against
    every possible label, :math:`-\sum_j \log p_j` (computed from ``log_softmax``; it is at
    least :math:`C \log C > 0`, so the ratio is in [0, 1]). Normalised losses satisfy
    :math:`\sum_j L(f(x), j) = 1`, which makes them tolerant to symmetric label noise. Needs
    :math:`C \ge 2`.

    Args:
        logits: shape (N, C) or (N, C, d1, ...), C >= 2.
        target: class indices, shape (N,) or (N, d1, ...).
        ignore_index: target value whose elements are skipped; ``"mean"`` divides by the
            number of non-ignored targets.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.normalized_cross_entropy(torch.zeros(1, 4), torch.tensor([2]))  # uniform: 1/C
        tensor(0.2500)
    """
    name = "normalized_cross_entropy"
    _, _, valid, nce = _nce_parts(name, logits, target, ignore_index)
    return reduce_class(name, nce, valid, None, reduction)


def _rce_grad(x, y, *, log_zero, **_):
    return -log_zero * _mae_grad(x, y)


@entry(
    module="ReverseCrossEntropyLoss",
    family="noisy_labels",
    tasks=("multiclass", "noisy_labels"),
    input_kind="logits",
    heads={"*": CLASS_HEAD},
    formula=r"\ell = -\sum_k p_k \log q_k = -A (1 - p_y),\quad A = \text{log\_zero} < 0",
    derivative=r"\frac{\partial \ell}{\partial x_j} = -A\, p_y (p_j - [j = y])",
    derivative_fn=_rce_grad,
    properties=_NCE_PROPERTIES,
    references=(*_WANG, *_MA),
    summary="Cross entropy with prediction and label swapped: -A (1 - p_y), a scaled MAE; "
    "bounded and noise-tolerant (passive).",
    when_to_use="As the passive part of NCE+RCE or SCE; alone it is robust but trains "
    "slowly, like MAE.",
    sampler=CLASS_LOGITS,
    notes=_RCE_CODE_NOTE,
)
@loss_function(
    log_zero=Param("float", "the value A that log(0) is replaced by", lt=0),
    ignore_index=IGNORE_INDEX,
    reduction=REDUCTION,
)
def reverse_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    log_zero: float = -4.0,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Reverse cross entropy (RCE): :math:`-\sum_k p_k \log q_k` with one-hot :math:`q`.

    .. math::
        \mathrm{RCE}_i = -\sum_k p_{ik} \log q_{ik} = -A\,(1 - p_{i y_i})

    :math:`\log 0` of the one-hot label is replaced by the constant :math:`A` (``log_zero``
    < 0; Wang et al. and Ma et al. state :math:`A = -4`). :math:`1 - p_y` is computed in log
    space. RCE is :math:`-A/2` times the MAE :math:`\sum_k |p_k - q_k| = 2(1 - p_y)`.
    The authors' public code clamps the one-hot label at 1e-4 instead, i.e.
    :math:`A = \ln 10^{-4} \approx -9.21` (pass ``log_zero=math.log(1e-4)`` to match it), and
    the probabilities at 1e-7.

    Args:
        logits: shape (N, C) or (N, C, d1, ...).
        target: class indices, shape (N,) or (N, d1, ...).
        log_zero: :math:`A < 0`.
        ignore_index: target value whose elements are skipped; ``"mean"`` divides by the
            number of non-ignored targets.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.reverse_cross_entropy(torch.zeros(1, 4), torch.tensor([2]))  # 4 * (1 - 1/4)
        tensor(3.)
    """
    name = "reverse_cross_entropy"
    x, safe, valid, _ = class_inputs(name, logits, target, ignore_index)
    rce = -log_zero * torch.exp(log_one_minus_softmax_target(x, safe, dim=1))
    return reduce_class(name, rce, valid, None, reduction)


def _nce_rce_grad(x, y, *, alpha, beta, log_zero, **_):
    return alpha * _nce_grad(x, y) + beta * _rce_grad(x, y, log_zero=log_zero)


_APL_PROPERTIES = dict(_NCE_PROPERTIES, convex=False)  # a sum of two bounded losses


@entry(
    module="NCERCELoss",
    family="noisy_labels",
    tasks=("multiclass", "noisy_labels"),
    input_kind="logits",
    heads={"*": CLASS_HEAD},
    formula=r"\ell = \alpha \frac{\log p_y}{\sum_j \log p_j} - \beta A (1 - p_y)",
    derivative=r"\frac{\partial \ell}{\partial x_k} = \alpha\,\partial_k \mathrm{NCE} "
    r"- \beta A\, p_y (p_k - [k = y])",
    derivative_fn=_nce_rce_grad,
    properties=_APL_PROPERTIES,
    references=_MA,
    summary="Active-passive loss: normalized CE (fits the label) plus reverse CE (pushes "
    "the other classes down); robust and, unlike NCE alone, does not underfit.",
    when_to_use="Noisy labels, symmetric or class-dependent, at high noise rates; alpha=1, "
    "beta=1 is the paper's CIFAR-10 setting (MNIST: beta=10; CIFAR-100: alpha=10, beta=0.1).",
    sampler=CLASS_LOGITS,
    notes=_RCE_CODE_NOTE,
)
@loss_function(
    alpha=Param("float", "weight of the normalized cross entropy (active term)", ge=0),
    beta=Param("float", "weight of the reverse cross entropy (passive term)", ge=0),
    log_zero=Param("float", "the value A that log(0) is replaced by in the reverse CE", lt=0),
    ignore_index=IGNORE_INDEX,
    reduction=REDUCTION,
)
def nce_rce_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    alpha: float = 1.0,
    beta: float = 1.0,
    log_zero: float = -4.0,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Active-passive loss NCE+RCE: :math:`\alpha\,\mathrm{NCE} + \beta\,\mathrm{RCE}`.

    .. math::
        \ell_i = \alpha \frac{\log p_{i y_i}}{\sum_j \log p_{ij}} - \beta A (1 - p_{i y_i})

    :func:`normalized_cross_entropy` plus :func:`reverse_cross_entropy` (see them for the
    normaliser and for :math:`A`). The passive term is the plain RCE, as in the paper and its
    code. The authors' code also has a *normalized* RCE whose normaliser reads
    ``1 / 4 * (num_classes - 1)``, i.e. :math:`(C-1)/4`, where the paper's normalisation gives
    :math:`1 / (-A (C-1))`; it is not used by NCE+RCE and not ported here.

    Args:
        logits: shape (N, C) or (N, C, d1, ...), C >= 2.
        target: class indices, shape (N,) or (N, d1, ...).
        alpha: weight of NCE, >= 0.
        beta: weight of RCE, >= 0.
        log_zero: :math:`A < 0`.
        ignore_index: target value whose elements are skipped; ``"mean"`` divides by the
            number of non-ignored targets.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.nce_rce_loss(torch.zeros(1, 4), torch.tensor([2]))  # 1/4 + 4 * 3/4
        tensor(3.2500)
    """
    name = "nce_rce_loss"
    x, safe, valid, nce = _nce_parts(name, logits, target, ignore_index)
    rce = -log_zero * torch.exp(log_one_minus_softmax_target(x, safe, dim=1))
    return reduce_class(name, alpha * nce + beta * rce, valid, None, reduction)


def _nce_mae_grad(x, y, *, alpha, beta, **_):
    return alpha * _nce_grad(x, y) + beta * _mae_grad(x, y)


@entry(
    module="NCEMAELoss",
    family="noisy_labels",
    tasks=("multiclass", "noisy_labels"),
    input_kind="logits",
    heads={"*": CLASS_HEAD},
    formula=r"\ell = \alpha \frac{\log p_y}{\sum_j \log p_j} + \beta (1 - p_y)",
    derivative=r"\frac{\partial \ell}{\partial x_k} = \alpha\,\partial_k \mathrm{NCE} "
    r"+ \beta\, p_y (p_k - [k = y])",
    derivative_fn=_nce_mae_grad,
    properties=_APL_PROPERTIES,
    references=_MA,
    summary="Active-passive loss: normalized CE plus MAE (1 - p_y); robust, and fits "
    "better than either part alone.",
    when_to_use="Noisy labels; alpha=1, beta=1 is the paper's CIFAR-10 setting. NCE+RCE "
    "is the paper's usual first choice; NCE+MAE behaves much the same.",
    sampler=CLASS_LOGITS,
    notes="MAE here is 1 - p_y, as in the authors' code (so its published alpha, beta "
    "carry over); the paper writes MAE = sum_k |p_k - q_k| = 2 (1 - p_y).",
)
@loss_function(
    alpha=Param("float", "weight of the normalized cross entropy (active term)", ge=0),
    beta=Param("float", "weight of the mean absolute error 1 - p_y (passive term)", ge=0),
    ignore_index=IGNORE_INDEX,
    reduction=REDUCTION,
)
def nce_mae_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    alpha: float = 1.0,
    beta: float = 1.0,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Active-passive loss NCE+MAE: :math:`\alpha\,\mathrm{NCE} + \beta\,(1 - p_y)`.

    .. math::
        \ell_i = \alpha \frac{\log p_{i y_i}}{\sum_j \log p_{ij}} + \beta (1 - p_{i y_i})

    :func:`normalized_cross_entropy` plus the mean absolute error between the softmax and the
    one-hot label, taken as :math:`1 - p_y` (half of the paper's
    :math:`\sum_k |p_k - q_k| = 2(1 - p_y)`, as in the authors' code, so that the published
    :math:`\alpha, \beta` carry over). :math:`1 - p_y` is computed in log space.

    Args:
        logits: shape (N, C) or (N, C, d1, ...), C >= 2.
        target: class indices, shape (N,) or (N, d1, ...).
        alpha: weight of NCE, >= 0.
        beta: weight of MAE, >= 0.
        ignore_index: target value whose elements are skipped; ``"mean"`` divides by the
            number of non-ignored targets.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.nce_mae_loss(torch.zeros(1, 4), torch.tensor([2]))  # 1/4 + 3/4
        tensor(1.)
    """
    name = "nce_mae_loss"
    x, safe, valid, nce = _nce_parts(name, logits, target, ignore_index)
    mae = torch.exp(log_one_minus_softmax_target(x, safe, dim=1))
    return reduce_class(name, alpha * nce + beta * mae, valid, None, reduction)
