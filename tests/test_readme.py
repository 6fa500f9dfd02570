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


def test_cli_examples_run():
    runner = CliRunner()
    lines = [line for block in blocks("bash") for line in block.splitlines() if line.startswith("losslab ")]
    assert len(lines) >= 3
    for line in lines:
        res = runner.invoke(app, shlex.split(line)[1:], env={"COLUMNS": "200"})
        assert res.exit_code == 0, (line, res.output)


def test_ci_runs_the_readme_test_command():
    quick = blocks("bash")[0]
    test_cmd = re.search(r"^(python -m pytest[^\n#]*?)\s*(#|$)", quick, flags=re.M).group(1).strip()
    assert test_cmd in (ROOT / ".ci" / "run").read_text()
    assert "-c constraints/cpu.txt" in quick and "-c constraints/cpu.txt" in (ROOT / ".ci" / "run").read_text()
