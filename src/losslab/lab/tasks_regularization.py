"""Lab tasks on regularization and on costs: "regularization", "regularization-regression",
"cost-sensitive".

* **regularization** (breast cancer, BCE) and **regularization-regression** (clean diabetes,
  MSE): no penalty vs L1, L2 and elastic net (L1 and L2 together, equal strengths) on the weight
  matrices, each at strengths 1e-4, 1e-3, 1e-2 (the lab's ``--l1/--l2`` penalty, i.e.
  :func:`losslab.functional.l1_penalty` / :func:`~losslab.functional.l2_penalty` per model, summed
  over the weights and added to the batch-mean loss). Metrics: the task metric, the
  generalization gap (a diagnostic of every run) and ``weight_sparsity``, the fraction of weight
  entries with ``|w| < 1e-3``. The competitors carry their own strengths, so ``--l1/--l2`` do not
  apply to them (they do to losses given with ``--loss``).
* **cost-sensitive** (digits '8 vs rest', about 1:9): scored by ``total_cost`` per 1,000 test
  samples under the cost matrix ``c_FN = 10``, ``c_FP = 1`` (a missed 8 costs ten false
  alarms; correct answers cost 0). Plain BCE at the 0.5 threshold vs BCE with the threshold moved
  to the Bayes-optimal ``c_FP / (c_FP + c_FN) = 1/11`` (Elkan 2001) vs cost-sensitive BCE vs the
  expected-cost loss; also recall, precision and FPR at each competitor's threshold.

These tasks need the trained models (weight sparsity, decisions at a moved threshold), which
:func:`losslab.lab.train.train_stack` does not return, so they use :func:`train_keep_model`, a thin
trainer built from the same parts (stacked MLP, per-model Adam/SGD, per-model loss, the same
penalty, the same diagnostics) that keeps the model. It trains every model for the configured
number of epochs (with ``--early-stopping`` it restores each model's best validation epoch, as
``train_stack`` does).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .._validation import content_checks
from ..functional import l1_penalty, l2_penalty
from . import data as D
from .metrics import THRESHOLD, compute_metrics, metric_per_model, scores_from_outputs
from .models import make_model, make_optimizer
from .tasks import Competitor, Task, register_task
from .train import (
    RunKey,
    RunResult,
    TrainConfig,
    _first_within,
    _overfit_flag,
    _PerModelLoss,
    _units,
)

__all__ = [
    "BAYES_THRESHOLD",
    "COST_FN",
    "COST_FP",
    "SPARSITY_TOL",
    "train_keep_model",
    "train_regularized",
    "train_cost_sensitive",
    "total_cost",
    "weight_sparsity",
]

COST_FN, COST_FP = 10.0, 1.0
#: predict positive when P(positive) >= c_FP / (c_FP + c_FN): the Bayes-optimal decision
BAYES_THRESHOLD = COST_FP / (COST_FP + COST_FN)
#: a weight counts as zero below this magnitude
SPARSITY_TOL = 1e-3
STRENGTHS = (1e-4, 1e-3, 1e-2)


@dataclass(frozen=True)
class Setting:
    """What a competitor of these tasks changes besides its loss."""

    l1: float = 0.0
    l2: float = 0.0
    threshold: float = THRESHOLD


#: (task name, competitor label) -> its setting; competitors not listed (``--loss``) use the
#: run's ``--l1/--l2`` and the 0.5 threshold
SETTINGS: dict[tuple[str, str], Setting] = {}


# -- metrics -----------------------------------------------------------------------------------


def total_cost(scores: torch.Tensor, y: torch.Tensor, threshold: float, *, fn_cost: float = COST_FN,
               fp_cost: float = COST_FP, per: int = 1000) -> float:
    """Cost of the decisions ``score >= threshold`` per ``per`` samples: c_FN * FN + c_FP * FP."""
    flag = scores >= threshold
    pos = y.bool()
    fn = int((~flag & pos).sum())
    fp = int((flag & ~pos).sum())
    return per * (fn_cost * fn + fp_cost * fp) / max(int(y.numel()), 1)


def weight_sparsity(weights: Sequence[torch.Tensor], *, tol: float = SPARSITY_TOL) -> torch.Tensor:
    """Fraction of weight entries with ``|w| < tol``, per stacked model (tensors lead with M)."""
    m = weights[0].shape[0]
    small = torch.zeros(m, dtype=torch.float64)
    for w in weights:
        small += (w.detach().reshape(m, -1).abs() < tol).sum(1)
    return small / sum(w[0].numel() for w in weights)


def _val_metric(task: Task, scores: torch.Tensor, y: torch.Tensor, ds: D.Dataset, threshold: float) -> list[float]:
    if task.primary == "total_cost":
        return [total_cost(scores[i], y[i], threshold) for i in range(scores.shape[0])]
    return metric_per_model(task.primary, scores, y, num_classes=ds.num_classes,
                            target_std=float(ds.meta.get("target_std", 1.0)))


# -- the thin trainer --------------------------------------------------------------------------


@dataclass
class Trained:
    """What :func:`train_keep_model` returns: the model and everything needed to score it."""

    model: torch.nn.Module
    results: list[RunResult]
    test_scores: torch.Tensor  # (M, n_test) scores as scores_from_outputs returns them
    y_test: torch.Tensor  # (M, n_test)
    diverged: list[bool]


def _stack(dss: Sequence[D.Dataset], attr: str) -> torch.Tensor:
    return torch.stack([getattr(d, attr) for d in dss])


def train_keep_model(task: Task, competitor: Competitor, runs: Sequence[RunKey], datasets: dict[int, D.Dataset],
                     config: TrainConfig, setting: Setting) -> Trained:
    """Train one MLP per run key at once (as ``train_stack`` does) and keep the trained stack."""
    t0 = time.perf_counter()
    spec = competitor.spec()
    head = spec.head_for(task.kind)
    dss = [datasets[r.seed] for r in runs]
    ds0 = dss[0]
    units = _units(head.units, ds0)
    kwargs = dict(competitor.kwargs)
    if competitor.data_kwargs is not None:
        kwargs.update(competitor.data_kwargs(ds0))
    loss_of = _PerModelLoss(spec, kwargs, head.activation, units, task.kind)
    m = len(runs)
    xtr, ytr = _stack(dss, "x_train"), _stack(dss, "y_train")
    xva, yva = _stack(dss, "x_val"), _stack(dss, "y_val")
    xte, yte = _stack(dss, "x_test"), _stack(dss, "y_test")
    model = make_model("mlp", [r.seed for r in runs], ds0.num_features, competitor.hidden or config.hidden, units)
    opt = make_optimizer(config.optimizer, list(model.parameters()),
                         torch.tensor([r.lr for r in runs], dtype=torch.float64))
    gens = [torch.Generator().manual_seed(r.seed) for r in runs]
    rows = torch.arange(m).unsqueeze(1)
    n = xtr.shape[1]
    higher = task.higher_is_better

    def penalty() -> torch.Tensor:
        total = torch.zeros(m)
        if setting.l1:
            total = total + l1_penalty(model.weight_tensors(), weight=setting.l1, per_model=True)
        if setting.l2:
            total = total + l2_penalty(model.weight_tensors(), weight=setting.l2, per_model=True)
        return total

    active = torch.ones(m, dtype=torch.bool)
    diverged_at: list[int | None] = [None] * m
    keys = ("train_loss", "val_loss", f"val_{task.primary}", "grad_norm")
    hist: dict[str, list[list[float]]] = {k: [[] for _ in range(m)] for k in keys}
    best = [-math.inf if higher else math.inf] * m
    best_epoch = [0] * m
    best_state = [p.detach().clone() for p in model.parameters()]
    since_best = torch.zeros(m, dtype=torch.long)
    with content_checks(True):  # validate the real inputs once, then train without syncs
        loss_of(model(xtr[:, :2]), ytr[:, :2])
    epochs_run = 0
    with content_checks(False):
        for epoch in range(config.epochs):
            if not bool(active.any()):
                break
            epochs_run = epoch + 1
            perms = torch.stack([torch.randperm(n, generator=g) for g in gens])
            gsum, steps = torch.zeros(m), 0
            for start in range(0, n, config.batch_size):
                idx = perms[:, start:start + config.batch_size]
                per_model = loss_of(model(xtr[rows, idx]), ytr[rows, idx]) + penalty()
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
                tr_loss = loss_of(model(xtr), ytr)
                z_val = model(xva)
                va_loss = loss_of(z_val, yva)
                val = _val_metric(task, scores_from_outputs(z_val, head, task.kind), yva, ds0, setting.threshold)
                for i in range(m):
                    if diverged_at[i] is not None:
                        for k in hist:
                            hist[k][i].append(math.nan)
                        continue
                    hist["train_loss"][i].append(float(tr_loss[i]))
                    hist["val_loss"][i].append(float(va_loss[i]))
                    hist[f"val_{task.primary}"][i].append(val[i])
                    hist["grad_norm"][i].append(float(gsum[i]) / max(steps, 1))
                    if val[i] > best[i] if higher else val[i] < best[i]:
                        best[i], best_epoch[i], since_best[i] = val[i], epoch + 1, 0
                        for b, p in zip(best_state, model.parameters()):
                            b[i] = p[i]
                    else:
                        since_best[i] += 1
                if config.early_stopping is not None:
                    active &= since_best < config.early_stopping
    with torch.no_grad():
        if config.early_stopping is not None:
            for b, p in zip(best_state, model.parameters()):
                p.copy_(b)
        s_test = scores_from_outputs(model(xte), head, task.kind)
    seconds = (time.perf_counter() - t0) / m
    results = []
    for i, r in enumerate(runs):
        h = {k: v[i] for k, v in hist.items()}
        res = RunResult(task.name, competitor.label, competitor.loss, r.seed, r.lr,
                        status="diverged" if diverged_at[i] is not None else "finished",
                        epochs_run=epochs_run, best_epoch=best_epoch[i], history=h, seconds=seconds,
                        diverged_epoch=diverged_at[i])
        if diverged_at[i] is None:
            standard = tuple(k for k in task.metrics if k not in ("total_cost", "weight_sparsity"))
            res.metrics = compute_metrics(standard, s_test[i], yte[i], num_classes=ds0.num_classes,
                                          target_std=float(ds0.meta.get("target_std", 1.0)),
                                          threshold=setting.threshold)
            res.metrics["epochs_to_converge"] = float(
                _first_within(h[f"val_{task.primary}"], float(best[i]), config.converge_tol, higher))
            res.metrics["generalization_gap"] = h["val_loss"][-1] - h["train_loss"][-1]
            res.metrics["overfitting"] = float(_overfit_flag(h["train_loss"], h["val_loss"], config.overfit_patience))
            gn = torch.tensor(h["grad_norm"])
            res.metrics["grad_norm_median"] = float(gn.median())
            res.metrics["grad_norm_max"] = float(gn.max())
        results.append(res)
    return Trained(model, results, s_test, yte, [d is not None for d in diverged_at])


def _setting(task: Task, competitor: Competitor, config: TrainConfig) -> Setting:
    return SETTINGS.get((task.name, competitor.label), Setting(l1=config.l1, l2=config.l2))


def train_regularized(task: Task, competitor: Competitor, runs: Sequence[RunKey], datasets: dict[int, D.Dataset],
                      config: TrainConfig) -> list[RunResult]:
    """Trainer of the regularization tasks: adds ``weight_sparsity`` to every finished run."""
    trained = train_keep_model(task, competitor, runs, datasets, config, _setting(task, competitor, config))
    sparsity = weight_sparsity(trained.model.weight_tensors())
    for i, res in enumerate(trained.results):
        if not trained.diverged[i]:
            res.metrics["weight_sparsity"] = float(sparsity[i])
    return trained.results


def train_cost_sensitive(task: Task, competitor: Competitor, runs: Sequence[RunKey],
                         datasets: dict[int, D.Dataset], config: TrainConfig) -> list[RunResult]:
    """Trainer of the cost-sensitive task: adds ``total_cost`` at the competitor's threshold."""
    setting = _setting(task, competitor, config)
    trained = train_keep_model(task, competitor, runs, datasets, config, setting)
    for i, res in enumerate(trained.results):
        if not trained.diverged[i]:
            res.metrics["total_cost"] = total_cost(trained.test_scores[i], trained.y_test[i], setting.threshold)
    return trained.results


