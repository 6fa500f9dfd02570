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
    res = run(
        "compare",
        "--task",
        "binary",
        "--task",
        "regression",
        "--seeds",
        "2",
        "--epochs",
        "3",
        "--lr",
        "0.01,0.05",
        "--out",
        str(out),
        "--name",
        "tiny",
    )
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
    for label in (
        "MSE (sigmoid head)",
        "BCE",
        "hinge",
        "focal (gamma=2)",
        "MAE",
        "Huber (delta=1)",
        "log-cosh",
    ):
        assert label in output


def test_report_prints_the_recommendations_and_writes_json(tiny_study, tmp_path):
    import json

    folder, output = tiny_study
    assert output.index("Recommendations") < output.index("Study folder")
    res = run("report", str(folder), "--lr", "--json", str(tmp_path / "s.json"))
    assert res.exit_code == 0, res.output
    assert "Recommendations" in res.output
    assert "binary: test accuracy by learning rate" in res.output  # --lr adds the lr table
    data = json.loads((tmp_path / "s.json").read_text())
    assert data == json.loads((folder / "summary.json").read_text())
    assert [t["task"] for t in data["tasks"]] == ["binary", "regression"]
    for task in data["tasks"]:
        assert task["recommended"] in task["top_group"]
        assert task["recommended"] in output
    res = run("report", str(folder), "--json", str(tmp_path / "missing" / "s.json"))
    assert res.exit_code == 2 and "report: '--json' must be a writable file" in res.output
    assert "Traceback" not in res.output


def test_compare_json_needs_an_existing_folder(tmp_path):
    res = run("compare", "--out", str(tmp_path / "runs"), "--json", str(tmp_path / "no" / "x.json"))
    assert res.exit_code == 2
    assert "compare: '--json' must be a file in an existing folder" in res.output
    assert not any(tmp_path.rglob("*"))


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
        (
            ["--task", "regression", "--loss", "cross_entropy"],
            "declares no output head for task kind 'regression'",
        ),
        (
            ["--lr", "0.1,abc"],
            "compare: '--lr' must be a comma-separated list of numbers, got '0.1,abc'",
        ),
        (["--lr", "-1"], "compare: '--lr' must be a finite real number > 0 and <= 10, got -1.0"),
        (["--lr", "inf"], "compare: '--lr' must be a finite real number > 0 and <= 10, got inf"),
        (
            ["--lr", ",".join(str(0.001 * i) for i in range(1, 22))],
            "'--lr' must be a tuple of 1 to 20 learning rates",
        ),
        (["--seeds", "0"], "compare: '--seeds' must be an integer >= 1 and <= 1000, got 0"),
        (
            ["--seeds", "99999999999999999999"],
            "'--seeds' must be an integer >= 1 and <= 1000, got 99999999999999999999",
        ),
        (
            ["--epochs", "0"],
            "compare: '--epochs' must be an integer >= 1 and <= 10000 (or None), got 0",
        ),
        (
            ["--epochs", "10001"],
            "'--epochs' must be an integer >= 1 and <= 10000 (or None), got 10001",
        ),
        (["--jobs", "0"], "compare: '--jobs' must be an integer >= 1 and <= 64, got 0"),
        (["--jobs", "65"], "compare: '--jobs' must be an integer >= 1 and <= 64, got 65"),
        (["--l1", "-0.1"], "compare: '--l1' must be a finite real number >= 0 and <= 1, got -0.1"),
        (["--l2", "2"], "compare: '--l2' must be a finite real number >= 0 and <= 1, got 2.0"),
        (["--l2", "nan"], "compare: '--l2' must be a finite real number >= 0 and <= 1, got nan"),
        (
            ["--optimizer", "rmsprop"],
            "compare: '--optimizer' must be one of 'adam', 'sgd', got 'rmsprop'",
        ),
        (["--model", "rnn"], "compare: '--model' must be one of 'mlp', 'cnn', got 'rnn'"),
        (["--target", "y"], "'--target'/'--kind' need '--data FILE'"),
        (
            ["--early-stopping", "0"],
            "compare: '--early-stopping' must be an integer >= 1 and <= 10000 (or None), got 0",
        ),
        (
            ["--name", "../../x"],
            "compare: '--name' must be 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or a digit (a folder name, not a path), got '../../x'",
        ),
        (["--name", "a/b"], "compare: '--name' must be 1 to 100 letters"),
        (["--name", ".."], "compare: '--name' must be 1 to 100 letters"),
        (["--name", "x" * 101], "compare: '--name' must be 1 to 100 letters"),
    ],
)
def test_bad_options_exit_2_with_a_clear_message(tmp_path, args, message):
    res = run("compare", "--out", str(tmp_path / "runs"), *args)
    assert res.exit_code == 2
    assert message in " ".join(res.output.split())
    assert "Traceback" not in res.output
    assert not any(tmp_path.rglob("*")), "a refused option wrote something"  # refused at once


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
    res = run(
        "compare",
        "-t",
        "binary",
        "-t",
        "binary",
        "-l",
        "mse_loss",
        "-l",
        "mse_loss",
        "--lr",
        "0.01,0.010",
        "--seeds",
        "2",
        "--epochs",
        "1",
        "--out",
        str(tmp_path),
        "--name",
        "dup",
        "--quiet",
    )
    assert res.exit_code == 0, res.output
    with sqlite3.connect(tmp_path / "dup" / "results.sqlite") as c:
        assert c.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 2


