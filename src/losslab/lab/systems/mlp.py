"""The lab's default system: a classifier/regressor MLP or CNN, or an autoencoder, per run.

A classifier's outputs go through the loss's declared head (activation, units) and are scored
with :func:`~losslab.lab.metrics.scores_from_outputs`; an autoencoder (``Competitor.model ==
"autoencoder"``) reconstructs its input, scores each sample by its reconstruction error and flags
those above :data:`RECON_QUANTILE` of the validation inliers' errors. An autoencoder learns from
the normal training rows only (label 0; the semi-supervised anomaly protocol): it never sees a
training anomaly, labelled or not.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch

from ... import catalog
from ..data import Dataset
from ..metrics import STANDARD_METRICS, compute_metrics, metric_per_model, scores_from_outputs
from ..models import make_model, make_optimizer
from .base import StackedSplits, SupervisedSystem, call_per_model, loss_kwargs, target_stds

if TYPE_CHECKING:
    from ..tasks import Competitor, Task
    from ..train import RunKey, TrainConfig

__all__ = ["MLPSystem", "PerModelLoss", "RECON_QUANTILE", "activate", "head_units"]

#: autoencoders flag a sample when its error exceeds this quantile of validation inliers' errors
RECON_QUANTILE = 0.95


def _loss_target(y: torch.Tensor, units: int, kind: str) -> torch.Tensor:
    if kind == "regression":
        return y.float()
    return y.long() if units > 1 else y.float()


def activate(z: torch.Tensor, activation: str) -> torch.Tensor:
    """A head's output activation applied to raw outputs."""
    if activation == "identity":
        return z
    if activation == "sigmoid":
        return torch.sigmoid(z)
    if activation == "softmax":
        return torch.softmax(z, dim=-1)
    if activation == "log_softmax":
        return torch.log_softmax(z, dim=-1)
    raise ValueError(f"compare: output activation {activation!r} is not supported by the lab")


def head_units(head_units: str, ds: Dataset) -> int:
    """The number of output units a head declares (``"C"``: the data's number of classes)."""
    if head_units == "C":
        return int(ds.num_classes or 1)
    if head_units.isdigit():
        return int(head_units)
    raise ValueError(f"compare: head with {head_units!r} units is not supported by the lab")


def _normal_training_rows(data: StackedSplits) -> StackedSplits:
    """The splits with each model's training rows cut to its normal ones (label 0), in order."""
    keep = data.y_train == 0
    counts = keep.sum(1).tolist()
    if len(set(counts)) != 1 or counts[0] == 0:
        raise ValueError(
            "compare: an autoencoder learns from the normal training rows (label 0) only, and "
            f"every stacked run needs the same, non-zero number of them; got {counts}"
        )
    idx = torch.stack([torch.nonzero(k).flatten() for k in keep])
    rows = torch.arange(idx.shape[0]).unsqueeze(1)
    return dataclasses.replace(
        data, x_train=data.x_train[rows, idx], y_train=data.y_train[rows, idx]
    )


