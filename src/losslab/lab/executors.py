"""Executors that run a study's units elsewhere than this process: :class:`RayExecutor`.

An executor is a callable ``executor(units, cfg, tasks, finish)`` handed to
:func:`losslab.lab.study.run_study` (``executor=``): it runs every
:class:`~losslab.lab.study.Unit` (a plain, picklable description) with
:func:`~losslab.lab.study.execute` wherever it likes and calls ``finish(unit, results)`` in the
driver for each finished unit. ``finish`` writes the store, one transaction per run, so only the
driver ever writes it: killing the driver or a worker loses no finished run, and a resume redoes
only what is missing, exactly as with the in-process executor and ``--jobs``.

:class:`RayExecutor` makes each unit one Ray task (``losslab compare --executor ray
[--address ADDR]``; ``pip install 'losslab[ray]'``). Without an address it starts a local Ray
instance for the study and stops it afterwards; with one (``ray start --head`` printed it, or
``auto``) it joins that cluster and leaves it running. Every node needs the same losslab (and
torch) installed, and the task data the units load.

Failures: a worker process or node that dies is retried by Ray (``max_retries`` times); an
exception raised by the training code itself is not retried (it would fail again). Either way
the driver keeps collecting the other units, stores every one that finishes, and then raises
:class:`UnitFailed` naming each failed unit: nothing is dropped silently.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._validation import fail

if TYPE_CHECKING:
    from .study import StudyConfig, Unit
    from .tasks import Task
    from .train import RunResult

__all__ = ["EXECUTORS", "RayExecutor", "UnitFailed", "make_executor"]

#: the values of ``--executor``
EXECUTORS = ("local", "ray")


class UnitFailed(RuntimeError):
    """Units that failed on the executor (after its retries); ``failures`` maps each unit's
    "task / competitor" to its error. The other units finished and are stored."""

    def __init__(self, failures: Mapping[str, str], stored: int):
        self.failures = dict(failures)
        shown = "; ".join(f"{k}: {v}" for k, v in self.failures.items())
        super().__init__(
            f"compare: {len(self.failures)} unit(s) failed on the Ray cluster ({shown}); the "
            f"{stored} unit(s) that finished are stored, so '--resume' reruns only the failed ones"
        )


def _run_unit(unit: Unit, cfg: StudyConfig, tasks: Mapping[str, Task]) -> list[RunResult]:
    """One unit in a Ray worker: one torch thread per task (Ray gives each task one CPU)."""
    import torch

    from .study import execute

    torch.set_num_threads(1)
    with contextlib.suppress(RuntimeError):  # only settable before any inter-op work
        torch.set_num_interop_threads(1)
    return execute(unit, cfg, tasks)


class RayExecutor:
    """Run each unit as a Ray task; see the module docstring.

    ``address``: a running cluster's address (``"auto"``, ``"ray://host:10001"``, ``host:6379``);
    None starts a local instance with ``num_cpus`` CPUs (default: all). ``max_retries``: how many
    times Ray reruns a unit whose worker died.
    """

    def __init__(
        self, address: str | None = None, *, max_retries: int = 2, num_cpus: int | None = None
    ):
        if address is not None and (not isinstance(address, str) or not address.strip()):
            fail("compare", "--address", "a Ray cluster address (e.g. auto or host:6379)", address)
        self.address, self.max_retries, self.num_cpus = address, max_retries, num_cpus
        self.startup_seconds: float | None = None

    @staticmethod
    def check(cfg: StudyConfig, who: str = "compare") -> None:
        """Refuse what Ray workers cannot run (before anything is written)."""
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ValueError(
                f"{who}: '--executor ray' needs Ray installed: pip install 'losslab[ray]'"
            ) from None
        if cfg.loss_imports:
            raise ValueError(
                f"{who}: '--executor ray' must run catalog losses only, got a loss loaded by "
                "import path (Ray workers do not import it); use the local executor"
            )

    def __call__(
        self,
        units: Sequence[Unit],
        cfg: StudyConfig,
        tasks: Mapping[str, Task],
        finish: Callable[[Unit, list[RunResult]], None],
    ) -> None:
        self.check(cfg)
        with self.connected() as ray:
            remote = ray.remote(num_cpus=1, max_retries=self.max_retries)(_run_unit)
            cfg_ref, tasks_ref = ray.put(cfg), ray.put(dict(tasks))
            pending = {remote.remote(u, cfg_ref, tasks_ref): u for u in units}
            failures: dict[str, str] = {}
            stored = 0
            try:
                while pending:
                    done, _ = ray.wait(list(pending), num_returns=1)
                    for ref in done:
                        unit = pending.pop(ref)
                        try:
                            results = ray.get(ref)
                        except Exception as exc:  # RayTaskError, WorkerCrashedError, ...
                            failures[f"{unit.task} / {unit.competitor}"] = describe_failure(exc)
                            continue
                        finish(unit, results)
                        stored += 1
            except BaseException:
                for ref in pending:
                    with contextlib.suppress(Exception):
                        ray.cancel(ref)
                raise
            if failures:
                raise UnitFailed(failures, stored)

    @contextlib.contextmanager
    def connected(self) -> Iterator[Any]:
        """``ray``, initialised for the block: a local instance started here (or the cluster at
        ``address`` joined) is stopped (left) afterwards; an already initialised Ray is kept."""
        import time

        import ray

        started_here = not ray.is_initialized()
        if started_here:
            t0 = time.perf_counter()
            ray.init(
                address=self.address,
                num_cpus=self.num_cpus if self.address is None else None,
                include_dashboard=False,
                log_to_driver=False,
            )
            self.startup_seconds = time.perf_counter() - t0
        try:
            yield ray
        finally:
            if started_here:
                ray.shutdown()

    @staticmethod
    def width() -> int:
        """The CPUs of the cluster Ray is connected to (how many one-CPU tasks run at once)."""
        import ray

        return max(1, int(ray.cluster_resources().get("CPU", 1)))


def describe_failure(exc: BaseException) -> str:
    """One line naming what failed in a Ray task (the task's own exception where there is one)."""
    cause = getattr(exc, "cause", None) or exc
    return f"{type(cause).__name__}: {cause}".splitlines()[0]


def make_executor(
    name: str, address: str | None = None, who: str = "compare"
) -> RayExecutor | None:
    """The executor named by ``--executor`` (None: the in-process one, with ``--jobs``);
    ``who`` is the command messages name."""
    if name not in EXECUTORS:
        fail(who, "--executor", "one of " + ", ".join(map(repr, EXECUTORS)), name)
    if name == "local":
        if address is not None:
            fail(who, "--address", "given only with '--executor ray'", address)
        return None
    return RayExecutor(address)
