"""`losslab compare` and `losslab report` end to end on a tiny configuration (seconds)."""

from __future__ import annotations

import csv
import sqlite3

import pytest
from typer.testing import CliRunner

from losslab.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    res = run("compare", "--task", "binary", "--task", "regression", "--seeds", "2", "--epochs", "3",
              "--lr", "0.01,0.05", "--out", str(out), "--name", "tiny")
    assert res.exit_code == 0, res.output
    return out / "tiny", res.output


def test_compare_writes_every_artifact(tiny_study):
    folder, output = tiny_study
    for name in ("results.sqlite", "results.csv", "curves.csv", "report.md", "report.html"):
        assert (folder / name).exists(), name
    with sqlite3.connect(folder / "results.sqlite") as c:
        n_runs = c.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    assert n_runs == (4 + 6) * 2 * 2  # (binary + regression competitors) x seeds x learning rates
    with open(folder / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == n_runs
    assert "Study folder" in output


def test_terminal_tables_show_every_competitor(tiny_study):
    _, output = tiny_study
    for label in ("MSE (sigmoid head)", "BCE", "hinge", "focal (gamma=2)", "MAE", "Huber (delta=1)", "log-cosh"):
        assert label in output


def test_report_rebuilds_from_the_store_alone(tiny_study):
    folder, _ = tiny_study
    before = (folder / "report.md").read_text()
    (folder / "report.md").unlink()
    (folder / "report.html").unlink()
    res = run("report", str(folder))
    assert res.exit_code == 0, res.output
    assert (folder / "report.md").read_text() == before
    assert (folder / "report.html").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--task", "binry"], "compare: '--task' must be one of"),
        (["--loss", "focal"], "compare: catalog: unknown loss 'focal'"),
        (["--task", "regression", "--loss", "cross_entropy"], "declares no output head for task kind 'regression'"),
        (["--lr", "0.1,abc"], "'--lr' must be a comma-separated list of positive numbers"),
        (["--lr", "-1"], "'--lr' must be a comma-separated list of positive numbers"),
        (["--seeds", "0"], "'--seeds' must be >= 1, got 0"),
        (["--optimizer", "rmsprop"], "'--optimizer' must be one of 'adam', 'sgd'"),
        (["--target", "y"], "'--target'/'--kind' need '--data FILE'"),
        (["--early-stopping", "0"], "'--early-stopping' must be >= 1 (epochs of patience), got 0"),
        (["--lr", "inf"], "'--lr' must be a comma-separated list of positive numbers"),
    ],
)
def test_bad_options_exit_2_with_a_clear_message(tmp_path, args, message):
    res = run("compare", "--out", str(tmp_path), *args)
    assert res.exit_code == 2
    assert message in res.output
    assert "Traceback" not in res.output


def test_existing_study_is_not_overwritten(tiny_study):
    folder, _ = tiny_study
    res = run("compare", "--task", "binary", "--out", str(folder.parent), "--name", "tiny")
    assert res.exit_code == 2
    assert "already exists; use '--resume" in res.output


def test_report_on_a_missing_study(tmp_path):
    res = run("report", str(tmp_path / "nope"))
    assert res.exit_code == 2
    assert "report: 'STUDY' must be a study folder containing results.sqlite" in res.output


def test_repeated_options_run_once(tmp_path):
    res = run("compare", "-t", "binary", "-t", "binary", "-l", "mse_loss", "-l", "mse_loss",
              "--lr", "0.01,0.010", "--seeds", "2", "--epochs", "1", "--out", str(tmp_path),
              "--name", "dup", "--quiet")
    assert res.exit_code == 0, res.output
    with sqlite3.connect(tmp_path / "dup" / "results.sqlite") as c:
        assert c.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 2


def test_resume_refuses_settings_it_would_ignore(tiny_study):
    folder, _ = tiny_study
    res = run("compare", "--resume", str(folder), "--seeds", "3", "--lr", "0.1")
    assert res.exit_code == 2
    assert "takes only --jobs, --quiet" in res.output and "--seeds, --lr" in res.output


def test_unreadable_store_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "results.sqlite").write_text("not a database")
    res = run("compare", "--resume", str(bad))
    assert res.exit_code == 2
    assert "cannot read" in res.output and "Traceback" not in res.output


def test_exporter_failure_is_a_clear_error_and_exports_happen_once(tiny_study, tmp_path):
    folder, _ = tiny_study
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    res = run("compare", "--resume", str(folder), "--quiet", "--tensorboard", str(blocker / "tb"))
    assert res.exit_code == 2
    assert "exporting to TensorBoard failed" in res.output and "Traceback" not in res.output
    pytest.importorskip("tensorboard")
    first = run("compare", "--resume", str(folder), "--tensorboard", str(tmp_path / "tb"))
    assert first.exit_code == 0, first.output
    assert "TensorBoard: 40 new runs exported" in first.output
    again = run("compare", "--resume", str(folder), "--tensorboard", str(tmp_path / "tb"))
    assert "TensorBoard: 0 new runs exported" in again.output


def test_cnn_needs_image_tasks(tmp_path):
    res = run("compare", "--task", "binary", "--model", "cnn", "--out", str(tmp_path))
    assert res.exit_code == 2
    assert "'--model cnn' needs image tasks" in res.output
