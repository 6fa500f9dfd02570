"""Segmentation tasks: per-pixel losses (CE, Dice, Dice + CE, Tversky, Lovász) on small images.

*segmentation* — synthetic 24x24 images generated from the seed (nothing is downloaded): a
background with an illumination gradient and Gaussian noise, bright discs (class 1) and dark
small rectangles (class 2, the minority). About 20% of the images contain no object at all
(empty masks); the background covers roughly 90% of the pixels.

*segmentation-nuclei* (optional) — 24x24 tiles of the fluorescence nuclei image and its instance
mask (2018 Data Science Bowl, Caicedo et al., Nature Methods 2019) that ship inside the
``stardist`` wheel (``pip install --no-deps stardist`` is enough: the files are read with Pillow,
stardist is never imported). Binary: nucleus vs background; the Lovász hinge uses one logit.

Every competitor trains the same small fully-convolutional encoder-decoder (:class:`StackedFCN`,
8 channels, about 1.3k parameters; ``--model`` is ignored), all seeds (and learning rates) at once: the M models are the groups of grouped convolutions, updated by the lab's
per-model Adam. Model ``m`` depends only on its own seed, so the batched result equals training
the model alone (tested).

Metrics, computed on the whole test split with torchmetrics (pixels pooled over the images, so
empty images are well defined): ``dice`` is the per-class F1 (= Dice) of the predicted label map,
``iou`` the per-class Jaccard index, each averaged over the foreground classes (macro over
classes 1..C-1, background excluded). The prediction is the argmax of the C logits, or
``logit > 0`` for a one-logit head.
"""

from __future__ import annotations

import math
import pathlib
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import torchmetrics.functional.classification as TMC

from .._data_sources import SOURCES
from .._validation import content_checks
from .data import Dataset, DataUnavailable
from .models import make_optimizer
from .tasks import Competitor, Task, register_task
from .train import RunKey, RunResult, TrainConfig, run_diagnostics

__all__ = [
    "StackedFCN",
    "synthetic_shapes",
    "nuclei_tiles",
    "segmentation_metrics",
    "train_segmentation",
    "SIZE",
]

SIZE = 24
N_TRAIN, N_VAL, N_TEST = 96, 32, 64
EMPTY_FRACTION = 0.2


# -- data ---------------------------------------------------------------------------------------


