"""The catalog commands through typer's CliRunner."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from losslab.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def test_losses_lists_every_catalog_entry():
    from losslab import catalog

    res = run("losses")
    assert res.exit_code == 0, res.output
    for name in catalog.names():
        assert name in res.output
    assert f"({len(catalog.names())} losses)" in res.output


def test_losses_filters_by_task_and_property():
    res = run("losses", "--task", "regression", "--property", "robust_to_outliers")
    assert res.exit_code == 0, res.output
    assert "l1_loss" in res.output
    assert "mse_loss" not in res.output  # squared error is not robust


def test_losses_rejects_unknown_filters():
    res = run("losses", "--task", "regresion")
    assert res.exit_code == 2
    assert "error: losses: --task must be one of regression" in res.output
    assert "got 'regresion'" in res.output and "Traceback" not in res.output
    res = run("losses", "--property", "fast")
    assert res.exit_code == 2
    assert "error: losses: --property must be one of nonnegative" in res.output


def test_show_prints_formula_derivative_head_and_references():
    res = run("show", "binary_cross_entropy_with_logits")
    assert res.exit_code == 0, res.output
    assert "Formula" in res.output and "∂ℓ/∂x = σ(x) - y" in res.output
    assert r"\sigma(x) - y" in res.output  # the LaTeX source is shown too
    assert "Expected head" in res.output and "a single logit" in res.output
    assert "Cox" in res.output


def test_unknown_name_suggests_and_exits_2():
    res = run("show", "mse_los")
    assert res.exit_code == 2
    assert "unknown loss 'mse_los'" in res.output
    assert "Did you mean 'mse_loss'" in res.output
    res = run("derivatives", "cross_entropyy")
    assert res.exit_code == 2
    assert "Did you mean 'cross_entropy'" in res.output


def test_derivatives_table_reports_small_errors():
    res = run("derivatives", "mse_loss", "cross_entropy")
    assert res.exit_code == 0, res.output
    rows = [
        line for line in res.output.splitlines() if line.startswith(("mse_loss", "cross_entropy"))
    ]
    assert len(rows) == 2 and all(row.rstrip().endswith("ok") for row in rows), res.output
    errors = [float(m) for m in re.findall(r"(\d\.\d\de[+-]\d\d)", "\n".join(rows))]
    assert len(errors) == 2
    assert max(errors) < 1e-6


def test_derivatives_fails_when_tolerance_is_not_met():
    # with a negative tolerance nothing can pass: the command must report failure, exit 1
    res = run("derivatives", "mse_loss", "--tolerance", "-1")
    assert res.exit_code == 1
    assert "error: derivatives: the check failed for mse_loss" in res.output


def test_no_arguments_prints_help():
    res = run()
    assert "losses" in res.output and "show" in res.output and "derivatives" in res.output
