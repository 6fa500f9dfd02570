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
per-model Adam, in the lab's one loop (:mod:`losslab.lab.engine`). Model ``m`` depends only on
its own seed, so the batched result equals training the model alone (tested).

Metrics, computed on the whole test split with torchmetrics (pixels pooled over the images, so
empty images are well defined): ``dice`` is the per-class F1 (= Dice) of the predicted label map,
``iou`` the per-class Jaccard index, each averaged over the foreground classes (macro over
classes 1..C-1, background excluded). The prediction is the argmax of the C logits, or
``logit > 0`` for a one-logit head.
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .._data_sources import SOURCES
from .data import Dataset, DataUnavailable
from .engine import train_system
from .systems.segmentation import (
    SegmentationSystem,
    StackedFCN,
    predicted_labels,
    segmentation_metrics,
)
from .tasks import Competitor, Task, register_task
from .train import RunKey, RunResult, TrainConfig

__all__ = [
    "StackedFCN",
    "synthetic_shapes",
    "nuclei_tiles",
    "segmentation_metrics",
    "train_segmentation",
    "predicted_labels",
    "SIZE",
]

SIZE = 24
N_TRAIN, N_VAL, N_TEST = 96, 32, 64
EMPTY_FRACTION = 0.2


# -- data ---------------------------------------------------------------------------------------


def _draw_image(
    rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
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
            mask[top : top + h, left : left + w] = 2
    level = np.array([0.0, 1.0, -1.0])[mask]
    slope = rng.normal(0.0, 0.4, size=2)
    light = slope[0] * (yy / size - 0.5) + slope[1] * (xx / size - 0.5)
    img = level + light + rng.normal(0.0, 0.35, size=(size, size))
    return img.astype(np.float32), mask


def synthetic_shapes(
    seed: int, *, n_train: int = N_TRAIN, n_val: int = N_VAL, n_test: int = N_TEST, size: int = SIZE
) -> Dataset:
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
    return Dataset(
        x[:a],
        y[:a],
        x[a:b],
        y[a:b],
        x[b:],
        y[b:],
        num_classes=3,
        meta={
            "source": "synthetic shapes (generated from the seed)",
            "image_shape": (1, size, size),
            "class_names": ["background", "disc", "rectangle"],
            "class_frequency": [round(float(f), 4) for f in freq],
            "empty_fraction": empty,
        },
    )


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
    return Dataset(
        xt[:a],
        yt[:a],
        xt[a:b],
        yt[a:b],
        xt[b:],
        yt[b:],
        num_classes=2,
        meta={
            "source": "stardist wheel: data/images/img2d.tif + mask2d.tif (2018 DSB nuclei)",
            "image_shape": (1, size, size),
            "class_names": ["background", "nucleus"],
            "empty_fraction": float((yt.flatten(1).amax(1) == 0).double().mean()),
        },
    )


# -- training -----------------------------------------------------------------------------------


def train_segmentation(
    task: Task,
    competitor: Competitor,
    runs: Sequence[RunKey],
    datasets: dict[int, Dataset],
    config: TrainConfig,
) -> list[RunResult]:
    """Train one FCN per run key at once with the lab's engine
    (:class:`~losslab.lab.systems.segmentation.SegmentationSystem`)."""
    return train_system(
        SegmentationSystem(task, competitor, runs, datasets, config), task, competitor, runs, config
    )


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

register_task(
    Task(
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
    )
)

register_task(
    Task(
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
    )
)