# -- the tasks ---------------------------------------------------------------------------------


def diabetes_clean(seed: int) -> D.Dataset:
    """Diabetes regression without corrupted targets (the regularization task's data)."""
    return D.diabetes_with_outliers(seed, fraction=0.0)


def _grid(task: str, loss: str) -> tuple[Competitor, ...]:
    comps = [Competitor("no penalty", loss)]
    SETTINGS[(task, "no penalty")] = Setting()
    for s in STRENGTHS:
        for label, setting in ((f"L1 {s:g}", Setting(l1=s)), (f"L2 {s:g}", Setting(l2=s)),
                               (f"elastic net {s:g}", Setting(l1=s, l2=s))):
            comps.append(Competitor(label, loss, note=f"l1={setting.l1:g}, l2={setting.l2:g} on weight matrices"))
            SETTINGS[(task, label)] = setting
    return tuple(comps)


_REG_NOTES = (
    "Penalties apply to the weight matrices of each model (biases excluded), summed and added to "
    "the batch-mean loss; elastic net = L1 and L2 at the same strength. weight_sparsity = fraction "
    f"of weights with |w| < {SPARSITY_TOL:g}. Adam updates with a subgradient L1 term hover around "
    "zero rather than reaching it, so sparsity stays far below what a proximal (lasso) solver gives."
)

