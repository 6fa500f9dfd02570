"""Lab task ``non-differentiable``: training for F1 when F1 has no gradient.

Digits '8 vs rest' (about 1:9, the imbalanced task's data), scored by the test F1 and the
total cost (c_FN = 10, c_FP = 1 per 1,000 test samples, the cost-sensitive task's matrix), each
at the competitor's own decision threshold. Four answers to "the metric is not differentiable"
(systems in :mod:`losslab.lab.systems.nondiff`, all on the lab's one engine):

* **BCE + threshold moving**: a surrogate that ignores F1, then the threshold that maximises the
  validation F1;
* **soft F1**: gradient descent on the differentiable expected-count F1 of each batch;
* **REINFORCE on F1**: gradient descent on the score-function estimate of the batch F1's
  gradient (sampled labels rewarded by F1, moving-average baseline);
* **CMA-ES on F1**: black-box optimisation of the training F1 itself (pycma), a linear scorer.

Besides the usual rates the runs record ``function_evaluations`` (metric evaluations during
training, see the systems' module) and, as every run, their training time (``seconds``).
"""

from __future__ import annotations

from collections.abc import Sequence

from . import data as D
from .engine import train_system
from .metrics import pr_curve
from .systems.nondiff import (
    COST_FN,
    COST_FP,
    ESSystem,
    ReinforceSystem,
    SoftF1System,
    ThresholdMovingSystem,
)
from .tasks import Competitor, Task, register_task
from .train import RunKey, RunResult, TrainConfig

__all__ = ["train_threshold_moving", "train_soft_f1", "train_reinforce_f1", "train_es_f1"]

METRICS = (
    "f1",
    "total_cost",
    "precision",
    "minority_recall",
    "balanced_accuracy",
    "average_precision",
    "function_evaluations",
)


def _train(cls, task, competitor, runs, datasets, config) -> list[RunResult]:
    system = cls(task, competitor, runs, datasets, config)
    results = train_system(system, task, competitor, runs, config)
    for i, res in enumerate(results):  # the selected model's test PR curve, as fit_stack does
        points = pr_curve(system.test_scores[i], system.data.y_test[i])
        if res.status == "finished" and points:
            res.curves["pr"] = points
    return results


def train_threshold_moving(
    task: Task,
    competitor: Competitor,
    runs: Sequence[RunKey],
    datasets: dict[int, D.Dataset],
    config: TrainConfig,
) -> list[RunResult]:
    """BCE, then the validation-F1-optimal decision threshold."""
    return _train(ThresholdMovingSystem, task, competitor, runs, datasets, config)


def train_soft_f1(task, competitor, runs, datasets, config) -> list[RunResult]:
    """Gradient descent on each model's batch soft F1."""
    return _train(SoftF1System, task, competitor, runs, datasets, config)


def train_reinforce_f1(task, competitor, runs, datasets, config) -> list[RunResult]:
    """REINFORCE on the batch F1."""
    return _train(ReinforceSystem, task, competitor, runs, datasets, config)


def train_es_f1(task, competitor, runs, datasets, config) -> list[RunResult]:
    """CMA-ES on the training F1."""
    return _train(ESSystem, task, competitor, runs, datasets, config)


register_task(
    Task(
        name="non-differentiable",
        kind="binary",
        description="Digits '8 vs rest' (about 1:9) trained for F1, which has no gradient: BCE + "
        "threshold moving vs soft F1 vs REINFORCE on F1 vs CMA-ES on F1; test F1, total cost "
        f"(c_FN = {COST_FN:g}, c_FP = {COST_FP:g} per 1,000 samples), function evaluations and time.",
        load=D.digits_eight_vs_rest,
        competitors=(
            Competitor(
                "BCE + threshold moving",
                "binary_cross_entropy_with_logits",
                note="threshold = the validation-F1-optimal one (every distinct validation score "
                "a candidate); model selection on that tuned validation F1",
                trainer=train_threshold_moving,
            ),
            Competitor(
                "soft F1",
                "soft_f1_loss",
                note="expected-count F1 of each batch of 64, threshold 0.5",
                trainer=train_soft_f1,
            ),
            Competitor(
                "REINFORCE on F1",
                "reinforce_loss",
                note=f"{ReinforceSystem.SAMPLES} labellings sampled per batch, reward = batch F1, "
                "moving-average baseline (momentum 0.9); threshold 0.5",
                trainer=train_reinforce_f1,
            ),
            Competitor(
                "CMA-ES on F1",
                "soft_f1_loss",
                note=f"pycma, {ESSystem.GENERATIONS} generations per epoch on the training F1 of "
                "hard decisions (soft_f1_loss of 0/1 decisions = 1 - F1); a linear scorer (65 "
                "parameters), the mean loaded after each epoch; threshold 0.5",
                trainer=train_es_f1,
            ),
        ),
        metrics=METRICS,
        primary="f1",
        epochs=30,
        notes="Each competitor decides at its own threshold (threshold moving: the validation-"
        "F1-optimal one; the others: 0.5); F1, precision, minority recall, balanced accuracy and "
        "total cost are read there, average precision from the raw scores. function_evaluations "
        "= metric evaluations during training (ES: one per candidate on the training split; "
        "REINFORCE: one per sampled labelling of a batch; threshold moving: the final "
        "threshold search's candidates; soft F1: 0, it differentiates a surrogate). The CMA-ES "
        "competitor trains a linear scorer (CMA-ES's cost grows with the square of the number of "
        "parameters), the others the task's MLP: it measures the black-box route at a size "
        "where it is practical, not the same model.",
    )
)
