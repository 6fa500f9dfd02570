"""Train every seed and learning rate of one (task, loss) at once, and diagnose each run.

``train_stack`` builds one :class:`~losslab.lab.models.StackedMLP` holding a model per (seed,
learning rate), each on its own seed's data split and batch order, and returns one
:class:`RunResult` per model. Results equal training each model alone (tested).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from .. import catalog
from .._validation import content_checks
from ..functional import l1_penalty, l2_penalty
from .data import Dataset
from .metrics import (
    STANDARD_METRICS,
    THRESHOLD,
    compute_metrics,
    metric_per_model,
    scores_from_outputs,
)
from .models import make_model, make_optimizer
from .tasks import Competitor, Task

__all__ = ["TrainConfig", "RunKey", "RunResult", "Fitted", "train_stack", "fit_stack", "run_diagnostics", "CONVERGENCE_RULE", "OVERFIT_RULE"]

#: autoencoders flag a sample when its error exceeds this quantile of validation inliers' errors
RECON_QUANTILE = 0.95

CONVERGENCE_RULE = (
    "epochs to converge = the first epoch whose validation {metric} is within {tol:.0%} "
    "(relative) of the run's best validation {metric}"
)
OVERFIT_RULE = (
    "overfitting = validation loss rose while training loss fell for {patience} consecutive epochs"
)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 40
    batch_size: int = 64
    hidden: tuple[int, ...] = (32,)
    optimizer: str = "adam"
    architecture: str = "mlp"  # "mlp" or "cnn" (image tasks)
    l1: float = 0.0
    l2: float = 0.0
    early_stopping: int | None = None  # patience in epochs on the validation primary metric
    overfit_patience: int = 5
    converge_tol: float = 0.01
    threshold: float = THRESHOLD  # binary decisions flag P(positive) >= threshold


@dataclass(frozen=True)
class RunKey:
    seed: int
    lr: float


@dataclass
class RunResult:
    task: str
    competitor: str
    loss: str
    seed: int
    lr: float
    status: str  # "finished" | "diverged"
    epochs_run: int
    best_epoch: int
    history: dict[str, list[float]] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)  # test metrics + diagnostics
    seconds: float = 0.0
    diverged_epoch: int | None = None


def _stack(datasets: Sequence[Dataset], attr: str) -> torch.Tensor:
    return torch.stack([getattr(d, attr) for d in datasets])


def _loss_target(y: torch.Tensor, units: int, kind: str) -> torch.Tensor:
    if kind == "regression":
        return y.float()
    return y.long() if units > 1 else y.float()


def _activate(z: torch.Tensor, activation: str) -> torch.Tensor:
    if activation == "identity":
        return z
    if activation == "sigmoid":
        return torch.sigmoid(z)
    if activation == "softmax":
        return torch.softmax(z, dim=-1)
    if activation == "log_softmax":
        return torch.log_softmax(z, dim=-1)
    raise ValueError(f"compare: output activation {activation!r} is not supported by the lab")


def _units(head_units: str, ds: Dataset) -> int:
    if head_units == "C":
        return int(ds.num_classes or 1)
    if head_units.isdigit():
        return int(head_units)
    raise ValueError(f"compare: head with {head_units!r} units is not supported by the lab")


class _PerModelLoss:
    """Loss of each stacked model: the loss's per-element values averaged over its batch."""

    def __init__(self, spec: catalog.LossSpec, kwargs: dict[str, Any], activation: str, units: int, kind: str):
        self.fn = spec.function
        self.kwargs = kwargs
        self.activation = activation
        self.units = units
        self.kind = kind

    def per_sample(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(M, B) losses: per-element values averaged over each sample's outputs."""
        m, b = z.shape[:2]
        inp = _activate(z, self.activation).reshape(-1, self.units)
        if self.units == 1:
            inp = inp[:, 0]
        tgt = _loss_target(y, self.units, self.kind)
        tgt = tgt.reshape(inp.shape) if tgt.is_floating_point() and self.kind == "regression" else tgt.reshape(-1)
        per = self.fn(inp, tgt, reduction="none", **self.kwargs)
        return per.reshape(m, b, -1).mean(dim=2)

    def __call__(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.per_sample(z, y).mean(dim=1)


def _first_within(values: list[float], best: float, tol: float, higher: bool) -> int:
    for i, v in enumerate(values):
        if math.isfinite(v) and (v >= best - tol * abs(best) if higher else v <= best + tol * abs(best)):
            return i + 1
    return len(values)


def _overfit_flag(train: list[float], val: list[float], patience: int) -> bool:
    run = 0
    for i in range(1, len(val)):
        if val[i] > val[i - 1] and train[i] < train[i - 1]:
            run += 1
            if run >= patience:
                return True
        else:
            run = 0
    return False


def run_diagnostics(history: dict[str, list[float]], best: float, primary: str, higher: bool,
                    config: TrainConfig) -> dict[str, float]:
    """The per-run diagnostics every trainer reports (rules in CONVERGENCE_RULE/OVERFIT_RULE)."""
    gn = torch.tensor(history["grad_norm"]) if history.get("grad_norm") else torch.tensor([math.nan])
    return {
        "epochs_to_converge": float(_first_within(history[f"val_{primary}"], best, config.converge_tol, higher)),
        "generalization_gap": history["val_loss"][-1] - history["train_loss"][-1],
        "overfitting": float(_overfit_flag(history["train_loss"], history["val_loss"], config.overfit_patience)),
        "grad_norm_median": float(gn.median()),
        "grad_norm_max": float(gn.max()),
    }


@dataclass
class Fitted:
    """A trained stack and what is needed to score it further (see :func:`fit_stack`)."""

    model: torch.nn.Module
    results: list[RunResult]
    test_scores: torch.Tensor  # (M, n_test, ...) as scores_from_outputs returns them
    y_test: torch.Tensor  # (M, n_test)
    diverged: list[bool]


def train_stack(
    task: Task,
    competitor: Competitor,
    runs: Sequence[RunKey],
    datasets: dict[int, Dataset],
    config: TrainConfig,
) -> list[RunResult]:
    """Train one model per run key at once; ``datasets`` maps a seed to its split."""
    return fit_stack(task, competitor, runs, datasets, config).results


def fit_stack(
    task: Task,
    competitor: Competitor,
    runs: Sequence[RunKey],
    datasets: dict[int, Dataset],
    config: TrainConfig,
    *,
    val_metric: Callable[[torch.Tensor, torch.Tensor], list[float]] | None = None,
) -> Fitted:
    """:func:`train_stack` that also returns the trained models and their test scores.

    Test metrics cover the task's metrics that :func:`~losslab.lab.metrics.compute_metrics`
    knows; a task-specific trainer adds the others from the returned model or scores.
    ``val_metric(scores, y)`` (per model) replaces the standard validation metric for a primary
    metric that compute_metrics does not know.
    """
    t0 = time.perf_counter()
    spec = competitor.spec()
    # an autoencoder reconstructs its input and scores samples by reconstruction error
    recon = competitor.model == "autoencoder"
    head = spec.head_for("regression" if recon else task.kind)
    dss = [datasets[r.seed] for r in runs]
    ds0 = dss[0]
    units = ds0.num_features if recon else _units(head.units, ds0)
    kwargs = dict(competitor.kwargs)
    if competitor.data_kwargs is not None:
        kwargs.update(competitor.data_kwargs(ds0))
    loss_of = _PerModelLoss(spec, kwargs, head.activation, units, "regression" if recon else task.kind)

    m = len(runs)
    xtr, ytr = _stack(dss, "x_train"), _stack(dss, "y_train")
    xva, yva = _stack(dss, "x_val"), _stack(dss, "y_val")
    xte, yte = _stack(dss, "x_test"), _stack(dss, "y_test")
    ttr = xtr if recon else ytr  # what the loss compares the output with
    model = make_model(config.architecture, [r.seed for r in runs], ds0.num_features,
                       competitor.hidden or config.hidden, units, ds0.meta.get("image_shape"))

    def scores(z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return loss_of.per_sample(z, x) if recon else scores_from_outputs(z, head, task.kind)

    lr = torch.tensor([r.lr for r in runs], dtype=torch.float64)
    opt = make_optimizer(config.optimizer, list(model.parameters()), lr)
    gens = [torch.Generator().manual_seed(r.seed) for r in runs]
    rows = torch.arange(m).unsqueeze(1)
    n = xtr.shape[1]
    higher = task.higher_is_better
    target_std = float(ds0.meta.get("target_std", 1.0))

    active = torch.ones(m, dtype=torch.bool)
    diverged_at: list[int | None] = [None] * m
    hist: dict[str, list[list[float]]] = {k: [[] for _ in range(m)] for k in
                                          ("train_loss", "val_loss", f"val_{task.primary}", "grad_norm")}
    best = torch.full((m,), -math.inf if higher else math.inf, dtype=torch.float64)
    best_epoch = [0] * m
    best_state = [p.detach().clone() for p in model.parameters()]
    since_best = torch.zeros(m, dtype=torch.long)
    stopped_at: list[int | None] = [None] * m

    def penalty() -> torch.Tensor:
        # one penalty per stacked model; weight matrices only (weight_tensors() leaves out the
        # biases); --l1 and --l2 together are an elastic net
        total = torch.zeros(m)
        weights = model.weight_tensors()
        if config.l1:
            total = total + l1_penalty(weights, weight=config.l1, per_model=True)
        if config.l2:
            total = total + l2_penalty(weights, weight=config.l2, per_model=True)
        return total

    with content_checks(True):  # validate the real inputs once, then train without syncs
        loss_of(model(xtr[:, :2]), ttr[:, :2])

    with content_checks(False):
        for epoch in range(config.epochs):
            if not bool(active.any()):
                break
            perms = torch.stack([torch.randperm(n, generator=g) for g in gens])
            gsum = torch.zeros(m)
            steps = 0
            for start in range(0, n, config.batch_size):
                idx = perms[:, start:start + config.batch_size]
                z = model(xtr[rows, idx])
                per_model = loss_of(z, ttr[rows, idx]) + penalty()
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
                tr_loss = loss_of(model(xtr), ttr)
                z_val = model(xva)
                va_loss = loss_of(z_val, xva if recon else yva)
                s_val = scores(z_val, xva)
                if val_metric is not None:
                    epoch_metric = val_metric(s_val, yva)
                else:
                    epoch_metric = metric_per_model(task.primary, s_val, yva, num_classes=ds0.num_classes,
                                                    target_std=target_std, threshold=config.threshold)
                for i in range(m):
                    # a model's history ends where it diverged (one NaN entry) or stopped early,
                    # exactly as if it had been trained alone
                    if diverged_at[i] is not None:
                        if len(hist["train_loss"][i]) < diverged_at[i]:
                            for k in hist:
                                hist[k][i].append(math.nan)
                        continue
                    if stopped_at[i] is not None:
                        continue
                    metric = epoch_metric[i]
                    hist["train_loss"][i].append(float(tr_loss[i]))
                    hist["val_loss"][i].append(float(va_loss[i]))
                    hist[f"val_{task.primary}"][i].append(metric)
                    hist["grad_norm"][i].append(float(gsum[i]) / max(steps, 1))
                    improved = metric > best[i] if higher else metric < best[i]
                    if improved:
                        best[i] = metric
                        best_epoch[i] = epoch + 1
                        since_best[i] = 0
                        for b, p in zip(best_state, model.parameters()):
                            b[i] = p[i]
                    else:
                        since_best[i] += 1
                    if config.early_stopping is not None and since_best[i] >= config.early_stopping:
                        stopped_at[i] = epoch + 1
                        active[i] = False

    if config.early_stopping is not None:
        with torch.no_grad():
            for b, p in zip(best_state, model.parameters()):
                p.copy_(b)

    with torch.no_grad():
        s_test = scores(model(xte), xte)
        s_val = scores(model(xva), xva)
    seconds = (time.perf_counter() - t0) / m
    results = []
    for i, r in enumerate(runs):
        h = {k: v[i] for k, v in hist.items()}
        res = RunResult(task.name, competitor.label, competitor.loss, r.seed, r.lr,
                        status="diverged" if diverged_at[i] is not None else "finished",
                        epochs_run=len(h["train_loss"]), best_epoch=best_epoch[i], history=h,
                        seconds=seconds, diverged_epoch=diverged_at[i])
        if diverged_at[i] is None:
            threshold = config.threshold
            if recon:  # flag what exceeds 95% of the validation inliers' reconstruction errors
                threshold = float(torch.quantile(s_val[i][yva[i] == 0], RECON_QUANTILE))
            standard = tuple(k for k in task.metrics if k in STANDARD_METRICS)
            res.metrics = compute_metrics(standard, s_test[i], yte[i], num_classes=ds0.num_classes,
                                          target_std=target_std, threshold=threshold)
            res.metrics.update(run_diagnostics(h, float(best[i]), task.primary, higher, config))
        results.append(res)
    return Fitted(model, results, s_test, yte, [d is not None for d in diverged_at])
