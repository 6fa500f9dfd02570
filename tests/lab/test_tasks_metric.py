"""The metric-learning lab task: kNN retrieval metrics, the batched embedding trainer, the CLI."""

from __future__ import annotations

import math

import pytest
import torch
from typer.testing import CliRunner

from losslab.cli import app
from losslab.lab import data as D
from losslab.lab.tasks import Competitor, get_task
from losslab.lab.tasks_metric import knn_retrieval, train_metric
from losslab.lab.train import RunKey, TrainConfig

TINY = TrainConfig(epochs=2, batch_size=64, hidden=(32,))


@pytest.fixture(scope="module")
def digits():
    task = get_task("metric")
    return task, {s: D.digits(s) for s in range(2)}


def _check(res, task, epochs):
    assert res.status == "finished"
    for k in ("top1", "top5"):
        assert 0.0 <= res.metrics[k] <= 1.0
    assert res.metrics["top5"] >= res.metrics["top1"]
    for k in ("epochs_to_converge", "generalization_gap", "overfitting", "grad_norm_median", "grad_norm_max"):
        assert math.isfinite(res.metrics[k]), k
    assert set(res.history) == {"train_loss", "val_loss", f"val_{task.primary}", "grad_norm"}
    assert all(len(v) == epochs and all(math.isfinite(x) for x in v) for v in res.history.values())


@pytest.mark.parametrize("competitor", [
    *get_task("metric").competitors,
    Competitor("CE", "cross_entropy"),
    Competitor("ArcFace", "arcface_loss", {"scale": 16.0}),
    Competitor("triplet semihard", "batch_triplet_loss", {"mining": "semihard"}),
], ids=lambda c: c.label)
def test_tiny_run_gives_finite_metrics_in_unit_interval(digits, competitor):
    task, data = digits
    runs = [RunKey(0, 0.01), RunKey(1, 0.01)]
    results = train_metric(task, competitor, runs, data, TINY)
    assert [(r.seed, r.lr) for r in results] == [(0, 0.01), (1, 0.01)]
    for res in results:
        _check(res, task, TINY.epochs)
    assert results[0].metrics["top1"] > 0.5  # far better than the 0.1 of chance after 2 epochs


def test_training_is_deterministic_and_stacking_does_not_couple_models(digits):
    task, data = digits
    comp = task.competitors[0]
    both = train_metric(task, comp, [RunKey(0, 0.01), RunKey(1, 0.01)], data, TINY)
    again = train_metric(task, comp, [RunKey(0, 0.01), RunKey(1, 0.01)], data, TINY)
    alone = train_metric(task, comp, [RunKey(1, 0.01)], data, TINY)[0]
    assert both[0].metrics == again[0].metrics and both[1].history == again[1].history
    torch.testing.assert_close(torch.tensor(both[1].history["train_loss"]),
                               torch.tensor(alone.history["train_loss"]), rtol=1e-4, atol=1e-5)
    assert both[1].metrics["top1"] == pytest.approx(alone.metrics["top1"], abs=1e-2)


def test_divergence_is_recorded(digits):
    task, data = digits
    comp = Competitor("contrastive", "contrastive_loss")
    cfg = TrainConfig(epochs=2, batch_size=64, hidden=(32,), optimizer="sgd")
    ok, bad = train_metric(task, comp, [RunKey(0, 1e-3), RunKey(0, 1e30)], data, cfg)
    assert ok.status == "finished"
    assert bad.status == "diverged" and bad.metrics == {} and math.isnan(bad.history["val_loss"][-1])


def test_two_view_losses_are_refused(digits):
    task, data = digits
    with pytest.raises(ValueError, match="^compare: loss 'info_nce_loss' takes"):
        train_metric(task, Competitor("InfoNCE", "info_nce_loss"), [RunKey(0, 0.01)], data, TINY)


@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
def test_knn_top1_agrees_with_scikit_learn_and_top5_with_a_loop(distance):
    from sklearn.neighbors import KNeighborsClassifier

    g = torch.Generator().manual_seed(0)
    ref, query = torch.randn(2, 120, 6, generator=g), torch.randn(2, 40, 6, generator=g)
    ref_y, query_y = torch.randint(0, 5, (2, 120), generator=g), torch.randint(0, 5, (2, 40), generator=g)
    ref[:, :, 0] += ref_y  # some structure, so the scores are not all near chance
    query[:, :, 0] += query_y
    top1, top5 = knn_retrieval(query, query_y, ref, ref_y, distance=distance)
    for m in range(2):
        knn = KNeighborsClassifier(n_neighbors=1, metric=distance, algorithm="brute")
        knn.fit(ref[m].numpy(), ref_y[m].numpy())
        assert top1[m].item() == pytest.approx(knn.score(query[m].numpy(), query_y[m].numpy()))
        _, nearest = knn.kneighbors(query[m].numpy(), n_neighbors=5)
        hits = [int(query_y[m, i]) in ref_y[m, nearest[i]].tolist() for i in range(40)]
        assert top5[m].item() == pytest.approx(sum(hits) / 40)
    assert (top5 >= top1).all()


def test_compare_cli_runs_the_metric_task(tmp_path):
    res = CliRunner().invoke(app, ["compare", "--task", "metric", "--seeds", "2", "--epochs", "2",
                                   "--quiet", "--out", str(tmp_path), "--name", "m"],
                             env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert (tmp_path / "m" / "report.html").exists()
    text = (tmp_path / "m" / "report.md").read_text()
    assert "SupCon" in text and "top-1" in text
