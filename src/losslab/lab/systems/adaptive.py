"""The adaptive robust system: each run's MLP and its own Barron alpha and scale, learned together.

Every (seed, learning rate) model of the stack gets its own alpha and scale per output unit:
one :class:`~losslab.nn.AdaptiveRobustLoss` with ``num_dims = models * units`` holds them all
(model-major, so its latent parameters view as (M, -1) rows like every stacked tensor), and they
step with a second stacked optimiser whose per-element learning rates are the owning model's, so
the stacked models stay independent (the training loss is the sum of per-model negative
log-likelihoods). ``train_loss``/``val_loss`` are the NLL being minimised; the history adds
``alpha`` and ``scale`` (means over output units, scale in the target's units), and the test
metrics add ``learned_alpha`` and ``learned_scale``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from ...nn import AdaptiveRobustLoss
from ..data import Dataset
from ..engine import EpochStats, Evaluation
from ..metrics import compute_metrics, metric_per_model
from ..models import make_model, make_optimizer
from .base import StackedSplits, SupervisedSystem, target_stds
from .mlp import head_units

if TYPE_CHECKING:
    from ..tasks import Competitor, Task
    from ..train import RunKey, TrainConfig

__all__ = ["AdaptiveRobustSystem", "ALPHA_RANGE"]

#: the range alpha is learned in (Barron's default: just inside (0, 2))
ALPHA_RANGE = (0.001, 1.999)


class AdaptiveRobustSystem(SupervisedSystem):
    """A regression MLP per run plus its own learned alpha and scale per output unit."""

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
        m, ds0 = self.num_models, dss[0]
        self.task = task
        self.units = units = head_units(competitor.spec().head_for(task.kind).units, ds0)
        d = self.data
        self.t_train = d.y_train.float().reshape(m, -1, units)
        self.t_val = d.y_val.float().reshape(m, -1, units)
        self.model = make_model(
            config.architecture,
            self.seeds,
            ds0.num_features,
            competitor.hidden or config.hidden,
            units,
            ds0.meta.get("image_shape"),
        )
        lo, hi = ALPHA_RANGE
        self.loss_fn = AdaptiveRobustLoss(m * units, alpha_lo=lo, alpha_hi=hi, reduction="none")
        lr = torch.tensor([r.lr for r in runs], dtype=torch.float64)
        per_unit = torch.arange(m).repeat_interleave(units)  # loss-parameter element -> model
        self.optimizers = [
            (make_optimizer(config.optimizer, list(self.model.parameters()), lr), None),
            (
                make_optimizer(config.optimizer, list(self.loss_fn.parameters()), lr[per_unit]),
                per_unit,
            ),
        ]
        self.target_std = target_stds(dss)

    def loss_of(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(M,) mean NLL of each model: z, y (M, B, U) -> loss elements (B, M*U)."""
        m, b, u = self.num_models, z.shape[1], self.units
        nll = self.loss_fn(z.transpose(0, 1).reshape(b, m * u), y.transpose(0, 1).reshape(b, m * u))
        return nll.reshape(b, m, u).mean(dim=(0, 2))

    def check_inputs(self) -> None:
        pass  # the inputs are the lab's own regression targets, checked by its data tests

    def parameters(self) -> list[torch.Tensor]:
        return [*self.model.parameters(), *self.loss_fn.parameters()]

    def _alpha_scale(self) -> tuple[torch.Tensor, torch.Tensor]:
        m = self.num_models
        return (
            self.loss_fn.alpha().reshape(m, self.units).mean(1),
            self.loss_fn.scale().reshape(m, self.units).mean(1) * torch.tensor(self.target_std),
        )

    def val_metric(self, z_val: torch.Tensor) -> list[float]:
        return metric_per_model(
            self.task.primary,
            z_val[..., 0],
            self.t_val[..., 0],
            num_classes=None,
            target_std=self.target_std,
        )

    def evaluate(self, stats: EpochStats) -> Evaluation:
        ev = super().evaluate(stats)
        alpha, scale = self._alpha_scale()
        ev.extra = {"alpha": alpha, "scale": scale}
        return ev

    def test_metrics(self, ok: Sequence[bool]) -> list[dict[str, float]]:
        pred = self.model(self.data.x_test)[..., 0]
        alpha, scale = self._alpha_scale()
        out: list[dict[str, float]] = []
        for i in range(self.num_models):
            if not ok[i]:
                out.append({})
                continue
            res = compute_metrics(
                self.task.metrics,
                pred[i],
                self.data.y_test[i].float(),
                num_classes=None,
                target_std=self.target_std[i],
            )
            res["learned_alpha"], res["learned_scale"] = float(alpha[i]), float(scale[i])
            out.append(res)
        return out
