"""The supervised system every fitted-to-targets task shares: stacked splits, one step."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from ..data import Dataset
from ..engine import EpochStats, Evaluation, StepOutput, masked_update

if TYPE_CHECKING:
    from ..tasks import Competitor

__all__ = ["StackedSplits", "SupervisedSystem", "loss_kwargs", "call_per_model", "target_stds"]


def loss_kwargs(competitor: Competitor, datasets: Sequence[Dataset]) -> list[dict[str, Any]]:
    """The loss's keyword arguments of each model: fixed ones plus those derived from that
    model's OWN training split (e.g. pos_weight from its class counts), never another seed's."""
    fixed = dict(competitor.kwargs)
    if competitor.data_kwargs is None:
        return [fixed] * len(datasets)
    return [{**fixed, **competitor.data_kwargs(d)} for d in datasets]


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a.keys() != b.keys():
        return False
    for k, v in a.items():
        w = b[k]
        if isinstance(v, torch.Tensor) or isinstance(w, torch.Tensor):
            if not (
                isinstance(v, torch.Tensor) and isinstance(w, torch.Tensor) and torch.equal(v, w)
            ):
                return False
        elif v != w:
            return False
    return True


def call_per_model(
    fn: Callable[..., torch.Tensor],
    inp: torch.Tensor,
    target: torch.Tensor,
    kwargs: Sequence[dict[str, Any]],
) -> torch.Tensor:
    """``fn(inp, target, reduction="none", **kwargs)`` for M models flattened model-major along
    dim 0 (rows of model i: the i-th of M equal chunks): one call when every model's kwargs are
    the same, else one call per model with its own."""
    if all(_same(kwargs[0], k) for k in kwargs[1:]):
        return fn(inp, target, reduction="none", **kwargs[0])
    m = len(kwargs)
    return torch.cat(
        [
            fn(a, t, reduction="none", **kw)
            for a, t, kw in zip(inp.chunk(m), target.chunk(m), kwargs, strict=True)
        ]
    )


def target_stds(datasets: Sequence[Dataset]) -> list[float]:
    """Each model's target scale (its own split's ``meta["target_std"]``, 1 when absent)."""
    return [float(d.meta.get("target_std", 1.0)) for d in datasets]


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

    def step(
        self, idx: torch.Tensor, active: torch.Tensor, penalty: Callable[[], torch.Tensor]
    ) -> StepOutput:
        rows = self._rows
        losses = (
            self.loss_of(self.model(self.data.x_train[rows, idx]), self.t_train[rows, idx])
            + penalty()
        )
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
