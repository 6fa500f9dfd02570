"""write_report: the files, their contents against the store, escaping of user text, determinism."""

from __future__ import annotations

import csv
import math
import re

import pytest
from rich.console import Console

from losslab.lab.store import Store
from losslab.lab.train import RunResult
from losslab.report.render import (
    CURVES_COLUMNS,
    RESULTS_FIXED,
    md_escape,
    print_summary,
    write_report,
)
from losslab.report.tables import build_report

XSS = "<script>alert(1)</script>"
DESCRIPTION = "R&D data <b>not bold</b>"
COMPETITORS = {"plain": "mse_loss", XSS: "custom<loss>", "cost $5 | [x]": "l1_loss"}
METRICS = ["accuracy", "recall"]


def _result(label: str, seed: int, lr: float, diverged: bool = False) -> RunResult:
    hist = {
        "train_loss": [1.0, 0.5, 0.4],
        "val_loss": [1.1, 0.7, 0.6 + seed / 10],
        "val_accuracy": [0.6, 0.7, 0.8],
        "grad_norm": [1.0, 0.8, 0.7],
    }
    if diverged:
        hist = {k: [v[0], math.nan] for k, v in hist.items()}
        return RunResult(
            "t&1",
            label,
            COMPETITORS[label],
            seed,
            lr,
            "diverged",
            2,
            1,
            history=hist,
            diverged_epoch=2,
        )
    acc = 0.8 + 0.01 * seed + (0.05 if label == "plain" else 0.0)
    metrics = {
        "accuracy": acc,
        "recall": acc - 0.1,
        "epochs_to_converge": 2.0,
        "generalization_gap": 0.2,
        "overfitting": 0.0,
        "grad_norm_median": 0.8,
        "grad_norm_max": 1.0,
    }
    return RunResult(
        "t&1", label, COMPETITORS[label], seed, lr, "finished", 3, 3, history=hist, metrics=metrics
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    with Store(tmp_path_factory.mktemp("study") / "results.sqlite") as st:
        st.set_meta("config", {"lrs": [0.01, 0.1], "optimizer": "adam", "early_stopping": None})
        st.set_meta("created", "2026-01-01T00:00:00+00:00")
        st.set_meta("tasks", ["t&1"])
        st.set_meta(
            "task_info",
            {
                "t&1": {
                    "kind": "binary",
                    "description": DESCRIPTION,
                    "metrics": METRICS,
                    "primary": "accuracy",
                    "higher_is_better": True,
                    "epochs": 3,
                    "convergence_rule": "rule <one>",
                    "overfit_rule": "rule two",
                    "competitors": [
                        {"label": k, "loss": v, "kwargs": {}, "note": ""}
                        for k, v in COMPETITORS.items()
                    ],
                }
            },
        )
        st.set_meta("skipped", {"<big>": "needs a download & a <licence>"})
        for label in COMPETITORS:
            for lr in (0.01, 0.1):
                for seed in range(3):
                    st.add_run(
                        _result(
                            label, seed, lr, diverged=label == "plain" and lr == 0.1 and seed == 2
                        )
                    )
        yield st


@pytest.fixture(scope="module")
def written(store, tmp_path_factory):
    return write_report(store, tmp_path_factory.mktemp("report"))


def _read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_every_file_is_written(written):
    for key in ("markdown", "html", "results", "curves"):
        assert written[key].is_file() and written[key].stat().st_size > 0
    svgs = sorted(p.name for p in written["plots"].glob("*.svg"))
    assert svgs == [
        "01-t-1-curves.svg",
        "01-t-1-loss_curves.svg",
        "01-t-1-lr.svg",
        "01-t-1-metric.svg",
        "01-t-1-val_metric.svg",
    ]  # loss_curves: the competing losses (losslab plot)


def test_results_csv_has_one_row_per_run_matching_the_store(store, written):
    rows = _read_csv(written["results"])
    header, body = rows[0], rows[1:]
    assert header == [
        *RESULTS_FIXED,
        *METRICS,
        "epochs_to_converge",
        "generalization_gap",
        "overfitting",
        "grad_norm_median",
        "grad_norm_max",
    ]
    runs = store.runs()
    assert len(body) == len(runs)
    finals = {(m["run_id"], m["name"]): m["value"] for m in store.final_metrics()}
    for line, run in zip(body, runs, strict=True):
        rec = dict(zip(header, line, strict=True))
        assert int(rec["run_id"]) == run["run_id"]
        assert rec["competitor"] == run["competitor"] and rec["loss"] == run["loss"]
        assert float(rec["lr"]) == run["lr"] and int(rec["seed"]) == run["seed"]
        assert rec["status"] == run["status"]
        for name in header[len(RESULTS_FIXED) :]:
            stored = finals.get((run["run_id"], name))
            assert rec[name] == ("" if stored is None else repr(stored)), (run["run_id"], name)
    assert sum(r[RESULTS_FIXED.index("status")] == "diverged" for r in body) == 1


def test_curves_csv_is_the_long_table_of_the_store(store, written):
    rows = _read_csv(written["curves"])
    assert tuple(rows[0]) == CURVES_COLUMNS
    stored = store.curves()
    assert len(rows) - 1 == len(stored)
    first = dict(zip(CURVES_COLUMNS, rows[1], strict=True))
    assert int(first["run_id"]) == stored[0]["run_id"]
    assert first["metric"] == stored[0]["name"] and float(first["value"]) == stored[0]["value"]
    assert {r[5] for r in rows[1:]} == {"train", "val"}
    assert any(r[-1] == "" for r in rows[1:])  # the diverged run's NaN epoch, as an empty cell


def test_markdown_has_the_tables(written):
    md = written["markdown"].read_text(encoding="utf-8")
    for heading in (
        "## t&amp;1 (binary)",
        "### Loss × metrics (test set)",
        "### Loss × learning rate (test accuracy)",
        "### Convergence and overfitting",
        "### Rates at the decision threshold (test set)",
        "## Skipped tasks",
    ):
        assert heading in md
    # the recommendation first, then the tables
    assert md.index("## Which loss to use") < md.index("### Loss × metrics (test set)")
    header = (
        "| loss | function | lr | accuracy | Δ vs best (95% CI) | verdict | recall (TPR) | runs "
        "| diverged |"
    )
    assert header in md
    assert "| plain | `mse_loss` | 0.01 | **0.860 ± 0.025** | – | best |" in md
    assert "| lr 0.01 | lr 0.1 |" in md.replace("| loss ", "")
    assert "(1 of 3 diverged)" in md
    assert "![test accuracy per loss](plots/01-t-1-metric.svg)" in md
    assert "rule &lt;one&gt;" in md
    # user text is escaped: no raw HTML, no broken table cells
    assert XSS not in md and "&lt;script&gt;alert(1)&lt;/script&gt;" in md
    assert r"cost $5 \| \[x\]" in md


def test_md_escape():
    assert md_escape("a|b *c* <d> & e_f\nnext") == r"a\|b \*c\* &lt;d&gt; &amp; e\_f next"


def test_html_escapes_user_text(written):
    html = written["html"].read_text(encoding="utf-8")
    assert XSS not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html.lower()  # the page has no script at all
    assert "R&amp;D data &lt;b&gt;not bold&lt;/b&gt;" in html and DESCRIPTION not in html
    assert "custom&lt;loss&gt;" in html and "custom<loss>" not in html
    assert "&lt;big&gt;" in html and "needs a download &amp; a &lt;licence&gt;" in html
    assert "t&amp;1" in html


def test_html_is_self_contained(written):
    html = written["html"].read_text(encoding="utf-8")
    assert "<link" not in html and "@import" not in html and "@font-face" not in html
    assert not re.search(r"""\b(?:src|href)\s*=\s*["']?(?!#)[a-z]+:""", html, re.I)
    assert not re.search(r"url\((?!#)", html)
    assert html.count("<svg") == 5  # four study figures and the competing losses' curves
    assert "<?xml" not in html


def test_html_cells_name_their_runs(store, written):
    html = written["html"].read_text(encoding="utf-8")
    ids = [r["run_id"] for r in store.runs() if r["competitor"] == "plain" and r["lr"] == 0.01]
    assert f'title="runs {", ".join(map(str, ids))}"' in html


def test_svg_ids_are_unique_in_the_page(written):
    html = written["html"].read_text(encoding="utf-8")
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))