register_task(Task(
    name="regularization",
    kind="binary",
    description="Breast cancer (WDBC), BCE: no penalty vs L1 / L2 / elastic net at strengths "
    + ", ".join(f"{s:g}" for s in STRENGTHS) + ".",
    load=D.breast_cancer,
    competitors=_grid("regularization", "binary_cross_entropy_with_logits"),
    metrics=("accuracy", "f1", "roc_auc", "weight_sparsity"),
    primary="accuracy",
    notes=_REG_NOTES,
    trainer=train_regularized,
))

register_task(Task(
    name="regularization-regression",
    kind="regression",
    description="Diabetes (clean targets), MSE: no penalty vs L1 / L2 / elastic net at strengths "
    + ", ".join(f"{s:g}" for s in STRENGTHS) + "; RMSE/MAE in the target's units.",
    load=diabetes_clean,
    competitors=_grid("regularization-regression", "mse_loss"),
    metrics=("rmse", "mae", "weight_sparsity"),
    primary="rmse",
    higher_is_better=False,
    epochs=60,
    notes=_REG_NOTES,
    trainer=train_regularized,
))

_MOVED = "BCE, threshold 1/11 (Bayes-optimal)"
SETTINGS[("cost-sensitive", _MOVED)] = Setting(threshold=BAYES_THRESHOLD)

