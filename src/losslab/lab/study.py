"""The study driver: which runs to do, doing them (in this process or a process pool), storing.

The library API is :func:`start_study` (a new study folder) and :func:`resume_study` (finish a
stored one); the CLI only parses, calls them and prints. :class:`StudyConfig` validates itself
with the declared-constraint machinery (``losslab._validation``), so a bad option is refused
before anything is trained or written.

A run unit (:class:`Unit`) is a plain, picklable description (task name, competitor label,
seeds and learning rates, training config); :func:`execute` turns it into results, so the
in-process executor and the process pool run the same thing. Only the driver process writes
the store, one transaction per finished run, so a killed study loses no finished run and a
resume redoes only what is missing. A study folder is locked (:class:`StudyLock`) while a
process runs it: a second process gets a clear error naming the holder.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import datetime as _dt
import hashlib
import json
import math
import multiprocessing as mp
import os
import re
import socket
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from .._validation import Param, Raw, fail
from .data import Dataset, DataUnavailable
from .store import Store
from .tasks import Competitor, Task, competitor_for_loss, get_task
from .train import CONVERGENCE_RULE, OVERFIT_RULE, RunKey, RunResult, TrainConfig, train_stack

__all__ = [
    "DEFAULT_TASKS",
    "FULL_EXTRA_TASKS",
    "STORE_NAME",
    "STUDY_PARAMS",
    "NothingToRun",
    "StudyConfig",
    "StudyLock",
    "StudyLockedError",
    "Unit",
    "check_config",
    "check_study_name",
    "default_study_dir",
    "execute",
    "file_sha256",
    "load_study_config",
    "plan",
    "resume_conflicts",
    "resume_study",
    "run_study",
    "start_study",
    "study_config_from_store",
]

#: the default study; `--full` adds FULL_EXTRA_TASKS and trains longer
DEFAULT_TASKS = ("binary", "multiclass", "regression", "imbalanced", "anomaly", "text")
FULL_EXTRA_TASKS = ("fashion-mnist",)
STORE_NAME = "results.sqlite"
LOCK_NAME = "study.lock"

#: messages name the command and the option a field is set by
WHO = "compare"
#: StudyConfig field -> the `losslab compare` option that sets it
OPTION = {
    "tasks": "--task",
    "losses": "--loss",
    "added_losses": "--add-loss",
    "seeds": "--seeds",
    "lrs": "--lr",
    "optimizer": "--optimizer",
    "model": "--model",
    "epochs": "--epochs",
    "full": "--full",
    "l1": "--l1",
    "l2": "--l2",
    "early_stopping": "--early-stopping",
    "jobs": "--jobs",
    "select": "--select",
}
#: declared bounds of the study's options (checked by StudyConfig, listed by the tests)
STUDY_PARAMS: dict[str, Param] = {
    "seeds": Param("int", "seeds per competitor and learning rate", ge=1, le=1000),
    "epochs": Param(
        "int", "training epochs (None: each task's own)", ge=1, le=10_000, optional=True
    ),
    "jobs": Param("int", "executor processes (1: this process)", ge=1, le=64),
    "l1": Param("float", "L1 penalty on the weights", ge=0, le=1),
    "l2": Param("float", "L2 penalty on the weights", ge=0, le=1),
    "early_stopping": Param(
        "int", "patience in epochs on the validation metric", ge=1, le=10_000, optional=True
    ),
    "optimizer": Param("choice", "the optimiser", choices=("adam", "sgd")),
    "model": Param("choice", "the model family", choices=("mlp", "cnn")),
    "full": Param("bool", "the larger study: longer training"),
    "select": Param(
        "choice", "which epoch's model gives a run's test metrics", choices=("best", "final")
    ),
}
LR = Param("float", "one learning rate of the sweep", gt=0, le=10)
MAX_LRS = 20
#: a study name is a folder name: letters, digits, '.', '_', '-' (no path separators, no '..')
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


@dataclass(frozen=True)
class StudyConfig:
    """What a study runs. Validated on construction (ValueError/TypeError with the project's one
    message template, naming the `losslab compare` option: ``compare: '--seeds' must be an
    integer >= 1 and <= 1000, got 0``); see ``STUDY_PARAMS`` for the bounds."""

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
    #: which epoch's model gives a run's test metrics: "best" validation epoch, or "final"
    select: str = "best"
    #: catalog name -> the "module:function" path the user imported it by: its competitors are
    #: labelled by that path. Recorded only: a stored study never imports anything.
    loss_imports: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. user-data settings, recorded

    def __post_init__(self) -> None:
        for name, param in STUDY_PARAMS.items():
            param.check(WHO, OPTION[name], getattr(self, name))
        for name in ("tasks", "losses", "added_losses"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or not all(isinstance(v, str) and v for v in value):
                fail(WHO, OPTION[name], "a tuple of non-empty names", value, kind=TypeError)
        if not self.tasks:
            fail(WHO, "--task", "at least one task", self.tasks)
        if not isinstance(self.lrs, tuple) or not 1 <= len(self.lrs) <= MAX_LRS:
            fail(
                WHO,
                "--lr",
                f"a tuple of 1 to {MAX_LRS} learning rates",
                self.lrs,
                kind=ValueError if isinstance(self.lrs, tuple) else TypeError,
            )
        for lr in self.lrs:
            LR.check(WHO, "--lr", lr)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def check_study_name(name: str) -> str:
    """A study name is one folder name (so ``--name ../../x`` cannot write outside ``--out``)."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        fail(
            WHO,
            "--name",
            "1 to 100 letters, digits, '.', '_' or '-', starting with a letter or "
            "a digit (a folder name, not a path)",
            name,
        )
    return name


