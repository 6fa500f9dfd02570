"""The catalog commands' output formats, hyperparameter settings, user losses and lazy imports."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from losslab import catalog
from losslab.cli import app

runner = CliRunner()


def run(*args: str, columns: int = 80):
    return runner.invoke(app, list(args), env={"COLUMNS": str(columns)})


def test_plain_table_keeps_each_row_on_one_line():
    res = run("losses", columns=80)  # CliRunner's stdout is not a terminal: plain output
    assert res.exit_code == 0, res.output
    assert not any(ch in res.output for ch in "│┃━─┏┗"), (
        "no box drawing when stdout is not a terminal"
    )
    assert "\x1b[" not in res.output, "no colour codes when stdout is not a terminal"
    rows = [line for line in res.output.splitlines() if line.startswith("sigmoid_focal_loss ")]
    assert len(rows) == 1
    assert "binary" in rows[0] and "logits" in rows[0]  # the whole row, not a folded name
    for name in catalog.names():
        assert sum(line.split(" ")[0] == name for line in res.output.splitlines()) == 1, name


def test_losses_csv_and_json_give_every_field():
    res = run("losses", "--format", "csv")
    assert res.exit_code == 0, res.output
    table = list(csv.DictReader(io.StringIO(res.output)))
    assert [r["name"] for r in table] == [s.name for s in catalog.list_losses()]
    robust = next(r for r in table if r["name"] == "general_robust_loss")
    assert robust["convex"] == "yes if alpha >= 1" and robust["bounded"] == "yes if alpha < 0"
    assert next(r for r in table if r["name"] == "mse_loss")["robust_to_outliers"] == "no"

    res = run("losses", "--format", "json", "--task", "regression")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert {d["name"] for d in data} == {s.name for s in catalog.list_losses(task="regression")}
    entry = next(d for d in data if d["name"] == "general_robust_loss")
    assert entry["property_rules"] == {
        "convex": "alpha >= 1",
        "bounded": "alpha < 0",
        "robust_to_outliers": "alpha <= 1",
    }
    assert entry["formula"].startswith("\\ell") and "\\" not in entry["formula_text"]
    assert entry["hyperparameters"]["scale"]["default"] == 1.0


def test_show_and_derivatives_formats():
    res = run("show", "huber_loss", "--format", "json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["name"] == "huber_loss" and data["properties"]["convex"] is True
    res = run("show", "huber_loss", "--format", "csv")
    fields = dict(csv.reader(io.StringIO(res.output)))
    assert fields["name"] == "huber_loss" and json.loads(fields["properties"])["convex"] is True
    res = run("derivatives", "mse_loss", "huber_loss", "--format", "json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert [r["name"] for r in rows] == ["mse_loss", "huber_loss"]
    assert all(r["status"] == "ok" and r["max_abs_error"] < 1e-9 for r in rows)
    res = run("derivatives", "mse_loss", "--format", "csv")
    assert list(csv.DictReader(io.StringIO(res.output)))[0]["status"] == "ok"


def test_show_states_the_rule_and_resolves_it_with_param():
    res = run("show", "general_robust_loss")
    assert res.exit_code == 0, res.output
    assert "yes if alpha >= 1" in res.output and "yes if alpha < 0" in res.output
    res = run("show", "general_robust_loss", "--param", "alpha=0", "--format", "json")
    props = json.loads(res.output)["properties"]
    assert (props["convex"], props["bounded"], props["robust_to_outliers"]) == (False, False, True)
    res = run("show", "general_robust_loss", "--param", "alpha=-1,scale=2", "--format", "json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["properties"]["bounded"] is True
    res = run("show", "general_robust_loss", "--param", "alpha=-1", "--param", "scale=2")
    assert res.exit_code == 0 and "Properties at alpha=-1, scale=2" in res.output
    assert "no (yes if alpha >= 1)" in res.output


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ("show", "general_robust_loss", "--param", "scale=-1"),
            "error: show: --param: general_robust_loss: 'scale' must be",
        ),
        (
            ("show", "huber_loss", "--param", "gamma=1"),
            "'hyperparameter' must be one of delta, weight, got 'gamma'",
        ),
        (("show", "huber_loss", "--param", "delta"), "--param must look like NAME=VALUE"),
        (
            ("show", "huber_loss", "--format", "xml"),
            "error: show: --format must be one of table, csv, json, got 'xml'",
        ),
        (("losses", "--format", "yaml"), "error: losses: --format must be one of"),
        (
            ("show", "nosuchmod_xyz:fn"),
            "error: show: load_loss: 'path' must name an importable module",
        ),
        (("derivatives", "mse_los"), "Did you mean 'mse_loss'"),
    ],
)
def test_bad_options_exit_2_with_one_line(args, message):
    res = run(*args)
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert "Traceback" not in res.output


def test_user_loss_by_module_path(tmp_path, monkeypatch):
    (tmp_path / "cli_user_losses.py").write_text(
        textwrap.dedent('''
        def cube_loss(input, target, reduction="mean"):
            """Cubed absolute error."""
            out = (input - target).abs() ** 3
            return out.mean() if reduction == "mean" else out.sum() if reduction == "sum" else out
    ''')
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        res = run("show", "cli_user_losses:cube_loss")
        assert res.exit_code == 0, res.output
        assert "cube_loss" in res.output and "unknown" in res.output
        res = run("derivatives", "cli_user_losses:cube_loss", "--format", "json")
        assert res.exit_code == 0, res.output
        assert json.loads(res.output)[0]["status"] == "autograd only"
    finally:
        from losslab.custom import unregister_loss

        if "cube_loss" in catalog.names():
            unregister_loss("cube_loss")
        sys.modules.pop("cli_user_losses", None)


def test_cli_modules_import_nothing_heavy():
    # each module loaded under a stub losslab.cli package, so that only its own imports count
    code = textwrap.dedent("""
        import importlib.util, pathlib, sys, types
        import losslab
        root = pathlib.Path(losslab.__file__).parent / "cli"
        before = set(sys.modules)
        stub = types.ModuleType("losslab.cli"); stub.__path__ = [str(root)]
        sys.modules["losslab.cli"] = stub
        for name in ("_catalog", "_plot"):
            spec = importlib.util.spec_from_file_location(f"losslab.cli.{name}", root / f"{name}.py")
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
        heavy = ("torch", "matplotlib", "losslab.catalog", "losslab.functional", "pylatexenc")
        print(sorted(m for m in set(sys.modules) - before if m.split(".")[0] in heavy or m.startswith(heavy)))
    """)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]", out
