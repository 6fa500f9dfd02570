"""Exporters read the store and write what it holds (skipped when the optional package is absent)."""

from __future__ import annotations

import pytest

from losslab.lab.store import Store
from losslab.lab.train import RunResult


def _store(tmp_path) -> Store:
    st = Store(tmp_path / "results.sqlite")
    for seed in range(2):
        st.add_run(
            RunResult(
                "binary",
                "BCE <odd/label>",
                "binary_cross_entropy_with_logits",
                seed,
                0.01,
                "finished",
                epochs_run=3,
                best_epoch=3,
                history={"train_loss": [0.6, 0.5, 0.4], "val_loss": [0.7, 0.6, 0.5]},
                metrics={"accuracy": 0.8 + seed / 10},
            )
        )
    return st


def test_tensorboard_export(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from losslab.lab.export import export_tensorboard

    with _store(tmp_path) as st:
        assert len(export_tensorboard(st, tmp_path / "tb")) == 2
        assert export_tensorboard(st, tmp_path / "tb2", skip=[1, 2]) == []
    run_dir = next((tmp_path / "tb").glob("binary/*/seed1_lr0.01"))
    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    assert [e.value for e in acc.Scalars("val/loss")] == pytest.approx([0.7, 0.6, 0.5])
    assert acc.Scalars("final/test/accuracy")[0].value == pytest.approx(0.9)


def test_mlflow_export(tmp_path):
    mlflow = pytest.importorskip("mlflow")
    from losslab.lab.export import export_mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with _store(tmp_path) as st:
        assert len(export_mlflow(st, uri, experiment="losslab/test")) == 2
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["losslab/test"], output_format="list")
    assert len(runs) == 2
    accs = sorted(r.data.metrics["final_test_accuracy"] for r in runs)
    assert accs == pytest.approx([0.8, 0.9])
    assert {r.data.params["competitor"] for r in runs} == {"BCE <odd/label>"}


def test_missing_package_gives_clear_error(tmp_path, monkeypatch):
    import builtins

    from losslab.lab import export

    real_import = builtins.__import__

    def no_mlflow(name, *a, **k):
        if name == "mlflow":
            raise ImportError("no mlflow here")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_mlflow)
    with (
        _store(tmp_path) as st,
        pytest.raises(export.ExportError, match="pip install mlflow-skinny"),
    ):
        export.export_mlflow(st, "file:///nowhere", "x")
