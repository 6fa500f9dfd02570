"""The precision-recall figure: built from the stored curves, labelled axes, chance level, Okabe–Ito
colours; written with the report and embedded in the HTML page; absent where no curve is stored."""

from __future__ import annotations

from losslab.lab.store import Store
from losslab.lab.train import RunResult
from losslab.report.plots import PALETTE, pr_curves_svg
from losslab.report.render import write_report
from losslab.report.tables import build_report

CURVE = {
    "A": [(0.0, 1.0), (0.5, 0.9), (1.0, 0.5)],
    "B": [(0.0, 1.0), (0.5, 0.6), (1.0, 0.3)],
}


def _run(label: str, seed: int, curves: bool = True) -> RunResult:
    return RunResult(
        "imb",
        label,
        "binary_cross_entropy_with_logits",
        seed,
        0.01,
        "finished",
        epochs_run=2,
        best_epoch=2,
        history={
            "train_loss": [0.6, 0.4],
            "val_loss": [0.7, 0.5],
            "val_f1": [0.8, 0.9],
            "grad_norm": [1.0, 0.5],
        },
        metrics={"f1": 0.8 + seed / 100, "average_precision": 0.7},
        curves={"pr": [(x, y - seed / 100) for x, y in CURVE[label]]} if curves else {},
    )


def _store(path, curves: bool = True) -> Store:
    st = Store(path)
    st.set_meta("config", {"lrs": [0.01]})
    st.set_meta("tasks", ["imb"])
    info = {
        "kind": "imbalanced",
        "description": "d",
        "metrics": ["f1", "average_precision"],
        "primary": "f1",
        "higher_is_better": True,
        "test_size": 100,
        "test_positives": 10,
        "competitors": [
            {"label": "A", "loss": "binary_cross_entropy_with_logits", "kwargs": {}, "note": ""},
            {"label": "B", "loss": "binary_cross_entropy_with_logits", "kwargs": {}, "note": ""},
        ],
    }
    st.set_meta("task_info", {"imb": info})
    for label in CURVE:
        for seed in (0, 1):
            st.add_run(_run(label, seed, curves))
    return st


def test_the_figure_shows_each_competitors_curves_and_the_chance_level(tmp_path):
    with _store(tmp_path / "s.sqlite") as st:
        (task,) = build_report(st).tasks
        svg = pr_curves_svg(task, st.test_curves("pr"), 0.1)
    assert svg is not None and svg.startswith("<svg")
    assert ">recall<" in svg and ">precision<" in svg  # labelled axes, kept as SVG text
    assert "chance: positive rate 0.10" in svg
    assert "A (mean of 2 seeds)" in svg and "B (mean of 2 seeds)" in svg
    assert PALETTE[0].lower() in svg.lower() and PALETTE[1].lower() in svg.lower()
    assert "stroke-dasharray" in svg  # the dashed chance line


def test_no_figure_without_stored_curves(tmp_path):
    with _store(tmp_path / "s.sqlite", curves=False) as st:
        (task,) = build_report(st).tasks
        assert pr_curves_svg(task, st.test_curves("pr"), 0.1) is None
        paths = write_report(st, tmp_path / "out")
    assert not list(paths["plots"].glob("*pr_curve*"))
    assert "Precision-recall curves (test)" not in paths["html"].read_text(encoding="utf-8")


def test_the_report_embeds_the_figure(tmp_path):
    with _store(tmp_path / "s.sqlite") as st:
        paths = write_report(st, tmp_path / "out")
    html = paths["html"].read_text(encoding="utf-8")
    assert "Precision-recall curves (test)" in html and "chance: positive rate 0.10" in html
    assert [p.name for p in paths["plots"].glob("*pr_curve*")] == ["01-imb-pr_curve.svg"]
    md = paths["markdown"].read_text(encoding="utf-8")
    assert "![test precision-recall curves](plots/01-imb-pr_curve.svg)" in md
