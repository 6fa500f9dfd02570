"""The multi-task lab task and the regression task's adaptive robust row (tiny runs, seconds)."""

from __future__ import annotations

import dataclasses
import math
import pickle

import pytest
import torch
from typer.testing import CliRunner

from losslab.cli import app
from losslab.lab import study
from losslab.lab.engine import EpochStats, rows_of
from losslab.lab.models import StackedMLP, make_optimizer
from losslab.lab.systems.multitask import (
    NUM_CLASSES,
    MultitaskSystem,
    project_conflicting_stacked,
    task_orders,
)
from losslab.lab.tasks import get_task
from losslab.lab.tasks_multitask import METHODS, MultitaskTrainer, train_multitask
from losslab.lab.train import RunKey, TrainConfig
from losslab.lab.train_adaptive import ALPHA_RANGE
from losslab.multitask import (
    DynamicWeightAveraging,
    EqualWeighting,
    GradNorm,
    UncertaintyWeighting,
    pcgrad_backward,
    project_conflicting,
)

TINY = TrainConfig(epochs=2, batch_size=128, hidden=(16,))


@pytest.fixture(scope="module")
def multitask_data():
    task = get_task("multitask")
    return task, {s: task.load(s) for s in (0, 1)}


def test_multitask_task_registered_with_every_method():
    task = get_task("multitask")
    assert task.primary == "mean_accuracy"
    assert [c.trainer.method for c in task.competitors] == list(METHODS)
    assert task.trainer == MultitaskTrainer("equal")  # a loss given with --loss: equal weights
    for comp in task.competitors:  # module-level trainer class: the process pool pickles them
        assert pickle.loads(pickle.dumps(comp)) == comp
    with pytest.raises(ValueError, match="multi-task 'method' must be one of equal, uncertainty"):
        MultitaskTrainer("magic")


@pytest.mark.parametrize("comp_index", range(5))
def test_multitask_tiny_run_gives_finite_metrics(multitask_data, comp_index):
    task, data = multitask_data
    comp = task.competitors[comp_index]
    results = comp.trainer(task, comp, [RunKey(0, 0.01), RunKey(1, 0.01)], data, TINY)
    assert [r.seed for r in results] == [0, 1]
    for r in results:
        assert r.status == "finished" and r.epochs_run == 2
        for name in (*task.metrics, "epochs_to_converge", "generalization_gap", "grad_norm_max"):
            assert math.isfinite(r.metrics[name]), name
        assert set(r.final_metrics) == set(task.metrics)
        assert 0.0 <= r.metrics["class_top1"] <= 1.0
        assert r.metrics["mean_accuracy"] == pytest.approx(
            0.5 * (r.metrics["class_top1"] + r.metrics["parity_accuracy"])
        )
        assert set(r.history) == {
            "train_loss",
            "val_loss",
            "val_mean_accuracy",
            "grad_norm",
            "weight_class",
            "weight_parity",
        }
        assert all(len(v) == 2 for v in r.history.values())


def test_multitask_methods_differ_but_equal_is_deterministic(multitask_data):
    task, data = multitask_data
    comp = task.competitors[0]
    runs = [RunKey(0, 0.01)]
    a = train_multitask("equal", task, comp, runs, data, TINY)[0]
    b = train_multitask("equal", task, comp, runs, data, TINY)[0]
    g = train_multitask("gradnorm", task, comp, runs, data, TINY)[0]
    assert a.history["train_loss"] == b.history["train_loss"]
    assert g.history["train_loss"] != a.history["train_loss"]
    assert a.history["weight_class"] == [1.0, 1.0]
    assert g.history["weight_class"][-1] != 1.0  # GradNorm moved its weights
    with pytest.raises(ValueError, match="multi-task 'method' must be one of"):
        train_multitask("magic", task, comp, runs, data, TINY)


# -- the stacked system against the library's one-model weightings -----------------------------


