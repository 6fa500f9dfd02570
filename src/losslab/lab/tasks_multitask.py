"""The "multitask" lab task: digits -> class (10-way CE) and parity (binary BCE) from one trunk.

One MLP trunk (the task's hidden layers) feeds an 11-unit output layer whose first 10 units are the
class head and whose last unit is the parity head (odd = 1); the two heads share nothing but the
trunk. The competitors differ only in how the two task losses are combined
(:mod:`losslab.multitask`): equal weights, uncertainty weighting, GradNorm, Dynamic Weight
Averaging and PCGrad. Metrics: ``class_top1`` (10-way accuracy), ``parity_accuracy`` and their
mean ``mean_accuracy``, the primary metric.

Gradient manipulation is per model, so the trainer loops over the (seed, learning rate) runs and
trains each model alone (a one-model :class:`~losslab.lab.models.StackedMLP`, the same
initialisation as the batched trainer). ``train_loss``/``val_loss`` are the *unweighted* sum of the
two task losses, comparable across methods; the history also records each epoch's mean weight of
each task (``weight_class``, ``weight_parity``; for PCGrad, 1 and 1).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from .._validation import content_checks
from ..multitask import (
    DynamicWeightAveraging,
    EqualWeighting,
    GradNorm,
    UncertaintyWeighting,
    pcgrad_backward,
)
from . import data as D
from .models import StackedMLP, make_optimizer
from .tasks import Competitor, Task, register_task
from .train import RunKey, RunResult, TrainConfig, _activate, run_diagnostics

__all__ = [
    "METHODS",
    "train_multitask",
    "train_equal",
    "train_uncertainty",
    "train_gradnorm",
    "train_dwa",
    "train_pcgrad",
]

NUM_CLASSES = 10
METRICS = ("class_top1", "parity_accuracy", "mean_accuracy")
METHODS = ("equal", "uncertainty", "gradnorm", "dwa", "pcgrad")
GRADNORM_ALPHA = 1.5
DWA_TEMPERATURE = 2.0


class _Run:
    """One model, its optimiser and its weighting method."""

    def __init__(self, method: str, seed: int, lr: float, in_dim: int, config: TrainConfig,
                 hidden: Sequence[int]):
        self.method = method
        self.model = StackedMLP([seed], in_dim, hidden, NUM_CLASSES + 1)
        self.trunk = [*self.model.weights[:-1], *self.model.biases[:-1]]
        self.weighting: Any = None
        if method == "equal":
            self.weighting = EqualWeighting(2)
        elif method == "uncertainty":
            self.weighting = UncertaintyWeighting(2, task_types=("classification", "classification"))
        elif method == "gradnorm":
            self.weighting = GradNorm(2, alpha=GRADNORM_ALPHA)
        elif method == "dwa":
            self.weighting = DynamicWeightAveraging(2, temperature=DWA_TEMPERATURE)
        # the lab's own optimisers (torch's formulas; no torch.optim import cost per worker)
        self.opts = [make_optimizer(config.optimizer, list(self.model.parameters()), torch.tensor([lr]))]
        if method == "uncertainty":
            self.opts.append(make_optimizer(config.optimizer, list(self.weighting.parameters()),
                                            torch.full((2,), lr)))
        self.pc_gen = torch.Generator().manual_seed(seed)
        self._active = torch.ones(2, dtype=torch.bool)

    def weights(self) -> torch.Tensor:
        return torch.ones(2) if self.weighting is None else self.weighting.weights()

    def step(self, losses: list[torch.Tensor], penalty: torch.Tensor | None) -> None:
        for p in self.model.parameters():
            p.grad = None
        if self.method == "uncertainty":
            self.weighting.log_vars.grad = None
        if self.method == "gradnorm":
            # the paper measures gradient norms on the last shared layer
            self.weighting.backward(losses, [self.model.weights[-2]])
        elif self.method == "pcgrad":
            pcgrad_backward(losses, self.trunk, reduction="sum", generator=self.pc_gen)
        else:
            self.weighting(losses).backward()
        if penalty is not None:
            penalty.backward()
        for opt in self.opts:
            opt.step(self._active[: len(opt.lr)])


def _task_losses(class_loss: Any, z: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """[class loss, parity loss] of one model's outputs z (B, 11) and digit labels y (B,)."""
    return [class_loss(z[:, :NUM_CLASSES], y),
            F.binary_cross_entropy_with_logits(z[:, NUM_CLASSES], (y % 2).float())]


