"""The README's examples are executed, and its quick start matches what CI runs."""

from __future__ import annotations

import pathlib
import re
import shlex

from typer.testing import CliRunner

from losslab.cli import app

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_python_examples_run():
    code = blocks("python")
    assert len(code) >= 2
    for block in code:
        exec(compile(block, "README.md", "exec"), {})


def _cli_lines() -> list[list[str]]:
    lines = [line.split("#")[0] for block in blocks("bash") for line in block.splitlines()]
    return [shlex.split(line)[1:] for line in lines if line.startswith("losslab ")]


def test_catalog_cli_examples_run():
    runner = CliRunner()
    lines = [args for args in _cli_lines() if args[0] in ("losses", "show", "derivatives")]
    assert len(lines) >= 3
    for args in lines:
        res = runner.invoke(app, args, env={"COLUMNS": "200"})
        assert res.exit_code == 0, (args, res.output)


def test_lab_cli_examples_use_real_options():
    # the lab examples train for minutes or need files; here each option they use must exist
    runner = CliRunner()
    lines = [args for args in _cli_lines() if args[0] in ("compare", "report")]
    assert len(lines) >= 5
    for args in lines:
        help_text = runner.invoke(app, [args[0], "--help"], env={"COLUMNS": "200"}).output
        for opt in (a for a in args if a.startswith("--")):
            assert opt in help_text, (args, opt)


def test_ci_runs_the_readme_test_command():
    quick = blocks("bash")[0]
    test_cmd = re.search(r"^(python -m pytest[^\n#]*?)\s*(#|$)", quick, flags=re.M).group(1).strip()
    assert test_cmd in (ROOT / ".ci" / "run").read_text()
    assert "-c constraints/cpu.txt" in quick and "-c constraints/cpu.txt" in (ROOT / ".ci" / "run").read_text()
