"""Catalog entries of the fast cross entropy on logits and the fused linear cross entropy.

The linear cross entropy's input (``args[0]``) is the hidden features (N, D); its sampler also
makes the (V, D) projection (``args[1]``) and the targets, which always include the last class
so that a projection with a row too few is a detectable mismatch. Properties and derivatives are
with respect to the hidden features, the projection fixed: the loss is convex in them (a convex
function of an affine map) and its gradient, ``(softmax - onehot) @ W``, is bounded by the
weights however large the features grow.
"""

from __future__ import annotations

import torch

from .. import functional as LF
from .. import nn as LN
from ._common import CLASS_HEAD, onehot
from ._registry import register
from ._samplers import BIG, CLASS_LOGITS
from ._spec import Case, Head, LossSpec, Sampler, When

N, D, V = 6, 5, 4


def _ce_grad(x: torch.Tensor, y: torch.Tensor, **_: object) -> torch.Tensor:
    return torch.softmax(x, dim=1) - onehot(y, x)


def _linear_grad(h: torch.Tensor, w: torch.Tensor, y: torch.Tensor, **_: object) -> torch.Tensor:
    z = h @ w.t()
    return (torch.softmax(z, dim=1) - onehot(y, z)) @ w


def _randn(gen: torch.Generator, *shape: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)


def _targets(gen: torch.Generator) -> torch.Tensor:
    y = torch.randint(0, V, (N,), generator=gen)
    y[-1] = V - 1
    return y


def _linear_make(gen: torch.Generator, dtype: torch.dtype, scale: float) -> Case:
    h = (scale * _randn(gen, N, D, dtype=torch.float64)).to(dtype)
    return Case((h, _randn(gen, V, D, dtype=dtype), _targets(gen)))


def _linear_perfect(gen: torch.Generator, dtype: torch.dtype) -> Case:
    y = _targets(gen)
    w = torch.cat([torch.eye(V), torch.zeros(V, D - V)], dim=1).to(dtype)
    h = BIG * torch.nn.functional.one_hot(y, D).to(dtype)
    return Case((h, w, y))


def _linear_empty(dtype: torch.dtype) -> Case:
    return Case(
        (
            torch.zeros(0, D, dtype=dtype),
            torch.ones(V, D, dtype=dtype),
            torch.zeros(0, dtype=torch.long),
        )
    )


LINEAR_HIDDEN = Sampler(
    "linear_hidden", make=_linear_make, perfect=_linear_perfect, empty=_linear_empty
)

_PROPERTIES = dict(
    nonnegative=True,
    # label smoothing keeps a loss at a confident correct prediction; the z-loss term
    # lse_square_scale * lse^2 grows with confidence, its gradient with the logits, and it bends
    # the loss down (1 + 2 s lse < 0) where every logit is very negative
    zero_at_perfect=When("label_smoothing == 0 and lse_square_scale == 0"),
    convex=When("lse_square_scale == 0"),
    smooth=True,
    bounded=False,
    robust_to_outliers=When("lse_square_scale == 0"),
    symmetric=None,
)

register(
    LossSpec(
        name="fast_cross_entropy",
        function=LF.fast_cross_entropy,
        module=LN.FastCrossEntropyLoss,
        family="classification",
        tasks=("multiclass", "imbalanced"),
        input_kind="logits",
        heads={"*": CLASS_HEAD},
        formula=r"\ell = (1-\varepsilon) w_y(\mathrm{lse}(z) - z_y) + \tfrac{\varepsilon}{C}\sum_c "
        r"w_c(\mathrm{lse}(z) - z_c) + \lambda w_y \mathrm{lse}(z)^2,\quad z = \kappa\tanh(x/\kappa)",
        derivative=r"\frac{\partial \ell}{\partial x_j} = \operatorname{softmax}(x)_j - [j = y]"
        r"\quad(\varepsilon = \lambda = 0,\ \text{no cap})",
        derivative_fn=_ce_grad,
        properties=_PROPERTIES,
        references=(
            "Good, Rational decisions, JRSS-B 1952",
            "Chowdhery et al., PaLM: Scaling Language Modeling with Pathways, JMLR 2023 (z-loss)",
            "Gemma Team, Gemma 2: Improving Open Language Models at a Practical Size, 2024 (soft-capping)",
        ),
        summary="Cross entropy on logits with a lean chunked backward, z-loss and logit soft-capping.",
        when_to_use="Large-vocabulary or large-batch classification where F.cross_entropy's "
        "memory (three logits-sized tensors) or time hurts; language-model heads that use z-loss "
        "or soft-capped logits. Same value and gradient as the reference composition.",
        sampler=CLASS_LOGITS,
        notes="Convex for lse_square_scale = 0 and no soft-cap (the contract's defaults). No "
        "double backward.",
    )
)

register(
    LossSpec(
        name="linear_cross_entropy",
        function=LF.linear_cross_entropy,
        module=LN.LinearCrossEntropyLoss,
        family="classification",
        tasks=("multiclass",),
        input_kind="embeddings",
        heads={
            "*": Head(
                "identity",
                "D",
                "the features entering the output layer; its (V, D) weight is the loss's "
                "second argument (or use nn.LinearCrossEntropyHead)",
            )
        },
        formula=r"\ell = \mathrm{CE}(h W^\top + b,\ y)\ \text{(options as fast\_cross\_entropy)}",
        derivative=r"\frac{\partial \ell}{\partial h} = \left(\operatorname{softmax}(hW^\top)"
        r" - \mathrm{onehot}(y)\right) W",
        derivative_fn=_linear_grad,
        properties=_PROPERTIES,
        references=(
            "Wijmans et al., Cut Your Losses in Large-Vocabulary Language Models, ICLR 2025",
            "Hsu et al., Liger Kernel: Efficient Triton Kernels for LLM Training, 2024",
        ),
        summary="Output projection fused with cross entropy: the N x V logits are never stored.",
        when_to_use="Language-model (or any large-vocabulary) output layers, where the logits "
        "dominate memory: memory grows with N*D + V*D instead of N*V.",
        sampler=LINEAR_HIDDEN,
        notes="Properties are w.r.t. the hidden features with the projection fixed. No double "
        "backward.",
    )
)