class PerModelLoss:
    """Loss of each stacked model: the loss's per-element values averaged over its batch.

    ``kwargs``: one dict for every model, or one per model (see
    :func:`~losslab.lab.systems.base.loss_kwargs`).
    """

    def __init__(
        self,
        spec: catalog.LossSpec,
        kwargs: dict[str, Any] | Sequence[dict[str, Any]],
        activation: str,
        units: int,
        kind: str,
    ):
        self.fn = spec.function
        self.kwargs = [kwargs] if isinstance(kwargs, dict) else list(kwargs)
        self.activation = activation
        self.units = units
        self.kind = kind

    def per_sample(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(M, B) losses: per-element values averaged over each sample's outputs."""
        m, b = z.shape[:2]
        inp = activate(z, self.activation).reshape(-1, self.units)
        if self.units == 1:
            inp = inp[:, 0]
        tgt = _loss_target(y, self.units, self.kind)
        tgt = (
            tgt.reshape(inp.shape)
            if tgt.is_floating_point() and self.kind == "regression"
            else tgt.reshape(-1)
        )
        kwargs = self.kwargs if len(self.kwargs) == m else self.kwargs[:1]
        per = call_per_model(self.fn, inp, tgt, kwargs)
        return per.reshape(m, b, -1).mean(dim=2)

    def __call__(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.per_sample(z, y).mean(dim=1)


class MLPSystem(SupervisedSystem):
    """Classifier/regressor MLP or CNN (``config.architecture``), or an autoencoder, per run.

    ``val_metric(scores, y)`` (per model) replaces the standard validation metric for a primary
    metric that :func:`~losslab.lab.metrics.compute_metrics` does not know. After
    :meth:`test_metrics`, ``test_scores`` holds the (M, n_test, ...) scores it was computed from.
    """

    def __init__(
        self,
        task: Task,
        competitor: Competitor,
        runs: Sequence[RunKey],
        datasets: dict[int, Dataset],
        config: TrainConfig,
        *,
        val_metric: Callable[[torch.Tensor, torch.Tensor], list[float]] | None = None,
    ):
        dss = [datasets[r.seed] for r in runs]
        super().__init__([r.seed for r in runs], StackedSplits.of(dss))
        spec = competitor.spec()
        self.task, self.config, self._val_metric = task, config, val_metric
        # an autoencoder reconstructs its input and scores samples by reconstruction error
        self.recon = competitor.model == "autoencoder"
        self.head = spec.head_for("regression" if self.recon else task.kind)
        ds0 = self.ds0 = dss[0]
        units = ds0.num_features if self.recon else head_units(self.head.units, ds0)
        self.loss_of = PerModelLoss(
            spec,
            loss_kwargs(competitor, dss),
            self.head.activation,
            units,
            "regression" if self.recon else task.kind,
        )
        if self.recon:
            self.data = _normal_training_rows(self.data)
            self.train_size = int(self.data.x_train.shape[1])
        d = self.data
        self.t_train = d.x_train if self.recon else d.y_train
        self.t_val = d.x_val if self.recon else d.y_val
        self.model = make_model(
            config.architecture,
            self.seeds,
            ds0.num_features,
            competitor.hidden or config.hidden,
            units,
            ds0.meta.get("image_shape"),
        )
        lr = torch.tensor([r.lr for r in runs], dtype=torch.float64)
        self.optimizers = [
            (make_optimizer(config.optimizer, list(self.model.parameters()), lr), None)
        ]
        self.target_std = target_stds(dss)
        self.test_scores = torch.empty(0)

    def scores(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return (
            self.loss_of.per_sample(z, x)
            if self.recon
            else scores_from_outputs(z, self.head, self.task.kind)
        )

    def val_metric(self, z_val: torch.Tensor) -> list[float]:
        s_val = self.scores(z_val, self.data.x_val)
        if self._val_metric is not None:
            return self._val_metric(s_val, self.data.y_val)
        return metric_per_model(
            self.task.primary,
            s_val,
            self.data.y_val,
            num_classes=self.ds0.num_classes,
            target_std=self.target_std,
            threshold=self.config.threshold,
        )

    def test_metrics(self, ok: Sequence[bool]) -> list[dict[str, float]]:
        d = self.data
        s_test = self.test_scores = self.scores(self.model(d.x_test), d.x_test)
        s_val = self.scores(self.model(d.x_val), d.x_val) if self.recon else None
        standard = tuple(k for k in self.task.metrics if k in STANDARD_METRICS)
        out: list[dict[str, float]] = []
        for i in range(self.num_models):
            if not ok[i]:
                out.append({})
                continue
            threshold = self.config.threshold
            if (
                s_val is not None
            ):  # flag what exceeds 95% of the validation inliers' reconstruction errors
                threshold = float(torch.quantile(s_val[i][d.y_val[i] == 0], RECON_QUANTILE))
            out.append(
                compute_metrics(
                    standard,
                    s_test[i],
                    d.y_test[i],
                    num_classes=self.ds0.num_classes,
                    target_std=self.target_std[i],
                    threshold=threshold,
                )
            )
        return out