def study_config_from_store(store: Store) -> StudyConfig:
    raw = store.meta("config")
    if raw is None:
        raise ValueError(
            f"compare: '--resume' must name a study folder with a stored configuration, got {str(store.path.parent)!r}"
        )
    raw["tasks"] = tuple(raw["tasks"])
    raw["losses"] = tuple(raw["losses"])
    raw["added_losses"] = tuple(raw.get("added_losses", ()))  # absent from older stores
    raw["lrs"] = tuple(raw["lrs"])
    # stores from before --select took the last epoch's model, or the best one with early stopping
    raw.setdefault("select", "final" if raw.get("early_stopping") is None else "best")
    return StudyConfig(**raw)


@dataclass(frozen=True)
class Unit:
    """One batched training job, a plain picklable description: every pending (seed, lr) of one
    competitor (by label) of one task (by name), and the training configuration.
    :func:`execute` turns it into results in whichever process runs it."""

    task: str
    competitor: str
    runs: tuple[RunKey, ...]
    train: TrainConfig


def _user_competitor(task: Task, name: str, cfg: StudyConfig) -> Competitor:
    comp = competitor_for_loss(task, name)
    path = cfg.loss_imports.get(name)
    return (
        dataclasses.replace(comp, label=path, note=f"your loss, imported from {path}")
        if path
        else comp
    )


def competitors(task: Task, cfg: StudyConfig) -> tuple[Competitor, ...]:
    """``cfg.losses`` when given (they replace the task's defaults), else the task's defaults
    followed by ``cfg.added_losses``."""
    if cfg.losses:
        return tuple(_user_competitor(task, name, cfg) for name in cfg.losses)
    return task.competitors + tuple(_user_competitor(task, name, cfg) for name in cfg.added_losses)


def check_config(cfg: StudyConfig) -> None:
    """Reject a configuration the study cannot run with the registered tasks and losses
    (ValueError naming the option); the option bounds are checked by StudyConfig itself."""
    if cfg.loss_imports and cfg.jobs > 1:
        fail(
            WHO,
            "--jobs",
            "1 with a loss loaded by import path (worker processes do not import it)",
            cfg.jobs,
        )
    if cfg.losses and cfg.added_losses:
        raise ValueError(
            "compare: '--loss' replaces each task's default competitors and '--add-loss' adds to "
            "them; pass one of them ('--loss A,B' runs exactly A and B), got both"
        )
    for name in cfg.tasks:
        task = get_task(name)
        if cfg.model == "cnn" and task.image_shape is None:
            raise ValueError(
                f"compare: '--model cnn' needs image tasks (multiclass, fashion-mnist), got task {name!r}"
            )
        try:
            competitors(task, cfg)  # every loss given must declare a head for the task
        except ValueError as exc:
            raise ValueError(
                f"{exc}; it cannot run on task {name!r}: choose tasks of its kind with '--task'"
            ) from None
        for loss in cfg.added_losses:
            added = _user_competitor(task, loss, cfg)
            same = next(
                (
                    c
                    for c in task.competitors
                    if c.label == added.label
                    or (
                        c.loss == loss
                        and not c.kwargs
                        and c.data_kwargs is None
                        and c.model == "classifier"
                        and c.trainer is None
                        and c.hidden is None
                    )
                ),
                None,
            )
            if same is not None:
                raise ValueError(
                    f"compare: '--add-loss' must name losses that are not already "
                    f"competing, got {added.label!r}: task {name!r} already runs it as "
                    f"{same.label!r}"
                )


