"""Catalog entry of the logit-adjusted cross entropy."""

from __future__ import annotations

import torch

from .. import functional as LF
from .. import nn as LN
from ._common import CLASS_HEAD, onehot
from ._registry import register
from ._samplers import CLASS_LOGITS
from ._spec import LossSpec, When

_CLASS_PRIOR = torch.tensor([0.5, 0.25, 0.15, 0.10], dtype=torch.float64)


def _logit_adjusted_grad(x, y, *, class_prior, tau=1.0, **_):
    prior = class_prior.to(x.dtype) / class_prior.sum()
    return torch.softmax(x + tau * torch.log(prior), dim=1) - onehot(y, x)


register(
    LossSpec(
        name="logit_adjusted_cross_entropy",
        function=LF.logit_adjusted_cross_entropy,
        module=LN.LogitAdjustedCrossEntropyLoss,
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
)
