"""Shared pieces of the segmentation catalog entries (:mod:`._overlap`,
:mod:`losslab.losses.lovasz`): heads, samplers, the softmax chain rule and the common spec fields.

The samplers make (N, C, H, W) logits with (N, H, W) class-index targets (hard labels), and
(N, 1, H, W) logits with {0, 1} targets for the binary Lovász hinge.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._spec import Case, Head, Sampler

SEG_HEAD = Head("identity", "C", "C logits per pixel; the loss applies the softmax over channels")
BINARY_SEG_HEAD = Head("identity", "1", "one logit per pixel; sigmoid(logit) is P(foreground)")

N, C, H = 2, 3, 4
BIG = 1e4
SMOOTH = 1e-5


# -- samplers -------------------------------------------------------------------------------------


def _randn(gen: torch.Generator, *shape: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)


def _seg_sampler(name: str, n: int, h: int, w: int) -> Sampler:
    """(n, C, h, w) logits (``scale`` times standard normal) with (n, h, w) class indices."""

    def make(gen, dtype, scale):
        x = scale * _randn(gen, n, C, h, w, dtype=torch.float64)
        return Case((x.to(dtype), torch.randint(0, C, (n, h, w), generator=gen)))

    def perfect(gen, dtype):
        y = torch.randint(0, C, (n, h, w), generator=gen)
        return Case((BIG * F.one_hot(y, C).movedim(-1, 1).to(dtype), y))

    def kink(dtype):
        # soft labels equal to the prediction: every |p - y| term sits at its kink
        x = _randn(torch.Generator().manual_seed(7), 1, C, 2, 2, dtype=torch.float64)
        return Case((x.to(dtype), torch.softmax(x, dim=1).to(dtype)))

    def empty(dtype):
        return Case((torch.zeros(0, C, h, w, dtype=dtype), torch.zeros(0, h, w, dtype=torch.long)))

    return Sampler(name, make=make, perfect=perfect, kink=kink, empty=empty)


SEG_LOGITS = _seg_sampler("segmentation_logits", N, H, H)
#: one-pixel images, where the Dice term of Dice + CE weighs as much as the (convex) CE term, so
#: the sum's non-convexity shows up on random inputs (on 4x4 images CE dominates it)
SEG_PIXEL_LOGITS = _seg_sampler("segmentation_pixel_logits", 6, 1, 1)


def _bits(gen, *shape):
    return torch.randint(0, 2, shape, generator=gen).to(torch.float64)


BINARY_SEG_LOGITS = Sampler(
    "binary_segmentation_logits",
    make=lambda gen, dtype, scale: (lambda x, y: Case((x.to(dtype), y.to(dtype))))(
        scale * _randn(gen, N, 1, H, H, dtype=torch.float64), _bits(gen, N, 1, H, H)
    ),
    perfect=lambda gen, dtype: (lambda y: Case(((BIG * (2 * y - 1)).to(dtype), y.to(dtype))))(
        _bits(gen, N, 1, H, H)
    ),
    mirror=lambda c: Case((-c.args[0], 1 - c.args[1], *c.args[2:]), c.kwargs),
    # margins exactly 1: every hinge error sits at its kink
    kink=lambda dtype: (lambda y: Case(((2 * y - 1).to(dtype), y.to(dtype))))(
        _bits(torch.Generator().manual_seed(3), N, 1, H, H)
    ),
    empty=lambda dtype: Case(
        (torch.zeros(0, 1, H, H, dtype=dtype), torch.zeros(0, 1, H, H, dtype=dtype))
    ),
)


# -- derivative helpers and spec fields shared by the overlap and Lovász entries --------------------


def _softmax_vjp(p: torch.Tensor, gp: torch.Tensor) -> torch.Tensor:
    return p * (gp - (p * gp).sum(dim=1, keepdim=True))


_DICE_LIKE = dict(
    nonnegative=True,
    zero_at_perfect=True,
    convex=False,  # the softmax makes it non-convex in the logits
    smooth=False,  # soft-label form: kink at p == y with soft targets (smooth for hard labels)
    bounded=True,  # <= 1
    robust_to_outliers=True,  # saturating softmax: the gradient vanishes for huge logits
    symmetric=None,  # multiclass softmax input: no mirrored error
)
_COMMON_SPEC = dict(
    family="segmentation",
    tasks=("segmentation",),
    input_kind="logits",
    heads={"*": SEG_HEAD},
    sampler=SEG_LOGITS,
)
_SOFTMAX_CHAIN = (
    r"\quad\frac{\partial \ell}{\partial x_{ic}} = p_{ic}\Big(g_{ic} - \sum_k p_{ik} g_{ik}\Big)"
)