register_task(Task(
    name="cost-sensitive",
    kind="imbalanced",
    description="Digits '8 vs rest' (about 1:9) scored by total cost per 1,000 test samples with "
    f"c_FN = {COST_FN:g}, c_FP = {COST_FP:g} (correct answers cost 0).",
    load=D.digits_eight_vs_rest,
    competitors=(
        Competitor("BCE", "binary_cross_entropy_with_logits", note="decides at P >= 0.5"),
        Competitor(_MOVED, "binary_cross_entropy_with_logits",
                   note="plain BCE training; decides at P >= c_FP / (c_FP + c_FN) (Elkan 2001)"),
        Competitor("cost-sensitive BCE", "binary_cost_sensitive_loss", {"fn_cost": COST_FN, "fp_cost": COST_FP},
                   note="positives weighted by c_FN, negatives by c_FP; decides at 0.5"),
        Competitor("expected cost", "binary_expected_cost_loss", {"fn_cost": COST_FN, "fp_cost": COST_FP},
                   note="minimises c_FN t (1 - p) + c_FP (1 - t) p; decides at 0.5"),
    ),
    metrics=("total_cost", "recall", "precision", "fpr"),
    primary="total_cost",
    higher_is_better=False,
    epochs=30,
    notes="total_cost = 1000 * (c_FN * FN + c_FP * FP) / n_test at each competitor's threshold; "
    "recall, precision and FPR at the same threshold.",
    trainer=train_cost_sensitive,
))
