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
  expected-cost loss; also recall, precision, FPR and balanced accuracy at each competitor's
  threshold, the threshold-free average precision and the test precision-recall curve.

These tasks need the trained models (weight sparsity) and decisions at a moved threshold, so
their trainers call :func:`losslab.lab.train.fit_stack` (``train_stack`` that also returns the
models and test scores) with each competitor's penalty and threshold, then add their metrics.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from . import data as D
from .metrics import THRESHOLD
from .tasks import Competitor, Task, register_task
from .train import Fitted, RunKey, RunResult, TrainConfig, fit_stack

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


def total_cost(
    scores: torch.Tensor,
    y: torch.Tensor,
    threshold: float,
    *,
    fn_cost: float = COST_FN,
    fp_cost: float = COST_FP,
    per: int = 1000,
) -> float:
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


# -- the trainer ------------------------------------------------------------------------------


def train_keep_model(
    task: Task,
    competitor: Competitor,
    runs: Sequence[RunKey],
    datasets: dict[int, D.Dataset],
    config: TrainConfig,
    setting: Setting,
) -> Fitted:
    """:func:`losslab.lab.train.fit_stack` with the competitor's penalty and decision threshold."""
    cfg = dataclasses.replace(config, l1=setting.l1, l2=setting.l2, threshold=setting.threshold)
    val_metric = None
    if task.primary == "total_cost":

        def val_metric(scores: torch.Tensor, y: torch.Tensor) -> list[float]:
            return [total_cost(scores[i], y[i], setting.threshold) for i in range(scores.shape[0])]

    return fit_stack(task, competitor, runs, datasets, cfg, val_metric=val_metric)


def _setting(task: Task, competitor: Competitor, config: TrainConfig) -> Setting:
    return SETTINGS.get((task.name, competitor.label), Setting(l1=config.l1, l2=config.l2))


def train_regularized(
    task: Task,
    competitor: Competitor,
    runs: Sequence[RunKey],
    datasets: dict[int, D.Dataset],
    config: TrainConfig,
) -> list[RunResult]:
    """Trainer of the regularization tasks: adds ``weight_sparsity`` to every finished run."""
    trained = train_keep_model(
        task, competitor, runs, datasets, config, _setting(task, competitor, config)
    )
    sparsity = weight_sparsity(trained.model.weight_tensors())
    for i, res in enumerate(trained.results):
        if not trained.diverged[i]:
            res.metrics["weight_sparsity"] = float(sparsity[i])
    return trained.results


def train_cost_sensitive(
    task: Task,
    competitor: Competitor,
    runs: Sequence[RunKey],
    datasets: dict[int, D.Dataset],
    config: TrainConfig,
) -> list[RunResult]:
    """Trainer of the cost-sensitive task: adds ``total_cost`` at the competitor's threshold."""
    setting = _setting(task, competitor, config)
    trained = train_keep_model(task, competitor, runs, datasets, config, setting)
    for i, res in enumerate(trained.results):
        if not trained.diverged[i]:
            res.metrics["total_cost"] = total_cost(
                trained.test_scores[i], trained.y_test[i], setting.threshold
            )
    return trained.results


# -- the tasks ---------------------------------------------------------------------------------


def diabetes_clean(seed: int) -> D.Dataset:
    """Diabetes regression without corrupted targets (the regularization task's data)."""
    return D.diabetes_with_outliers(seed, fraction=0.0)


def _grid(task: str, loss: str) -> tuple[Competitor, ...]:
    comps = [Competitor("no penalty", loss)]
    SETTINGS[(task, "no penalty")] = Setting()
    for s in STRENGTHS:
        for label, setting in (
            (f"L1 {s:g}", Setting(l1=s)),
            (f"L2 {s:g}", Setting(l2=s)),
            (f"elastic net {s:g}", Setting(l1=s, l2=s)),
        ):
            comps.append(
                Competitor(
                    label, loss, note=f"l1={setting.l1:g}, l2={setting.l2:g} on weight matrices"
                )
            )
            SETTINGS[(task, label)] = setting
    return tuple(comps)


