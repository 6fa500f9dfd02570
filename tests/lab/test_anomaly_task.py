"""The anomaly task's semi-supervised protocol (fixed counts per split, enough test anomalies for
every seed, autoencoders trained on normal rows only) and the competitor groups in the store."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from losslab.lab.data import ANOMALY_SPLIT, breast_cancer_anomaly
from losslab.lab.store import Store
from losslab.lab.study import StudyConfig, run_study, task_info
from losslab.lab.systems.mlp import MLPSystem
from losslab.lab.tasks import Competitor, get_task
from losslab.lab.train import RunKey, TrainConfig

#: the number of test anomalies the task's notes promise
STATED_TEST_ANOMALIES = 40


@pytest.mark.parametrize("seed", range(10))
def test_every_seed_has_the_stated_anomalies_in_each_split(seed):
    ds = breast_cancer_anomaly(seed)
    assert (int(ds.y_test.sum()), len(ds.y_test)) == (STATED_TEST_ANOMALIES, 130)
    assert int(ds.y_test.sum()) >= 30
    assert (int(ds.y_val.sum()), len(ds.y_val)) == (10, 77)
    assert (int(ds.y_train.sum()), len(ds.y_train)) == (20, 220)
    # no row is in two splits (features are standardised with one mean and sd for all splits)
    for a, b in ((ds.x_train, ds.x_test), (ds.x_train, ds.x_val), (ds.x_val, ds.x_test)):
        assert torch.cdist(a, b).min() > 1e-4
    # label 1 marks the malignant rows: their mean radius (feature 0) is far larger (WDBC:
    # 17.5 vs 12.1 on average, about 1.5 sd), in every split
    for x, y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        assert x[y == 1, 0].mean() - x[y == 0, 0].mean() > 1.0


def test_the_task_states_its_protocol_and_stores_the_test_positives():
    task = get_task("anomaly")
    assert ANOMALY_SPLIT["test"] == (90, STATED_TEST_ANOMALIES)
    for words in ("Ruff et al. 2020", "ADBench", "test 90 + 40", "normal data only"):
        assert words in task.notes, words
    info = task_info(task, StudyConfig(tasks=("anomaly",), seeds=3))
    assert info["test_positives"] == STATED_TEST_ANOMALIES and info["test_size"] == 130
    imb = task_info(get_task("imbalanced"), StudyConfig(tasks=("imbalanced",), seeds=2))
    assert imb["test_positives"] == 35 and imb["test_size"] == 360
    assert "test_positives" not in task_info(
        get_task("multiclass"), StudyConfig(tasks=("multiclass",), seeds=1)
    )


def test_autoencoders_learn_from_the_normal_training_rows_only():
    task = get_task("anomaly")
    data = {s: task.load(s) for s in (0, 1)}
    runs = [RunKey(0, 0.01), RunKey(1, 0.01)]
    cfg = TrainConfig(epochs=1, batch_size=task.batch_size, hidden=task.hidden)
    ae = next(c for c in task.competitors if c.model == "autoencoder")
    system = MLPSystem(task, ae, runs, data, cfg)
    assert system.train_size == 200 and not system.data.y_train.any()
    assert torch.equal(system.t_train, system.data.x_train)
    for i, s in enumerate((0, 1)):  # the kept rows are that seed's normal rows, in order
        assert torch.equal(system.data.x_train[i], data[s].x_train[data[s].y_train == 0])
    clf = next(c for c in task.competitors if c.model == "classifier")
    assert MLPSystem(task, clf, runs, data, cfg).train_size == 220
    uneven = dict(data)
    uneven[1] = dataclasses.replace(data[1], y_train=torch.zeros_like(data[1].y_train))
    with pytest.raises(ValueError, match=r"same, non-zero number of them; got \[200, 220\]"):
        MLPSystem(task, ae, runs, uneven, cfg)


def test_bad_split_counts_are_refused():
    with pytest.raises(
        ValueError,
        match="lab.breast_cancer_anomaly: 'counts' must ask for at most 357 normal rows and "
        "212 anomalies, got 400 and 3",
    ):
        breast_cancer_anomaly(0, counts={"train": (300, 1), "val": (50, 1), "test": (50, 1)})


def test_groups_are_declared_and_stored(tmp_path):
    task = get_task("anomaly")
    groups = {c.label: c.group for c in task.competitors}
    assert groups == {
        "autoencoder, MSE": "unsupervised (autoencoders)",
        "autoencoder, MAE": "unsupervised (autoencoders)",
        "autoencoder, Huber": "unsupervised (autoencoders)",
        "supervised BCE classifier": "supervised",
    }
    assert Competitor("x", "mse_loss").group == ""
    cfg = StudyConfig(tasks=("anomaly",), seeds=1, epochs=1)
    with Store(tmp_path / "s.sqlite") as st:
        run_study(cfg, st)
        info = st.meta("task_info")["anomaly"]
        curves = st.test_curves("pr")
        runs = st.runs()
    assert {c["label"]: c["group"] for c in info["competitors"]} == groups
    assert info["test_positives"] == STATED_TEST_ANOMALIES
    # every finished run stored its test precision-recall curve
    finished = {r["run_id"] for r in runs if r["status"] == "finished"}
    assert finished and {p["run_id"] for p in curves} == finished
