"""Trainer of the regression task's adaptive row: models and Barron's loss parameters learned together.

The system (:class:`~losslab.lab.systems.adaptive.AdaptiveRobustSystem`) says what is trained;
the lab's one loop (:func:`losslab.lab.engine.train_system`) trains it. See the system's module for
the history and metrics it adds (``alpha``, ``scale``, ``learned_alpha``, ``learned_scale``).
"""

from __future__ import annotations

from collections.abc import Sequence

from .data import Dataset
from .engine import train_system
from .systems.adaptive import ALPHA_RANGE, AdaptiveRobustSystem
from .tasks import Competitor, Task
from .train import RunKey, RunResult, TrainConfig

__all__ = ["train_adaptive_robust", "ALPHA_RANGE"]


def train_adaptive_robust(
    task: Task,
    competitor: Competitor,
    runs: Sequence[RunKey],
    datasets: dict[int, Dataset],
    config: TrainConfig,
) -> list[RunResult]:
    """Train every run's MLP together with its own alpha and scale (train_stack's signature)."""
    system = AdaptiveRobustSystem(task, competitor, runs, datasets, config)
    return train_system(system, task, competitor, runs, config)
