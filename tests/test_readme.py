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


def test_catalog_cli_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # `plot --out` writes here
    runner = CliRunner()
    lines = [
        args
        for args in _cli_lines()
        if args[0] in ("losses", "show", "derivatives", "plot", "tasks")
    ]
    assert len(lines) >= 6
    for args in lines:
        command, _, pipe = " ".join(args).partition(" | ")
        res = runner.invoke(app, shlex.split(command), env={"COLUMNS": "80"})
        assert res.exit_code == 0, (args, res.output)
        if pipe:  # the README pipes into grep: the grepped name must be on a line of its own row
            tool, pattern = shlex.split(pipe)
            assert tool == "grep"
            assert any(line.startswith(pattern) for line in res.output.splitlines()), res.output
    assert (tmp_path / "curves.svg").read_text().lstrip().startswith(("<?xml", "<svg"))


def test_lab_cli_examples_use_real_options():
    # the lab examples train for minutes or need files; here each option they use must exist
    runner = CliRunner()
    lines = [args for args in _cli_lines() if args[0] in ("compare", "report")]
    assert len(lines) >= 5
    for args in lines:
        help_text = runner.invoke(app, [args[0], "--help"], env={"COLUMNS": "200"}).output
        for opt in (a for a in args if a.startswith("--")):
            assert opt in help_text, (args, opt)


def _quick_start_commands() -> list[str]:
    quick = blocks("bash")[0]
    commands = []
    for line in quick.splitlines():
        for part in line.split("#")[0].split("&&"):
            if part.strip():
                commands.append(part.strip())
    return commands


def test_ci_runs_the_readme_setup_and_test_commands_in_a_fresh_venv():
    ci = (ROOT / ".ci" / "run").read_text()
    commands = _quick_start_commands()
    pip = [c for c in commands if c.startswith("python -m pip install")]
    test = [c for c in commands if c.startswith("python -m pytest")]
    venv = [c for c in commands if c.startswith("python3 -m venv")]
    assert len(pip) == 1 and len(test) == 1 and len(venv) == 1, commands
    assert "-c constraints/lock-py311-cpu.txt" in pip[0]
    # the same install and test command, run inside a venv that CI creates itself
    assert pip[0].replace("python -m pip install", "") in ci, (pip[0], ci)
    assert test[0] in ci
    assert "python3 -m venv --clear .venv" in ci and ". .venv/bin/activate" in ci
    assert ci.index("-m venv") < ci.index("pip install") < ci.index(test[0])


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints" / "lock-py311-cpu.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and version, f"lock line without an exact pin: {line!r}"
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_lock_pins_every_installed_requirement_of_the_dev_setup():
    """Every package the dev setup pulls in (transitively) is pinned, at the installed version."""
    from importlib import metadata

    from packaging.requirements import Requirement

    pins = _lock()
    assert pins["torch"].startswith("2.13.0")  # the CPU build the README promises
    seen: set[str] = set()
    todo = [("losslab", {"dev", "lab", "export", "cli"})]
    while todo:
        dist_name, extras = todo.pop()
        dist = metadata.distribution(dist_name)
        for text in dist.requires or []:
            req = Requirement(text)
            env = {"extra": ""}
            if req.marker and not any(
                req.marker.evaluate({**env, "extra": e}) for e in extras | {""}
            ):
                continue
            key = re.sub(r"[-_.]+", "-", req.name).lower()
            if key == "losslab":
                todo.append(("losslab", set(req.extras)))
                continue
            if key in seen:
                continue
            seen.add(key)
            assert key in pins, f"{key} (required by {dist_name}) is not in the lock"
            installed = metadata.version(req.name)
            assert installed == pins[key], f"{key}: installed {installed}, locked {pins[key]}"
            todo.append((req.name, set(req.extras)))
    assert len(seen) >= 60  # the dev setup is large; a broken walk would see a handful
