"""The multi-task system: M two-head MLPs stacked, each with its own loss-weighting state.

Each model is one MLP trunk (the task's hidden layers) feeding an 11-unit output layer: units
0-9 are the digit-class head (the competitor's catalog loss, cross entropy by default), unit 10
the parity head (binary cross entropy with logits, odd = 1). The two task losses of each model
are combined by one weighting ``method`` of :mod:`losslab.multitask` (:data:`METHODS`), stacked:
every model's weighting state is a row of an (M, ...) tensor that :meth:`MultitaskSystem.parameters`
returns, so the engine's best checkpoint restores it with the weights.

* ``equal``: ``L_class + L_parity``.
* ``uncertainty`` (Kendall 2018, classification form): learned log-variances ``s`` (M, 2),
  ``exp(-s) L + s/2`` summed, stepped by a second stacked optimiser at the model's learning rate.
* ``gradnorm`` (Chen 2018): weights ``exp(log_w)`` (M, 2); each step measures the per-model norm
  of each task loss's gradient on the last trunk layer (one backward per task over the whole
  stack: model i's rows are its own gradient) and takes one Adam step on ``log_w`` per model,
  exactly :meth:`losslab.multitask.GradNorm.backward`'s update.
* ``dwa`` (Liu 2019): each model's last two epoch-mean task losses (M, 2, 2); weights
  ``2 softmax(r / T)`` with ``r`` their ratio, 1 for the first two epochs.
* ``pcgrad`` (Yu 2020, sum): per-model per-task trunk gradients (one backward per task over the
  stack), projected per model with :func:`project_conflicting_stacked` in a random task order
  drawn from a generator seeded with that model's seed; heads get the ordinary gradient.

``train_loss``/``val_loss`` are the *unweighted* sum of the two task losses (comparable across
methods); the history adds ``weight_class`` and ``weight_parity`` (each epoch's mean weight of
each task over its steps). Metrics: ``class_top1``, ``parity_accuracy`` and their mean
``mean_accuracy``. The step's gradient norm is over the model's weights (not the weighting state).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from ..data import Dataset
from ..engine import EpochStats, Evaluation, StepOutput, rows_of
from ..models import StackedMLP, make_optimizer
from .base import StackedSplits, loss_kwargs
from .mlp import activate

if TYPE_CHECKING:
    from ..tasks import Competitor, Task
    from ..train import RunKey, TrainConfig

__all__ = [
    "MultitaskSystem",
    "METHODS",
    "NUM_CLASSES",
    "GRADNORM_ALPHA",
    "GRADNORM_LR",
    "DWA_TEMPERATURE",
    "project_conflicting_stacked",
    "task_orders",
]

NUM_CLASSES = 10
NUM_TASKS = 2  # the digit's class, its parity
METHODS = ("equal", "uncertainty", "gradnorm", "dwa", "pcgrad")
GRADNORM_ALPHA = 1.5
GRADNORM_LR = 0.025  # losslab.multitask.GradNorm's default learning rate of the weights
DWA_TEMPERATURE = 2.0
_ADAM = (0.9, 0.999, 1e-8)  # GradNorm's Adam on the log-weights (torch's defaults)


def task_orders(gen: torch.Generator, num_tasks: int) -> torch.Tensor:
    """(T, T-1) PCGrad visiting orders of one model: row i is the order in which task i visits
    the others (indices into them), drawn exactly as :func:`losslab.multitask.project_conflicting`
    draws them from ``gen``."""
    return torch.stack([torch.randperm(num_tasks - 1, generator=gen) for _ in range(num_tasks)])


def project_conflicting_stacked(grads: torch.Tensor, orders: torch.Tensor) -> torch.Tensor:
    """:func:`losslab.multitask.project_conflicting` for M models at once.

    ``grads`` (M, T, P): each model's per-task gradients; ``orders`` (M, T, T-1): each model's
    visiting orders (:func:`task_orders`). Returns the projected (M, T, P)."""
    m, t, _ = grads.shape
    out = grads.clone()
    sq = (grads * grads).sum(dim=2)  # (M, T)
    rows = torch.arange(m)
    for i in range(t):
        others = torch.tensor([j for j in range(t) if j != i], dtype=torch.long)
        for k in range(t - 1):
            j = others[orders[:, i, k]]  # (M,) the task model m projects against now
            gj = grads[rows, j]  # (M, P)
            dot = (out[:, i] * gj).sum(1)
            sqj = sq[rows, j]
            coef = torch.where((dot < 0) & (sqj > 0), dot / torch.where(sqj > 0, sqj, 1.0), 0.0)
            out[:, i] = out[:, i] - coef.unsqueeze(1) * gj
    return out


class MultitaskSystem:
    """M stacked two-head MLPs (one per run) trained with one weighting ``method``."""

    drop_last = False

    def __init__(
        self,
        task: Task,
        competitor: Competitor,
        runs: Sequence[RunKey],
        datasets: dict[int, Dataset],
        config: TrainConfig,
        *,
        method: str,
        alpha: float = GRADNORM_ALPHA,
        temperature: float = DWA_TEMPERATURE,
    ):
        if method not in METHODS:
            raise ValueError(
                f"compare: multi-task 'method' must be one of {', '.join(METHODS)}, got {method!r}"
            )
        dss = [datasets[r.seed] for r in runs]
        self.seeds = [int(r.seed) for r in runs]
        self.num_models = m = len(self.seeds)
        self.method, self.alpha, self.temperature = method, float(alpha), float(temperature)
        self.data = d = StackedSplits.of(dss)
        self.train_size = int(d.x_train.shape[1])
        self._rows = torch.arange(m).unsqueeze(1)
        spec = competitor.spec()
        self._fn = spec.function
        self._activation = spec.head_for(task.kind).activation
        self._kwargs = loss_kwargs(competitor, dss)  # each model's from its own split
        self.model = StackedMLP(
            self.seeds, dss[0].num_features, competitor.hidden or config.hidden, NUM_CLASSES + 1
        )
        self.trunk = [*self.model.weights[:-1], *self.model.biases[:-1]]
        lr = torch.tensor([r.lr for r in runs], dtype=torch.float64)
        self.optimizers = [make_optimizer(config.optimizer, list(self.model.parameters()), lr)]
        self.state: list[torch.Tensor] = []  # per-model weighting state, (M, ...) rows
        if method == "uncertainty":
            self.log_vars = torch.nn.Parameter(torch.zeros(m, NUM_TASKS))
            self.factors = torch.ones(NUM_TASKS)  # both tasks in the classification form
            self.optimizers.append(make_optimizer(config.optimizer, [self.log_vars], lr))
            self.state = [self.log_vars]
        elif method == "gradnorm":
            self.log_w = torch.zeros(m, NUM_TASKS)
            self.gn_m = torch.zeros(m, NUM_TASKS)
            self.gn_v = torch.zeros(m, NUM_TASKS)
            self.gn_t = torch.zeros(m, dtype=torch.float64)
            self.gn_initial = torch.ones(m, NUM_TASKS)
            self.state = [self.log_w, self.gn_m, self.gn_v, self.gn_t, self.gn_initial]
        elif method == "dwa":
            self.dwa_hist = torch.zeros(m, 2, NUM_TASKS, dtype=torch.float64)  # [t-2, t-1]
            self.dwa_count = torch.zeros(m, dtype=torch.float64)
            self.state = [self.dwa_hist, self.dwa_count]
        elif method == "pcgrad":
            self.pc_gens = [torch.Generator().manual_seed(s) for s in self.seeds]
        self._steps = 0
        self._wsum = torch.zeros(m, NUM_TASKS)
        self._lsum = torch.zeros(m, NUM_TASKS)
        self._stepped = torch.zeros(m, dtype=torch.bool)

    # -- the engine's protocol ------------------------------------------------------------------

    def parameters(self) -> list[torch.Tensor]:
        return [*self.model.parameters(), *self.state]

    def penalized_weights(self) -> list[torch.Tensor]:
        return list(self.model.weight_tensors())

    def check_inputs(self) -> None:
        self.task_losses(self.model(self.data.x_train[:, :2]), self.data.y_train[:, :2])

    def task_losses(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(M, 2) [class loss, parity loss] of each model's outputs z (M, B, 11), labels y (M, B):
        the competitor's loss with ``reduction="mean"`` over the model's batch, and BCE."""
        head = activate(z[..., :NUM_CLASSES], self._activation)
        cls = torch.stack(
            [
                self._fn(head[i], y[i], reduction="mean", **self._kwargs[i])
                for i in range(self.num_models)
            ]
        )
        parity = F.binary_cross_entropy_with_logits(
            z[..., NUM_CLASSES], (y % 2).float(), reduction="none"
        ).mean(1)
        return torch.stack([cls, parity], dim=1)

    def weights(self) -> torch.Tensor:
        """(M, 2) the task weights the next step uses (detached)."""
        m = self.num_models
        if self.method == "uncertainty":
            return (self.factors * torch.exp(-self.log_vars)).detach()
        if self.method == "gradnorm":
            return torch.exp(self.log_w)
        if self.method == "dwa":
            r = self.dwa_hist[:, 1] / self.dwa_hist[:, 0]
            w = (NUM_TASKS * torch.softmax(r / self.temperature, dim=1)).float()
            return torch.where((self.dwa_count >= 2).unsqueeze(1), w, torch.ones(m, NUM_TASKS))
        return torch.ones(m, NUM_TASKS)

    def step(
        self, idx: torch.Tensor, active: torch.Tensor, penalty: Callable[[], torch.Tensor]
    ) -> StepOutput:
        rows, m = self._rows, self.num_models
        y = self.data.y_train[rows, idx]
        losses = self.task_losses(self.model(self.data.x_train[rows, idx]), y)  # (M, 2)
        live = torch.where(active.unsqueeze(1), losses, torch.zeros_like(losses))
        params = list(self.model.parameters())
        for p in self.parameters():
            p.grad = None
        w = self.weights()
        if self._steps == 0 and self.method == "gradnorm":
            self.gn_initial.copy_(losses.detach())
        g = None
        if self.method == "gradnorm":  # each task's gradient norm on the last trunk layer
            shared = self.model.weights[-2]
            g = torch.stack(
                [
                    rows_of(torch.autograd.grad(live[:, t].sum(), shared, retain_graph=True)[0], m)
                    .double()
                    .pow(2)
                    .sum(1)
                    .sqrt()
                    for t in range(NUM_TASKS)
                ],
                dim=1,
            ).float()
        pc = None
        if self.method == "pcgrad":  # each task's trunk gradients, projected per model
            per_task = [
                torch.autograd.grad(live[:, t].sum(), self.trunk, retain_graph=True)
                for t in range(NUM_TASKS)
            ]
            flat = torch.stack(
                [torch.cat([rows_of(gr, m) for gr in grads], 1) for grads in per_task], 1
            )
            orders = torch.stack([task_orders(gen, NUM_TASKS) for gen in self.pc_gens])
            pc = project_conflicting_stacked(flat, orders).sum(1)  # (M, P)
        if self.method == "uncertainty":
            s = self.log_vars
            total = (self.factors * torch.exp(-s) * losses + 0.5 * s).sum(1)
        else:
            total = (w * losses).sum(1)
        pen = penalty()
        loss = total + pen
        if pc is None:
            torch.where(active, loss, torch.zeros_like(loss)).sum().backward()
        else:  # the heads' ordinary gradients; the trunk's replaced by the projected sum
            torch.where(active, total, torch.zeros_like(total)).sum().backward()
            offset = 0
            for p in self.trunk:
                n = p[0].numel()
                p.grad = pc[:, offset : offset + n].reshape(p.shape).to(p.dtype).contiguous()
                offset += n
            if pen.requires_grad:
                torch.where(active, pen, torch.zeros_like(pen)).sum().backward()
        with torch.no_grad():
            sq = torch.zeros(m)
            for p in params:
                if p.grad is not None:
                    sq = sq + rows_of(p.grad, m).pow(2).sum(1)
            norms = sq.sqrt()
            ok = active & torch.isfinite(loss.detach()) & torch.isfinite(norms)
            if g is not None:
                self._gradnorm_update(w, g, losses.detach(), ok)
            self._wsum += torch.where(active.unsqueeze(1), w, 0.0)
            self._lsum += torch.where(active.unsqueeze(1), losses.detach(), 0.0)
        for opt in self.optimizers:
            opt.step(ok)
        self._stepped = active.clone()
        self._steps += 1
        return StepOutput(loss.detach(), norms)

    def _gradnorm_update(
        self, w: torch.Tensor, g: torch.Tensor, losses: torch.Tensor, ok: torch.Tensor
    ) -> None:
        """:meth:`losslab.multitask.GradNorm._update` of every model in ``ok`` at once."""
        ratio = losses / self.gn_initial
        mean_ratio = ratio.mean(1, keepdim=True)
        upd = ok & torch.isfinite(ratio).all(1) & (mean_ratio[:, 0] > 0)
        rel = ratio / torch.where(mean_ratio > 0, mean_ratio, 1.0)
        weighted = w * g
        target = weighted.mean(1, keepdim=True) * rel.pow(self.alpha)
        grad = torch.sign(weighted - target) * g * w
        b1, b2, eps = _ADAM
        t = self.gn_t + upd.double()
        keep = upd.unsqueeze(1)
        m_new = torch.where(keep, torch.lerp(self.gn_m, grad, 1 - b1), self.gn_m)
        v_new = torch.where(
            keep, torch.addcmul(self.gn_v * b2, grad, grad, value=1 - b2), self.gn_v
        )
        ts = torch.where(t > 0, t, 1.0)
        m_hat = m_new / (1 - b1**ts).float().unsqueeze(1)
        v_hat = v_new / (1 - b2**ts).float().unsqueeze(1)
        log_w = self.log_w - GRADNORM_LR * m_hat / (v_hat.sqrt() + eps)
        log_w = log_w - (torch.logsumexp(log_w, 1, keepdim=True) - math.log(NUM_TASKS))
        self.log_w.copy_(torch.where(keep, log_w, self.log_w))
        self.gn_m.copy_(m_new)
        self.gn_v.copy_(v_new)
        self.gn_t.copy_(t)

    def _end_epoch(self, steps: int) -> None:
        """DWA: record each model's epoch-mean task losses (only models that trained this epoch
        and whose means are finite and > 0, as DynamicWeightAveraging.end_epoch requires)."""
        mean = (self._lsum / max(steps, 1)).double()
        upd = self._stepped & (torch.isfinite(mean) & (mean > 0)).all(1)
        shifted = torch.stack([self.dwa_hist[:, 1], mean], dim=1)
        self.dwa_hist.copy_(torch.where(upd.view(-1, 1, 1), shifted, self.dwa_hist))
        self.dwa_count.add_(upd.double())

    def _split(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.model(x)
        return z, self.task_losses(z, y).sum(1)

    @staticmethod
    def _accuracies(
        z: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(M,) class top-1, parity accuracy and their mean."""
        top1 = (z[..., :NUM_CLASSES].argmax(-1) == y).float().mean(1)
        parity = ((z[..., NUM_CLASSES] >= 0).long() == y % 2).float().mean(1)
        return top1, parity, 0.5 * (top1 + parity)

    def evaluate(self, stats: EpochStats) -> Evaluation:
        d = self.data
        _, tr_loss = self._split(d.x_train, d.y_train)
        z_val, va_loss = self._split(d.x_val, d.y_val)
        mean_weight = self._wsum / max(stats.steps, 1)
        extra = {"weight_class": mean_weight[:, 0], "weight_parity": mean_weight[:, 1]}
        if self.method == "dwa":
            self._end_epoch(stats.steps)
        self._wsum.zero_()
        self._lsum.zero_()
        return Evaluation(tr_loss, va_loss, self._accuracies(z_val, d.y_val)[2], extra)

    def test_metrics(self, ok: Sequence[bool]) -> list[dict[str, float]]:
        top1, parity, mean = self._accuracies(self.model(self.data.x_test), self.data.y_test)
        return [
            {
                "class_top1": float(top1[i]),
                "parity_accuracy": float(parity[i]),
                "mean_accuracy": float(mean[i]),
            }
            if ok[i]
            else {}
            for i in range(self.num_models)
        ]
