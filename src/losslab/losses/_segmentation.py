r"""Shared conventions, helpers, samplers and entry fields of the segmentation losses: the overlap
losses of :mod:`.overlap` and :mod:`.overlap_combined` (Dice family, Dice + CE) and the Lovász
losses of :mod:`.lovasz`. No entries of its own (not a family module).

Conventions shared by every loss here (one choice per question, see LOSS-CONVENTIONS.md):

* **input**: ``(N, C, d1, ...)`` scores. ``activation="softmax"`` (default; needs C >= 2) or
  ``"sigmoid"`` turns logits into probabilities; ``"none"`` means the input already holds
  probabilities in [0, 1].
* **target**: class indices ``(N, d1, ...)`` (integer), or one-hot / soft labels of the input's
  shape (probabilities in [0, 1]). With a single channel (C = 1, sigmoid) index targets are the
  binary foreground mask.
* **ignore_index** (index targets only): ignored pixels are replaced by class 0 *before*
  ``one_hot`` (an ignored label never reaches it) and then removed from both the prediction and
  the target, so they count nowhere.
* **soft-label correct**: per pixel ``tp = min(p, y)``, ``fp = relu(p - y)``,
  ``fn = relu(y - p)`` (equivalently ``tp = (p + y - |p - y|) / 2``). For hard labels these are
  the usual ``p*y``, ``p*(1-y)``, ``(1-p)*y``; for soft labels the loss is 0 at ``p == y``.
  The price: with soft labels the loss has a kink at ``p == y`` (it is smooth for hard labels).
* **aggregation unit**: ``aggregate="image"`` (default, MONAI's ``batch=False``) sums tp/fp/fn
  over each image's pixels, one loss per (image, class); ``aggregate="batch"`` sums over the whole
  batch (smp's convention), one loss per class; the two differ when a batch mixes object sizes.
* **smoothing** (MONAI's defaults): ``smooth_nr = smooth_dr = 1e-5`` added to the overlap and
  to the denominator separately. The loss is written as ``(errors + smooth_dr - smooth_nr) /
  denominator`` so it is exactly >= 0 when ``smooth_nr <= smooth_dr`` and has no cancellation
  near a perfect prediction.
* **empty masks (one policy for the whole family)**: a unit whose target *and* prediction are
  both empty (all ``p`` and ``y`` zero) has loss 0, whatever the smoothing (never NaN; its
  gradient there is 0). A class absent from the target but predicted is a pure false positive:
  its loss tends to 1 as the predicted mass grows past the smoothing (as in MONAI; smp instead
  zeroes every class absent from the target, which stops penalising false positives on empty
  images). Every unit counts in ``"mean"``; nothing is excluded. The Lovász losses follow the
  same policy naturally (an absent class contributes its largest false-positive error).
* **include_background=False** drops channel 0 after the activation (the softmax still sees it).
* **weight** (per class, shape (C,) of the input's channels; the background entry is dropped with
  ``include_background=False``): ``"none"`` returns ``w_c * loss``; ``"mean"`` is the weighted
  mean ``sum w_c l / sum w_c`` over all units.
* **reduction**: via :func:`losslab._reduction.reduce_loss`. ``"none"`` returns one value per
  unit: ``(N, K)`` (image x kept class) or ``(K,)`` with ``aggregate="batch"``; the generalized
  Dice and the Lovász hinge return ``(N,)`` or ``()`` (classes are combined inside the loss);
  Dice + CE returns one value per image ``(N,)``.
* **precision**: float16/bfloat16 inputs are computed in float32, so sums over large masks do not
  overflow (a 512x512 fp16 mask sums to 262144 > 65504).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._reduction import reduce_loss, upcast
from .._validation import (
    IGNORE_INDEX,
    REDUCTION,
    Param,
    Raw,
    check_class_indices,
    check_integer_tensor,
    check_probabilities,
    check_tensor,
    check_values_in,
    fail,
    warn_if_probabilities,
)
from ..catalog._spec import Case, Head, Sampler
from ..functional._common import SIGMOID_ADVICE, SOFTMAX_ADVICE, check_class_weight

ACTIVATION = Param(
    "choice",
    "turns the input into probabilities: 'softmax' over channels, 'sigmoid' per channel, "
    "'none' (the input holds probabilities)",
    choices=("softmax", "sigmoid", "none"),
)
AGGREGATE = Param(
    "choice",
    "'image': overlaps summed per image (one loss per image and class); 'batch': summed over "
    "the whole batch (one loss per class)",
    choices=("image", "batch"),
)
SMOOTH_NR = Param(
    "float", "added to the overlap (numerator); keep <= smooth_dr for a loss >= 0", ge=0
)
SMOOTH_DR = Param("float", "added to the denominator", ge=0)
INCLUDE_BACKGROUND = Param("bool", "whether channel 0 counts (it is still part of the softmax)")

_COMMON = dict(
    activation=ACTIVATION,
    aggregate=AGGREGATE,
    smooth_nr=SMOOTH_NR,
    smooth_dr=SMOOTH_DR,
    include_background=INCLUDE_BACKGROUND,
    ignore_index=IGNORE_INDEX,
    reduction=REDUCTION,
)


# -- shared preparation ------------------------------------------------------------------------


def _probabilities(
    name: str, input: torch.Tensor, target: torch.Tensor, activation: str, ignore_index: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validate; return probabilities p and labels y (N, C, *) with ignored pixels zeroed, and x.

    ``x`` is the (float32-or-wider) input, for the cross-entropy term of Dice + CE.
    """
    check_tensor(name, "input", input)
    check_tensor(name, "target", target, floating=False)
    if input.dim() < 2:
        fail(name, "input", "of shape (N, C, d1, ...)", Raw(f"shape {tuple(input.shape)}"))
    x = upcast(input)
    n, c = x.shape[:2]
    if activation == "softmax" and c < 2:
        fail(
            name,
            "input",
            "of C >= 2 channels with activation='softmax' (use 'sigmoid' for one channel)",
            Raw(f"shape {tuple(x.shape)}"),
        )
    if activation == "softmax":
        warn_if_probabilities(
            name,
            "input",
            x,
            dim=1,
            takes="logits with activation='softmax'",
            advice=SOFTMAX_ADVICE + ", or activation='none' for probabilities",
        )
        p = torch.softmax(x, dim=1)
    elif activation == "sigmoid":
        warn_if_probabilities(
            name,
            "input",
            x,
            dim=None,
            takes="logits with activation='sigmoid'",
            advice=SIGMOID_ADVICE + ", or activation='none' for probabilities",
        )
        p = torch.sigmoid(x)
    else:
        check_probabilities(name, "input", x)
        p = x
    if target.shape == x.shape:
        y = target.to(x.dtype)
        check_probabilities(name, "target", y)
        return p, y, x
    spatial = (n, *x.shape[2:])
    if tuple(target.shape) != spatial:
        fail(
            name,
            "target",
            f"of shape (N, d1, ...) = {spatial} (class indices) or "
            f"{tuple(x.shape)} (one-hot or soft labels)",
            Raw(f"shape {tuple(target.shape)}"),
        )
    check_integer_tensor(name, "target", target)
    valid = target != ignore_index
    safe = torch.where(
        valid, target, torch.zeros_like(target)
    ).long()  # ignored labels never reach one_hot
    if c == 1:
        check_values_in(name, "target", safe, (0, 1), "0 or 1 (a binary mask) with one channel")
        y = safe.unsqueeze(1).to(x.dtype)
    else:
        check_class_indices(name, "target", target, c, ignore_index)
        # the float one-hot, built in the (N, C, ...) layout (no int64 tensor, no moved copy)
        y = torch.zeros_like(x).scatter_(1, safe.unsqueeze(1), 1.0)
    if bool(valid.all()):  # nothing ignored: no masking passes
        return p, y, x
    keep = valid.unsqueeze(1)
    return torch.where(keep, p, 0.0), torch.where(keep, y, 0.0), x


def _drop_background(t: torch.Tensor, include_background: bool) -> torch.Tensor:
    return t if include_background or t.shape[1] == 1 else t[:, 1:]


def _class_weight(
    name: str, weight: torch.Tensor | None, c: int, include_background: bool, like: torch.Tensor
) -> torch.Tensor | None:
    if weight is None:
        return None
    check_class_weight(name, weight, c)
    w = weight.to(like.dtype)
    return w if include_background or c == 1 else w[1:]


def _reduce_units(
    name: str, loss: torch.Tensor, w: torch.Tensor | None, reduction: str
) -> torch.Tensor:
    if w is None:
        return reduce_loss(loss, reduction, name=name)
    per_unit = loss * w
    repeats = loss.numel() // max(w.numel(), 1)
    return reduce_loss(per_unit, reduction, name=name, denominator=w.sum() * repeats)


# -- catalog pieces: heads, samplers (hard labels) ----------------------------------------------

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
