"""``losslab tasks``: every lab task, whether its data is installed, and its default competitors.

The command answers without importing torch or the lab: it reads ``tasks.json`` beside this file,
an index generated from the task registry by ``losslab tasks --write-index`` (a test checks it
equals the registry), and asks :mod:`losslab._data_sources` whether optional data is installed.
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
import textwrap
from pathlib import Path
from typing import Annotated, Any

import typer

INDEX = Path(__file__).with_name("tasks.json")
FORMATS = ("table", "csv", "json")


def build_index() -> list[dict[str, Any]]:
    """The index rows, read off the live task registry (imports the lab, hence torch)."""
    from ..lab import study
    from ..lab.tasks import get_task, task_names

    rows = []
    for name in task_names():
        task = get_task(name)
        if task.name.startswith("data:"):  # user data registered by --data in this process
            continue
        rows.append(
            {
                "name": task.name,
                "kind": task.kind,
                "description": task.description,
                "competitors": [c.label for c in task.competitors],
                "losses": list(dict.fromkeys(c.loss for c in task.competitors)),
                "metrics": list(task.metrics),
                "primary": task.primary,
                "study": "default"
                if name in study.DEFAULT_TASKS
                else "full"
                if name in study.FULL_EXTRA_TASKS
                else "",
                "source": task.source,
            }
        )
    return rows


def load_index() -> list[dict[str, Any]]:
    try:
        return json.loads(INDEX.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # a broken install: answer slowly rather than not at all
        return build_index()


def write_index(path: Path = INDEX) -> None:
    path.write_text(
        json.dumps(build_index(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def _data_status(source: str | None) -> tuple[str, str]:
    """(status, install hint) of a task's data."""
    from .._data_sources import SOURCES

    if source is None:
        return "built in", ""
    src = SOURCES[source]
    return ("installed", "") if src.available() else ("not installed", src.install)


def tasks(
    fmt: Annotated[
        str, typer.Option("--format", help=f"output format: {', '.join(FORMATS)}")
    ] = "table",
    write: Annotated[
        bool,
        typer.Option(
            "--write-index", hidden=True, help="developers: regenerate tasks.json from the registry"
        ),
    ] = False,
) -> None:
    """List every lab task: what it trains on, whether its data is installed, its competitors."""
    if write:
        write_index()
        typer.echo(f"wrote {INDEX}")
        return
    if fmt not in FORMATS:
        typer.echo(
            f"error: tasks: '--format' must be one of {', '.join(FORMATS)}, got {fmt!r}", err=True
        )
        raise typer.Exit(code=2)
    rows = []
    for row in load_index():
        status, install = _data_status(row["source"])
        rows.append({**row, "data": status, "install": install})
    if fmt == "json":
        json.dump(rows, sys.stdout, indent=1, ensure_ascii=False)
        sys.stdout.write("\n")
    elif fmt == "csv":
        out = csv.writer(sys.stdout, lineterminator="\n")
        cols = ("name", "kind", "study", "data", "install", "primary", "competitors", "description")
        out.writerow(cols)
        for r in rows:
            out.writerow([" | ".join(r[c]) if isinstance(r[c], list) else r[c] for c in cols])
    else:
        _print_blocks(rows)


def _print_blocks(rows: list[dict[str, Any]]) -> None:
    """One block per task; plain text that reads the same on a terminal, in a pipe and in a file."""
    width = max(40, min(shutil.get_terminal_size((80, 24)).columns, 100))

    def wrap(label: str, text: str) -> str:
        return textwrap.fill(
            text,
            width=width,
            initial_indent=f"  {label}",
            subsequent_indent=" " * (2 + len(label)),
            break_on_hyphens=False,
        )

    print(
        textwrap.fill(
            f"{len(rows)} lab tasks; run them with `losslab compare --task NAME[,NAME...]`. "
            "Without --task, compare runs the tasks marked 'default study' (--full adds "
            "'full study').",
            width=width,
            break_on_hyphens=False,
        )
    )
    for r in rows:
        study = {"default": "  [default study]", "full": "  [full study]"}.get(r["study"], "")
        print()
        print(f"{r['name']}{study}")
        print(wrap("", r["description"]))
        data = r["data"] if not r["install"] else f"{r['data']}: {r['install']}"
        print(wrap("data:    ", data))
        print(wrap("losses:  ", "; ".join(r["competitors"])))
        metrics = [f"{m} (primary)" if m == r["primary"] else m for m in r["metrics"]]
        print(wrap("metrics: ", ", ".join(metrics)))


def register_commands(app: typer.Typer) -> None:
    app.command("tasks")(tasks)
