"""The non-differentiable task: its helpers against sklearn / the library loss, and what each
system records (function evaluations, thresholds, the estimator's variance)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score

import losslab.functional as LF
from losslab.lab import tasks as T
from losslab.lab.systems import nondiff as ND
from losslab.lab.train import RunKey, TrainConfig


def test_population_f1_equals_the_library_loss_and_sklearn():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (50,), generator=g)
    dec = torch.randint(0, 2, (7, 50), generator=g).double()
    batched = ND.f1_of_population(y, dec)
    for i in range(7):
        assert batched[i].item() == pytest.approx(1 - LF.soft_f1_loss(dec[i], y.double()).item())
        assert batched[i].item() == pytest.approx(
            f1_score(y.numpy(), dec[i].numpy(), zero_division=0), abs=1e-6
        )
        assert ND.f1_of_decisions(y, dec[i]) == pytest.approx(batched[i].item())


def test_best_threshold_is_the_brute_force_optimum():
    rng = np.random.default_rng(1)
    y = torch.tensor(rng.integers(0, 2, 80))
    s = torch.tensor(rng.uniform(size=80)) * 0.5 + 0.4 * y
    thr, f1, tried = ND.best_f1_threshold(s, y)
    brute = max(f1_score(y.numpy(), (s >= t).numpy(), zero_division=0) for t in s.unique().tolist())
    assert f1 == pytest.approx(brute)
    assert f1_score(y.numpy(), (s >= thr).numpy()) == pytest.approx(brute)
    assert tried == len(s.unique())


def test_hard_f1_loss_marks_non_finite_outputs():
    z = torch.tensor([[[1.0], [-1.0]], [[float("nan")], [1.0]]])
    out = ND.hard_f1_loss(z, torch.tensor([[1, 0], [1, 0]]))
    assert out[0].item() == pytest.approx(0.0, abs=1e-6)  # perfect decisions
    assert torch.isnan(out[1])


def test_total_cost_counts_misses_and_false_alarms():
    s = torch.tensor([0.9, 0.2, 0.7, 0.1])
    y = torch.tensor([1, 1, 0, 0])
    # one miss (10) + one false alarm (1) over 4 samples, per 1,000
    assert ND.total_cost(s, y, 0.5) == pytest.approx(1000 * 11 / 4)


@pytest.fixture(scope="module")
def runs():
    torch.set_num_threads(1)
    task = T.get_task("non-differentiable")
    data = {0: task.load(0)}
    cfg = TrainConfig(epochs=2, batch_size=task.batch_size, hidden=task.hidden)
    return (
        task,
        data,
        {c.label: c.trainer(task, c, [RunKey(0, 0.01)], data, cfg)[0] for c in task.competitors},
    )


def test_every_competitor_reports_the_task_metrics(runs):
    task, _, results = runs
    assert set(results) == {
        "BCE + threshold moving",
        "soft F1",
        "REINFORCE on F1",
        "CMA-ES on F1",
    }
    for label, res in results.items():
        assert res.status == "finished", label
        assert set(task.metrics) <= set(res.metrics), label
        assert "pr" in res.curves


def test_function_evaluations_are_counted(runs):
    task, data, results = runs
    n_train = len(data[0].y_train)
    steps = -(-n_train // task.batch_size)  # ceil: the last batch is short
    assert results["REINFORCE on F1"].metrics["function_evaluations"] == (
        2 * steps * ND.ReinforceSystem.SAMPLES
    )
    popsize = 4 + int(3 * np.log(data[0].num_features + 1))  # pycma's default
    assert results["CMA-ES on F1"].metrics["function_evaluations"] == (
        2 * ND.ESSystem.GENERATIONS * popsize
    )
    assert results["soft F1"].metrics["function_evaluations"] == 0
    n_val = len(data[0].y_val)
    assert 0 < results["BCE + threshold moving"].metrics["function_evaluations"] <= n_val


def test_reinforce_history_records_the_estimator_variance(runs):
    _, _, results = runs
    var = results["REINFORCE on F1"].history["estimator_variance"]
    assert len(var) == 2 and all(v > 0 for v in var)
