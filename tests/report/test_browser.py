"""report.html in a real headless Chromium: tables and figures visible, nothing fetched from outside
the file, no script run. Skipped when Chromium or the python playwright package is missing (CI
installs both; this test never downloads a browser)."""

from __future__ import annotations

import math
import shutil
from collections import Counter
from pathlib import Path

import pytest

from losslab.lab.store import Store
from losslab.lab.train import RunResult
from losslab.report.render import write_report

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="python package 'playwright' is not installed"
)
CHROMIUM = next(
    (
        p
        for p in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"))
        if p and Path(p).is_file()
    ),
    None,
)
if CHROMIUM is None:
    pytest.skip(
        "no Chromium at /usr/bin/chromium or on PATH: install the distribution's chromium "
        "package (this test never downloads a browser)",
        allow_module_level=True,
    )

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
XSS = "<script>alert(1)</script>"
#: as many metrics as the imbalanced task records: the verdict must still be in view at 1280 px
BINARY_METRICS = [
    "accuracy",
    "recall",
    "precision",
    "fpr",
    "f1",
    "roc_auc",
    "pr_auc",
    "balanced_accuracy",
    "average_precision",
]
TASKS = {
    "cls": ("binary", "accuracy", ["plain", XSS, "third"]),
    "reg": ("regression", "rmse", ["MSE", "MAE"]),
}


def _result(task: str, label: str, seed: int, lr: float) -> RunResult:
    kind, primary, _ = TASKS[task]
    value = 0.8 + 0.02 * seed + 0.01 * len(label) * lr
    hist = {
        "train_loss": [1.0, 0.6, 0.5],
        "val_loss": [1.1, 0.8, 0.7 + 0.05 * seed],
        f"val_{primary}": [value - 0.1, value - 0.05, value],
        "grad_norm": [1.0, 0.8, 0.9],
    }
    if task == "reg" and label == "MSE" and lr == 0.1 and seed == 0:
        return RunResult(
            task,
            label,
            "mse_loss",
            seed,
            lr,
            "diverged",
            2,
            1,
            diverged_epoch=2,
            history={k: [v[0], math.nan] for k, v in hist.items()},
        )
    metrics = {
        primary: value,
        "epochs_to_converge": 2.0,
        "generalization_gap": 0.1,
        "overfitting": 0.0,
        "grad_norm_median": 0.9,
        "grad_norm_max": 1.0,
    }
    if kind == "binary":
        for i, m in enumerate(BINARY_METRICS[1:]):
            metrics[m] = value - 0.01 * i
    return RunResult(
        task, label, "mse_loss", seed, lr, "finished", 3, 3, history=hist, metrics=metrics
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    with Store(root / "results.sqlite") as st:
        st.set_meta("tasks", list(TASKS))
        st.set_meta(
            "task_info",
            {
                name: {
                    "kind": kind,
                    "description": f"task {name} & co",
                    "primary": primary,
                    "metrics": BINARY_METRICS if kind == "binary" else [primary],
                    "higher_is_better": kind == "binary",
                    "epochs": 3,
                    "competitors": [
                        {"label": c, "loss": "mse_loss", "kwargs": {}, "note": ""} for c in comps
                    ],
                }
                for name, (kind, primary, comps) in TASKS.items()
            },
        )
        for name, (_, _, comps) in TASKS.items():
            for label in comps:
                for lr in (0.01, 0.1):
                    for seed in range(3):
                        st.add_run(_result(name, label, seed, lr))
        competitors = Counter(t for t, _ in {(r["task"], r["competitor"]) for r in st.runs()})
        paths = write_report(st, root / "out")
    return paths["html"], competitors


@pytest.fixture(scope="module")
def page(report):
    html, _ = report
    requests: list[str] = []
    dialogs: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            pg = browser.new_page(viewport={"width": 1280, "height": 900})
            pg.on("request", lambda r: requests.append(r.url))
            pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            pg.goto(html.resolve().as_uri(), wait_until="load")
            yield pg, requests, dialogs
        finally:
            browser.close()


def test_main_tables_are_visible_with_one_row_per_competitor(page, report):
    pg, _, _ = page
    _, competitors = report
    for task, n in competitors.items():
        table = pg.locator(f'table.main[data-task="{task}"]')
        assert table.is_visible()
        assert table.locator("tbody tr").count() == n
    assert pg.locator("table.by-lr").count() == 2  # two learning rates in both tasks
    assert pg.locator("table.rates").count() == 1  # only the binary task


def test_user_text_is_shown_as_text_and_never_run(page):
    pg, _, dialogs = page
    assert pg.locator('table.main[data-task="cls"] td.label', has_text=XSS).count() == 1
    assert dialogs == []
    assert pg.locator("script").count() == 0


def test_svg_figures_are_drawn(page):
    pg, _, _ = page
    svgs = pg.locator("figure svg")
    assert svgs.count() == 10  # 5 per task: metric, lr, curves, validation metric, competing losses
    for i in range(svgs.count()):
        box = svgs.nth(i).bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 50


def test_nothing_is_fetched_from_outside_the_file(page, report):
    _, requests, _ = page
    html, _ = report
    assert requests, "the page load itself should be recorded"
    outside = [u for u in requests if not u.startswith(("file:", "data:"))]
    assert outside == []
    assert requests[0] == html.resolve().as_uri()


def test_summary_comes_first_with_a_recommendation_per_task(page):
    pg, _, _ = page
    summary = pg.locator("section.summary")
    assert summary.is_visible()
    first_task = pg.locator("section.task").first
    assert summary.bounding_box()["y"] < first_task.bounding_box()["y"]
    rows = summary.locator("table.recs tbody tr")
    assert rows.count() == len(TASKS)
    for i in range(rows.count()):
        assert rows.nth(i).locator("td.rec").inner_text().strip() not in ("", "none")
    assert "Holm" in summary.inner_text()  # the rule is stated


def test_verdict_cells_are_in_view_at_1280_pixels_without_scrolling_sideways(page):
    pg, _, _ = page
    cells = pg.locator("table.main td.verdict")
    assert cells.count() == 5
    for i in range(cells.count()):
        cell = cells.nth(i)  # not scrolled into view: its x is where the reader sees it
        box = cell.bounding_box()
        assert box is not None and box["width"] > 20
        assert 0 <= box["x"] and box["x"] + box["width"] <= 1280, box
    # the page itself never scrolls sideways, and no verdict was pushed out of its table's box
    assert pg.evaluate("document.documentElement.scrollWidth") <= 1280
    assert pg.evaluate("window.scrollX") == 0


def test_recommendations_fit_a_narrow_window(page):
    pg, _, _ = page
    pg.set_viewport_size({"width": 800, "height": 900})
    try:
        table_width = pg.evaluate("document.querySelector('table.recs').scrollWidth")
        room = pg.evaluate("document.querySelector('table.recs').parentElement.clientWidth")
        assert table_width <= room  # wraps, never scrolls sideways
    finally:
        pg.set_viewport_size({"width": 1280, "height": 900})
