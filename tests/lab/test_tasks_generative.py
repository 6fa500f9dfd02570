"""The generative lab task: deterministic data, the metrics on known cases, a tiny run of every
competitor, and `losslab compare --task generative` end to end."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from losslab.cli import app
from losslab.lab import tasks_generative as G
from losslab.lab.tasks import Competitor, get_task
from losslab.lab.train import RunKey, TrainConfig

TASK = get_task("generative")
TINY = TrainConfig(epochs=2, batch_size=128, hidden=(16,))


def test_data_is_deterministic_and_on_the_ring():
    a, b, c = G.gaussian_ring(0), G.gaussian_ring(0), G.gaussian_ring(1)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.x_test, b.x_test)
    assert not torch.equal(a.x_train, c.x_train)
    assert a.x_train.shape == (G.N_TRAIN, 2) and a.x_val.shape == (G.N_VAL, 2) and a.x_test.shape == (G.N_TEST, 2)
    centres = torch.tensor(G.ring_centres(), dtype=torch.float32)
    dist = (a.x_train - centres[a.y_train]).norm(dim=1)
    assert float(dist.max()) < 6 * G.MODE_STD  # every point near its own mode
    counts = torch.bincount(a.y_train, minlength=G.N_MODES)
    assert int(counts.min()) > 0.5 * G.N_TRAIN / G.N_MODES


def test_w1_exact_known_values():
    pts = np.random.default_rng(0).standard_normal((50, 2))
    assert G.w1_exact(pts, pts[::-1].copy()) == pytest.approx(0.0, abs=1e-12)
    # a translation by t moves every point by |t|, and nothing cheaper exists (W1 >= |mean shift|)
    t = np.array([0.3, -0.4])
    assert G.w1_exact(pts, pts + t) == pytest.approx(0.5, rel=1e-12)
    assert math.isnan(G.w1_exact(pts, np.full_like(pts, np.nan)))
    with pytest.raises(ValueError, match="w1_exact: 'b' must have the shape"):
        G.w1_exact(pts, pts[:10])


def test_mode_metrics_known_cases():
    centres = G.ring_centres()
    assert G.mode_metrics(np.repeat(centres, 10, axis=0)) == (1.0, 1.0)
    one_mode = np.repeat(centres[:1], 80, axis=0)
    assert G.mode_metrics(one_mode) == (1 / G.N_MODES, 1.0)
    assert G.mode_metrics(np.zeros((40, 2))) == (0.0, 0.0)  # the ring's centre is no mode


@pytest.fixture(scope="module")
def tiny_data():
    return {s: G.gaussian_ring(s) for s in range(2)}


@pytest.mark.parametrize("label", [c.label for c in TASK.competitors])
def test_tiny_run_of_every_competitor(tiny_data, label):
    comp = next(c for c in TASK.competitors if c.label == label)
    runs = [RunKey(0, 0.01), RunKey(1, 0.01)]
    results = G.train_generative(TASK, comp, runs, tiny_data, TINY)
    assert [r.seed for r in results] == [0, 1]
    for r in results:
        assert r.status == "finished" and r.epochs_run == 2
        assert set(r.history) == {"train_loss", "val_loss", "val_w1_to_heldout", "grad_norm"}
        assert all(len(v) == 2 and all(math.isfinite(x) for x in v) for v in r.history.values())
        for key in ("w1_to_heldout", "mode_coverage", "hq_fraction", "epochs_to_converge",
                    "generalization_gap", "overfitting", "grad_norm_median", "grad_norm_max"):
            assert math.isfinite(r.metrics[key]), key
        assert 0.0 <= r.metrics["mode_coverage"] <= 1.0 and r.metrics["w1_to_heldout"] > 0


def test_runs_are_reproducible(tiny_data):
    comp = TASK.competitors[0]
    runs = [RunKey(0, 0.01)]
    a = G.train_generative(TASK, comp, runs, tiny_data, TINY)[0]
    b = G.train_generative(TASK, comp, runs, tiny_data, TINY)[0]
    assert a.history == b.history and a.metrics == b.metrics


def test_mmd_generator_and_rejected_losses(tiny_data):
    res = G.train_generative(TASK, Competitor("MMD", "mmd_loss", {"bandwidth": 0.5}), [RunKey(0, 0.01)],
                             tiny_data, TrainConfig(epochs=1, batch_size=64, hidden=(8,)))
    assert res[0].status == "finished" and math.isfinite(res[0].metrics["w1_to_heldout"])
    with pytest.raises(ValueError, match=r"compare: loss 'wasserstein_1d' takes \(u_values, v_values\)"):
        G.train_generative(TASK, Competitor("W1D", "wasserstein_1d"), [RunKey(0, 0.01)], tiny_data, TINY)


def test_divergence_is_reported(tiny_data):
    # a huge learning rate blows the WGAN up; the run must say so instead of returning NaN metrics
    res = G.train_generative(TASK, TASK.competitors[1], [RunKey(0, 1e6)], tiny_data, TINY)[0]
    if res.status == "diverged":
        assert res.diverged_epoch is not None and not res.metrics
    else:  # finished: everything it reports is finite
        assert all(math.isfinite(v) for v in res.metrics.values())


def test_compare_cli_generative(tmp_path):
    res = CliRunner().invoke(app, ["compare", "--task", "generative", "--seeds", "2", "--epochs", "2", "--quiet",
                                   "--out", str(tmp_path), "--name", "gen"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert (tmp_path / "gen" / "report.html").exists()
    report = (tmp_path / "gen" / "report.md").read_text()
    assert r"w1\_to\_heldout" in report  # markdown escapes the underscores
    for comp in TASK.competitors:
        assert comp.label in report
