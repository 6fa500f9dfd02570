"""Segmentation losses against independent references.

References used (none is the implementation copied):

* a float64 numpy formulation written differently: ``tp = (sum p + sum y - sum |p - y|) / 2`` at
  the sum level (the library uses per-pixel ``min``/``relu``), numpy softmax, explicit loops;
* the Lovász extension computed as the integral ``int_0^inf Delta_J({i : m_i >= t}) dt`` over
  explicit sets (the library uses sorted Jaccard increments);
* hand-computed numbers for tiny cases;
* MONAI (test-only oracle, skipped when not installed). Conventions mapped: MONAI's ``batch``
  is ``aggregate="batch"``; ``to_onehot_y=True`` with (N, 1, H, W) labels is our (N, H, W)
  index target; MONAI's ``soft_label=True`` is our (only) formulation; MONAI's Jaccard
  ``1 - (2I + s_nr) / (2U + s_dr)`` is ours with smoothing halved; MONAI's DiceCE averages CE over
  all pixels of the batch (equal to our mean of per-image means for equal-size images).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import losslab.functional as LF
import losslab.nn as LN
from losslab import catalog

DICE_FAMILY = ["dice_loss", "jaccard_loss", "tversky_loss", "focal_tversky_loss"]
PER_UNIT = [*DICE_FAMILY, "lovasz_softmax_loss"]
ALL_MULTICLASS = [*PER_UNIT, "generalized_dice_loss", "dice_ce_loss"]


def fn(name):
    return getattr(LF, name)


# -- numpy references -------------------------------------------------------------------------


def np_probs(x: np.ndarray, activation: str) -> np.ndarray:
    if activation == "softmax":
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if activation == "sigmoid":
        return 1 / (1 + np.exp(-x))
    return x


def np_labels(target: np.ndarray, c: int, shape) -> np.ndarray:
    if target.shape == tuple(shape):
        return target.astype(np.float64)
    if c == 1:
        return target[:, None].astype(np.float64)
    return np.stack([(target == k) for k in range(c)], axis=1).astype(np.float64)


def np_sums(p, y, aggregate):
    """(sum p, sum y, sum |p - y|) per unit, via explicit loops over units."""
    n, c = p.shape[:2]
    if aggregate == "image":
        out = np.zeros((3, n, c))
        for i, k in itertools.product(range(n), range(c)):
            out[:, i, k] = p[i, k].sum(), y[i, k].sum(), np.abs(p[i, k] - y[i, k]).sum()
    else:
        out = np.zeros((3, c))
        for k in range(c):
            out[:, k] = p[:, k].sum(), y[:, k].sum(), np.abs(p[:, k] - y[:, k]).sum()
    return out


def np_unit_loss(name, sp, sy, l1, *, snr=1e-5, sdr=1e-5, alpha=0.3, beta=0.7, gamma=0.75):
    tp = (sp + sy - l1) / 2
    fp, fn_ = sp - tp, sy - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        if name == "dice_loss":
            v = 1 - (2 * tp + snr) / (sp + sy + sdr)
        elif name == "jaccard_loss":
            v = 1 - (tp + snr) / (sp + sy - tp + sdr)
        else:
            v = 1 - (tp + snr) / (tp + alpha * fp + beta * fn_ + sdr)
            if name == "focal_tversky_loss":
                v = np.where(v > 0, np.abs(v) ** gamma, 0.0)
    return np.where(sp + sy == 0, 0.0, v)  # the documented empty-mask policy


def np_reference(
    name, x, target, *, activation="softmax", aggregate="image", include_background=True, **kw
):
    x = x.double().numpy()
    p = np_probs(x, activation)
    y = np_labels(target.numpy(), x.shape[1], x.shape)
    if not include_background and x.shape[1] > 1:
        p, y = p[:, 1:], y[:, 1:]
    sp, sy, l1 = np_sums(p, y, aggregate)
    return np_unit_loss(name, sp, sy, l1, **kw)


def np_lovasz(errors: np.ndarray, fg: np.ndarray) -> float:
    """Lovász extension of the Jaccard loss as int_0^inf J({m >= t}) dt (hard labels)."""

    def jaccard_loss_of(mistakes: np.ndarray) -> float:
        fn_ = np.sum(mistakes & fg)
        fp = np.sum(mistakes & ~fg)
        union = fg.sum() + fp
        return 0.0 if union == 0 else float((fn_ + fp) / union)

    levels = np.unique(np.concatenate([[0.0], errors[errors > 0]]))
    total = 0.0
    for lo, hi in zip(levels[:-1], levels[1:]):
        total += (hi - lo) * jaccard_loss_of(errors >= hi)
    return total


def gen(seed):
    return torch.Generator().manual_seed(seed)


def rand_case(seed, n=2, c=3, spatial=(4, 5), scale=2.0):
    g = gen(seed)
    x = scale * torch.randn(n, c, *spatial, generator=g, dtype=torch.float64)
    y = torch.randint(0, c, (n, *spatial), generator=g)
    return x, y


# -- values against the numpy reference -------------------------------------------------------


@pytest.mark.parametrize("name", DICE_FAMILY)
@pytest.mark.parametrize("aggregate", ["image", "batch"])
@pytest.mark.parametrize("include_background", [True, False])
def test_dice_family_matches_numpy(name, aggregate, include_background):
    x, y = rand_case(0)
    kw = dict(aggregate=aggregate, include_background=include_background)
    got = fn(name)(x, y, reduction="none", **kw)
    want = np_reference(name, x, y, **kw)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fn(name)(x, y, **kw).item(), want.mean(), rtol=1e-10)


@pytest.mark.parametrize("name", DICE_FAMILY)
def test_options_match_numpy(name):
    x, y = rand_case(1, c=2)
    kw = dict(smooth_nr=0.5, smooth_dr=2.0)
    extra = dict(alpha=0.6, beta=0.2) if "tversky" in name else {}
    if name == "focal_tversky_loss":
        extra["gamma"] = 2.0
    got = fn(name)(x, y, reduction="none", activation="sigmoid", **kw, **extra)
    want = np_reference(name, x, y, activation="sigmoid", snr=0.5, sdr=2.0, **extra)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10)


@pytest.mark.parametrize("name", DICE_FAMILY)
def test_soft_labels_and_probability_input_match_numpy(name):
    g = gen(2)
    p = torch.softmax(torch.randn(2, 3, 3, 3, generator=g, dtype=torch.float64), dim=1)
    t = torch.softmax(torch.randn(2, 3, 3, 3, generator=g, dtype=torch.float64), dim=1)
    got = fn(name)(p, t, activation="none", reduction="none")
    np.testing.assert_allclose(got.numpy(), np_reference(name, p, t, activation="none"), rtol=1e-10)


def test_generalized_dice_matches_numpy_with_an_empty_class():
    x, y = rand_case(3, n=2, c=3, spatial=(3, 3))
    y[0][y[0] == 2] = 1  # class 2 absent from image 0
    got = LF.generalized_dice_loss(x, y, reduction="none")
    p, t = np_probs(x.numpy(), "softmax"), np_labels(y.numpy(), 3, x.shape)
    want = []
    for i in range(2):
        vol = t[i].reshape(3, -1).sum(1)
        w = np.array([1 / v**2 if v > 0 else 0.0 for v in vol])
        w[vol == 0] = w.max()  # MONAI's rule, documented
        inter = (p[i] * t[i]).reshape(3, -1).sum(1)
        den = (p[i] + t[i]).reshape(3, -1).sum(1)
        want.append(1 - (2 * (w * inter).sum() + 1e-5) / ((w * den).sum() + 1e-5))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10)
    assert torch.isfinite(got).all()


@pytest.mark.parametrize("aggregate", ["image", "batch"])
def test_lovasz_softmax_matches_integral_form(aggregate):
    x, y = rand_case(4, n=2, c=3, spatial=(3, 4))
    got = LF.lovasz_softmax_loss(x, y, aggregate=aggregate, reduction="none")
    p, t = np_probs(x.numpy(), "softmax"), np_labels(y.numpy(), 3, x.shape)
    if aggregate == "image":
        want = [
            [np_lovasz(np.abs(t[i, k] - p[i, k]).ravel(), t[i, k].ravel() > 0.5) for k in range(3)]
            for i in range(2)
        ]
    else:
        want = [
            np_lovasz(np.abs(t[:, k] - p[:, k]).ravel(), t[:, k].ravel() > 0.5) for k in range(3)
        ]
    np.testing.assert_allclose(got.numpy(), np.array(want), rtol=1e-9)


@pytest.mark.parametrize("aggregate", ["image", "batch"])
def test_lovasz_hinge_matches_integral_form(aggregate):
    g = gen(5)
    x = 2 * torch.randn(3, 1, 4, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 2, (3, 4, 4), generator=g)
    got = LF.lovasz_hinge_loss(x, y, aggregate=aggregate, reduction="none")
    xs, ys = x.numpy().reshape(3, -1), y.numpy().reshape(3, -1)
    err = np.maximum(1 - xs * (2 * ys - 1), 0)
    if aggregate == "image":
        want = np.array([np_lovasz(err[i], ys[i] == 1) for i in range(3)])
    else:
        want = np.array(np_lovasz(err.ravel(), ys.ravel() == 1))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-9)
    # (N, H, W) logits with (N, H, W) targets: the same numbers
    torch.testing.assert_close(
        LF.lovasz_hinge_loss(x[:, 0], y, aggregate=aggregate, reduction="none"), got
    )


def test_hand_computed_two_pixel_case():
    # pixel 0: logits (2, -2) -> p0 = sigmoid(4); pixel 1: (-1, 1) -> p0 = sigmoid(-2); labels 0, 1
    x = torch.tensor([[[[2.0, -1.0]], [[-2.0, 1.0]]]], dtype=torch.float64)
    y = torch.tensor([[[0, 1]]])
    a, b = 1 / (1 + math.exp(-4)), 1 / (1 + math.exp(2))  # 0.98201, 0.11920
    # class 0: p = (a, b), y = (1, 0); class 1: p = (1 - a, 1 - b), y = (0, 1)
    dice0 = 1 - (2 * a + 1e-5) / (a + b + 1 + 1e-5)
    dice1 = 1 - (2 * (1 - b) + 1e-5) / ((1 - a) + (1 - b) + 1 + 1e-5)
    torch.testing.assert_close(
        LF.dice_loss(x, y, reduction="none"), torch.tensor([[dice0, dice1]], dtype=torch.float64)
    )
    iou0 = 1 - (a + 1e-5) / (1 + b + 1e-5)  # union = a + b + 1 - a
    torch.testing.assert_close(
        LF.jaccard_loss(x, y, reduction="none")[0, 0], torch.tensor(iou0, dtype=torch.float64)
    )
    # Lovász, class 0: errors (1 - a, b) = (0.018, 0.119); sorted: pixel 1 (bg) then pixel 0 (fg)
    # J({1}) = 1 / 2 (union fg + fp = 2); J({1, 0}) = 2 / 2 = 1 -> b * 1/2 + (1 - a) * 1/2
    torch.testing.assert_close(
        LF.lovasz_softmax_loss(x, y, reduction="none")[0, 0],
        torch.tensor((b + (1 - a)) / 2, dtype=torch.float64),
    )
    assert LF.dice_loss(x.float(), y).item() == pytest.approx(0.0688, abs=1e-4)


# -- MONAI as an oracle -----------------------------------------------------------------------

try:
    import monai.losses as monai_losses
except ImportError:  # pragma: no cover - MONAI is in the dev extra
    monai_losses = None
needs_monai = pytest.mark.skipif(monai_losses is None, reason="MONAI not installed (dev extra)")


@needs_monai
@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("include_background", [True, False])
def test_dice_tversky_generalized_equal_monai(batch, include_background):
    x, y = rand_case(6, n=3, c=3, spatial=(5, 4))
    agg = "batch" if batch else "image"
    common = dict(
        include_background=include_background,
        to_onehot_y=True,
        softmax=True,
        batch=batch,
        reduction="none",
    )
    y1 = y.unsqueeze(1)
    ours = LF.dice_loss(
        x, y, aggregate=agg, include_background=include_background, reduction="none"
    )
    theirs = monai_losses.DiceLoss(**common)(x, y1)
    torch.testing.assert_close(ours, theirs.reshape(ours.shape), rtol=1e-10, atol=1e-12)
    ours = LF.tversky_loss(
        x,
        y,
        alpha=0.3,
        beta=0.7,
        aggregate=agg,
        include_background=include_background,
        reduction="none",
    )
    theirs = monai_losses.TverskyLoss(alpha=0.3, beta=0.7, **common)(x, y1)
    torch.testing.assert_close(ours, theirs.reshape(ours.shape), rtol=1e-10, atol=1e-12)
    # Jaccard: MONAI doubles overlap and union before smoothing -> our smoothing halved
    ours = LF.jaccard_loss(
        x,
        y,
        aggregate=agg,
        include_background=include_background,
        smooth_nr=0.5e-5,
        smooth_dr=0.5e-5,
        reduction="none",
    )
    theirs = monai_losses.DiceLoss(jaccard=True, **common)(x, y1)
    torch.testing.assert_close(ours, theirs.reshape(ours.shape), rtol=1e-10, atol=1e-12)
    y[0][y[0] == 2] = 1  # an empty class in image 0
    ours = LF.generalized_dice_loss(
        x, y, aggregate=agg, include_background=include_background, reduction="none"
    )
    theirs = monai_losses.GeneralizedDiceLoss(**common)(x, y.unsqueeze(1))
    # MONAI computes the class weights in float32
    torch.testing.assert_close(ours, theirs.reshape(ours.shape), rtol=1e-6, atol=1e-8)


@needs_monai
def test_soft_labels_equal_monai_soft_label_mode_and_differ_from_its_default():
    g = gen(7)
    p = torch.softmax(torch.randn(2, 3, 4, 4, generator=g, dtype=torch.float64), dim=1)
    t = torch.softmax(torch.randn(2, 3, 4, 4, generator=g, dtype=torch.float64), dim=1)
    ours = LF.dice_loss(p, t, activation="none", reduction="none")
    soft = monai_losses.DiceLoss(soft_label=True, reduction="none")(p, t).reshape(ours.shape)
    torch.testing.assert_close(ours, soft, rtol=1e-10, atol=1e-12)
    # the trap: the p*y formulation is not 0 when the prediction equals the soft label
    assert LF.dice_loss(t, t, activation="none").item() == pytest.approx(0.0, abs=1e-9)
    assert monai_losses.DiceLoss()(t, t).item() > 0.1


@needs_monai
def test_dice_ce_equals_monai():
    x, y = rand_case(8, n=2, c=3, spatial=(4, 4))
    ours = LF.dice_ce_loss(x, y, lambda_dice=0.7, lambda_ce=1.3)
    theirs = monai_losses.DiceCELoss(
        to_onehot_y=True, softmax=True, lambda_dice=0.7, lambda_ce=1.3
    )(x, y.unsqueeze(1))
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)


def test_dice_ce_is_dice_plus_cross_entropy():
    x, y = rand_case(9)
    want = LF.dice_loss(x, y) * 0.4 + torch.nn.functional.cross_entropy(x, y) * 2.0
    torch.testing.assert_close(LF.dice_ce_loss(x, y, lambda_dice=0.4, lambda_ce=2.0), want)
    # sigmoid: BCE per channel and pixel
    t = torch.nn.functional.one_hot(y, 3).movedim(-1, 1).double()
    want = LF.dice_loss(
        x, y, activation="sigmoid"
    ) + torch.nn.functional.binary_cross_entropy_with_logits(x, t)
    torch.testing.assert_close(LF.dice_ce_loss(x, y, activation="sigmoid"), want)


def test_dice_ce_analytic_derivative_on_larger_images():
    spec = catalog.get("dice_ce_loss")
    x, y = rand_case(10, n=2, c=3, spatial=(4, 4))
    x.requires_grad_(True)
    (g,) = torch.autograd.grad(LF.dice_ce_loss(x, y, reduction="sum"), x)
    torch.testing.assert_close(spec.derivative_fn(x.detach(), y), g, rtol=1e-7, atol=1e-9)


# -- the empty-mask policy --------------------------------------------------------------------


@pytest.mark.parametrize("name", [*PER_UNIT])
@pytest.mark.parametrize("smooth", [(1e-5, 1e-5), (0.0, 0.0), (1.0, 0.0), (0.0, 1.0)])
def test_class_absent_from_target_and_prediction_has_loss_zero(name, smooth):
    # probabilities: class 2 is neither predicted nor present
    p = torch.zeros(1, 3, 2, 2, dtype=torch.float64)
    p[:, 0], p[:, 1] = 0.75, 0.25
    y = torch.tensor([[[0, 1], [0, 0]]])
    kw = {} if name == "lovasz_softmax_loss" else dict(smooth_nr=smooth[0], smooth_dr=smooth[1])
    out = fn(name)(p.requires_grad_(True), y, activation="none", reduction="none", **kw)
    assert out[0, 2].item() == 0.0
    assert torch.isfinite(out).all()
    out.sum().backward()
    assert torch.isfinite(p.grad).all()


@pytest.mark.parametrize("name", PER_UNIT)
def test_false_positives_on_an_empty_target_are_penalised(name):
    # an all-background image; the model predicts some foreground
    x = torch.zeros(1, 2, 4, 4, dtype=torch.float64)
    x[:, 1] = 1.0  # P(foreground) = sigmoid(1) = 0.73 everywhere
    y = torch.zeros(1, 4, 4, dtype=torch.long)
    out = fn(name)(x, y, reduction="none", include_background=False)
    assert out.shape == (1, 1)
    expected = 1 / (1 + math.exp(-1)) if name == "lovasz_softmax_loss" else 1.0
    assert out.item() == pytest.approx(expected, abs=1e-4)
    # confident background: (almost) no loss
    x[:, 1] = -30.0
    assert fn(name)(x, y, include_background=False).item() < 1e-4


def test_all_background_batch_and_generalized_dice_with_only_empty_classes():
    x = torch.full((2, 3, 4, 4), -20.0, dtype=torch.float64)
    x[:, 0] = 20.0
    y = torch.zeros(2, 4, 4, dtype=torch.long)
    for name in ALL_MULTICLASS:
        out = fn(name)(x, y)
        assert torch.isfinite(out) and out.item() < 1e-6, name
    # without the background every remaining class is empty in target and (almost) prediction
    out = LF.generalized_dice_loss(x, y, include_background=False, reduction="none")
    assert torch.isfinite(out).all() and out.max().item() < 1e-6


# -- single class, ignore_index, soft labels ------------------------------------------------------


def test_single_channel_binary_segmentation():
    g = gen(11)
    x = torch.randn(2, 1, 4, 4, generator=g, dtype=torch.float64)
    mask = torch.randint(0, 2, (2, 4, 4), generator=g)
    for name in [*PER_UNIT, "generalized_dice_loss", "dice_ce_loss"]:
        a = fn(name)(x, mask, activation="sigmoid", reduction="none")
        b = fn(name)(x, mask.unsqueeze(1).double(), activation="sigmoid", reduction="none")
        torch.testing.assert_close(a, b)
    got = LF.dice_loss(x, mask, activation="sigmoid", reduction="none")
    want = np_reference("dice_loss", x, mask.unsqueeze(1), activation="sigmoid")
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10)
    with pytest.raises(ValueError, match=r"^dice_loss: 'input' must be of C >= 2 channels"):
        LF.dice_loss(x, mask)
    with pytest.raises(ValueError, match=r"^dice_loss: 'target' must be 0 or 1"):
        LF.dice_loss(x, mask + 1, activation="sigmoid")


@pytest.mark.parametrize("name", ALL_MULTICLASS)
@pytest.mark.parametrize("ignore_index", [255, -100, -1])
def test_ignored_pixels_count_nowhere(name, ignore_index):
    x, y = rand_case(12, n=2, c=3, spatial=(4, 5))
    y_ign = y.clone()
    y_ign[:, :, 4] = ignore_index  # ignore the last column (255 would crash one_hot)
    got = fn(name)(x, y_ign, ignore_index=ignore_index, reduction="none")
    want = fn(name)(x[..., :4].contiguous(), y[..., :4].contiguous(), reduction="none")
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_ignore_index_in_lovasz_hinge_and_gradients_skip_ignored_pixels():
    g = gen(13)
    x = torch.randn(2, 1, 3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 2, (2, 3, 4), generator=g)
    y_ign = y.clone()
    y_ign[:, :, 3] = 255
    got = LF.lovasz_hinge_loss(x, y_ign, ignore_index=255, reduction="none")
    torch.testing.assert_close(got, LF.lovasz_hinge_loss(x[..., :3], y[..., :3], reduction="none"))
    for name in ALL_MULTICLASS:
        xm = torch.randn(2, 3, 3, 4, generator=g, dtype=torch.float64, requires_grad=True)
        ym = torch.randint(0, 3, (2, 3, 4), generator=g)
        ym[:, :, 3] = 255
        fn(name)(xm, ym, ignore_index=255).backward()
        assert (xm.grad[..., 3] == 0).all(), name


@pytest.mark.parametrize("name", [*PER_UNIT, "generalized_dice_loss"])
def test_soft_labels_give_zero_at_equal_prediction_and_one_hot_equals_indices(name):
    g = gen(14)
    t = torch.softmax(torch.randn(2, 3, 4, 4, generator=g, dtype=torch.float64), dim=1)
    kw = {} if name == "lovasz_softmax_loss" else dict(smooth_nr=0.0, smooth_dr=0.0)
    assert fn(name)(t, t, activation="none", **kw).item() == pytest.approx(0.0, abs=1e-12)
    assert fn(name)(t, t.roll(1, dims=1), activation="none", **kw).item() > 0.05
    x, y = rand_case(15)
    onehot = torch.nn.functional.one_hot(y, 3).movedim(-1, 1)
    torch.testing.assert_close(fn(name)(x, onehot.double()), fn(name)(x, y))
    torch.testing.assert_close(fn(name)(x, onehot), fn(name)(x, y))  # integer one-hot too


# -- precision, aggregation, weights ----------------------------------------------------------


@pytest.mark.parametrize("name", ALL_MULTICLASS)
def test_float16_512x512_masks_accumulate_in_float32(name):
    g = gen(16)
    x = (3 * torch.randn(1, 2, 512, 512, generator=g)).half()
    y = (torch.rand(1, 512, 512, generator=g) < 0.6).long()
    assert torch.isinf(
        torch.ones(512 * 512, dtype=torch.float16).sum(dtype=torch.float16)
    )  # the trap
    out = fn(name)(x, y, reduction="none")
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    ref = fn(name)(x.double(), y, reduction="none")
    torch.testing.assert_close(out.double(), ref, rtol=1e-4, atol=1e-5)


def test_per_image_and_batch_aggregation_differ_for_mixed_sizes():
    # image 0: a large object, predicted well; image 1: a 1-pixel object, missed
    y = torch.zeros(2, 8, 8, dtype=torch.long)
    y[0, :6, :6] = 1
    y[1, 0, 0] = 1
    x = torch.zeros(2, 2, 8, 8, dtype=torch.float64)
    x[0, 1] = torch.where(y[0] == 1, 4.0, -4.0)  # image 0: the object, well predicted
    x[1, 1] = -4.0  # image 1: nothing predicted
    per_image = LF.dice_loss(x, y, include_background=False)
    batch = LF.dice_loss(x, y, include_background=False, aggregate="batch")
    assert per_image.item() > 0.45  # the missed small object counts as much as the big one
    assert batch.item() < 0.1  # pooled, the small object hardly matters
    # 'batch' equals per-image Dice on the images laid side by side
    side = LF.dice_loss(
        torch.cat(list(x), dim=-1)[None], torch.cat(list(y), dim=-1)[None], include_background=False
    )
    torch.testing.assert_close(batch, side)


@pytest.mark.parametrize("name", [*PER_UNIT])
def test_class_weights_give_a_weighted_mean(name):
    x, y = rand_case(17)
    w = torch.tensor([0.0, 1.0, 3.0], dtype=torch.float64)
    none = fn(name)(x, y, reduction="none")
    weighted = fn(name)(x, y, weight=w, reduction="none")
    torch.testing.assert_close(weighted, none * w)
    torch.testing.assert_close(fn(name)(x, y, weight=w), (none * w).sum() / (w.sum() * 2))
    # without the background the background weight is dropped
    nb = fn(name)(x, y, weight=w, include_background=False, reduction="none")
    torch.testing.assert_close(
        nb, fn(name)(x, y, include_background=False, reduction="none") * w[1:]
    )


def test_reduction_shapes():
    x, y = rand_case(18, n=2, c=3)
    assert LF.dice_loss(x, y, reduction="none").shape == (2, 3)
    assert LF.dice_loss(x, y, reduction="none", aggregate="batch").shape == (3,)
    assert LF.dice_loss(x, y, reduction="none", include_background=False).shape == (2, 2)
    assert LF.generalized_dice_loss(x, y, reduction="none").shape == (2,)
    assert LF.generalized_dice_loss(x, y, reduction="none", aggregate="batch").shape == ()
    assert LF.dice_ce_loss(x, y, reduction="none").shape == (2,)
    assert LF.dice_ce_loss(x, y, reduction="none", aggregate="batch").shape == (2,)
    assert LF.lovasz_hinge_loss(x[:, :1], y.clamp(max=1), reduction="none").shape == (2,)
    assert (
        LF.lovasz_hinge_loss(x[:, :1], y.clamp(max=1), reduction="none", aggregate="batch").shape
        == ()
    )


# -- validation and modules ---------------------------------------------------------------------


def test_messages_follow_the_template():
    x, y = rand_case(19)
    with pytest.raises(
        ValueError, match=r"^dice_loss: 'target' must be of shape \(N, d1, \.\.\.\) = \(2, 4, 5\)"
    ):
        LF.dice_loss(x, y[:, :3])
    with pytest.raises(
        ValueError, match=r"^jaccard_loss: 'target' must be class indices in \[0, 2\]"
    ):
        LF.jaccard_loss(x, y + 1)
    with pytest.raises(
        ValueError, match=r"^tversky_loss: 'target' must be probabilities in \[0, 1\]"
    ):
        LF.tversky_loss(x, 2 * torch.ones_like(x))
    with pytest.raises(ValueError, match=r"^dice_loss: 'input' must be probabilities in \[0, 1\]"):
        LF.dice_loss(x, y, activation="none")
    with pytest.raises(
        ValueError, match=r"^tversky_loss: 'alpha' must be a finite real number >= 0"
    ):
        LF.tversky_loss(x, y, alpha=-1.0)
    with pytest.raises(ValueError, match=r"^dice_loss: 'weight' must be of shape \(C,\)"):
        LF.dice_loss(x, y, weight=torch.ones(2, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"^lovasz_hinge_loss: 'target' must be 0 or 1"):
        LF.lovasz_hinge_loss(x[:, 0], y)
    with pytest.raises(ValueError, match=r"^DiceLoss|^dice_loss: 'aggregate' must be one of"):
        LN.DiceLoss(aggregate="global")


@pytest.mark.parametrize(
    "module, name",
    [
        (LN.DiceLoss, "dice_loss"),
        (LN.GeneralizedDiceLoss, "generalized_dice_loss"),
        (LN.JaccardLoss, "jaccard_loss"),
        (LN.TverskyLoss, "tversky_loss"),
        (LN.FocalTverskyLoss, "focal_tversky_loss"),
        (LN.LovaszSoftmaxLoss, "lovasz_softmax_loss"),
        (LN.DiceCELoss, "dice_ce_loss"),
    ],
)
def test_modules_call_their_function(module, name):
    x, y = rand_case(20)
    kw = dict(aggregate="batch", include_background=False)
    torch.testing.assert_close(module(**kw)(x, y), fn(name)(x, y, **kw), rtol=0, atol=0)


def test_lovasz_hinge_module():
    x, y = rand_case(21)
    m = LN.LovaszHingeLoss(aggregate="batch")
    torch.testing.assert_close(
        m(x[:, :1], y.clamp(max=1)),
        LF.lovasz_hinge_loss(x[:, :1], y.clamp(max=1), aggregate="batch"),
    )


# -- property-based: any shape ------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(0, 3),
    c=st.integers(2, 4),
    spatial=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    seed=st.integers(0, 10_000),
    aggregate=st.sampled_from(["image", "batch"]),
    name=st.sampled_from(DICE_FAMILY),
)
def test_any_shape_matches_numpy(n, c, spatial, seed, aggregate, name):
    g = gen(seed)
    x = 3 * torch.randn(n, c, *spatial, generator=g, dtype=torch.float64)
    y = torch.randint(0, c, (n, *spatial), generator=g)
    got = fn(name)(x, y, aggregate=aggregate, reduction="none")
    want = np_reference(name, x, y, aggregate=aggregate)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-9, atol=1e-12)
    mean = fn(name)(x, y, aggregate=aggregate)
    assert mean.dim() == 0 and torch.isfinite(mean)
    for other in ("lovasz_softmax_loss", "generalized_dice_loss", "dice_ce_loss"):
        assert torch.isfinite(fn(other)(x, y, aggregate=aggregate)).all()