_REG_NOTES = (
    "Penalties apply to the weight matrices of each model (biases excluded), summed and added to "
    "the batch-mean loss; elastic net = L1 and L2 at the same strength. weight_sparsity = fraction "
    f"of weights with |w| < {SPARSITY_TOL:g}. Adam updates with a subgradient L1 term hover around "
    "zero rather than reaching it, so sparsity stays far below what a proximal (lasso) solver gives."
)

register_task(
    Task(
        name="regularization",
        kind="binary",
        description="Breast cancer (WDBC), BCE: no penalty vs L1 / L2 / elastic net at strengths "
        + ", ".join(f"{s:g}" for s in STRENGTHS)
        + ".",
        load=D.breast_cancer,
        competitors=_grid("regularization", "binary_cross_entropy_with_logits"),
        metrics=("accuracy", "f1", "roc_auc", "weight_sparsity"),
        primary="accuracy",
        notes=_REG_NOTES,
        trainer=train_regularized,
    )
)

register_task(
    Task(
        name="regularization-regression",
        kind="regression",
        description="Diabetes (clean targets), MSE: no penalty vs L1 / L2 / elastic net at strengths "
        + ", ".join(f"{s:g}" for s in STRENGTHS)
        + "; RMSE/MAE in the target's units.",
        load=diabetes_clean,
        competitors=_grid("regularization-regression", "mse_loss"),
        metrics=("rmse", "mae", "weight_sparsity"),
        primary="rmse",
        higher_is_better=False,
        epochs=60,
        notes=_REG_NOTES,
        trainer=train_regularized,
    )
)

_MOVED = "BCE, threshold 1/11 (Bayes-optimal)"
SETTINGS[("cost-sensitive", _MOVED)] = Setting(threshold=BAYES_THRESHOLD)

register_task(
    Task(
        name="cost-sensitive",
        kind="imbalanced",
        description="Digits '8 vs rest' (about 1:9) scored by total cost per 1,000 test samples with "
        f"c_FN = {COST_FN:g}, c_FP = {COST_FP:g} (correct answers cost 0).",
        load=D.digits_eight_vs_rest,
        competitors=(
            Competitor("BCE", "binary_cross_entropy_with_logits", note="decides at P >= 0.5"),
            Competitor(
                _MOVED,
                "binary_cross_entropy_with_logits",
                note="plain BCE training; decides at P >= c_FP / (c_FP + c_FN) (Elkan 2001)",
            ),
            Competitor(
                "cost-sensitive BCE",
                "binary_cost_sensitive_loss",
                {"fn_cost": COST_FN, "fp_cost": COST_FP},
                note="positives weighted by c_FN, negatives by c_FP; decides at 0.5",
            ),
            Competitor(
                "expected cost",
                "binary_expected_cost_loss",
                {"fn_cost": COST_FN, "fp_cost": COST_FP},
                note="minimises c_FN t (1 - p) + c_FP (1 - t) p; decides at 0.5",
            ),
        ),
        metrics=(
            "total_cost",
            "recall",
            "precision",
            "fpr",
            "balanced_accuracy",
            "average_precision",
        ),
        primary="total_cost",
        higher_is_better=False,
        epochs=30,
        notes="total_cost = 1000 * (c_FN * FN + c_FP * FP) / n_test at each competitor's threshold "
        f"(P(digit 8) >= {BAYES_THRESHOLD:.4g} for the moved-threshold BCE, >= {THRESHOLD:g} for "
        "the others); recall (TPR), precision, FPR and balanced accuracy (= (TPR + TNR) / 2) at the "
        "same threshold; average precision and the stored precision-recall curve use the raw "
        "scores (every threshold).",
        trainer=train_cost_sensitive,
    )
)