def test_report_is_deterministic(store, written, tmp_path):
    a = written
    b = write_report(store, tmp_path / "again")
    for key in ("markdown", "html", "results", "curves"):
        assert a[key].read_bytes() == b[key].read_bytes(), key


def test_print_summary_shows_the_main_table_without_reading_markup(store):
    console = Console(record=True, width=220, color_system=None)
    print_summary(build_report(store), console)
    out = console.export_text()
    assert "R&D data <b>not bold</b>" in out
    assert XSS in out and "cost $5 | [x]" in out  # rich markup in labels printed literally
    assert "best" in out and "Δ vs best" in out
    assert "skipped <big>: needs a download & a <licence>" in out
    # the recommendation comes first, before any table
    assert out.index("Recommendations") < out.index("R&D data <b>not bold</b>")


def test_print_summary_fits_80_columns(store):
    console = Console(record=True, width=80, color_system=None, force_terminal=True)
    report = build_report(store)
    print_summary(report, console)
    out = console.export_text()
    too_wide = [line for line in out.splitlines() if len(line) > 80]
    assert not too_wide
    for i, row in enumerate(report.tasks[0].main, start=1):
        line = next(ln for ln in out.splitlines() if ln.startswith(f"{i} "))  # row i's first line
        assert f"{row.cells['accuracy'].summary.mean:.3f}±" in line  # compact cells
        assert row.verdict_code in line
    assert "tie: not distinguishable from the best" in " ".join(out.split())  # the legend
    # a wide console uses its width: every metric in one table
    wide = Console(record=True, width=200, color_system=None, force_terminal=True)
    print_summary(report, wide)
    assert "more metrics" not in wide.export_text()
    assert "more metrics" in out or all(len(ln) <= 80 for ln in out.splitlines())


def test_print_summary_in_a_pipe_prints_one_unfolded_row_per_loss(store):
    import io

    buf = io.StringIO()  # not a terminal: plain table, as `losslab compare | grep ...` sees it
    print_summary(build_report(store), Console(file=buf, width=80))
    lines = buf.getvalue().splitlines()
    assert not any(ch in buf.getvalue() for ch in "│┃━─┏┗┡╇"), "no box drawing in a pipe"
    assert "…" not in buf.getvalue(), "no cell cut in a pipe"
    report = build_report(store)
    assert all(len(ln) <= 80 for ln in lines)  # a long label folds instead
    for i, row in enumerate(report.tasks[0].main, start=1):
        # the row in the main table, then in the "more metrics" table
        starts = [n for n, ln in enumerate(lines) if re.match(rf"{i}\s{{2,}}\S", ln)]
        first = lines[starts[0]]
        assert row.verdict_code in first  # the row's numbers and verdict on one line
        assert f"{row.cells['accuracy'].summary.mean:.3f}" in first
        for n in starts:  # the label, continued on the next line when it is too long
            cell = re.split(r"\s{2,}", lines[n].strip())[1].removeprefix("* ")
            assert row.label in (cell, cell + lines[n + 1].strip()), (row.label, lines[n])
    assert all(ln == ln.rstrip() for ln in lines)