def test_resume_names_each_option_that_differs_from_the_stored_study(tiny_study):
    folder, _ = tiny_study
    res = run(
        "compare",
        "--resume",
        str(folder),
        "--seeds",
        "3",
        "--lr",
        "0.1",
        "--task",
        "binary",
        "--optimizer",
        "adam",
        "--epochs",
        "3",
    )
    assert res.exit_code == 2
    text = " ".join(res.output.split())
    assert (
        "compare: '--resume' must be given only the options the study was started with (or none: "
        "it continues with its stored settings), got '--task' binary (the study has "
        "binary,regression), '--seeds' 3 (the study has 2), '--lr' 0.1 (the study has 0.01,0.05)"
    ) in text
    assert "--optimizer" not in text and "--epochs" not in text  # the stored values: no conflict


def test_resume_accepts_the_stored_values_and_a_new_jobs(tiny_study):
    folder, _ = tiny_study
    res = run(
        "compare",
        "--resume",
        str(folder),
        "--seeds",
        "2",
        "--lr",
        "0.05,0.01",
        "--epochs",
        "3",
        "--task",
        "regression,binary",
        "--jobs",
        "2",
        "--name",
        "tiny",
        "--quiet",
    )
    assert res.exit_code == 0, res.output
    with sqlite3.connect(folder / "results.sqlite") as c:
        assert c.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 40  # nothing trained twice


def test_unreadable_store_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "results.sqlite").write_text("not a database")
    res = run("compare", "--resume", str(bad))
    assert res.exit_code == 2
    assert "compare: '--resume' cannot read" in res.output and "Traceback" not in res.output
    res = run("compare", "--resume", str(tmp_path / "nowhere"))
    assert res.exit_code == 2
    assert "compare: '--resume' must be a study folder containing results.sqlite" in " ".join(
        res.output.split()
    )


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


# -- pipes and scripts: --quiet, skipped studies, list and single-valued options ----------------


def test_quiet_drops_progress_but_keeps_the_summary_and_folder(tmp_path):
    res = run(
        "compare",
        "-q",
        "--task",
        "binary",
        "--loss",
        "binary_cross_entropy_with_logits,hinge_loss",
        "--seeds",
        "1",
        "--epochs",
        "1",
        "--out",
        str(tmp_path),
        "--name",
        "q",
    )
    assert res.exit_code == 0, res.output
    assert f"Study folder: {tmp_path / 'q'}" in res.output
    assert (
        "binary_cross_entropy_with_logits" in res.output and "hinge_loss" in res.output
    )  # the table
    assert "runs planned" not in res.output and "[1/2]" not in res.output  # no progress lines
    loud = run(
        "compare",
        "--task",
        "binary",
        "--loss",
        "hinge_loss",
        "--seeds",
        "1",
        "--epochs",
        "1",
        "--out",
        str(tmp_path),
        "--name",
        "loud",
    )
    assert loud.exit_code == 0, loud.output
    assert "1 runs planned, 0 already stored" in loud.output  # the progress --quiet drops


def _unavailable(seed: int):
    from losslab.lab.data import DataUnavailable

    raise DataUnavailable(f"the test data is not installed (seed {seed}): `pip install nothing`")


@pytest.fixture
def missing_data_task():
    from losslab.lab import tasks as T

    task = T.register_task(
        T.Task(
            name="needs-data",
            kind="binary",
            description="a task whose data is never installed",
            load=_unavailable,
            competitors=(T.Competitor("BCE", "binary_cross_entropy_with_logits"),),
            metrics=("accuracy",),
            primary="accuracy",
            optional=True,
        )
    )
    yield task.name
    T._TASKS.pop(task.name)


