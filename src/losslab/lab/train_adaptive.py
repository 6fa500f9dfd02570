"""Trainer of the regression task's adaptive row: models and Barron's loss parameters learned together.

Every (seed, learning rate) model of the stack gets its own alpha and scale per output unit:
one :class:`~losslab.nn.AdaptiveRobustLoss` with ``num_dims = models * units`` holds them all, and
its latent parameters step with a :class:`~losslab.lab.models.StackedAdam`/``StackedSGD`` whose
per-element learning rates are the owning model's, so the stacked models stay independent (the
training loss is the sum of per-model negative log-likelihoods). History and diagnostics follow
:func:`~losslab.lab.train.train_stack`; ``train_loss``/``val_loss`` are the NLL being minimised.
The test metrics add ``learned_alpha`` and ``learned_scale`` (scale in the target's units), each
the mean over output units of the final values.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import torch

from .._validation import content_checks
from ..nn import AdaptiveRobustLoss
from .data import Dataset
from .metrics import compute_metrics, metric_per_model
from .models import make_model, make_optimizer
from .tasks import Competitor, Task
from .train import RunKey, RunResult, TrainConfig, _stack, _units, run_diagnostics

__all__ = ["train_adaptive_robust", "ALPHA_RANGE"]

#: the range alpha is learned in (Barron's default: just inside (0, 2))
ALPHA_RANGE = (0.001, 1.999)


def train_adaptive_robust(
    task: Task,
    competitor: Competitor,
    runs: Sequence[RunKey],
    datasets: dict[int, Dataset],
    config: TrainConfig,
) -> list[RunResult]:
    """Train every run's MLP together with its own alpha and scale (train_stack's signature)."""
    t0 = time.perf_counter()
    dss = [datasets[r.seed] for r in runs]
    ds0 = dss[0]
    m = len(runs)
    units = _units(competitor.spec().head_for(task.kind).units, ds0)
    xtr, ytr = _stack(dss, "x_train"), _stack(dss, "y_train").float().reshape(m, -1, units)
    xva, yva = _stack(dss, "x_val"), _stack(dss, "y_val").float().reshape(m, -1, units)
    xte, yte = _stack(dss, "x_test"), _stack(dss, "y_test").float()
    model = make_model(config.architecture, [r.seed for r in runs], ds0.num_features,
                       competitor.hidden or config.hidden, units, ds0.meta.get("image_shape"))
    lo, hi = ALPHA_RANGE
    loss_fn = AdaptiveRobustLoss(m * units, alpha_lo=lo, alpha_hi=hi, reduction="none")
    lr = torch.tensor([r.lr for r in runs], dtype=torch.float64)
    opt = make_optimizer(config.optimizer, list(model.parameters()), lr)
    loss_opt = make_optimizer(config.optimizer, list(loss_fn.parameters()), lr.repeat_interleave(units))
    params = [*model.parameters(), *loss_fn.parameters()]

    def per_model(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(M,) mean NLL of each model: z, y (M, B, U) -> loss elements (B, M*U)."""
        b = z.shape[1]
        nll = loss_fn(z.transpose(0, 1).reshape(b, m * units), y.transpose(0, 1).reshape(b, m * units))
        return nll.reshape(b, m, units).mean(dim=(0, 2))

    def penalty() -> torch.Tensor:
        total = torch.zeros(m)
        for w in model.weight_tensors():
            flat = w.reshape(m, -1)
            total = total + config.l1 * flat.abs().sum(1) + config.l2 * (flat * flat).sum(1)
        return total

    gens = [torch.Generator().manual_seed(r.seed) for r in runs]
    rows = torch.arange(m).unsqueeze(1)
    n = xtr.shape[1]
    target_std = float(ds0.meta.get("target_std", 1.0))
    primary = task.primary
    higher = task.higher_is_better
    active = torch.ones(m, dtype=torch.bool)
    diverged_at: list[int | None] = [None] * m
    keys = ("train_loss", "val_loss", f"val_{primary}", "grad_norm", "alpha", "scale")
    hist: dict[str, list[list[float]]] = {k: [[] for _ in range(m)] for k in keys}
    best = torch.full((m,), -math.inf if higher else math.inf, dtype=torch.float64)
    best_epoch = [0] * m
    best_state = [p.detach().clone() for p in params]
    since_best = torch.zeros(m, dtype=torch.long)
    per_unit = torch.arange(m).repeat_interleave(units)  # loss-parameter element -> model

    def model_rows(p: torch.Tensor) -> torch.Tensor:
        """A parameter as (M, -1) rows, the loss parameters regrouped by model."""
        return p.reshape(m, -1)

    epochs_run = 0
    with content_checks(False):  # the inputs are the lab's own, checked by its data tests
        for epoch in range(config.epochs):
            if not bool(active.any()):
                break
            epochs_run = epoch + 1
            perms = torch.stack([torch.randperm(n, generator=g) for g in gens])
            gsum, steps = torch.zeros(m), 0
            for start in range(0, n, config.batch_size):
                idx = perms[:, start:start + config.batch_size]
                losses = per_model(model(xtr[rows, idx]), ytr[rows, idx]) + penalty()
                for p in params:
                    p.grad = None
                torch.where(active, losses, torch.zeros_like(losses)).sum().backward()
                with torch.no_grad():
                    sq = sum(model_rows(p.grad).pow(2).sum(1) for p in params)
                    gsum += sq.sqrt()
                    ok = torch.isfinite(losses.detach()) & torch.isfinite(sq)
                for i in torch.nonzero(active & ~ok).flatten().tolist():
                    diverged_at[i] = epoch + 1
                active &= ok
                opt.step(active)
                loss_opt.step(active[per_unit])
                steps += 1
            with torch.no_grad():
                finite = torch.stack([torch.isfinite(model_rows(p)).all(1) for p in params]).all(0)
                for i in torch.nonzero(active & ~finite).flatten().tolist():
                    diverged_at[i] = epoch + 1
                active &= finite
                tr_loss = per_model(model(xtr), ytr)
                z_val = model(xva)
                va_loss = per_model(z_val, yva)
                val_metric = metric_per_model(primary, z_val[..., 0], yva[..., 0], num_classes=None,
                                              target_std=target_std)
                alpha = loss_fn.alpha().reshape(m, units).mean(1)
                scale = loss_fn.scale().reshape(m, units).mean(1) * target_std
                for i in range(m):
                    if diverged_at[i] is not None:
                        for k in hist:
                            hist[k][i].append(math.nan)
                        continue
                    for k, v in (("train_loss", tr_loss[i]), ("val_loss", va_loss[i]), (f"val_{primary}", val_metric[i]),
                                 ("grad_norm", float(gsum[i]) / max(steps, 1)), ("alpha", alpha[i]), ("scale", scale[i])):
                        hist[k][i].append(float(v))
                    if (val_metric[i] > best[i]) if higher else (val_metric[i] < best[i]):
                        best[i], best_epoch[i], since_best[i] = val_metric[i], epoch + 1, 0
                        for b, p in zip(best_state, params):
                            model_rows(b)[i] = model_rows(p)[i]
                    else:
                        since_best[i] += 1
                if config.early_stopping is not None:
                    active &= since_best < config.early_stopping

    with torch.no_grad():
        if config.early_stopping is not None:
            for b, p in zip(best_state, params):
                p.copy_(b)
        pred = model(xte)[..., 0]
        alpha = loss_fn.alpha().reshape(m, units).mean(1)
        scale = loss_fn.scale().reshape(m, units).mean(1) * target_std
    seconds = (time.perf_counter() - t0) / m
    results = []
    for i, r in enumerate(runs):
        h = {k: v[i] for k, v in hist.items()}
        res = RunResult(task.name, competitor.label, competitor.loss, r.seed, r.lr,
                        status="diverged" if diverged_at[i] is not None else "finished",
                        epochs_run=epochs_run, best_epoch=best_epoch[i], history=h,
                        seconds=seconds, diverged_epoch=diverged_at[i])
        if diverged_at[i] is None:
            res.metrics = compute_metrics(task.metrics, pred[i], yte[i], num_classes=None,
                                          target_std=target_std)
            res.metrics["learned_alpha"] = float(alpha[i])
            res.metrics["learned_scale"] = float(scale[i])
            res.metrics.update(run_diagnostics(h, float(best[i]), primary, higher, config))
        results.append(res)
    return results
