"""The segmentation lab tasks: deterministic data, metrics, batched training, the CLI end to end."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from losslab._data_sources import SOURCES
from losslab.cli import app
from losslab.lab import tasks as T
from losslab.lab import tasks_segmentation as S
from losslab.lab.data import DataUnavailable
from losslab.lab.train import RunKey, TrainConfig

TINY = dict(n_train=16, n_val=8, n_test=8)


def test_synthetic_shapes_are_deterministic_imbalanced_and_have_empty_masks():
    a, b = S.synthetic_shapes(3), S.synthetic_shapes(3)
    for attr in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        assert torch.equal(getattr(a, attr), getattr(b, attr)), attr
    assert not torch.equal(a.x_train, S.synthetic_shapes(4).x_train)
    assert a.x_train.shape == (S.N_TRAIN, 1, S.SIZE, S.SIZE) and a.y_train.shape == (
        S.N_TRAIN,
        S.SIZE,
        S.SIZE,
    )
    assert a.num_classes == 3 and a.y_train.dtype == torch.long
    empty = a.y_train.flatten(1).amax(1) == 0
    assert 0.1 < empty.double().mean() < 0.35  # about 20% empty masks
    freq = torch.bincount(a.y_train.flatten(), minlength=3).double() / a.y_train.numel()
    assert freq[0] > 0.85 and freq[2] < freq[1] < 0.1  # background dominates; class 2 is rare
    assert a.meta["image_shape"] == (1, S.SIZE, S.SIZE)


def test_metrics_match_a_hand_computation():
    # 1 image, 2x4 pixels, classes 0-2
    target = torch.tensor([[0, 1, 1, 2], [0, 0, 1, 2]])
    pred = torch.tensor([[0, 1, 2, 2], [1, 0, 1, 0]])
    # class 1: tp = 2 (pixels (0,1), (1,2)), fp = 1 ((1,0)), fn = 1 ((0,2)) -> Dice 4/6, IoU 2/4
    # class 2: tp = 1 ((0,3)), fp = 1 ((0,2)), fn = 1 ((1,3))              -> Dice 2/4, IoU 1/3
    got = S.segmentation_metrics(pred, target, 3)
    assert got["dice"] == pytest.approx((4 / 6 + 2 / 4) / 2)
    assert got["iou"] == pytest.approx((2 / 4 + 1 / 3) / 2)
    # a foreground class absent from both prediction and target counts as perfect (zero_division=1)
    assert S.segmentation_metrics(
        torch.zeros(2, 2, dtype=torch.long), torch.zeros(2, 2, dtype=torch.long), 2
    ) == {"dice": 1.0, "iou": 1.0}
    # one-logit heads predict the foreground where the logit is positive
    z = torch.tensor([[[[0.5, -0.5]]]])
    assert torch.equal(S.predicted_labels(z), torch.tensor([[[1, 0]]]))


@pytest.fixture(scope="module")
def tiny():
    task = T.get_task("segmentation")
    return task, {s: S.synthetic_shapes(s, **TINY) for s in range(2)}


@pytest.mark.parametrize("label", ["Dice + CE", "Lovász-Softmax"])
def test_batched_training_equals_training_alone(tiny, label):
    task, data = tiny
    comp = next(c for c in task.competitors if c.label == label)
    cfg = TrainConfig(epochs=2, batch_size=task.batch_size)
    both = task.trainer(task, comp, [RunKey(0, 0.01), RunKey(1, 0.01)], data, cfg)
    alone = task.trainer(task, comp, [RunKey(1, 0.01)], data, cfg)[0]
    res = both[1]
    assert res.status == "finished" and res.seed == 1
    for key in ("train_loss", "val_loss", "val_dice", "grad_norm"):
        assert len(res.history[key]) == 2
        np.testing.assert_allclose(res.history[key], alone.history[key], rtol=1e-4, atol=1e-6)
    for key in (
        "dice",
        "iou",
        "epochs_to_converge",
        "generalization_gap",
        "overfitting",
        "grad_norm_median",
        "grad_norm_max",
    ):
        assert math.isfinite(res.metrics[key]), key
        assert res.metrics[key] == pytest.approx(alone.metrics[key], rel=1e-4, abs=1e-6), key
    assert (
        0.0 <= res.metrics["dice"] <= 1.0
        and 0.0 <= res.metrics["iou"] <= res.metrics["dice"] + 1e-9
    )


def test_every_default_competitor_trains(tiny):
    task, data = tiny
    for comp in task.competitors:
        (res,) = task.trainer(
            task, comp, [RunKey(0, 0.01)], data, TrainConfig(epochs=1, batch_size=8)
        )
        assert res.status == "finished", comp.label
        assert math.isfinite(res.metrics["dice"]) and math.isfinite(res.metrics["iou"])


def test_nuclei_task_reads_tiff_files_and_says_how_to_install(tmp_path, monkeypatch):
    from PIL import Image

    rng = np.random.default_rng(0)
    mask = np.zeros((48, 48), dtype=np.uint16)
    mask[5:15, 5:15], mask[30:40, 20:28] = 1, 2  # instance labels
    img = (20 + 100 * (mask > 0) + rng.integers(0, 10, size=(48, 48))).astype(np.uint16)
    Image.fromarray(img).save(tmp_path / "img2d.tif")
    Image.fromarray(mask).save(tmp_path / "mask2d.tif")
    ds = S.nuclei_tiles(0, folder=tmp_path)
    assert (
        ds.num_classes == 2 and len(ds.x_train) + len(ds.x_val) + len(ds.x_test) == 4
    )  # 2x2 tiles
    assert set(
        torch.unique(
            torch.cat([ds.y_train.flatten(), ds.y_val.flatten(), ds.y_test.flatten()])
        ).tolist()
    ) <= {0, 1}
    task = T.get_task("segmentation-nuclei")
    assert task.optional
    hinge = next(c for c in task.competitors if c.loss == "lovasz_hinge_loss")
    (res,) = task.trainer(
        task, hinge, [RunKey(0, 0.01)], {0: ds}, TrainConfig(epochs=1, batch_size=8)
    )
    assert math.isfinite(res.metrics["dice"])

    monkeypatch.setitem(
        SOURCES, "stardist", dataclasses.replace(SOURCES["stardist"], locate=lambda: None)
    )
    with pytest.raises(DataUnavailable, match="pip install --no-deps stardist"):
        S.nuclei_tiles(0)


def test_compare_cli_runs_the_segmentation_task(tmp_path):
    res = CliRunner().invoke(
        app,
        [
            "compare",
            "--task",
            "segmentation",
            "--seeds",
            "2",
            "--epochs",
            "2",
            "--quiet",
            "--out",
            str(tmp_path),
            "--name",
            "seg",
        ],
        env={"COLUMNS": "200"},
    )
    assert res.exit_code == 0, res.output
    folder = tmp_path / "seg"
    assert (folder / "report.html").exists()
    text = (folder / "report.md").read_text().lower()
    for label in ("dice + ce", "lovász-softmax", "dice", "iou"):  # metric labels may be capitalised
        assert label in text, label


def test_early_stopped_model_in_a_stack_records_only_its_own_epochs(tiny):
    """Issue 11: with early stopping, a stacked segmentation run kept recording epochs (gradient
    norm 0.0) after it had stopped; its epochs and gradient statistics must be those of the run alone."""
    task, data = tiny
    data = {**data, 2: S.synthetic_shapes(2, **TINY)}
    comp = next(c for c in task.competitors if c.label == "Dice")
    cfg = TrainConfig(epochs=6, batch_size=task.batch_size, early_stopping=1)
    keys = [RunKey(s, 0.01) for s in range(3)]
    stacked = task.trainer(task, comp, keys, data, cfg)
    assert len({r.epochs_run for r in stacked}) > 1  # the runs stop at different epochs
    for key, res in zip(keys, stacked):
        (alone,) = task.trainer(task, comp, [key], data, cfg)
        assert res.epochs_run == alone.epochs_run == len(res.history["grad_norm"]) < cfg.epochs + 1
        assert all(g > 0 for g in res.history["grad_norm"])
        np.testing.assert_allclose(
            res.history["grad_norm"], alone.history["grad_norm"], rtol=1e-4, atol=1e-6
        )
        assert res.metrics["grad_norm_median"] == pytest.approx(
            alone.metrics["grad_norm_median"], rel=1e-4
        )
