"""Class imbalance: class counts, per-class weights, and the logit-adjusted cross entropy.

The weights are meant for the ``weight`` / ``alpha`` arguments of the class-indexed losses, e.g.
``cross_entropy(logits, y, weight=effective_number_weights(class_counts(y_train, C)))``.
A class with zero examples has no defined frequency weight; both weight functions raise a
``ValueError`` naming it (drop the class, or add a pseudo-count such as ``counts + 1``).
:func:`logit_adjusted_cross_entropy` takes the class frequencies themselves (``class_prior``).
The weight helpers are not losses (no entry; documented in :mod:`losslab.utils`); the loss
carries its catalog entry (:func:`entry`). The imbalance family spans this module and
:mod:`.focal` (the focal losses); tested in ``tests/functional/test_classification.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._reduction import upcast
from .._validation import (
    IGNORE_INDEX,
    LABEL_SMOOTHING,
    REDUCTION,
    WEIGHT_PER_CLASS,
    Param,
    check_class_indices,
    check_integer_tensor,
    check_shape,
    check_tensor,
    fail,
    loss_function,
    warn_if_probabilities,
)
from ..catalog._common import CLASS_HEAD, onehot
from ..catalog._samplers import CLASS_LOGITS
from ..catalog._spec import When
from ..functional._common import (
    SOFTMAX_ADVICE,
    check_class_logits,
    check_class_weight,
    empty_mean_guard,
    has_unignored,
)
from ._entry import entry

__all__ = [
    "class_counts",
    "inverse_frequency_weights",
    "effective_number_weights",
    "logit_adjusted_cross_entropy",
]


@loss_function(
    num_classes=Param("int", "the number of classes C", ge=1),
    ignore_index=Param("int", "target value that is not counted", optional=True),
)
def class_counts(
    target: torch.Tensor, num_classes: int, *, ignore_index: int | None = -100
) -> torch.Tensor:
    """Number of examples of each class, shape (C,), dtype int64.

    Args:
        target: class indices, any shape; values equal to ``ignore_index`` are not counted.
        num_classes: C (classes that never occur get 0).
        ignore_index: skipped value (``None`` counts everything).

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.class_counts(torch.tensor([0, 2, 2, -100]), 4)
        tensor([1, 0, 2, 0])
    """
    name = "class_counts"
    check_integer_tensor(name, "target", target)
    if not isinstance(num_classes, int) or isinstance(num_classes, bool):
        fail(name, "num_classes", "an integer >= 1", num_classes, kind=TypeError)
    if num_classes < 1:
        fail(name, "num_classes", "an integer >= 1", num_classes)
    flat = target.reshape(-1)
    if ignore_index is not None:
        flat = flat[flat != ignore_index]
    if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) >= num_classes):
        bad = int(flat.min()) if int(flat.min()) < 0 else int(flat.max())
        extra = f" or ignore_index={ignore_index}" if ignore_index is not None else ""
        fail(name, "target", f"class indices in [0, {num_classes - 1}]{extra}", bad)
    return torch.bincount(flat, minlength=num_classes)


def _positive_counts(name: str, counts: torch.Tensor) -> torch.Tensor:
    check_tensor(name, "counts", counts, floating=False)
    if counts.dim() != 1 or counts.numel() == 0:
        fail(name, "counts", "a non-empty 1-D tensor of shape (C,)", f"shape {tuple(counts.shape)}")
    n = counts.double() if not counts.is_floating_point() else counts
    bad = ~(n > 0) | ~torch.isfinite(n)
    if bool(bad.any()):
        c = int(bad.nonzero()[0, 0])
        fail(
            name,
            "counts",
            f"finite and > 0 for every class (class {c} has none; drop it or add a pseudo-count)",
            counts,
        )
    return n


@loss_function(normalize=Param("bool", "rescale the weights to mean 1"))
def inverse_frequency_weights(counts: torch.Tensor, *, normalize: bool = True) -> torch.Tensor:
    r"""Per-class weights :math:`w_c \propto 1 / n_c`, rescaled to mean 1 by default.

    With ``normalize`` the weights are :math:`w_c = C\,n_c^{-1} / \sum_j n_j^{-1}`; without it
    :math:`w_c = 1 / n_c`. Integer counts give float64 weights (cast them to your logits' dtype);
    floating counts keep their dtype.

    Args:
        counts: examples per class, shape (C,), every entry > 0 (``ValueError`` otherwise).
        normalize: rescale to mean 1.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.inverse_frequency_weights(torch.tensor([10, 30, 60]))
        tensor([2.0000, 0.6667, 0.3333], dtype=torch.float64)

    References:
        King & Zeng, "Logistic Regression in Rare Events Data", Political Analysis 2001 (weighting
        by inverse class frequency).
    """
    n = _positive_counts("inverse_frequency_weights", counts)
    w = 1.0 / n
    return w * (w.numel() / w.sum()) if normalize else w


@loss_function(beta=Param("float", "the effective-number hyperparameter", ge=0, lt=1))
def effective_number_weights(counts: torch.Tensor, *, beta: float = 0.999) -> torch.Tensor:
    r"""Class-balanced weights from the effective number of samples, normalised to sum C.

    .. math::
        E_c = \frac{1 - \beta^{n_c}}{1 - \beta},\qquad
        w_c = C \frac{1 / E_c}{\sum_j 1 / E_j}

    :math:`1 - \beta^{n}` is computed as ``-expm1(n * log(beta))`` (accurate for
    :math:`\beta` close to 1). :math:`\beta = 0` gives equal weights; :math:`\beta \to 1`
    approaches inverse frequency.

    Args:
        counts: examples per class, shape (C,), every entry > 0 (``ValueError`` otherwise).
        beta: in [0, 1); the paper uses 0.9 ... 0.9999.

    Example:
        >>> import torch, losslab.functional as LF
        >>> LF.effective_number_weights(torch.tensor([1, 2]), beta=0.5)
        tensor([1.2000, 0.8000], dtype=torch.float64)

    References:
        Cui, Jia, Lin, Song, Belongie, "Class-Balanced Loss Based on Effective Number of
        Samples", CVPR 2019.
    """
    n = _positive_counts("effective_number_weights", counts)
    if beta == 0:
        inv_effective = torch.ones_like(n)
    else:
        inv_effective = (-torch.expm1(torch.tensor(beta, dtype=n.dtype).log())) / (
            -torch.expm1(n * torch.tensor(beta, dtype=n.dtype).log())
        )
    return inv_effective * (n.numel() / inv_effective.sum())


# -- logit adjustment --------------------------------------------------------------------------


_CLASS_PRIOR = torch.tensor([0.5, 0.25, 0.15, 0.10], dtype=torch.float64)


def _logit_adjusted_grad(x, y, *, class_prior, tau, **_):
    prior = class_prior.to(x.dtype) / class_prior.sum()
    return torch.softmax(x + tau * torch.log(prior), dim=1) - onehot(y, x)


@entry(
    module="LogitAdjustedCrossEntropyLoss",
    family="imbalance",
    tasks=("multiclass", "imbalanced"),
    input_kind="logits",
    heads={"*": CLASS_HEAD},
    formula=r"\ell = -\log \frac{e^{x_y + \tau \log \pi_y}}{\sum_j e^{x_j + \tau \log \pi_j}}",
    derivative=r"\frac{\partial \ell}{\partial x_j} = \operatorname{softmax}(x + \tau \log \pi)_j"
    r" - [j = y]",
    derivative_fn=_logit_adjusted_grad,
    properties=dict(
        nonnegative=True,
        zero_at_perfect=When("label_smoothing == 0"),
        convex=True,
        smooth=True,
        bounded=False,
        robust_to_outliers=True,
        symmetric=None,
    ),
    references=(
        "Menon, Jayasumana, Rawat, Jain, Veit, Kumar, Long-tail learning via logit "
        "adjustment, ICLR 2021",
    ),
    summary="Cross entropy on logits shifted by tau * log(class prior): balanced-error training.",
    when_to_use="Long-tailed classification evaluated on balanced accuracy; pass the training "
    "class frequencies as class_prior and predict with the unadjusted logits.",
    sampler=CLASS_LOGITS,
    test_kwargs={"class_prior": _CLASS_PRIOR},
)
@loss_function(
    class_prior=Param(
        "tensor", "class frequencies pi_c, shape (C,), normalised internally", gt=0, ndim=1
    ),
    tau=Param("float", "strength of the adjustment", ge=0),
    weight=WEIGHT_PER_CLASS,
    ignore_index=IGNORE_INDEX,
    label_smoothing=LABEL_SMOOTHING,
    reduction=REDUCTION,
)
def logit_adjusted_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    class_prior: torch.Tensor,
    tau: float = 1.0,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Logit-adjusted cross entropy for long-tailed classes.

    .. math::
        \ell_i = \mathrm{CE}\bigl(x_i + \tau \log \pi,\ y_i\bigr),\qquad
        \pi = \text{class\_prior} / \textstyle\sum_c \text{class\_prior}_c

    Training with the prior added to the logits makes the *unadjusted* logits ``x`` estimate
    balanced-error-optimal scores; predict with ``x`` (not ``x + tau log pi``).

    Args:
        logits: shape (N, C) or (N, C, d1, ...).
        target: class indices, shape (N,) or (N, d1, ...).
        class_prior: positive class frequencies or counts, shape (C,) (required).
        tau: >= 0 (1 in the paper); 0 gives plain cross entropy.
        weight, ignore_index, label_smoothing: as in :func:`cross_entropy` (``"mean"`` with
            ``weight`` divides by :math:`\sum_i w_{y_i}` over non-ignored targets).
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``.

    Example:
        >>> import torch, losslab.functional as LF
        >>> prior = torch.tensor([0.9, 0.1])
        >>> LF.logit_adjusted_cross_entropy(torch.zeros(1, 2), torch.tensor([1]), class_prior=prior)
        tensor(2.3026)
    """
    name = "logit_adjusted_cross_entropy"
    c = check_class_logits(name, logits, target, arg="logits")
    check_class_indices(name, "target", target, c, ignore_index)
    check_shape(name, "class_prior", class_prior, (c,), "(C,)")
    check_class_weight(name, weight, c)
    x = upcast(logits)
    warn_if_probabilities(name, "logits", x, dim=1, advice=SOFTMAX_ADVICE)
    prior = class_prior.to(x.dtype)
    shift = tau * (torch.log(prior) - torch.log(prior.sum()))
    adjusted = x + shift.view(1, c, *([1] * (x.dim() - 2)))
    return empty_mean_guard(
        lambda r: F.cross_entropy(
            adjusted,
            target,
            weight=None if weight is None else weight.to(x.dtype),
            ignore_index=ignore_index,
            reduction=r,
            label_smoothing=label_smoothing,
        ),
        reduction,
        has_unignored(target, ignore_index),
    )
