"""The supervised system every fitted-to-targets task shares: stacked splits, one step."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ..data import Dataset
from ..engine import EpochStats, Evaluation, StepOutput, masked_update

__all__ = ["StackedSplits", "SupervisedSystem"]


@dataclass
class StackedSplits:
    """The splits of M runs stacked along a leading model dimension (run i: its seed's split)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    @classmethod
    def of(cls, datasets: Sequence[Dataset]) -> StackedSplits:
        names = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
        return cls(*(torch.stack([getattr(d, a) for d in datasets]) for a in names))


class SupervisedSystem:
    """M stacked models with one optimiser, each fitted to its own targets.

    Subclasses set ``model`` (outputs (M, B, ...)), ``optimizers`` (pairs for
    :func:`~losslab.lab.engine.masked_update`), ``loss_of(z, target) -> (M,)``, the training
    targets ``t_train`` (what the loss compares outputs with: labels, or the inputs of an
    autoencoder) and ``t_val``, and implement :meth:`val_metric` and :meth:`test_metrics`.
    """

    drop_last = False
    model: torch.nn.Module
    loss_of: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    optimizers: list
    data: StackedSplits
    t_train: torch.Tensor
    t_val: torch.Tensor

    def __init__(self, seeds: Sequence[int], data: StackedSplits):
        self.seeds = [int(s) for s in seeds]
        self.num_models = len(self.seeds)
        self.data = data
        self.train_size = int(data.x_train.shape[1])
        self._rows = torch.arange(self.num_models).unsqueeze(1)

    def parameters(self) -> list[torch.Tensor]:
        return list(self.model.parameters())

    def penalized_weights(self) -> list[torch.Tensor]:
        return list(self.model.weight_tensors())

    def check_inputs(self) -> None:
        self.loss_of(self.model(self.data.x_train[:, :2]), self.t_train[:, :2])

    def step(self, idx: torch.Tensor, active: torch.Tensor, penalty: Callable[[], torch.Tensor]) -> StepOutput:
        rows = self._rows
        losses = self.loss_of(self.model(self.data.x_train[rows, idx]), self.t_train[rows, idx]) + penalty()
        norms = masked_update(losses, active, self.parameters(), self.optimizers)
        return StepOutput(losses, norms)

    def val_metric(self, z_val: torch.Tensor) -> list[float]:
        raise NotImplementedError

    def evaluate(self, stats: EpochStats) -> Evaluation:
        tr_loss = self.loss_of(self.model(self.data.x_train), self.t_train)
        z_val = self.model(self.data.x_val)
        return Evaluation(tr_loss, self.loss_of(z_val, self.t_val), self.val_metric(z_val))

    def test_metrics(self, ok: Sequence[bool]) -> list[dict[str, float]]:
        raise NotImplementedError