def train_config(task: Task, cfg: StudyConfig) -> TrainConfig:
    epochs = (
        cfg.epochs if cfg.epochs is not None else (task.full_epochs if cfg.full else task.epochs)
    )
    return TrainConfig(
        epochs=epochs,
        batch_size=task.batch_size,
        hidden=task.hidden,
        optimizer=cfg.optimizer,
        architecture=cfg.model,
        l1=cfg.l1,
        l2=cfg.l2,
        early_stopping=cfg.early_stopping,
        select=cfg.select,
    )


def plan(
    cfg: StudyConfig, done: set[tuple[str, str, int, float]], tasks: Sequence[Task]
) -> list[Unit]:
    units = []
    for task in tasks:
        tc = train_config(task, cfg)
        for comp in competitors(task, cfg):
            pending = tuple(
                RunKey(s, lr)
                for lr in cfg.lrs
                for s in range(cfg.seeds)
                if (task.name, comp.label, s, float(lr)) not in done
            )
            if pending:
                units.append(Unit(task.name, comp.label, pending, tc))
    return units


#: (task name, its loader, seed) -> data; keyed on the loader so a re-registered task reloads
_DATA_CACHE: dict[tuple[str, Any, int], Dataset] = {}


def _datasets(task: Task, seeds: Sequence[int], full: bool = False) -> dict[int, Dataset]:
    """Each seed's split; ``full`` (``--full``) takes the task's ``full_load`` where it has one."""
    load = task.full_load if full and task.full_load is not None else task.load
    out = {}
    for s in seeds:
        key = (task.name, load, s)
        if key not in _DATA_CACHE:
            _DATA_CACHE[key] = load(s)
        out[s] = _DATA_CACHE[key]
    return out


def execute(
    unit: Unit, cfg: StudyConfig, tasks: Mapping[str, Task] | None = None
) -> list[RunResult]:
    """Train one unit: its names are resolved against ``tasks`` (name -> Task; default: the
    registry) and the competitors ``cfg`` gives that task."""
    task = tasks[unit.task] if tasks is not None else get_task(unit.task)
    comp = next((c for c in competitors(task, cfg) if c.label == unit.competitor), None)
    if comp is None:
        fail(
            "lab.execute", "unit.competitor", f"a competitor of task {unit.task!r}", unit.competitor
        )
    data = _datasets(task, sorted({r.seed for r in unit.runs}), cfg.full)
    trainer = comp.trainer or task.trainer or train_stack
    return trainer(task, comp, unit.runs, data, unit.train)


def data_warnings(data: dict[int, Dataset]) -> list[str]:
    """The warnings a task's data carries (``Dataset.meta["warnings"]``), each once, in order."""
    return list(dict.fromkeys(w for ds in data.values() for w in ds.meta.get("warnings", ())))


def binary_test_counts(data: Mapping[int, Dataset]) -> dict[str, int]:
    """``test_size`` and ``test_positives`` (rows labelled 1) of a two-class task's test split:
    the smallest over the seeds' splits (the built-in tasks' are the same for every seed);
    empty for other tasks. The power of a comparison of rates grows with ``test_positives``."""
    if not data or any(ds.num_classes != 2 for ds in data.values()):
        return {}
    return {
        "test_size": min(int(ds.y_test.numel()) for ds in data.values()),
        "test_positives": min(int((ds.y_test == 1).sum()) for ds in data.values()),
    }


