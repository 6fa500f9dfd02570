"""The study driver: which runs to do, doing them (batched, optionally in a process pool), storing.

Only this process writes the store, one transaction per finished run, so a killed study loses
no finished run and ``resume`` redoes only what is missing.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import datetime as _dt
import multiprocessing as mp
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from .data import Dataset, DataUnavailable
from .store import Store
from .tasks import Competitor, Task, competitor_for_loss, get_task
from .train import CONVERGENCE_RULE, OVERFIT_RULE, RunKey, RunResult, TrainConfig, train_stack

__all__ = ["check_config", "NothingToRun", "StudyConfig", "Unit", "plan", "run_study", "DEFAULT_TASKS", "FULL_EXTRA_TASKS", "study_config_from_store"]

#: the default study; `--full` adds FULL_EXTRA_TASKS and trains longer
DEFAULT_TASKS = ("binary", "multiclass", "regression", "imbalanced", "anomaly", "text")
FULL_EXTRA_TASKS = ("fashion-mnist",)


@dataclass(frozen=True)
class StudyConfig:
    tasks: tuple[str, ...] = DEFAULT_TASKS
    losses: tuple[str, ...] = ()  # catalog names replacing every task's default competitors
    added_losses: tuple[str, ...] = ()  # catalog names competing beside each task's defaults
    seeds: int = 5
    lrs: tuple[float, ...] = (0.01,)
    optimizer: str = "adam"
    model: str = "mlp"  # "mlp", or "cnn" for image tasks
    epochs: int | None = None  # None: the task's default (or its full length with full=True)
    full: bool = False
    l1: float = 0.0
    l2: float = 0.0
    early_stopping: int | None = None
    jobs: int = 1
    #: catalog name -> the "module:function" path the user imported it by: its competitors are
    #: labelled by that path. Recorded only: a stored study never imports anything.
    loss_imports: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. user-data settings, recorded

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def study_config_from_store(store: Store) -> StudyConfig:
    raw = store.meta("config")
    if raw is None:
        raise ValueError(f"compare: '--resume' must name a study folder with a stored configuration, got {str(store.path.parent)!r}")
    raw["tasks"] = tuple(raw["tasks"])
    raw["losses"] = tuple(raw["losses"])
    raw["added_losses"] = tuple(raw.get("added_losses", ()))  # absent from older stores
    raw["lrs"] = tuple(raw["lrs"])
    return StudyConfig(**raw)


@dataclass(frozen=True)
class Unit:
    """One batched training job: every pending (seed, lr) of one competitor of one task."""

    task: Task
    competitor: Competitor
    runs: tuple[RunKey, ...]
    train: TrainConfig


def _user_competitor(task: Task, name: str, cfg: StudyConfig) -> Competitor:
    comp = competitor_for_loss(task, name)
    path = cfg.loss_imports.get(name)
    return dataclasses.replace(comp, label=path, note=f"your loss, imported from {path}") if path else comp


def competitors(task: Task, cfg: StudyConfig) -> tuple[Competitor, ...]:
    """``cfg.losses`` when given (they replace the task's defaults), else the task's defaults
    followed by ``cfg.added_losses``."""
    if cfg.losses:
        return tuple(_user_competitor(task, name, cfg) for name in cfg.losses)
    return task.competitors + tuple(_user_competitor(task, name, cfg) for name in cfg.added_losses)


def check_config(cfg: StudyConfig) -> None:
    """Reject a configuration the study cannot run (ValueError naming the option)."""
    if cfg.losses and cfg.added_losses:
        raise ValueError(
            "compare: '--loss' replaces each task's default competitors and '--add-loss' adds to "
            "them; pass one of them ('--loss A,B' runs exactly A and B), got both")
    for name in cfg.tasks:
        task = get_task(name)
        if cfg.model == "cnn" and task.image_shape is None:
            raise ValueError(f"compare: '--model cnn' needs image tasks (multiclass, fashion-mnist), got task {name!r}")
        try:
            competitors(task, cfg)  # every loss given must declare a head for the task
        except ValueError as exc:
            raise ValueError(f"{exc}; it cannot run on task {name!r}: choose tasks of its kind "
                             f"with '--task'") from None
        for loss in cfg.added_losses:
            added = _user_competitor(task, loss, cfg)
            same = next((c for c in task.competitors if c.label == added.label
                         or (c.loss == loss and not c.kwargs and c.data_kwargs is None
                             and c.model == "classifier" and c.trainer is None and c.hidden is None)), None)
            if same is not None:
                raise ValueError(f"compare: '--add-loss' must name losses that are not already "
                                 f"competing, got {added.label!r}: task {name!r} already runs it as "
                                 f"{same.label!r}")


def train_config(task: Task, cfg: StudyConfig) -> TrainConfig:
    epochs = cfg.epochs if cfg.epochs is not None else (task.full_epochs if cfg.full else task.epochs)
    return TrainConfig(epochs=epochs, batch_size=task.batch_size, hidden=task.hidden,
                       optimizer=cfg.optimizer, architecture=cfg.model, l1=cfg.l1, l2=cfg.l2,
                       early_stopping=cfg.early_stopping)


def plan(cfg: StudyConfig, done: set[tuple[str, str, int, float]],
         tasks: Sequence[Task]) -> list[Unit]:
    units = []
    for task in tasks:
        tc = train_config(task, cfg)
        for comp in competitors(task, cfg):
            pending = tuple(RunKey(s, lr) for lr in cfg.lrs for s in range(cfg.seeds)
                            if (task.name, comp.label, s, float(lr)) not in done)
            if pending:
                units.append(Unit(task, comp, pending, tc))
    return units


#: (task name, its loader, seed) -> data; keyed on the loader so a re-registered task reloads
_DATA_CACHE: dict[tuple[str, Any, int], Dataset] = {}


def _datasets(task: Task, seeds: Sequence[int]) -> dict[int, Dataset]:
    out = {}
    for s in seeds:
        key = (task.name, task.load, s)
        if key not in _DATA_CACHE:
            _DATA_CACHE[key] = task.load(s)
        out[s] = _DATA_CACHE[key]
    return out


def _execute(unit: Unit) -> list[RunResult]:
    data = _datasets(unit.task, sorted({r.seed for r in unit.runs}))
    trainer = unit.competitor.trainer or unit.task.trainer or train_stack
    return trainer(unit.task, unit.competitor, unit.runs, data, unit.train)


def data_warnings(data: dict[int, Dataset]) -> list[str]:
    """The warnings a task's data carries (``Dataset.meta["warnings"]``), each once, in order."""
    return list(dict.fromkeys(w for ds in data.values() for w in ds.meta.get("warnings", ())))


def task_info(task: Task, cfg: StudyConfig, warnings: Sequence[str] = ()) -> dict[str, Any]:
    """What the report needs to know about a task, stored with the study."""
    tc = train_config(task, cfg)
    return {
        "warnings": list(warnings),
        "kind": task.kind,
        "description": task.description,
        "metrics": list(task.metrics),
        "primary": task.primary,
        "higher_is_better": task.higher_is_better,
        "epochs": tc.epochs,
        "hidden": list(tc.hidden),
        "batch_size": tc.batch_size,
        "notes": task.notes,
        "convergence_rule": CONVERGENCE_RULE.format(metric=task.primary, tol=tc.converge_tol),
        "overfit_rule": OVERFIT_RULE.format(patience=tc.overfit_patience),
        "competitors": [
            {"label": c.label, "loss": c.loss, "kwargs": {k: repr(v) for k, v in c.kwargs.items()},
             "note": c.note}
            for c in competitors(task, cfg)
        ],
    }


class NothingToRun(RuntimeError):
    """Every task of a study was skipped, so the study has nothing to run or to report.

    ``skipped`` maps each task to the reason it was skipped (e.g. how to install its data).
    """

    def __init__(self, skipped: dict[str, str]):
        self.skipped = dict(skipped)
        reasons = "; ".join(f"{name}: {reason}" for name, reason in self.skipped.items())
        super().__init__(
            f"compare: every task was skipped, so there is nothing to run ({reasons}); install "
            "the missing data or choose other tasks with '--task' (see `losslab tasks`)"
        )


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)


