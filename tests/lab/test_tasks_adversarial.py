"""The "adversarial" lab task: data in pixel units, the trainer's metrics, curves and flags.

(The generic tests/lab/test_stacked_equals_alone.py covers every competitor of the task.)
"""

from __future__ import annotations

import dataclasses
import pickle

import torch

from losslab.adversarial import collapse_epoch
from losslab.lab import tasks as T
from losslab.lab.stats import higher_is_better, metric_range
from losslab.lab.systems.adversarial import EPS, EPS_GRID
from losslab.lab.tasks_adversarial import CURVE, AdversarialTrainer, digits_pixels
from losslab.lab.train import RunKey, TrainConfig


def test_pixels_stay_in_the_unit_range_and_the_split_is_the_labs():
    ds = digits_pixels(0)
    for x in (ds.x_train, ds.x_val, ds.x_test):
        assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert ds.num_features == 64 and ds.num_classes == 10
    # grey levels 0..16 scaled by 1/16: every value is a multiple of 1/16
    assert torch.equal(ds.x_train * 16, (ds.x_train * 16).round())
    assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == 1797
    assert not torch.equal(digits_pixels(1).y_test, ds.y_test)


def test_task_declares_the_recipes_and_metrics():
    task = T.get_task("adversarial")
    assert task.primary == "robust_accuracy" and task.higher_is_better
    labels = [c.label for c in task.competitors]
    assert labels == [
        "CE (no attack)",
        "PGD-AT",
        "TRADES (beta=1)",
        "TRADES (beta=6)",
        "MART (beta=6)",
        "fast FGSM",
    ]
    methods = [c.trainer.method for c in task.competitors]
    assert methods == [None, "pgd_at", "trades", "trades", "mart", "fast_fgsm"]
    assert [c.kwargs.get("beta") for c in task.competitors[2:5]] == [1.0, 6.0, 6.0]
    for m in ("robust_accuracy", "clean_accuracy", "collapsed"):
        assert metric_range(m) == (0.0, 1.0)
    assert not higher_is_better("collapsed") and not higher_is_better("passes_per_step")
    assert pickle.loads(pickle.dumps(AdversarialTrainer("trades"))) == AdversarialTrainer("trades")


def _small(seed):
    ds = digits_pixels(seed)
    return dataclasses.replace(
        ds,
        x_train=ds.x_train[:256],
        y_train=ds.y_train[:256],
        x_val=ds.x_val[:96],
        y_val=ds.y_val[:96],
        x_test=ds.x_test[:96],
        y_test=ds.y_test[:96],
    )


def test_a_short_run_reports_clean_robust_cost_curve_and_flag():
    torch.set_num_threads(1)
    task = T.get_task("adversarial")
    data = {s: _small(s) for s in (0, 1)}
    cfg = TrainConfig(epochs=3, batch_size=64, hidden=(32,))
    keys = [RunKey(0, 0.01), RunKey(1, 0.01)]
    by_label = {c.label: c for c in task.competitors}
    passes = {"CE (no attack)": 1.0, "TRADES (beta=6)": 6.0, "fast FGSM": 2.0}
    for label, want_passes in passes.items():
        comp = by_label[label]
        for res in comp.trainer(task, comp, keys, data, cfg):
            m = res.metrics
            assert res.status == "finished"
            assert m["passes_per_step"] == want_passes
            assert 0.0 <= m["robust_accuracy"] <= m["clean_accuracy"] <= 1.0
            assert m["clean_accuracy"] > 0.3  # it learned something in 3 epochs
            monitor = res.history["val_robust_accuracy"]
            assert len(monitor) == res.epochs_run == 3
            assert m["collapsed"] == float(collapse_epoch(monitor) is not None)
            curve = res.curves[CURVE]
            assert [e for e, _ in curve] == list(EPS_GRID)
            assert curve[0][1] == m["clean_accuracy"]  # eps = 0: the clean accuracy
            accs = [a for _, a in curve]
            assert accs[-1] < accs[0]  # a larger radius hurts
            # the curve's PGD-10 at eps is weaker than the test attack (PGD-20, 3 restarts)
            at_eps = dict(curve)[EPS]
            assert m["robust_accuracy"] <= at_eps + 1e-12


def test_a_study_report_shows_the_eps_curve_and_the_tradeoff(tmp_path):
    from losslab.lab.store import Store
    from losslab.lab.study import StudyConfig, start_study
    from losslab.report.render import write_report

    torch.set_num_threads(1)
    cfg = StudyConfig(
        tasks=("adversarial",), losses=("cross_entropy", "trades_loss"), seeds=2, epochs=1
    )
    folder = start_study(cfg, tmp_path / "s")
    store = Store(folder / "results.sqlite")
    try:
        points = store.test_curves(CURVE)
        assert len(points) == 2 * 2 * len(EPS_GRID)  # 2 losses x 2 seeds x the radii
        paths = write_report(store, tmp_path / "report")
    finally:
        store.close()
    md = paths["markdown"].read_text()
    for kind in ("robust_vs_eps", "tradeoff"):
        svg = paths["plots"] / f"01-adversarial-{kind}.svg"
        assert svg.exists() and "<svg" in svg.read_text()
        assert f"01-adversarial-{kind}.svg" in md
    html = paths["html"].read_text()
    assert "Accuracy under attack vs epsilon (test)" in html
    assert "Clean vs robust accuracy (test)" in html


def test_fashion_variant_keeps_pixels_in_the_unit_range():
    import pytest

    from losslab.lab.data import DataUnavailable
    from losslab.lab.tasks_adversarial import FASHION_SIZES, fashion_pixels

    try:
        ds = fashion_pixels(0)
    except DataUnavailable as exc:
        pytest.skip(str(exc))
    assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == sum(FASHION_SIZES)
    assert len(ds.y_test) == FASHION_SIZES[1] and ds.num_features == 784
    assert float(ds.x_train.min()) >= 0.0 and float(ds.x_train.max()) <= 1.0
    task = T.get_task("adversarial-fashion")
    assert task.optional and task.source == "fashion-mnist"
    assert task.competitors == T.get_task("adversarial").competitors


def test_the_cnn_option_trains_adversarially():
    torch.set_num_threads(1)
    task = T.get_task("adversarial")
    comp = next(c for c in task.competitors if c.label == "PGD-AT")
    cfg = TrainConfig(epochs=1, batch_size=64, hidden=(32,), architecture="cnn")
    (res,) = comp.trainer(task, comp, [RunKey(0, 0.01)], {0: _small(0)}, cfg)
    assert res.status == "finished"
    assert 0.0 <= res.metrics["robust_accuracy"] <= res.metrics["clean_accuracy"]
    assert len(res.curves[CURVE]) == len(EPS_GRID)