def task_info(task: Task, cfg: StudyConfig, warnings: Sequence[str] = ()) -> dict[str, Any]:
    """What the report needs to know about a task, stored with the study.

    Each competitor's entry holds its ``group`` ("" = the task's one group); two-class tasks
    also store ``test_size`` and ``test_positives`` (:func:`binary_test_counts`).
    """
    tc = train_config(task, cfg)
    return {
        **binary_test_counts(_datasets(task, range(cfg.seeds), cfg.full)),
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
            {
                "label": c.label,
                "loss": c.loss,
                "kwargs": {k: repr(v) for k, v in c.kwargs.items()},
                "note": c.note,
                "group": c.group,
                "data_kwargs": c.data_kwargs is not None,
            }
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


def run_study(
    cfg: StudyConfig,
    store: Store,
    *,
    on_plan: Callable[[int, int], None] | None = None,
    on_results: Callable[[Unit, list[RunResult]], None] | None = None,
    on_skip: Callable[[str, str], None] | None = None,
    on_warning: Callable[[str, str], None] | None = None,
    executor: Callable[..., None] | None = None,
) -> None:
    """Run every missing run of ``cfg`` and write each finished run to ``store``.

    ``executor(units, cfg, tasks, finish)`` runs the units elsewhere (e.g.
    :class:`losslab.lab.executors.RayExecutor`) and calls ``finish(unit, results)`` here for each;
    None: this process, or ``cfg.jobs`` processes.

    on_plan(total_runs, already_done), on_results(unit, results), on_skip(task, reason) and
    on_warning(task, message) (a warning its data carries, e.g. too few test rows; before any
    training, and stored in the task's info for the report) report progress; the driver itself
    prints nothing.

    Raises:
        NothingToRun: every task was skipped (its data is unavailable) and the store holds no
            run; nothing has been written to the store then.
    """
    check_config(cfg)
    tasks, skipped_now, warnings = [], {}, {}
    for name in cfg.tasks:
        task = get_task(name)
        try:
            warnings[name] = data_warnings(_datasets(task, range(cfg.seeds), cfg.full))
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
    store.set_meta(
        "tasks", [n for n in cfg.tasks if n in available or (n in with_runs and n in stored_info)]
    )
    store.set_meta("task_info", stored_info)
    done = store.done()
    units = plan(cfg, done, tasks)
    total = sum(len(competitors(t, cfg)) for t in tasks) * cfg.seeds * len(cfg.lrs)
    by_name = {t.name: t for t in tasks}
    if on_plan:
        on_plan(total, total - sum(len(u.runs) for u in units))

    def finish(unit: Unit, results: list[RunResult]) -> None:
        store.add_runs(results)  # the driver alone writes: one transaction per run
        if on_results:
            on_results(unit, results)

    if executor is not None:
        executor(units, cfg, by_name, finish)
    elif cfg.jobs <= 1 or len(units) <= 1:
        for unit in units:
            finish(unit, execute(unit, cfg, by_name))
    else:
        _run_with_pool(units, cfg, by_name, finish)


# -- executors ------------------------------------------------------------------------------

#: set in each pool worker by _worker_init: the study's configuration and its tasks by name
_WORKER: dict[str, Any] = {}


def _worker_init(cfg: StudyConfig, tasks: dict[str, Task], threads: int) -> None:
    import torch

    for fh in _HELD_LOCKS:  # a forked worker's copy of the study lock: only the driver holds it
        fh.close()
    _HELD_LOCKS.clear()
    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # only settable before any inter-op work
        torch.set_num_interop_threads(1)
    _WORKER.update(cfg=cfg, tasks=tasks)


def _execute_in_worker(unit: Unit) -> list[RunResult]:
    return execute(unit, _WORKER["cfg"], _WORKER["tasks"])


def _pool_context(threads: int) -> mp.context.BaseContext:
    """fork where it is safe: a worker starts in milliseconds with the modules and the data this
    process already loaded. Safe = one torch thread per worker (no OpenMP pool in a forked child,
    as PyTorch's DataLoader workers) and no other Python thread here (e.g. a progress bar's,
    which could hold a lock the child inherits). Otherwise forkserver (one clean process imports
    losslab once and forks the workers), else spawn."""
    import threading

    methods = mp.get_all_start_methods()
    if threads == 1 and "fork" in methods and threading.active_count() == 1:
        return mp.get_context("fork")
    if "forkserver" in methods:
        context = mp.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        return context
    return mp.get_context("spawn")


def _run_with_pool(
    units: Sequence[Unit],
    cfg: StudyConfig,
    tasks: dict[str, Task],
    finish: Callable[[Unit, list[RunResult]], None],
) -> None:
    """``cfg.jobs`` executors: this process and ``jobs - 1`` spawned workers (each with
    ``cores // jobs`` torch threads), taking units from one queue as each becomes free.

    Why this shape (measured, benchmarks/cases/lab_jobs.py): a unit trains in 0.3-1.5 s while a
    spawned worker spent 3-6 s of CPU before its first unit (importing torch, torchmetrics and
    losslab, then loading each task's data again), and this process sat idle meanwhile: on a
    2-core machine ``--jobs 2`` was slower than ``--jobs 1``. Now workers are forked where that
    is safe (:func:`_pool_context`: no import, the data already loaded), this process trains
    too, and units are handed out one at a time, so a slow worker (or a busy machine) costs at
    most the unit it holds.

    A failing unit stops the queue; the units already running finish and are stored, then the
    first failure is raised.
    """
    import torch

    workers = cfg.jobs - 1
    threads = max(1, (os.cpu_count() or 1) // cfg.jobs)
    context = _pool_context(threads)
    queue = deque(units)
    inflight: dict[cf.Future[list[RunResult]], Unit] = {}
    failure: BaseException | None = None

    def collect(block: bool) -> None:
        nonlocal failure
        done, _ = cf.wait(inflight, timeout=None if block else 0, return_when=cf.FIRST_COMPLETED)
        for fut in done:
            unit = inflight.pop(fut)
            exc = fut.exception()
            if exc is not None:
                failure = failure or exc
            else:
                finish(unit, fut.result())

    own_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with cf.ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_worker_init,
            initargs=(cfg, tasks, threads),
        ) as pool:
            try:
                while inflight or (queue and failure is None):
                    while queue and failure is None and len(inflight) < workers:
                        unit = queue.popleft()
                        inflight[pool.submit(_execute_in_worker, unit)] = unit
                    if queue and failure is None:
                        unit = queue.popleft()
                        try:
                            finish(unit, execute(unit, cfg, tasks))
                        except Exception as exc:
                            failure = exc
                        collect(block=False)
                    elif inflight:
                        collect(block=True)
            except BaseException:
                for fut in inflight:
                    fut.cancel()
                raise
    finally:
        torch.set_num_threads(own_threads)
    if failure is not None:
        raise failure


# -- study folders: names, the lock, the library entry points ---------------------------------


def default_study_dir(name: str | None, root: str | Path = "losslab-runs") -> Path:
    """``root/name`` (name checked by :func:`check_study_name`), or ``root/study-<date>-<time>``."""
    if name is None:
        name = _dt.datetime.now().strftime("study-%Y%m%d-%H%M%S")
    return Path(root) / check_study_name(name)


#: the lock files this process holds open (a forked pool worker closes its copies)
_HELD_LOCKS: list[Any] = []


class StudyLockedError(ValueError):
    """Another process holds the study folder's lock; ``holder`` is what it wrote (pid, host,
    since), possibly empty if it has not written it yet."""

    def __init__(self, folder: Path, holder: dict[str, Any]):
        self.folder, self.holder = folder, dict(holder)
        who = (
            (
                f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')} since "
                f"{holder.get('since', '?')}"
            )
            if holder
            else "another process"
        )
        super().__init__(
            f"{WHO}: study folder {str(folder)!r} must not be in use by another process, got it "
            f"locked by {who}; wait for that study to finish (or stop it), then use "
            f"'--resume {folder}'"
        )


class StudyLock:
    """An exclusive OS lock (``fcntl.flock``) on ``<folder>/study.lock``, which holds the holder's
    pid, host and start time as JSON.

    The operating system releases a flock when its process exits, however it exits (a crash or
    SIGKILL included), so a stale lock file never blocks: the next process takes the lock and
    overwrites the contents. The file itself stays (removing it would race with a process that
    has just opened it). Where ``fcntl`` does not exist (Windows) the lock is a no-op.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._fh: Any = None

    def acquire(self) -> StudyLock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return self
        fh = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            try:
                holder = json.loads(fh.read() or "{}")
            except ValueError:
                holder = {}
            fh.close()
            raise StudyLockedError(self.folder, holder) from None
        except BaseException:
            fh.close()
            raise
        fh.seek(0)
        fh.truncate()
        fh.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "since": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                }
            )
        )
        fh.flush()
        self._fh = fh
        _HELD_LOCKS.append(fh)
        return self

    def release(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(ValueError):
                _HELD_LOCKS.remove(self._fh)
            self._fh.close()  # closing the file releases the flock
            self._fh = None

    def __enter__(self) -> StudyLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def file_sha256(path: str | Path) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def _missing_dirs(folder: Path) -> list[Path]:
    """The folders (innermost first) that creating ``folder`` would create."""
    missing = []
    for d in (folder, *folder.parents):
        if d.exists():
            break
        missing.append(d)
    return missing


def _remove_new_study(folder: Path, created: Sequence[Path]) -> None:
    """Remove the store and lock of a study that never started, and the folders made for it if
    empty (never anything the user put there)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        (folder / f"{STORE_NAME}{suffix}").unlink(missing_ok=True)
    (folder / LOCK_NAME).unlink(missing_ok=True)
    for d in created:
        try:
            d.rmdir()
        except OSError:
            break


Callback = Callable[..., None] | None


def start_study(
    cfg: StudyConfig,
    folder: str | Path,
    *,
    on_plan: Callback = None,
    on_results: Callback = None,
    on_skip: Callback = None,
    on_warning: Callback = None,
    executor: Callback = None,
) -> Path:
    """Run a new study in ``folder`` (created; it must hold no study yet) and return it.

    The folder is locked while the study runs (:class:`StudyLock`); if every task is skipped
    (:class:`NothingToRun`) nothing is left behind. Callbacks as in :func:`run_study`.

    Raises:
        ValueError: a bad configuration, an existing study, or a folder another process holds
            (:class:`StudyLockedError`).
        NothingToRun: every task was skipped.
    """
    folder = Path(folder)
    check_config(cfg)
    created = _missing_dirs(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = StudyLock(folder)
    try:
        lock.acquire()
    except BaseException:
        _remove_folders(created)
        raise
    try:
        if (folder / STORE_NAME).exists():
            raise ValueError(
                f"{WHO}: study folder {str(folder)!r} already exists; use "
                f"'--resume {folder}' or another '--name'"
            )
        try:
            with Store(folder / STORE_NAME) as store:
                run_study(
                    cfg,
                    store,
                    on_plan=on_plan,
                    on_results=on_results,
                    on_skip=on_skip,
                    on_warning=on_warning,
                    executor=executor,
                )
        except NothingToRun:
            _remove_new_study(folder, created)
            raise
    finally:
        lock.release()
    return folder


def _remove_folders(created: Sequence[Path]) -> None:
    for d in created:
        try:
            d.rmdir()
        except OSError:
            break


def load_study_config(folder: str | Path) -> StudyConfig:
    """The configuration stored in a study folder (ValueError naming '--resume' if there is none
    or it cannot be read)."""
    folder = Path(folder)
    if not (folder / STORE_NAME).is_file():
        fail(WHO, "--resume", f"a study folder containing {STORE_NAME}", str(folder))
    import sqlite3

    try:
        with Store(folder / STORE_NAME) as store:
            return study_config_from_store(store)
    except (TypeError, sqlite3.DatabaseError) as exc:
        raise ValueError(f"{WHO}: '--resume' cannot read {str(folder)!r}: {exc}") from None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return sorted(map(repr, dict.fromkeys(a))) == sorted(map(repr, dict.fromkeys(b)))
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(a, b)
    return a == b


def _shown(v: Any) -> str:
    if isinstance(v, (tuple, list)):
        return ",".join(str(x) for x in v) or "nothing"
    return "nothing" if v is None else str(v)


def resume_conflicts(
    stored: StudyConfig, requested: Mapping[str, Any], folder: Path | None = None
) -> list[str]:
    """The options in ``requested`` that differ from the stored study, each as
    ``"'--seeds' 3 (the study has 2)"``. Keys are StudyConfig fields (``jobs`` never conflicts),
    ``data``/``target``/``kind`` (the user-data settings in ``stored.extra``) and ``name``
    (compared with the folder's name). A requested value equal to the stored one is no conflict;
    lists compare as sets (``--lr 0.1,0.01`` is ``--lr 0.01,0.1``); ``losses``/``added_losses``
    may name some of the study's losses (to import them again), never others."""
    out = []
    for key, value in requested.items():
        if key == "jobs":
            continue
        if key == "name":
            option, have = "--name", folder.name if folder is not None else None
        elif key in ("data", "target", "kind"):
            option, have = f"--{key}", stored.extra.get(key)
            if key == "data" and value is not None:
                value = str(Path(value).resolve())
        elif key == "tasks":
            option = OPTION[key]
            have = stored.tasks[:-1] if stored.extra.get("data") else stored.tasks  # data: last
        elif key in OPTION:
            option, have = OPTION[key], getattr(stored, key)
        else:
            raise KeyError(key)
        if key in ("losses", "added_losses"):  # given again to re-import them: a subset is fine
            differs = not set(value) <= set(have)
        else:
            differs = not _same(value, have)
        if differs:
            out.append(f"'{option}' {_shown(value)} (the study has {_shown(have)})")
    return out


def resume_study(
    folder: str | Path,
    requested: Mapping[str, Any] | None = None,
    *,
    jobs: int | None = None,
    on_plan: Callback = None,
    on_results: Callback = None,
    on_skip: Callback = None,
    on_warning: Callback = None,
    executor: Callback = None,
) -> StudyConfig:
    """Finish the study stored in ``folder``: only its missing runs are trained.

    ``requested`` holds the options the caller gave (see :func:`resume_conflicts`); each one that
    differs from the stored configuration is named in one ValueError. ``jobs`` may differ. The
    study's data file (if any) must be unchanged; losses imported by path must be registered
    again before the call. The folder is locked while the study runs. Returns the configuration
    run.
    """
    folder = Path(folder)
    if not (folder / STORE_NAME).is_file():
        fail(WHO, "--resume", f"a study folder containing {STORE_NAME}", str(folder))
    with StudyLock(folder):  # before reading: the holder may not have stored its settings yet
        stored = load_study_config(folder)
        clash = resume_conflicts(stored, requested or {}, folder)
        if clash:
            fail(
                WHO,
                "--resume",
                "given only the options the study was started with (or none: "
                "it continues with its stored settings)",
                Raw(", ".join(clash)),
            )
        cfg = dataclasses.replace(stored, jobs=stored.jobs if jobs is None else jobs)
        if cfg.extra.get("data"):
            if file_sha256(cfg.extra["data"]) != cfg.extra.get("data_sha256"):
                raise ValueError(
                    f"{WHO}: '--resume' needs the study's data file unchanged at "
                    f"{cfg.extra['data']!r} (missing or modified since the study started)"
                )
            from .userdata import register_user_task

            register_user_task(cfg.extra["data"], cfg.extra["target"], kind=cfg.extra.get("kind"))
        _check_resumed_losses(cfg)
        with Store(folder / STORE_NAME) as store:
            run_study(
                cfg,
                store,
                on_plan=on_plan,
                on_results=on_results,
                on_skip=on_skip,
                on_warning=on_warning,
                executor=executor,
            )
    return cfg


def _check_resumed_losses(cfg: StudyConfig) -> None:
    from .. import catalog

    imports = cfg.loss_imports or cfg.extra.get("loss_imports", {})
    for name in cfg.losses + cfg.added_losses:
        try:
            catalog.get(name)
        except catalog.UnknownLossError:
            path = imports.get(name)
            hint = (
                f"pass '--loss {path}' with '--resume' to import it again"
                if path
                else "register it before resuming"
            )
            raise ValueError(
                f"{WHO}: this study uses the loss {name!r}, which is not registered; {hint}"
            ) from None
