"""The lab: train models with competing losses on real data and store every run.

Layers: ``data`` (bundled data sets) -> ``tasks`` (the registry) -> ``models``/``train`` (batched
training) -> ``study`` (the driver) -> ``store`` (SQLite). The report package reads the store.
Importing the package registers the built-in tasks (``text`` registers itself; its data is
optional and checked only when the task runs).
"""

from . import tasks, text  # noqa: F401
