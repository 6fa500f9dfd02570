"""The Ray executor: the same stored results as the in-process one; failures retried or reported.

A local Ray instance (2 CPUs) is started by the module fixture and stopped after.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import sys
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")
cloudpickle = pytest.importorskip("ray.cloudpickle")  # the pickler Ray sends tasks with

from losslab.lab import study as S  # noqa: E402
from losslab.lab.executors import RayExecutor, UnitFailed, make_executor  # noqa: E402
from losslab.lab.tasks import Competitor, get_task  # noqa: E402
from losslab.lab.train import train_stack  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    # the trainers below travel to the workers by value (the workers cannot import this file)
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def _rows(folder: Path):
    """Every stored value of every run, keyed by what identifies it (timing columns left out)."""
    with sqlite3.connect(folder / S.STORE_NAME) as c:
        runs = c.execute(
            "SELECT task, competitor, loss, seed, lr, status, epochs_run, best_epoch FROM runs"
        ).fetchall()
        metrics = c.execute(
            "SELECT r.task, r.competitor, r.seed, r.lr, m.split, m.epoch, m.name, m.value "
            "FROM runs r JOIN metrics m USING (run_id) WHERE m.name != 'seconds'"
        ).fetchall()
    return sorted(runs), sorted(metrics, key=repr)


def test_ray_gives_the_same_stored_results_as_in_process(cluster, tmp_path):
    cfg = S.StudyConfig(tasks=("binary",), seeds=2, epochs=2, lrs=(0.01, 0.05))
    S.start_study(cfg, tmp_path / "local")
    seen = []
    S.start_study(
        cfg,
        tmp_path / "ray",
        executor=RayExecutor(),
        on_results=lambda unit, results: seen.append((unit.competitor, len(results))),
    )
    local, remote = _rows(tmp_path / "local"), _rows(tmp_path / "ray")
    assert len(local[0]) == 4 * 2 * 2  # competitors x seeds x lrs
    assert remote[0] == local[0]
    assert len(remote[1]) == len(local[1]) > 0
    for a, b in zip(local[1], remote[1]):
        assert a[:-1] == b[:-1]
        assert a[-1] == pytest.approx(b[-1], rel=1e-6, abs=1e-9) or (a[-1] is None is b[-1])
    assert sorted(seen) == sorted((c.label, 4) for c in get_task("binary").competitors)


class _Boom:
    """A trainer that fails for every run: a bug in the training code (not retried)."""

    def __call__(self, *args):
        raise RuntimeError("boom in the trainer")


class _DieOnce:
    """A trainer whose worker process dies the first time (a lost node), then trains."""

    def __init__(self, marker: str):
        self.marker = marker

    def __call__(self, *args):
        if not os.path.exists(self.marker):
            Path(self.marker).write_text("died once")
            os._exit(1)
        return train_stack(*args)


def _task_with(name: str, trainer) -> object:
    base = get_task("binary")
    return dataclasses.replace(
        base,
        name=name,
        competitors=(
            Competitor("BCE", "binary_cross_entropy_with_logits"),
            Competitor("hinge (special trainer)", "hinge_loss", trainer=trainer),
        ),
    )


def _run_units(task, tmp_path, executor):
    from losslab.lab.store import Store

    cfg = S.StudyConfig(tasks=(task.name,), seeds=2, epochs=1)
    units = S.plan(cfg, set(), [task])
    with Store(tmp_path / "results.sqlite") as store:

        def finish(unit, results):
            store.add_runs(results)

        executor(units, cfg, {task.name: task}, finish)
        return {(r["competitor"], r["seed"]) for r in store.runs()}


def test_a_failing_unit_is_reported_and_the_others_are_stored(cluster, tmp_path):
    task = _task_with("binary-ray-boom", _Boom())
    with pytest.raises(UnitFailed) as info:
        _run_units(task, tmp_path, RayExecutor(max_retries=1))
    assert "binary-ray-boom / hinge (special trainer): RuntimeError: boom in the trainer" in str(
        info.value
    )
    assert "1 unit(s) that finished are stored" in str(info.value)
    assert info.value.failures.keys() == {"binary-ray-boom / hinge (special trainer)"}
    from losslab.lab.store import Store

    with Store(tmp_path / "results.sqlite") as store:
        stored = {(r["competitor"], r["seed"]) for r in store.runs()}
    assert stored == {("BCE", 0), ("BCE", 1)}


def test_a_dead_worker_is_retried(cluster, tmp_path):
    marker = tmp_path / "died"
    task = _task_with("binary-ray-die", _DieOnce(str(marker)))
    stored = _run_units(task, tmp_path, RayExecutor(max_retries=2))
    assert marker.exists()  # the first attempt did die
    assert stored == {(c, s) for c in ("BCE", "hinge (special trainer)") for s in (0, 1)}


def test_executor_options_are_checked():
    assert make_executor("local") is None
    assert isinstance(make_executor("ray", "auto"), RayExecutor)
    with pytest.raises(ValueError, match=r"compare: '--executor' must be one of 'local', 'ray'"):
        make_executor("dask")
    with pytest.raises(ValueError, match=r"'--address' must be given only with '--executor ray'"):
        make_executor("local", "auto")
    cfg = S.StudyConfig(tasks=("binary",), loss_imports={"x": "m:f"})
    with pytest.raises(ValueError, match="must run catalog losses only"):
        RayExecutor.check(cfg)


def _cli(*args: str):
    from typer.testing import CliRunner

    from losslab.cli import app

    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_compare_executor_ray_on_the_running_cluster(cluster, tmp_path):
    res = _cli(
        "compare",
        "--task",
        "binary",
        "--loss",
        "hinge_loss,binary_cross_entropy_with_logits",
        "--seeds",
        "2",
        "--epochs",
        "1",
        "--executor",
        "ray",
        "--out",
        str(tmp_path),
        "--name",
        "r",
        "--quiet",
    )
    assert res.exit_code == 0, res.output
    runs, _ = _rows(tmp_path / "r")
    assert {(r[1], r[3]) for r in runs} == {
        (loss, seed)
        for loss in ("hinge_loss", "binary_cross_entropy_with_logits")
        for seed in (0, 1)
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--executor", "dask"], "compare: '--executor' must be one of 'local', 'ray', got 'dask'"),
        (["--address", "auto"], "compare: '--address' must be given only with '--executor ray'"),
    ],
)
def test_compare_executor_bad_options_exit_2(tmp_path, args, message):
    res = _cli("compare", "--task", "binary", "--out", str(tmp_path), *args)
    assert res.exit_code == 2
    assert message in " ".join(res.output.split())
    assert not any(tmp_path.rglob("*"))


def test_tune_on_ray(cluster, tmp_path):
    """Trials as Ray tasks: the default configuration (trial 0) scores what it scores in this
    process, every trial is stored, and the verification study ran through Ray too."""
    import optuna

    from losslab.lab import tuner as T

    kw = {"seeds": 2, "epochs": 2}
    local = T.tune("binary", "hinge_loss", trials=1, folder=tmp_path / "local", **kw)
    seen = []
    remote = T.tune(
        "binary",
        "hinge_loss",
        trials=3,
        folder=tmp_path / "ray",
        executor=RayExecutor(),
        on_trial=seen.append,
        **kw,
    )
    assert sorted(t.number for t in seen) == [0, 1, 2]
    trials = optuna.load_study(
        study_name=T.OPTUNA_STUDY, storage=f"sqlite:///{tmp_path / 'ray' / T.TUNE_STORAGE}"
    ).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    assert trials[0].params == {"margin": 1.0, "lr": 0.01}
    assert local.best_trial == 0 and trials[0].value == pytest.approx(local.best_value)
    assert all(len(t.intermediate_values) == 2 for t in trials)  # both epochs reported
    runs, _ = _rows(tmp_path / "ray")
    assert {r[1] for r in runs} == set(remote.labels)


def test_tune_cli_executor_options(tmp_path):
    res = _cli("tune", "--task", "binary", "--loss", "hinge_loss", "--executor", "spark")
    assert res.exit_code == 2
    assert "tune: '--executor' must be one of 'local', 'ray', got 'spark'" in " ".join(
        res.output.split()
    )
