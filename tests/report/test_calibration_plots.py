"""Reliability diagrams and PIT histograms: drawn from the stored test curves, in the reports."""

from __future__ import annotations

from types import SimpleNamespace

from losslab.lab import StudyConfig, start_study
from losslab.lab.store import Store
from losslab.report.plots import calibration_svg
from losslab.report.render import write_report


def _task(*rows):
    return SimpleNamespace(
        name="t", main=[SimpleNamespace(label=label, run_ids=ids) for label, ids in rows]
    )


def _points(run_id, curve, xy):
    return [
        {"run_id": run_id, "curve": curve, "idx": k, "x": x, "y": y} for k, (x, y) in enumerate(xy)
    ]


def test_calibration_svg_draws_each_competitor_with_stored_curves_only():
    task = _task(("CE", (1, 2)), ("focal", (3,)))
    pts = _points(1, "reliability", [(0.5, 0.4), (0.9, 0.95)]) + _points(
        2, "reliability", [(0.6, 0.7)]
    )
    svg = calibration_svg(task, pts, "reliability")
    assert svg is not None and svg.startswith("<svg") and "CE (2 seeds)" in svg
    assert "focal" not in svg and "confidence" in svg
    assert calibration_svg(task, pts, "pit") is None  # no run stored a PIT histogram
    pit = _points(3, "pit", [(0.25, 0.4), (0.75, 0.6)])
    svg = calibration_svg(task, pit, "pit")
    assert svg is not None and "focal (1 seed)" in svg and "PIT value" in svg


def test_reports_show_the_reliability_diagrams_and_pit_histograms(tmp_path):
    cfg = StudyConfig(tasks=("uncertainty", "calibration"), seeds=1, epochs=1)
    folder = start_study(cfg, tmp_path / "study")
    paths = write_report(Store(folder / "results.sqlite"), tmp_path / "out")
    md = paths["markdown"].read_text()
    html = paths["html"].read_text()
    for title in ("Reliability diagrams (test)", "PIT histograms (test)"):
        assert f"### {title}" in md and f"<h3>{title}</h3>" in html
    svgs = sorted(p.name for p in paths["plots"].iterdir())
    assert "01-uncertainty-pit.svg" in svgs and "02-calibration-reliability.svg" in svgs
    assert "01-uncertainty-reliability.svg" not in svgs