def test_a_study_whose_every_task_is_skipped_exits_2_and_leaves_nothing(
    tmp_path, missing_data_task
):
    out = tmp_path / "runs"
    res = run(
        "compare",
        "--task",
        missing_data_task,
        "--seeds",
        "1",
        "--epochs",
        "1",
        "--out",
        str(out),
        "--name",
        "empty",
        "--quiet",
    )
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())
    assert "compare: every task was skipped, so there is nothing to run" in text
    assert "needs-data: the test data is not installed (seed 0): `pip install nothing`" in text
    assert "Traceback" not in res.output
    assert not out.exists()  # no half-made study folder (nor the --out folder made for it)
    (out / "empty").mkdir(parents=True)
    (out / "empty" / "mine.txt").write_text("the user's file")
    res = run(
        "compare", "--task", missing_data_task, "--seeds", "1", "--out", str(out), "--name", "empty"
    )
    assert res.exit_code == 2
    assert sorted(p.name for p in (out / "empty").iterdir()) == [
        "mine.txt"
    ]  # only what we made goes


def test_a_skipped_task_beside_a_runnable_one_is_reported(tmp_path, missing_data_task):
    res = run(
        "compare",
        "--task",
        f"{missing_data_task},binary",
        "--loss",
        "hinge_loss",
        "--seeds",
        "1",
        "--epochs",
        "1",
        "--out",
        str(tmp_path),
        "--name",
        "half",
        "--quiet",
    )
    assert res.exit_code == 0, res.output
    assert "skipping task needs-data" in res.output
    assert (
        "needs-data | the test data is not installed"
        in (tmp_path / "half" / "report.md").read_text()
    )


def test_list_options_take_commas_and_repeats_alike(tmp_path):
    res = run(
        "compare",
        "--task",
        "binary,imbalanced",
        "-t",
        "binary",
        "--loss",
        "binary_cross_entropy_with_logits",
        "--lr",
        "0.01",
        "--lr",
        "0.1,0.01",
        "--seeds",
        "1",
        "--epochs",
        "1",
        "--out",
        str(tmp_path),
        "--name",
        "lists",
        "--quiet",
    )
    assert res.exit_code == 0, res.output
    with sqlite3.connect(tmp_path / "lists" / "results.sqlite") as c:
        rows = c.execute("SELECT task, lr FROM runs ORDER BY task, lr").fetchall()
    assert rows == [("binary", 0.01), ("binary", 0.1), ("imbalanced", 0.01), ("imbalanced", 0.1)]


@pytest.mark.parametrize(
    "option, value",
    [
        ("--target", "y"),
        ("--data", "d.csv"),
        ("--kind", "binary"),
        ("--seeds", "1"),
        ("--name", "n"),
        ("--epochs", "1"),
        ("--l1", "0.1"),
        ("--resume", "r"),
        ("--optimizer", "sgd"),
        ("--jobs", "1"),
    ],
)
def test_a_single_valued_option_given_twice_is_an_error(tmp_path, option, value):
    res = run("compare", "--out", str(tmp_path), "--task", "binary", option, value, option, value)
    assert res.exit_code == 2, res.output
    assert (
        f"compare: '{option}' takes one value and may be given once, got it 2 times" in res.output
    )
    assert "Traceback" not in res.output
    assert not list(tmp_path.rglob("results.sqlite"))


def test_short_and_long_forms_count_as_one_option(tmp_path):
    res = run("compare", "--out", str(tmp_path), "--out", str(tmp_path / "x"))
    assert "'--out' takes one value and may be given once, got it 2 times" in res.output
    res = run(
        "compare",
        "--task",
        "binary",
        "-q",
        "--quiet",
        "--full",
        "--full",
        "--seeds",
        "1",
        "--epochs",
        "1",
        "--loss",
        "hinge_loss",
        "--out",
        str(tmp_path),
        "--name",
        "flags",
    )
    assert res.exit_code == 0, res.output  # a repeated flag says the same thing twice: allowed


@pytest.mark.parametrize(
    "args, shown",
    [
        (
            ["--task", "binary,"],
            "'--task' must be one or more non-empty values separated by commas, got '--task binary,'",
        ),
        (
            ["--loss", ",mse_loss"],
            "'--loss' must be one or more non-empty values separated by commas",
        ),
        (["--lr", "0.1,,0.2"], "'--lr' must be one or more non-empty values separated by commas"),
    ],
)
def test_empty_list_items_are_errors(tmp_path, args, shown):
    res = run("compare", "--out", str(tmp_path), *args)
    assert res.exit_code == 2
    assert shown in " ".join(res.output.split())


def test_help_points_to_the_tasks_command():
    res = run("compare", "--help")
    assert res.exit_code == 0
    assert "losslab tasks" in res.output
