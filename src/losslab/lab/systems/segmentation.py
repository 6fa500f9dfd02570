"""The segmentation system: a small fully-convolutional net per run (grouped convolutions).

The model (:class:`StackedFCN`), the metrics (:func:`segmentation_metrics`) and how the engine
trains and scores them (:class:`SegmentationSystem`); the task declarations and data live in
:mod:`losslab.lab.tasks_segmentation`. Losses take (N, C, H, W) logits and (N, H, W) labels and
return one value per image with ``reduction="none"``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
import torchmetrics.functional.classification as TMC

from ..data import Dataset
from ..models import make_optimizer
from .base import StackedSplits, SupervisedSystem, call_per_model, loss_kwargs

if TYPE_CHECKING:
    from ..tasks import Competitor, Task
    from ..train import RunKey, TrainConfig

__all__ = [
    "SegmentationSystem",
    "PerImageLoss",
    "StackedFCN",
    "predicted_labels",
    "segmentation_metrics",
]


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
            [
                torch.nn.Parameter(torch.stack([p[i][0] for p in per_model]))
                for i in range(len(self.LAYERS))
            ]
        )
        self.biases = torch.nn.ParameterList(
            [
                torch.nn.Parameter(torch.stack([p[i][1] for p in per_model]))
                for i in range(len(self.LAYERS))
            ]
        )

    def _conv(self, i: int, z: torch.Tensor) -> torch.Tensor:
        k, dil, stride = self.LAYERS[i]
        w, b = self.weights[i], self.biases[i]
        return F.conv2d(
            z,
            w.flatten(0, 1),
            b.flatten(),
            padding=dil * (k // 2),
            dilation=dil,
            stride=stride,
            groups=self.num_models,
        )

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


def segmentation_metrics(
    pred: torch.Tensor, target: torch.Tensor, num_classes: int
) -> dict[str, float]:
    """Dice and IoU of ONE model's label maps, pooled over images, macro over foreground classes."""
    p, t = pred.flatten(), target.flatten()
    kw: dict[str, Any] = dict(
        num_classes=num_classes, average="none", zero_division=1.0, validate_args=False
    )
    dice = TMC.multiclass_f1_score(p, t, **kw)
    iou = TMC.multiclass_jaccard_index(p, t, **kw)
    return {"dice": float(dice[1:].mean()), "iou": float(iou[1:].mean())}


class PerImageLoss:
    """(M,) losses: the competitor's loss of each model over its own batch (mean over units)."""

    def __init__(self, competitor: Competitor, datasets: Sequence[Dataset]):
        self.fn = competitor.spec().function
        self.kwargs = loss_kwargs(competitor, datasets)

    def __call__(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        m, b = z.shape[:2]
        # every competitor's "none" output leads with the image (per-image aggregation)
        per = call_per_model(self.fn, z.flatten(0, 1), y.flatten(0, 1), self.kwargs)
        return per.reshape(m, b, -1).mean(dim=(1, 2))


class SegmentationSystem(SupervisedSystem):
    """One :class:`StackedFCN` per run; validation/test Dice and IoU from the label maps."""

    def __init__(
        self,
        task: Task,
        competitor: Competitor,
        runs: Sequence[RunKey],
        datasets: dict[int, Dataset],
        config: TrainConfig,
    ):
        dss = [datasets[r.seed] for r in runs]
        super().__init__([r.seed for r in runs], StackedSplits.of(dss))
        ds0 = dss[0]
        self.task = task
        self.num_classes = int(ds0.num_classes or 2)
        units = competitor.spec().head_for(task.kind).units
        out = self.num_classes if units == "C" else int(units)
        self.loss_of = PerImageLoss(competitor, dss)
        self.t_train, self.t_val = self.data.y_train, self.data.y_val
        self.model = StackedFCN(self.seeds, int(self.data.x_train.shape[2]), out)
        lr = torch.tensor([r.lr for r in runs], dtype=torch.float64)
        self.optimizers = [
            (make_optimizer(config.optimizer, list(self.model.parameters()), lr), None)
        ]

    def _metrics(self, z: torch.Tensor, y: torch.Tensor, i: int) -> dict[str, float]:
        return segmentation_metrics(predicted_labels(z[i]), y[i], self.num_classes)

    def val_metric(self, z_val: torch.Tensor) -> list[float]:
        return [
            self._metrics(z_val, self.data.y_val, i)[self.task.primary]
            for i in range(self.num_models)
        ]

    def test_metrics(self, ok: Sequence[bool]) -> list[dict[str, float]]:
        z = self.model(self.data.x_test)
        return [
            self._metrics(z, self.data.y_test, i) if ok[i] else {} for i in range(self.num_models)
        ]
