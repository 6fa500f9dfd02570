"""The study as a library API: StudyConfig's declared bounds, study names, resume conflicts
against the stored configuration, start/resume, and executors that agree."""

from __future__ import annotations

import math
import sqlite3
import threading

import pytest
import torch

from losslab._data_sources import SOURCES
from losslab.lab import study as S
from losslab.lab.store import Store
from losslab.lab.study import STUDY_PARAMS, StudyConfig

OPTION = S.OPTION  # StudyConfig field -> the compare option named in messages


def test_every_declared_bound_is_stated():
    bounds = {
        name: (p.ge, p.gt, p.le) for name, p in STUDY_PARAMS.items() if p.kind in ("int", "float")
    }
    assert bounds == {
        "seeds": (1, None, 1000),
        "epochs": (1, None, 10_000),
        "jobs": (1, None, 64),
        "l1": (0, None, 1),
        "l2": (0, None, 1),
        "early_stopping": (1, None, 10_000),
    }
    assert set(STUDY_PARAMS) <= set(OPTION)


@pytest.mark.parametrize("name", sorted(STUDY_PARAMS))
def test_study_config_refuses_every_invalid_value_with_the_one_template(name):
    param = STUDY_PARAMS[name]
    bad_values = param.invalid_values()
    assert bad_values
    for value, kind in bad_values:
        with pytest.raises(kind) as info:
            StudyConfig(**{name: value})
        message = str(info.value)
        assert message.startswith(f"compare: '{OPTION[name]}' must be {param.describe()}, got "), (
            message
        )


@pytest.mark.parametrize(
    "lrs, kind, shown",
    [
        ((), ValueError, "compare: '--lr' must be a tuple of 1 to 20 learning rates, got ()"),
        ((0.0,), ValueError, "compare: '--lr' must be a finite real number > 0 and <= 10, got 0.0"),
        (
            (0.1, 11.0),
            ValueError,
            "compare: '--lr' must be a finite real number > 0 and <= 10, got 11.0",
        ),
        ((math.nan,), ValueError, "got nan"),
        (
            ("0.1",),
            TypeError,
            "compare: '--lr' must be a finite real number > 0 and <= 10, got '0.1'",
        ),
        ([0.1], TypeError, "compare: '--lr' must be a tuple of 1 to 20 learning rates, got [0.1]"),
        (
            tuple(0.01 * i for i in range(1, 22)),
            ValueError,
            "must be a tuple of 1 to 20 learning rates",
        ),
    ],
)
def test_learning_rates_are_bounded(lrs, kind, shown):
    with pytest.raises(kind) as info:
        StudyConfig(lrs=lrs)
    assert shown in str(info.value)


def test_tasks_must_be_names():
    with pytest.raises(ValueError, match=r"compare: '--task' must be at least one task, got \(\)"):
        StudyConfig(tasks=())
    with pytest.raises(
        TypeError, match="compare: '--task' must be a tuple of non-empty names, got 'binary'"
    ):
        StudyConfig(tasks="binary")


def test_the_largest_and_smallest_values_are_accepted():
    cfg = StudyConfig(
        seeds=1000,
        epochs=10_000,
        jobs=64,
        l1=1.0,
        l2=0.0,
        early_stopping=1,
        lrs=(1e-6, 10.0),
        optimizer="sgd",
        model="cnn",
        full=True,
    )
    assert cfg.seeds == 1000 and cfg.lrs == (1e-6, 10.0)


@pytest.mark.parametrize(
    "name", ["../x", "..", ".hidden", "a/b", "a\\b", "", "x" * 101, "study name", "-rf"]
)
def test_a_study_name_is_a_folder_name(name, tmp_path):
    with pytest.raises(ValueError, match="compare: '--name' must be 1 to 100 letters, digits"):
        S.default_study_dir(name, tmp_path)


def test_good_names_stay_inside_the_output_folder(tmp_path):
    for name in ("tiny", "study-20261206-1500", "run_1.v2", "x" * 100):
        folder = S.default_study_dir(name, tmp_path)
        assert folder.parent == tmp_path and folder.name == name
    assert S.default_study_dir(None, tmp_path).name.startswith("study-")


def test_check_config_refuses_jobs_with_imported_losses():
    cfg = StudyConfig(
        tasks=("binary",), losses=("mse_loss",), jobs=2, loss_imports={"mse_loss": "mine:mse"}
    )
    with pytest.raises(
        ValueError, match="compare: '--jobs' must be 1 with a loss loaded by import path .*, got 2"
    ):
        S.check_config(cfg)


def test_resume_conflicts_compare_with_the_stored_configuration(tmp_path):
    stored = StudyConfig(
        tasks=("binary", "regression"), seeds=2, lrs=(0.01, 0.05), epochs=3, optimizer="sgd"
    )
    same = {
        "tasks": ("regression", "binary"),
        "seeds": 2,
        "lrs": (0.05, 0.01),
        "epochs": 3,
        "optimizer": "sgd",
        "jobs": 4,
        "name": "tiny",
    }
    assert S.resume_conflicts(stored, same, tmp_path / "tiny") == []
    # a default value is a conflict when the study was stored with another one
    clash = S.resume_conflicts(
        stored,
        {"optimizer": "adam", "seeds": 3, "epochs": None, "name": "other", "l2": 0.0},
        tmp_path / "tiny",
    )
    assert clash == [
        "'--optimizer' adam (the study has sgd)",
        "'--seeds' 3 (the study has 2)",
        "'--epochs' nothing (the study has 3)",
        "'--name' other (the study has tiny)",
    ]
    # --loss/--add-loss on resume re-import some of the study's losses; another loss is a conflict
    with_losses = StudyConfig(tasks=("regression",), added_losses=("cube_gap", "smooth_l1_loss"))
    assert S.resume_conflicts(with_losses, {"added_losses": ("cube_gap",)}) == []
    assert S.resume_conflicts(
        with_losses, {"added_losses": ("cube_gap", "l1_loss"), "losses": ("cube_gap",)}
    ) == [
        "'--add-loss' cube_gap,l1_loss (the study has cube_gap,smooth_l1_loss)",
        "'--loss' cube_gap (the study has nothing)",
    ]