class _Reference:
    """One model trained alone with the library's weighting classes (losslab.multitask), as the
    task's own loop did before it was ported onto the engine."""

    def __init__(self, method: str, seed: int, lr: float, in_dim: int, hidden: tuple[int, ...]):
        self.method = method
        self.model = StackedMLP([seed], in_dim, hidden, NUM_CLASSES + 1)
        self.trunk = [*self.model.weights[:-1], *self.model.biases[:-1]]
        self.weighting = {
            "equal": EqualWeighting(2),
            "uncertainty": UncertaintyWeighting(2, task_types=("classification",) * 2),
            "gradnorm": GradNorm(2, alpha=1.5),
            "dwa": DynamicWeightAveraging(2, temperature=2.0),
            "pcgrad": None,
        }[method]
        self.opts = [make_optimizer("adam", list(self.model.parameters()), torch.tensor([lr]))]
        if method == "uncertainty":
            self.opts.append(
                make_optimizer("adam", [self.weighting.log_vars], torch.full((2,), lr))
            )
        self.gen = torch.Generator().manual_seed(seed)

    def weights(self) -> torch.Tensor:
        return torch.ones(2) if self.weighting is None else self.weighting.weights()

    def step(self, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        z = self.model(x)[0]
        losses = [
            torch.nn.functional.cross_entropy(z[:, :NUM_CLASSES], y),
            torch.nn.functional.binary_cross_entropy_with_logits(
                z[:, NUM_CLASSES], (y % 2).float()
            ),
        ]
        for p in [
            *self.model.parameters(),
            *(self.weighting.parameters() if self.method == "uncertainty" else []),
        ]:
            p.grad = None
        if self.method == "gradnorm":
            self.weighting.backward(losses, [self.model.weights[-2]])
        elif self.method == "pcgrad":
            pcgrad_backward(losses, self.trunk, reduction="sum", generator=self.gen)
        else:
            self.weighting(losses).backward()
        for opt in self.opts:
            opt.step(torch.ones(len(opt.lr), dtype=torch.bool))
        return [v.detach() for v in losses]


@pytest.mark.parametrize("method", METHODS)
def test_system_steps_equal_the_library_weighting_of_each_model(multitask_data, method):
    torch.set_num_threads(1)
    task, data = multitask_data
    cfg = TrainConfig(epochs=3, batch_size=128, hidden=(16,))
    runs = [RunKey(0, 0.01), RunKey(1, 0.05)]
    system = MultitaskSystem(task, task.competitors[0], runs, data, cfg, method=method)
    refs = [_Reference(method, r.seed, r.lr, data[r.seed].num_features, cfg.hidden) for r in runs]
    active = torch.ones(2, dtype=torch.bool)
    gens = [torch.Generator().manual_seed(r.seed) for r in runs]
    n, moved = system.train_size, False
    for _ in range(3):  # epochs: DWA's weights start moving in the third
        perms = torch.stack([torch.randperm(n, generator=g) for g in gens])
        lsum, steps = [torch.zeros(2) for _ in refs], 0
        for start in range(0, n, 64):
            for i, ref in enumerate(refs):
                torch.testing.assert_close(
                    system.weights()[i], ref.weights().float(), rtol=1e-5, atol=1e-6
                )
                moved |= not torch.allclose(ref.weights(), torch.ones(2))
            idx = perms[:, start : start + 64]
            out = system.step(idx, active, lambda: torch.zeros(2))
            assert torch.isfinite(out.losses).all() and torch.isfinite(out.grad_norms).all()
            for i, ref in enumerate(refs):
                lsum[i] += torch.stack(
                    ref.step(data[runs[i].seed].x_train[idx[i]], data[runs[i].seed].y_train[idx[i]])
                )
            steps += 1
        with torch.no_grad():
            ev = system.evaluate(EpochStats(out.losses, out.grad_norms, steps))
        for i, ref in enumerate(refs):
            if method == "dwa":
                ref.weighting.end_epoch((lsum[i] / steps).tolist())
            for p, q in zip(system.model.parameters(), ref.model.parameters(), strict=True):
                torch.testing.assert_close(p[i], q[0], rtol=1e-4, atol=1e-5)
        assert len(ev.metric) == 2
    assert moved == (method not in ("equal", "pcgrad")), "the weights moved (or stayed at 1)"


def test_data_derived_loss_kwargs_are_each_models_own(multitask_data):
    # the pre-engine loop gave every run the kwargs derived from the FIRST run's split
    task, data = multitask_data
    smoothing = {id(data[0]): 0.0, id(data[1]): 0.3}
    comp = dataclasses.replace(
        task.competitors[0],
        label="CE, split-derived smoothing",
        data_kwargs=lambda ds: {"label_smoothing": smoothing[id(ds)]},
    )
    cfg = TrainConfig(epochs=2, batch_size=128, hidden=(16,))
    together = train_multitask("equal", task, comp, [RunKey(0, 0.01), RunKey(1, 0.01)], data, cfg)
    (alone,) = train_multitask("equal", task, comp, [RunKey(1, 0.01)], data, cfg)
    assert together[1].history["train_loss"] == pytest.approx(alone.history["train_loss"], rel=1e-5)
    (plain,) = train_multitask("equal", task, task.competitors[0], [RunKey(1, 0.01)], data, cfg)
    assert (
        alone.history["train_loss"][0] > plain.history["train_loss"][0] + 0.05
    )  # smoothing applied


def test_weighting_state_is_per_model_rows_the_checkpoint_restores(multitask_data):
    task, data = multitask_data
    runs = [RunKey(0, 0.01), RunKey(1, 0.01), RunKey(0, 0.05)]
    for method, state in (("uncertainty", "log_vars"), ("gradnorm", "log_w"), ("dwa", "dwa_hist")):
        system = MultitaskSystem(task, task.competitors[0], runs, data, TINY, method=method)
        params = system.parameters()
        assert any(p is getattr(system, state) for p in params), method
        for p in params:
            assert rows_of(p, 3).shape[0] == 3 and p.shape[0] == 3, (method, p.shape)


def test_stacked_projection_equals_project_conflicting_per_model():
    grads = torch.randn(4, 3, 7, generator=torch.Generator().manual_seed(0))
    grads[1, 2] = -grads[1, 0]  # an exactly opposite pair
    grads[2] = grads[2].abs()  # no conflict at all: unchanged
    seeds = (3, 4, 5, 6)
    orders = torch.stack([task_orders(torch.Generator().manual_seed(s), 3) for s in seeds])
    out = project_conflicting_stacked(grads, orders)
    for i, s in enumerate(seeds):
        want = project_conflicting(grads[i], generator=torch.Generator().manual_seed(s))
        torch.testing.assert_close(out[i], want)
    torch.testing.assert_close(out[2], grads[2])
    assert not torch.allclose(out[1], grads[1])


def test_compare_cli_multitask_writes_report(tmp_path):
    res = CliRunner().invoke(
        app,
        [
            "compare",
            "--task",
            "multitask",
            "--seeds",
            "2",
            "--epochs",
            "2",
            "--quiet",
            "--out",
            str(tmp_path),
            "--name",
            "mt",
        ],
        env={"COLUMNS": "200"},
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "mt" / "report.html").exists()
    assert "PCGrad" in (tmp_path / "mt" / "report.md").read_text()


def test_study_prefers_competitor_trainer():
    task = get_task("multitask")  # its task-level trainer must lose to the competitor's
    called = {}

    def fake(*args):
        called["args"] = args
        return []

    comp = dataclasses.replace(task.competitors[1], trainer=fake)
    mine = dataclasses.replace(task, competitors=(comp,))
    unit = study.Unit("multitask", comp.label, (RunKey(0, 0.01),), TINY)
    assert (
        study.execute(unit, study.StudyConfig(tasks=("multitask",)), tasks={"multitask": mine})
        == []
    )
    assert called["args"][1] is comp


def test_regression_adaptive_row_reports_learned_alpha():
    task = get_task("regression")
    comp = next(c for c in task.competitors if c.label.startswith("adaptive robust"))
    assert pickle.loads(pickle.dumps(comp)) == comp  # module-level trainer: works in the pool
    data = {s: task.load(s) for s in (0, 1)}
    results = comp.trainer(
        task,
        comp,
        [RunKey(0, 0.01), RunKey(1, 0.05)],
        data,
        TrainConfig(epochs=12, batch_size=64, hidden=(8,)),
    )
    lo, hi = ALPHA_RANGE
    for r in results:
        assert r.status == "finished"
        assert lo < r.metrics["learned_alpha"] < hi
        assert r.metrics["learned_scale"] > 0
        assert math.isfinite(r.metrics["rmse"]) and math.isfinite(r.metrics["mae"])
        assert len(r.history["alpha"]) == 12 and len(r.history["val_rmse"]) == 12
    # alpha starts at the middle of the range; once the fit is reasonable the outliers (10% of
    # targets) push it below the middle (with lr 0.05 within a dozen epochs)
    assert results[1].history["alpha"][-1] < 0.5 * (lo + hi)