def run_study(
    cfg: StudyConfig,
    store: Store,
    *,
    on_plan: Callable[[int, int], None] | None = None,
    on_results: Callable[[Unit, list[RunResult]], None] | None = None,
    on_skip: Callable[[str, str], None] | None = None,
    on_warning: Callable[[str, str], None] | None = None,
) -> None:
    """Run every missing run of ``cfg`` and write each finished run to ``store``.

    on_plan(total_runs, already_done), on_results(unit, results), on_skip(task, reason) and
    on_warning(task, message) (a warning its data carries, e.g. too few test rows; before any
    training, and stored in the task's info for the report) report progress; the driver itself
    prints nothing.

    Raises:
        NothingToRun: every task was skipped (its data is unavailable) and the store holds no
            run; nothing has been written to the store then.
    """
    tasks, skipped_now, warnings = [], {}, {}
    for name in cfg.tasks:
        task = get_task(name)
        try:
            warnings[name] = data_warnings(_datasets(task, range(cfg.seeds)))
        except DataUnavailable as exc:
            skipped_now[name] = str(exc)
            if on_skip:
                on_skip(name, str(exc))
            continue
        tasks.append(task)
        for message in warnings[name]:
            if on_warning:
                on_warning(name, message)
    with_runs = {r["task"] for r in store.runs()}
    if not tasks and not with_runs:
        raise NothingToRun(skipped_now)  # before writing anything: no empty study left behind
    if store.meta("config") is None:
        store.set_meta("config", cfg.to_json())
        store.set_meta("created", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
        store.set_meta("losslab_version", __version__)
    skipped = dict(store.meta("skipped", {}))
    for task in tasks:
        skipped.pop(task.name, None)
    skipped.update(skipped_now)
    # on resume, a task whose optional data has gone keeps its stored runs and description
    stored_info = dict(store.meta("task_info", {}))
    available = {t.name for t in tasks}
    for name in list(skipped):
        if name in with_runs:
            skipped[name] = f"not extended on resume: {skipped[name]}"
    stored_info.update({t.name: task_info(t, cfg, warnings[t.name]) for t in tasks})
    store.set_meta("skipped", skipped)
    store.set_meta("tasks", [n for n in cfg.tasks if n in available or (n in with_runs and n in stored_info)])
    store.set_meta("task_info", stored_info)
    done = store.done()
    units = plan(cfg, done, tasks)
    total = sum(len(competitors(t, cfg)) for t in tasks) * cfg.seeds * len(cfg.lrs)
    if on_plan:
        on_plan(total, total - sum(len(u.runs) for u in units))

    def finish(unit: Unit, results: list[RunResult]) -> None:
        store.add_runs(results)
        if on_results:
            on_results(unit, results)

    if cfg.jobs <= 1 or len(units) <= 1:
        for unit in units:
            finish(unit, _execute(unit))
        return
    ctx = mp.get_context("spawn")
    failure: BaseException | None = None
    with cf.ProcessPoolExecutor(max_workers=cfg.jobs, mp_context=ctx, initializer=_worker_init) as pool:
        futures = {pool.submit(_execute, u): u for u in units}
        try:
            for fut in cf.as_completed(futures):
                if fut.exception() is not None:
                    # keep what finished, stop queued work, then report the failure
                    failure = failure or fut.exception()
                    for other in futures:
                        other.cancel()
                    continue
                finish(futures[fut], fut.result())
        except BaseException:
            for other in futures:
                other.cancel()
            raise
    if failure is not None:
        raise failure


def default_study_dir(name: str | None, root: str | Path = "losslab-runs") -> Path:
    if name is None:
        name = _dt.datetime.now().strftime("study-%Y%m%d-%H%M%S")
    return Path(root) / name
