"""The lab: train models with competing losses on real data and store every run.

Layers: ``data`` (bundled data sets) -> ``tasks`` (the registry) -> ``models``/``train`` (batched
training) -> ``study`` (the driver) -> ``store`` (SQLite). The report package reads the store.
The library API: ``start_study(StudyConfig(...), folder)`` and ``resume_study(folder)`` (what
``losslab compare`` calls). Importing the package registers the built-in tasks (the ``tasks_*`` modules and ``text``
register themselves; optional data is checked only when a task runs).
"""

from . import (  # noqa: F401
    tasks,
    tasks_adversarial,
    tasks_generative,
    tasks_metric,
    tasks_multitask,
    tasks_noisy,
    tasks_nondiff,
    tasks_regularization,
    tasks_rl,
    tasks_segmentation,
    tasks_uncertainty,
    text,
)
from .study import (
    NothingToRun,
    StudyConfig,
    StudyLockedError,
    resume_study,
    run_study,
    start_study,
)

__all__ = [
    "NothingToRun",
    "StudyConfig",
    "StudyLockedError",
    "resume_study",
    "run_study",
    "start_study",
]
