"""Catalog entries of the noise-robust losses (generalized and symmetric cross entropy)."""

from __future__ import annotations

from .. import functional as LF
from .. import nn as LN
from ._common import CLASS_HEAD, softmax_parts
from ._registry import register
from ._samplers import CLASS_LOGITS
from ._spec import LossSpec, When


def _gce_grad(x, y, *, q=0.7, **_):
    p, e, p_y = softmax_parts(x, y)
    return p_y**q * (p - e)


def _sce_grad(x, y, *, alpha=0.1, beta=1.0, log_zero=-4.0, **_):
    p, e, p_y = softmax_parts(x, y)
    return (alpha - beta * log_zero * p_y) * (p - e)


register(
    LossSpec(
        name="generalized_cross_entropy",
        function=LF.generalized_cross_entropy,
        module=LN.GeneralizedCrossEntropyLoss,
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
)


register(
    LossSpec(
        name="symmetric_cross_entropy",
        function=LF.symmetric_cross_entropy,
        module=LN.SymmetricCrossEntropyLoss,
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
)
