"""Class-imbalance helpers: class counts and per-class weights (not losses).

The weights are meant for the ``weight`` / ``alpha`` arguments of the class-indexed losses, e.g.
``cross_entropy(logits, y, weight=effective_number_weights(class_counts(y_train, C)))``.
A class with zero examples has no defined frequency weight; both weight functions raise a
``ValueError`` naming it (drop the class, or add a pseudo-count such as ``counts + 1``).
"""

from __future__ import annotations

import torch

from .._validation import Param, check_integer_tensor, check_tensor, fail, loss_function

__all__ = ["class_counts", "inverse_frequency_weights", "effective_number_weights"]


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