def _accuracies(z: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    top1 = float((z[:, :NUM_CLASSES].argmax(1) == y).float().mean())
    parity = float(((z[:, NUM_CLASSES] >= 0).long() == y % 2).float().mean())
    return {"class_top1": top1, "parity_accuracy": parity, "mean_accuracy": 0.5 * (top1 + parity)}


def train_multitask(
    method: str,
    task: Task,
    competitor: Competitor,
    runs: Sequence[RunKey],
    datasets: dict[int, D.Dataset],
    config: TrainConfig,
) -> list[RunResult]:
    """Train each run's two-head model with one weighting ``method`` (one of :data:`METHODS`)."""
    if method not in METHODS:
        raise ValueError(f"compare: multi-task 'method' must be one of {', '.join(METHODS)}, got {method!r}")
    spec = competitor.spec()
    head = spec.head_for(task.kind)
    kwargs = dict(competitor.kwargs)
    if competitor.data_kwargs is not None:
        kwargs.update(competitor.data_kwargs(datasets[runs[0].seed]))

    def class_loss(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return spec.function(_activate(z, head.activation), y, reduction="mean", **kwargs)

    return [_train_one(method, task, competitor, r, datasets[r.seed], config, class_loss) for r in runs]


def _train_one(method: str, task: Task, competitor: Competitor, r: RunKey, ds: D.Dataset,
               config: TrainConfig, class_loss: Any) -> RunResult:
    t0 = time.perf_counter()
    run = _Run(method, r.seed, r.lr, ds.num_features, config, competitor.hidden or config.hidden)
    gen = torch.Generator().manual_seed(r.seed)
    n = len(ds.y_train)
    primary = task.primary
    hist: dict[str, list[float]] = {k: [] for k in ("train_loss", "val_loss", f"val_{primary}",
                                                    "grad_norm", "weight_class", "weight_parity")}

    def penalty() -> torch.Tensor | None:
        if not (config.l1 or config.l2):
            return None
        return sum(config.l1 * w.abs().sum() + config.l2 * (w * w).sum() for w in run.model.weight_tensors())

    def evaluate(x: torch.Tensor, y: torch.Tensor) -> tuple[float, dict[str, float]]:
        z = run.model(x)[0]
        return float(sum(_task_losses(class_loss, z, y))), _accuracies(z, y)

    with content_checks(True):  # validate the real inputs once
        _task_losses(class_loss, run.model(ds.x_train[:2])[0], ds.y_train[:2])
    best, best_epoch, since_best = -math.inf, 0, 0
    best_state = [p.detach().clone() for p in run.model.parameters()]
    diverged: int | None = None
    epochs_run = 0
    with content_checks(False):
        for epoch in range(config.epochs):
            epochs_run = epoch + 1
            perm = torch.randperm(n, generator=gen)
            gsum, wsum, lsum, steps = 0.0, torch.zeros(2), torch.zeros(2), 0
            for start in range(0, n, config.batch_size):
                idx = perm[start:start + config.batch_size]
                losses = _task_losses(class_loss, run.model(ds.x_train[idx])[0], ds.y_train[idx])
                wsum += run.weights()
                run.step(losses, penalty())
                lsum += torch.stack([v.detach() for v in losses])
                grads = [p.grad for p in run.model.parameters() if p.grad is not None]
                gsum += float(torch.sqrt(sum(g.pow(2).sum() for g in grads)))
                steps += 1
            finite = bool(torch.isfinite(lsum).all()) and math.isfinite(gsum) and all(
                bool(torch.isfinite(p).all()) for p in run.model.parameters())
            if not finite:
                diverged = epoch + 1
                break
            if method == "dwa":
                run.weighting.end_epoch((lsum / steps).tolist())
            with torch.no_grad():
                tr_loss, _ = evaluate(ds.x_train, ds.y_train)
                va_loss, va_acc = evaluate(ds.x_val, ds.y_val)
            metric = va_acc[primary]
            for k, v in (("train_loss", tr_loss), ("val_loss", va_loss), (f"val_{primary}", metric),
                         ("grad_norm", gsum / steps), ("weight_class", float(wsum[0]) / steps),
                         ("weight_parity", float(wsum[1]) / steps)):
                hist[k].append(v)
            if metric > best:
                best, best_epoch, since_best = metric, epoch + 1, 0
                best_state = [p.detach().clone() for p in run.model.parameters()]
            else:
                since_best += 1
                if config.early_stopping is not None and since_best >= config.early_stopping:
                    break
    res = RunResult(task.name, competitor.label, competitor.loss, r.seed, r.lr,
                    status="finished" if diverged is None else "diverged", epochs_run=epochs_run,
                    best_epoch=best_epoch, history=hist, seconds=0.0, diverged_epoch=diverged)
    if diverged is None:
        with torch.no_grad():
            if config.early_stopping is not None:
                for b, p in zip(best_state, run.model.parameters()):
                    p.copy_(b)
            _, res.metrics = evaluate(ds.x_test, ds.y_test)
        res.metrics.update(run_diagnostics(hist, best, primary, True, config))
    else:  # the failed epoch's entries, as the batched trainer records them
        for k in hist:
            hist[k].append(math.nan)
    res.seconds = time.perf_counter() - t0
    return res


# module-level trainers (picklable for the process pool), one per weighting method


def train_equal(*args: Any) -> list[RunResult]:
    return train_multitask("equal", *args)


def train_uncertainty(*args: Any) -> list[RunResult]:
    return train_multitask("uncertainty", *args)


def train_gradnorm(*args: Any) -> list[RunResult]:
    return train_multitask("gradnorm", *args)


def train_dwa(*args: Any) -> list[RunResult]:
    return train_multitask("dwa", *args)


def train_pcgrad(*args: Any) -> list[RunResult]:
    return train_multitask("pcgrad", *args)


register_task(Task(
    name="multitask",
    kind="multiclass",  # the class head decides the competitors' loss head (10 logits)
    description="Digits (scikit-learn, 8x8) as two tasks from one MLP trunk: the digit (10-way "
    "cross entropy) and its parity (odd = 1, binary cross entropy with logits). Competitors "
    "differ only in how the two losses are weighted; primary metric = mean of class top-1 and "
    "parity accuracy.",
    load=D.digits,
    competitors=(
        Competitor("equal weights", "cross_entropy", note="CE + BCE, both weight 1",
                   trainer=train_equal),
        Competitor("uncertainty (Kendall 2018)", "cross_entropy",
                   note="learned log-variances, classification form exp(-s) L + s/2",
                   trainer=train_uncertainty),
        Competitor(f"GradNorm (alpha={GRADNORM_ALPHA:g})", "cross_entropy",
                   note="weights balance gradient norms on the last trunk layer (Chen 2018)",
                   trainer=train_gradnorm),
        Competitor(f"DWA (T={DWA_TEMPERATURE:g})", "cross_entropy",
                   note="weights from the last two epochs' loss ratios (Liu 2019)", trainer=train_dwa),
        Competitor("PCGrad (sum)", "cross_entropy",
                   note="conflicting trunk gradients projected, random task order (Yu 2020)",
                   trainer=train_pcgrad),
    ),
    metrics=METRICS,
    primary="mean_accuracy",
    hidden=(64,),
    epochs=15,
    full_epochs=50,
    batch_size=128,
    notes="Class loss: the competitor's catalog loss (cross entropy by default; a loss given with "
    "--loss replaces it, with equal weights); parity loss: BCE with logits. train/val loss = the "
    "unweighted sum of both task losses.",
    trainer=train_equal,
))
