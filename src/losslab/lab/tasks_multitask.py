"""The "multitask" lab task: digits -> class (10-way CE) and parity (binary BCE) from one trunk.

One MLP trunk (the task's hidden layers) feeds an 11-unit output layer whose first 10 units are the
class head and whose last unit is the parity head (odd = 1); the two heads share nothing but the
trunk. The competitors differ only in how the two task losses are combined
(:mod:`losslab.multitask`): equal weights, uncertainty weighting, GradNorm, Dynamic Weight
Averaging and PCGrad. Metrics: ``class_top1`` (10-way accuracy), ``parity_accuracy`` and their
mean ``mean_accuracy``, the primary metric.

Every competitor's trainer is a :class:`MultitaskTrainer` naming its weighting method (and its
hyperparameter): it builds a :class:`~losslab.lab.systems.multitask.MultitaskSystem` (all runs
stacked, each with its own weighting state) and trains it with the lab's one loop,
:func:`losslab.lab.engine.train_system`. ``train_loss``/``val_loss`` are the *unweighted* sum of
the two task losses, comparable across methods; the history also records each epoch's mean weight
of each task (``weight_class``, ``weight_parity``; for PCGrad, 1 and 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import data as D
from .engine import train_system
from .systems.multitask import DWA_TEMPERATURE, GRADNORM_ALPHA, METHODS, MultitaskSystem
from .tasks import Competitor, Task, register_task
from .train import RunKey, RunResult, TrainConfig

__all__ = ["METHODS", "MultitaskTrainer", "train_multitask"]

METRICS = ("class_top1", "parity_accuracy", "mean_accuracy")


@dataclass(frozen=True)
class MultitaskTrainer:
    """A competitor's trainer (train_stack's signature): its weighting ``method`` (one of
    :data:`METHODS`), GradNorm's ``alpha`` and DWA's ``temperature``. A module-level class, so
    competitors holding one pickle for worker processes and compare equal after a round trip."""

    method: str
    alpha: float = GRADNORM_ALPHA
    temperature: float = DWA_TEMPERATURE

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(
                f"compare: multi-task 'method' must be one of {', '.join(METHODS)}, "
                f"got {self.method!r}"
            )

    def __call__(
        self,
        task: Task,
        competitor: Competitor,
        runs: Sequence[RunKey],
        datasets: dict[int, D.Dataset],
        config: TrainConfig,
    ) -> list[RunResult]:
        system = MultitaskSystem(
            task,
            competitor,
            runs,
            datasets,
            config,
            method=self.method,
            alpha=self.alpha,
            temperature=self.temperature,
        )
        return train_system(system, task, competitor, runs, config)


def train_multitask(
    method: str,
    task: Task,
    competitor: Competitor,
    runs: Sequence[RunKey],
    datasets: dict[int, D.Dataset],
    config: TrainConfig,
) -> list[RunResult]:
    """Train every run's two-head model, stacked, with one weighting ``method`` (:data:`METHODS`)."""
    return MultitaskTrainer(method)(task, competitor, runs, datasets, config)


register_task(
    Task(
        name="multitask",
        kind="multiclass",  # the class head decides the competitors' loss head (10 logits)
        description="Digits (scikit-learn, 8x8) as two tasks from one MLP trunk: the digit (10-way "
        "cross entropy) and its parity (odd = 1, binary cross entropy with logits). Competitors "
        "differ only in how the two losses are weighted; primary metric = mean of class top-1 and "
        "parity accuracy.",
        load=D.digits,
        competitors=(
            Competitor(
                "equal weights",
                "cross_entropy",
                note="CE + BCE, both weight 1",
                trainer=MultitaskTrainer("equal"),
            ),
            Competitor(
                "uncertainty (Kendall 2018)",
                "cross_entropy",
                note="learned log-variances, classification form exp(-s) L + s/2",
                trainer=MultitaskTrainer("uncertainty"),
            ),
            Competitor(
                f"GradNorm (alpha={GRADNORM_ALPHA:g})",
                "cross_entropy",
                note="weights balance gradient norms on the last trunk layer (Chen 2018)",
                trainer=MultitaskTrainer("gradnorm"),
            ),
            Competitor(
                f"DWA (T={DWA_TEMPERATURE:g})",
                "cross_entropy",
                note="weights from the last two epochs' loss ratios (Liu 2019)",
                trainer=MultitaskTrainer("dwa"),
            ),
            Competitor(
                "PCGrad (sum)",
                "cross_entropy",
                note="conflicting trunk gradients projected, random task order (Yu 2020)",
                trainer=MultitaskTrainer("pcgrad"),
            ),
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
        trainer=MultitaskTrainer("equal"),
    )
)