def _draw_image(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    size = yy.shape[0]
    mask = np.zeros((size, size), dtype=np.int64)
    if rng.random() >= EMPTY_FRACTION:
        for _ in range(rng.integers(1, 3)):  # 1-2 discs (class 1)
            r = rng.uniform(2.0, 4.5)
            cy, cx = rng.uniform(r, size - r, size=2)
            mask[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 1
        for _ in range(rng.integers(0, 3)):  # 0-2 small rectangles (class 2, the minority)
            h, w = rng.integers(2, 5, size=2)
            top, left = rng.integers(0, size - h), rng.integers(0, size - w)
            mask[top:top + h, left:left + w] = 2
    level = np.array([0.0, 1.0, -1.0])[mask]
    slope = rng.normal(0.0, 0.4, size=2)
    light = slope[0] * (yy / size - 0.5) + slope[1] * (xx / size - 0.5)
    img = level + light + rng.normal(0.0, 0.35, size=(size, size))
    return img.astype(np.float32), mask


def synthetic_shapes(seed: int, *, n_train: int = N_TRAIN, n_val: int = N_VAL, n_test: int = N_TEST,
                     size: int = SIZE) -> Dataset:
    """Deterministic synthetic segmentation data of one seed (x: (n, 1, H, W), y: (n, H, W))."""
    rng = np.random.default_rng([seed, 20170512])
    yy, xx = np.mgrid[:size, :size].astype(np.float64)
    n = n_train + n_val + n_test
    pairs = [_draw_image(rng, yy, xx) for _ in range(n)]
    x = torch.from_numpy(np.stack([p[0] for p in pairs]))[:, None]
    y = torch.from_numpy(np.stack([p[1] for p in pairs]))
    mean, std = x[:n_train].mean(), x[:n_train].std()
    x = (x - mean) / std
    a, b = n_train, n_train + n_val
    freq = torch.bincount(y[:n_train].flatten(), minlength=3).double() / y[:n_train].numel()
    empty = float((y.flatten(1).amax(1) == 0).double().mean())
    return Dataset(x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:], num_classes=3, meta={
        "source": "synthetic shapes (generated from the seed)", "image_shape": (1, size, size),
        "class_names": ["background", "disc", "rectangle"],
        "class_frequency": [round(float(f), 4) for f in freq], "empty_fraction": empty,
    })


def _stardist_images() -> pathlib.Path:
    found = SOURCES["stardist"].locate()  # locates the package without importing it
    if found is None:
        raise DataUnavailable(f"{SOURCES['stardist'].missing} (only its data files are read)")
    return found.parent


def _read_tiff(path: pathlib.Path) -> np.ndarray:
    from PIL import Image

    if not path.exists():
        raise DataUnavailable(f"stardist is installed but {path} is missing; reinstall stardist")
    with Image.open(path) as im:
        return np.array(im)


def nuclei_tiles(seed: int, *, folder: pathlib.Path | None = None, size: int = SIZE) -> Dataset:
    """Tiles of stardist's 2-D nuclei image and mask (binary: nucleus vs background).

    The 512x512 image is cut into non-overlapping ``size`` tiles, shuffled with ``seed`` and split
    60/20/20. Intensities are scaled by the training tiles' 1st/99.8th percentiles.
    """
    folder = folder if folder is not None else _stardist_images()
    img = _read_tiff(folder / "img2d.tif").astype(np.float32)
    mask = (_read_tiff(folder / "mask2d.tif") > 0).astype(np.int64)
    h, w = (img.shape[0] // size) * size, (img.shape[1] // size) * size

    def tiles(a: np.ndarray) -> np.ndarray:
        a = a[:h, :w].reshape(h // size, size, w // size, size).swapaxes(1, 2)
        return a.reshape(-1, size, size)

    x, y = tiles(img), tiles(mask)
    order = np.random.default_rng([seed, 2018]).permutation(len(x))
    x, y = x[order], y[order]
    a, b = int(0.6 * len(x)), int(0.8 * len(x))
    lo, hi = np.percentile(x[:a], [1.0, 99.8])
    xt = torch.from_numpy((x - lo) / max(hi - lo, 1e-6)).float()[:, None]
    yt = torch.from_numpy(y)
    return Dataset(xt[:a], yt[:a], xt[a:b], yt[a:b], xt[b:], yt[b:], num_classes=2, meta={
        "source": "stardist wheel: data/images/img2d.tif + mask2d.tif (2018 DSB nuclei)",
        "image_shape": (1, size, size), "class_names": ["background", "nucleus"],
        "empty_fraction": float((yt.flatten(1).amax(1) == 0).double().mean()),
    })


# -- model --------------------------------------------------------------------------------------


class StackedFCN(torch.nn.Module):
    """M independent small encoder-decoder nets run as the groups of grouped convolutions.

    Per model: ``e = relu(conv3x3(x))`` at full resolution; a 3x3 convolution with stride 2 and
    a 3x3 convolution dilated by 2, with ReLU, at half resolution; nearest upsampling added to
    ``e`` (a skip connection); a 1x1 convolution to the head. Receptive field 19 pixels. Inputs
    (M, B, in, H, W) (one batch per model) or (B, in, H, W) (shared), H and W even; outputs
    (M, B, out, H, W).
    """

    LAYERS = ((3, 1, 1), (3, 1, 2), (3, 2, 1), (1, 1, 1))  # (kernel, dilation, stride)

    def __init__(self, seeds: Sequence[int], in_channels: int, out_channels: int, width: int = 8):
        super().__init__()
        self.num_models = len(seeds)
        chans = [in_channels, width, width, width, out_channels]
        per_model = []
        for seed in seeds:
            g = torch.Generator().manual_seed(int(seed))
            layers = []
            for (k, _, _), cin, cout in zip(self.LAYERS, chans[:-1], chans[1:]):
                bound = 1.0 / math.sqrt(cin * k * k)  # torch.nn.Conv2d's default bounds
                w = (torch.rand(cout, cin, k, k, generator=g) * 2 - 1) * bound
                b = (torch.rand(cout, generator=g) * 2 - 1) * bound
                layers.append((w, b))
            per_model.append(layers)
        # every parameter leads with the model dimension M (the optimiser relies on it)
        self.weights = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.stack([p[i][0] for p in per_model])) for i in range(len(self.LAYERS))])
        self.biases = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.stack([p[i][1] for p in per_model])) for i in range(len(self.LAYERS))])

    def _conv(self, i: int, z: torch.Tensor) -> torch.Tensor:
        k, dil, stride = self.LAYERS[i]
        w, b = self.weights[i], self.biases[i]
        return F.conv2d(z, w.flatten(0, 1), b.flatten(), padding=dil * (k // 2), dilation=dil,
                        stride=stride, groups=self.num_models)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.num_models
        if x.dim() == 4:
            x = x.unsqueeze(0).expand(m, *x.shape)
        _, b, c, h, w = x.shape
        e = torch.relu(self._conv(0, x.transpose(0, 1).reshape(b, m * c, h, w)))
        d = torch.relu(self._conv(2, torch.relu(self._conv(1, e))))
        up = d[:, :, :, None, :, None].expand(*d.shape[:3], 2, d.shape[3], 2).reshape(e.shape)
        z = self._conv(3, e + up)  # nearest upsampling by 2, plus the skip connection
        return z.reshape(b, m, -1, h, w).transpose(0, 1)

    def weight_tensors(self) -> list[torch.Tensor]:
        return list(self.weights)


# -- metrics ------------------------------------------------------------------------------------


def predicted_labels(z: torch.Tensor) -> torch.Tensor:
    """(..., C, H, W) outputs -> (..., H, W) labels: argmax, or logit > 0 for one channel."""
    return (z[..., 0, :, :] > 0).long() if z.shape[-3] == 1 else z.contiguous().argmax(dim=-3)


def segmentation_metrics(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> dict[str, float]:
    """Dice and IoU of ONE model's label maps, pooled over images, macro over foreground classes."""
    p, t = pred.flatten(), target.flatten()
    kw: dict[str, Any] = dict(num_classes=num_classes, average="none", zero_division=1.0, validate_args=False)
    dice = TMC.multiclass_f1_score(p, t, **kw)
    iou = TMC.multiclass_jaccard_index(p, t, **kw)
    return {"dice": float(dice[1:].mean()), "iou": float(iou[1:].mean())}


# -- training -----------------------------------------------------------------------------------


class _PerModelLoss:
    """(M,) losses: the competitor's loss of each model over its own batch (mean over units)."""

    def __init__(self, competitor: Competitor, ds: Dataset):
        self.fn = competitor.spec().function
        self.kwargs = dict(competitor.kwargs)
        if competitor.data_kwargs is not None:
            self.kwargs.update(competitor.data_kwargs(ds))

    def __call__(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        m, b = z.shape[:2]
        # every competitor's "none" output leads with the image (per-image aggregation)
        per = self.fn(z.flatten(0, 1), y.flatten(0, 1), reduction="none", **self.kwargs)
        return per.reshape(m, b, -1).mean(dim=(1, 2))


def _units(competitor: Competitor, task: Task, ds: Dataset) -> int:
    units = competitor.spec().head_for(task.kind).units
    return int(ds.num_classes or 2) if units == "C" else int(units)


def train_segmentation(
    task: Task,
    competitor: Competitor,
    runs: Sequence[RunKey],
    datasets: dict[int, Dataset],
    config: TrainConfig,
) -> list[RunResult]:
    """Train one FCN per run key at once (the structure of :func:`losslab.lab.train.train_stack`)."""
    t0 = time.perf_counter()
    m = len(runs)
    dss = [datasets[r.seed] for r in runs]
    ds0 = dss[0]
    c = int(ds0.num_classes or 2)
    loss_of = _PerModelLoss(competitor, ds0)

    def stack(attr: str) -> torch.Tensor:
        return torch.stack([getattr(d, attr) for d in dss])

    xtr, ytr, xva, yva, xte, yte = (stack(a) for a in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"))
    model = StackedFCN([r.seed for r in runs], xtr.shape[2], _units(competitor, task, ds0))
    opt = make_optimizer(config.optimizer, list(model.parameters()),
                         torch.tensor([r.lr for r in runs], dtype=torch.float64))
    gens = [torch.Generator().manual_seed(r.seed) for r in runs]
    rows = torch.arange(m).unsqueeze(1)
    n = xtr.shape[1]
    primary = task.primary
    higher = task.higher_is_better

    active = torch.ones(m, dtype=torch.bool)
    diverged_at: list[int | None] = [None] * m
    hist: dict[str, list[list[float]]] = {k: [[] for _ in range(m)] for k in
                                          ("train_loss", "val_loss", f"val_{primary}", "grad_norm")}
    best = torch.full((m,), -math.inf if higher else math.inf, dtype=torch.float64)
    best_epoch = [0] * m
    best_state = [p.detach().clone() for p in model.parameters()]
    since_best = torch.zeros(m, dtype=torch.long)

    def penalty() -> torch.Tensor:
        total = torch.zeros(m)
        for w in model.weight_tensors():
            flat = w.reshape(m, -1)
            if config.l1:
                total = total + config.l1 * flat.abs().sum(dim=1)
            if config.l2:
                total = total + config.l2 * (flat * flat).sum(dim=1)
        return total

    with content_checks(True):  # validate the real inputs once, then train without syncs
        loss_of(model(xtr[:, :2]), ytr[:, :2])

    epochs_run = 0
    with content_checks(False):
        for epoch in range(config.epochs):
            if not bool(active.any()):
                break
            epochs_run = epoch + 1
            perms = torch.stack([torch.randperm(n, generator=g) for g in gens])
            gsum = torch.zeros(m)
            steps = 0
            for start in range(0, n, config.batch_size):
                idx = perms[:, start:start + config.batch_size]
                per_model = loss_of(model(xtr[rows, idx]), ytr[rows, idx]) + penalty()
                for p in model.parameters():
                    p.grad = None
                torch.where(active, per_model, torch.zeros_like(per_model)).sum().backward()
                with torch.no_grad():
                    sq = sum(p.grad.reshape(m, -1).pow(2).sum(1) for p in model.parameters())
                    gsum += sq.sqrt()
                    ok = torch.isfinite(per_model.detach()) & torch.isfinite(sq)
                for i in torch.nonzero(active & ~ok).flatten().tolist():
                    diverged_at[i] = epoch + 1
                active &= ok
                opt.step(active)
                steps += 1

            with torch.no_grad():
                params_ok = torch.stack([torch.isfinite(p.reshape(m, -1)).all(1) for p in model.parameters()]).all(0)
                for i in torch.nonzero(active & ~params_ok).flatten().tolist():
                    diverged_at[i] = epoch + 1
                active &= params_ok
                tr_loss = loss_of(model(xtr), ytr)
                z_val = model(xva)
                va_loss = loss_of(z_val, yva)
                labels = predicted_labels(z_val)
                for i in range(m):
                    if diverged_at[i] is not None:
                        for k in hist:
                            hist[k][i].append(math.nan)
                        continue
                    metric = segmentation_metrics(labels[i], yva[i], c)[primary]
                    hist["train_loss"][i].append(float(tr_loss[i]))
                    hist["val_loss"][i].append(float(va_loss[i]))
                    hist[f"val_{primary}"][i].append(metric)
                    hist["grad_norm"][i].append(float(gsum[i]) / max(steps, 1))
                    if metric > best[i] if higher else metric < best[i]:
                        best[i] = metric
                        best_epoch[i] = epoch + 1
                        since_best[i] = 0
                        for b, p in zip(best_state, model.parameters()):
                            b[i] = p[i]
                    else:
                        since_best[i] += 1
                if config.early_stopping is not None:
                    active &= since_best < config.early_stopping

    if config.early_stopping is not None:
        with torch.no_grad():
            for b, p in zip(best_state, model.parameters()):
                p.copy_(b)

    with torch.no_grad():
        test_labels = predicted_labels(model(xte))
    seconds = (time.perf_counter() - t0) / m
    results = []
    for i, r in enumerate(runs):
        h = {k: v[i] for k, v in hist.items()}
        res = RunResult(task.name, competitor.label, competitor.loss, r.seed, r.lr,
                        status="diverged" if diverged_at[i] is not None else "finished",
                        epochs_run=epochs_run, best_epoch=best_epoch[i], history=h,
                        seconds=seconds, diverged_epoch=diverged_at[i])
        if diverged_at[i] is None:
            res.metrics = segmentation_metrics(test_labels[i], yte[i], c)
            res.metrics.update(run_diagnostics(h, float(best[i]), primary, higher, config))
        results.append(res)
    return results


# -- tasks --------------------------------------------------------------------------------------

_CE = Competitor("CE", "cross_entropy", note="per-pixel cross entropy")
_COMMON: dict[str, Any] = dict(
    kind="segmentation",
    metrics=("dice", "iou"),
    primary="dice",
    epochs=10,
    full_epochs=40,
    batch_size=8,
    trainer=train_segmentation,
)

register_task(Task(
    name="segmentation",
    description="Synthetic shapes (24x24, generated from the seed): background ~90% of pixels, "
    "discs (class 1) and small rectangles (class 2), ~20% of images with empty masks, noise and "
    "an illumination gradient. Dice/IoU pooled over the test images, macro over the 2 foreground "
    "classes.",
    load=synthetic_shapes,
    competitors=(
        _CE,
        Competitor("Dice", "dice_loss"),
        Competitor("Dice + CE", "dice_ce_loss"),
        Competitor("Tversky (0.3, 0.7)", "tversky_loss", {"alpha": 0.3, "beta": 0.7}),
        Competitor("Lovász-Softmax", "lovasz_softmax_loss"),
    ),
    notes="Every loss uses per-image aggregation (one Dice per image and class) and its default "
    "smoothing; the network is a 4-layer fully-convolutional encoder-decoder (8 channels) for "
    "every loss ('--model' does not apply).",
    **_COMMON,
))

register_task(Task(
    name="segmentation-nuclei",
    description="Nuclei (2018 Data Science Bowl image shipped in the stardist wheel): 24x24 "
    "tiles of one 512x512 fluorescence image, nucleus vs background; Dice/IoU of the nucleus "
    "class pooled over the test tiles.",
    load=nuclei_tiles,
    competitors=(
        _CE,
        Competitor("Dice", "dice_loss"),
        Competitor("Dice + CE", "dice_ce_loss"),
        Competitor("Tversky (0.3, 0.7)", "tversky_loss", {"alpha": 0.3, "beta": 0.7}),
        Competitor("Lovász hinge", "lovasz_hinge_loss", note="one logit per pixel"),
    ),
    optional=True,
    source="stardist",
    **_COMMON,
))