def test_start_then_resume_through_the_library(tmp_path):
    folder = tmp_path / "s"
    cfg = StudyConfig(tasks=("binary",), losses=("hinge_loss",), seeds=2, epochs=2)
    plans = []
    assert (
        S.start_study(cfg, folder, on_plan=lambda total, done: plans.append((total, done)))
        == folder
    )
    assert plans == [(2, 0)]
    assert (folder / "results.sqlite").exists() and (folder / S.LOCK_NAME).exists()
    with pytest.raises(ValueError, match="already exists; use '--resume"):
        S.start_study(cfg, folder)
    with pytest.raises(ValueError) as info:
        S.resume_study(folder, {"seeds": 3, "losses": ("hinge_loss",)})
    assert str(info.value) == (
        "compare: '--resume' must be given only the options the study was started with "
        "(or none: it continues with its stored settings), got '--seeds' 3 (the study has 2)"
    )
    resumed = S.resume_study(
        folder, {"seeds": 2}, jobs=2, on_plan=lambda total, done: plans.append((total, done))
    )
    assert resumed.jobs == 2 and resumed.seeds == 2
    assert plans[-1] == (2, 2)  # nothing left to train
    with pytest.raises(
        ValueError, match="compare: '--resume' must be a study folder containing results.sqlite"
    ):
        S.resume_study(tmp_path / "nowhere")


def _final_metrics(db) -> dict:
    with sqlite3.connect(db) as c:
        rows = c.execute(
            "SELECT r.competitor, r.seed, r.lr, m.name, m.value FROM runs r JOIN metrics m "
            "USING (run_id) WHERE m.epoch IS NULL AND m.split = 'test'"
        ).fetchall()
    return {row[:4]: row[4] for row in rows}


def _study(tmp_path, name: str, jobs: int) -> dict:
    cfg = StudyConfig(tasks=("binary",), seeds=2, epochs=2, jobs=jobs)
    units = []
    with Store(tmp_path / f"{name}.sqlite") as st:
        S.run_study(cfg, st, on_results=lambda u, rs: units.append(u))
        assert len(st.runs()) == 4 * 2
    assert sorted(u.competitor for u in units) == sorted(
        c.label for c in S.get_task("binary").competitors
    )
    return _final_metrics(tmp_path / f"{name}.sqlite")


def test_the_pool_and_this_process_give_the_same_results(tmp_path):
    """jobs=2 (this process and a worker) stores what jobs=1 stores: units are plain descriptions
    and the engine alone turns them into results; with a second thread alive here (a progress
    bar's) the workers come from a forkserver instead of a fork, with the same results."""
    alone = _study(tmp_path, "alone", 1)
    assert len(alone) >= 8
    assert S._pool_context(1).get_start_method() == "fork"
    pooled = {"fork": _study(tmp_path, "fork", 2)}
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert S._pool_context(1).get_start_method() == "forkserver"
        assert S._pool_context(2).get_start_method() == "forkserver"  # threads > 1: never fork
        pooled["forkserver"] = _study(tmp_path, "forkserver", 2)
    finally:
        stop.set()
        other.join()
    for how, results in pooled.items():
        assert results.keys() == alone.keys(), how
        for key, value in alone.items():
            assert results[key] == pytest.approx(value, rel=1e-5, abs=1e-6), (how, key)


def test_the_library_api_is_exported_by_the_lab():
    import losslab.lab as lab

    assert (lab.start_study, lab.resume_study, lab.StudyConfig) == (
        S.start_study,
        S.resume_study,
        S.StudyConfig,
    )
    assert issubclass(
        lab.StudyLockedError, ValueError
    )  # the CLI turns every ValueError into exit 2


def test_full_takes_the_tasks_full_loader_and_caches_each_apart():
    import dataclasses as dc

    from losslab.lab import data as D
    from losslab.lab import study as S
    from losslab.lab.tasks import get_task

    base = get_task("binary")
    small = base.load(0)
    big = dc.replace(small, meta={**small.meta, "marker": "full"})
    task = dc.replace(base, name="binary-full-loader-test", full_load=lambda seed: big)
    assert S._datasets(task, [0], full=True)[0] is big
    assert S._datasets(task, [0], full=False)[0].meta.get("marker") is None  # load, not full_load
    assert S._datasets(base, [0], full=True)[0].meta.get("marker") is None  # no full_load: load
    fashion = get_task("fashion-mnist")
    assert fashion.full_load is D.fashion_mnist_full


@pytest.mark.skipif(
    not SOURCES["fashion-mnist"].available(), reason=SOURCES["fashion-mnist"].missing
)
def test_full_fashion_mnist_is_all_of_it():
    from losslab.lab import data as D

    ds = D.fashion_mnist_full(1)
    assert (len(ds.x_train), len(ds.x_val), len(ds.x_test)) == (50_000, 10_000, 10_000)
    assert ds.x_train.shape[1] == 784 and ds.num_classes == 10
    assert sorted(ds.y_val.bincount().tolist()) == [1000] * 10  # stratified validation split
    assert ds.y_test.bincount().tolist() == [1000] * 10  # the official test set
    again = D.fashion_mnist_full(2)
    assert torch.equal(again.y_test, ds.y_test) and not torch.equal(again.y_val, ds.y_val)
