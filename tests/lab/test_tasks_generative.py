"""The generative lab task: deterministic data, the metrics on known cases, a tiny run of every
competitor, penalties on the generator and the critic, divergence, and `losslab compare --task
generative` end to end (stacked == alone: tests/lab/test_stacked_equals_alone.py)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from losslab.cli import app
from losslab.lab import tasks_generative as G
from losslab.lab.engine import train_system
from losslab.lab.systems.generative import GenerativeSystem
from losslab.lab.tasks import Competitor, get_task
from losslab.lab.train import RunKey, TrainConfig

TASK = get_task("generative")
TINY = TrainConfig(epochs=2, batch_size=128, hidden=(16,))


def test_data_is_deterministic_and_on_the_ring():
    a, b, c = G.gaussian_ring(0), G.gaussian_ring(0), G.gaussian_ring(1)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.x_test, b.x_test)
    assert not torch.equal(a.x_train, c.x_train)
    assert (
        a.x_train.shape == (G.N_TRAIN, 2)
        and a.x_val.shape == (G.N_VAL, 2)
        and a.x_test.shape == (G.N_TEST, 2)
    )
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
        for key in (
            "w1_to_heldout",
            "mode_coverage",
            "hq_fraction",
            "epochs_to_converge",
            "generalization_gap",
            "overfitting",
            "grad_norm_median",
            "grad_norm_max",
        ):
            assert math.isfinite(r.metrics[key]), key
        assert 0.0 <= r.metrics["mode_coverage"] <= 1.0 and r.metrics["w1_to_heldout"] > 0


def test_runs_are_reproducible(tiny_data):
    comp = TASK.competitors[0]
    runs = [RunKey(0, 0.01)]
    a = G.train_generative(TASK, comp, runs, tiny_data, TINY)[0]
    b = G.train_generative(TASK, comp, runs, tiny_data, TINY)[0]
    assert a.history == b.history and a.metrics == b.metrics


def test_mmd_generator_and_rejected_losses(tiny_data):
    res = G.train_generative(
        TASK,
        Competitor("MMD", "mmd_loss", {"bandwidth": 0.5}),
        [RunKey(0, 0.01)],
        tiny_data,
        TrainConfig(epochs=1, batch_size=64, hidden=(8,)),
    )
    assert res[0].status == "finished" and math.isfinite(res[0].metrics["w1_to_heldout"])
    with pytest.raises(
        ValueError, match=r"compare: loss 'wasserstein_1d' takes \(u_values, v_values\)"
    ):
        G.train_generative(
            TASK, Competitor("W1D", "wasserstein_1d"), [RunKey(0, 0.01)], tiny_data, TINY
        )


def _weights_sq(ws) -> float:
    return sum(float(w.detach().pow(2).sum()) for w in ws)


@pytest.mark.parametrize("label", [c.label for c in TASK.competitors])
def test_l1_l2_penalise_generator_and_critic(tiny_data, label):
    # --l1/--l2 used to be ignored by this task; now both shrink the generator's weights and
    # (GANs) the critic's, and the reported training loss includes the penalty
    comp = next(c for c in TASK.competitors if c.label == label)
    runs = [RunKey(0, 0.01)]
    base = TrainConfig(epochs=1, batch_size=128, hidden=(16,), select="final")
    out = {}
    for name, cfg in (
        ("none", base),
        ("l2", dataclasses.replace(base, l2=1.0)),
        ("l1", dataclasses.replace(base, l1=1.0)),
    ):
        system = GenerativeSystem(TASK, comp, runs, tiny_data, cfg)
        (res,) = train_system(system, TASK, comp, runs, cfg)
        assert res.status == "finished"
        critic = _weights_sq(system.critic.weight_tensors()) if system.critic is not None else None
        out[name] = (
            _weights_sq(system.generator.weight_tensors()),
            critic,
            res.history["train_loss"][0],
        )
    assert (out["none"][1] is None) == (label == "Sinkhorn (no critic)")
    for name in ("l2", "l1"):
        gen, critic, loss = out[name]
        assert gen < 0.8 * out["none"][0], name
        if critic is not None:
            assert critic < 0.8 * out["none"][1], name
        assert loss > out["none"][2] + 1.0, name  # the penalty (about 3-4 here) is in the loss


def test_penalised_weights_are_the_weight_matrices(tiny_data):
    system = GenerativeSystem(
        TASK, TASK.competitors[1], [RunKey(0, 0.01), RunKey(1, 0.01)], tiny_data, TINY
    )
    assert system.critic is not None
    weights = system.penalized_weights()
    expected = [*system.generator.weights, *system.critic.weights]
    assert len(weights) == len(expected) == 4 and all(
        w is e for w, e in zip(weights, expected, strict=True)
    )
    assert all(w.shape[0] == 2 for w in weights)


def _with_nan_row(data: dict[int, G.D.Dataset], seed: int) -> dict[int, G.D.Dataset]:
    x = data[seed].x_train.clone()
    x[5] = math.nan
    return {**data, seed: dataclasses.replace(data[seed], x_train=x)}


@pytest.mark.parametrize("label", [c.label for c in TASK.competitors])
def test_divergence_stops_only_that_model(tiny_data, label):
    # seed 1's data holds a NaN row: its critic (or, without one, its generator) loss is NaN in
    # epoch 1; that run diverges there, untouched afterwards, and seed 0 trains as if alone
    comp = next(c for c in TASK.competitors if c.label == label)
    data = _with_nan_row(tiny_data, 1)
    runs = [RunKey(0, 0.01), RunKey(1, 0.01)]
    cfg = dataclasses.replace(TINY, select="final")  # keep the parameters where training left them
    # the engine's batch order: row 5 comes in the 5th of 8 batches of seed 1's first epoch
    perm = torch.randperm(G.N_TRAIN, generator=torch.Generator().manual_seed(1))
    assert int((perm == 5).nonzero()) // cfg.batch_size == 4
    system = GenerativeSystem(TASK, comp, runs, data, cfg)
    before = [w.detach()[1].clone() for w in system.penalized_weights()]
    ok, bad = train_system(system, TASK, comp, runs, cfg)
    assert bad.status == "diverged" and bad.diverged_epoch == 1 and bad.epochs_run == 1
    assert bad.metrics == {} and bad.final_metrics == {}
    assert all(len(v) == 1 and math.isnan(v[0]) for v in bad.history.values())
    # the model (generator and critic weights; a WGAN critic's output bias gets no gradient)
    # moved in the 4 steps before the NaN batch, and never took a non-finite step
    assert all(torch.isfinite(p.detach()[1]).all() for p in system.parameters())
    assert all(
        not torch.equal(b, w.detach()[1])
        for b, w in zip(before, system.penalized_weights(), strict=True)
    )
    (alone,) = G.train_generative(TASK, comp, runs[:1], data, cfg)
    # (stacked float32 matmuls may round differently from a lone one: a few ulps)
    assert ok.status == "finished" and ok.epochs_run == alone.epochs_run == 2
    assert ok.history.keys() == alone.history.keys() and ok.metrics.keys() == alone.metrics.keys()
    for k, v in ok.history.items():
        assert v == pytest.approx(alone.history[k], rel=1e-4, abs=1e-5), k
    for k, v in ok.metrics.items():
        assert v == pytest.approx(alone.metrics[k], rel=1e-4, abs=1e-5), k


def test_batch_larger_than_the_split_uses_the_whole_split(tiny_data):
    # (300 training rows: the generalization gap needs as many as the 256 validation points)
    small = {
        s: dataclasses.replace(d, x_train=d.x_train[:300], y_train=d.y_train[:300])
        for s, d in tiny_data.items()
    }
    cfg = dataclasses.replace(TINY, batch_size=512)
    system = GenerativeSystem(TASK, TASK.competitors[2], [RunKey(0, 0.01)], small, cfg)
    assert not system.drop_last  # one short batch (all 300 rows) rather than no step at all
    (res,) = train_system(system, TASK, TASK.competitors[2], [RunKey(0, 0.01)], cfg)
    assert res.status == "finished" and res.epochs_run == 2 and res.history["grad_norm"][0] > 0


def test_compare_cli_generative(tmp_path):
    res = CliRunner().invoke(
        app,
        [
            "compare",
            "--task",
            "generative",
            "--seeds",
            "2",
            "--epochs",
            "2",
            "--quiet",
            "--out",
            str(tmp_path),
            "--name",
            "gen",
        ],
        env={"COLUMNS": "200"},
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "gen" / "report.html").exists()
    report = (tmp_path / "gen" / "report.md").read_text()
    assert r"w1\_to\_heldout" in report  # markdown escapes the underscores
    for comp in TASK.competitors:
        assert comp.label in report
