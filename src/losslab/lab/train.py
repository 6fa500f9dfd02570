"""Train every seed and learning rate of one (task, loss) at once, and diagnose each run.

``train_stack`` trains one :class:`~losslab.lab.systems.mlp.MLPSystem` (a stacked MLP/CNN or
autoencoder holding a model per (seed, learning rate), each on its own seed's data split and batch
order) with the lab's one loop, :func:`losslab.lab.engine.train_system`, and returns one
:class:`RunResult` per model. Results equal training each model alone (tested for every task).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from .data import Dataset
from .engine import train_system
from .metrics import THRESHOLD, pr_curve
from .systems.mlp import RECON_QUANTILE, MLPSystem, PerModelLoss, activate, head_units
from .tasks import Competitor, Task

__all__ = [
    "TrainConfig",
    "RunKey",
    "RunResult",
    "Fitted",
    "train_stack",
    "fit_stack",
    "run_diagnostics",
    "CONVERGENCE_RULE",
    "OVERFIT_RULE",
    "RECON_QUANTILE",
]

# kept for modules that imported them from here before the systems existed
_activate, _units, _PerModelLoss = activate, head_units, PerModelLoss

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
    #: which epoch's model gives a run's test metrics: "best" (validation primary metric) or
    #: "final" (the last epoch trained); the other's are kept in RunResult.final_metrics/metrics
    select: str = "best"


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
    #: test metrics of the selected model (TrainConfig.select) + diagnostics
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    diverged_epoch: int | None = None
    #: test metrics of the model at the last epoch trained (equal to the test part of
    #: ``metrics`` when the selection is "final"); empty for diverged runs and older stores
    final_metrics: dict[str, float] = field(default_factory=dict)
    #: test curves of the selected model: name -> (x, y) points. "pr": (recall, precision) at
    #: PR_LEVELS recall levels (:func:`~losslab.lab.metrics.pr_curve`), recorded for every
    #: finished run of a two-class task trained through :func:`fit_stack`
    curves: dict[str, list[tuple[float, float]]] = field(default_factory=dict)


def _first_within(values: list[float], best: float, tol: float, higher: bool) -> int:
    for i, v in enumerate(values):
        if math.isfinite(v) and (
            v >= best - tol * abs(best) if higher else v <= best + tol * abs(best)
        ):
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


def run_diagnostics(
    history: dict[str, list[float]], best: float, primary: str, higher: bool, config: TrainConfig
) -> dict[str, float]:
    """The per-run diagnostics every trainer reports (rules in CONVERGENCE_RULE/OVERFIT_RULE)."""
    gn = (
        torch.tensor(history["grad_norm"]) if history.get("grad_norm") else torch.tensor([math.nan])
    )
    return {
        "epochs_to_converge": float(
            _first_within(history[f"val_{primary}"], best, config.converge_tol, higher)
        ),
        "generalization_gap": history["val_loss"][-1] - history["train_loss"][-1],
        "overfitting": float(
            _overfit_flag(history["train_loss"], history["val_loss"], config.overfit_patience)
        ),
        "grad_norm_median": float(gn.median()),
        "grad_norm_max": float(gn.max()),
    }


@dataclass
class Fitted:
    """A trained stack and what is needed to score it further (see :func:`fit_stack`): the model
    and test scores are those of the selected epoch (``TrainConfig.select``)."""

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
    knows; a task-specific trainer adds the others from the returned model or scores. Each
    finished run of a two-class task also gets its test precision-recall curve (``curves["pr"]``).
    ``val_metric(scores, y)`` (per model) replaces the standard validation metric for a primary
    metric that compute_metrics does not know.
    """
    system = MLPSystem(task, competitor, runs, datasets, config, val_metric=val_metric)
    results = train_system(system, task, competitor, runs, config)
    if system.ds0.num_classes == 2:  # the selected model's test scores: the last ones computed
        for i, res in enumerate(results):
            points = pr_curve(system.test_scores[i], system.data.y_test[i])
            if res.status == "finished" and points:
                res.curves["pr"] = points
    return Fitted(
        system.model,
        results,
        system.test_scores,
        system.data.y_test,
        [r.status == "diverged" for r in results],
    )
