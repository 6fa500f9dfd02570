"""``losslab advise``: profile your data, propose candidate losses, test them, recommend one.

The command parses, calls :mod:`losslab.lab.advisor` and prints; the rules (what is measured,
which property proposes which losses, the thresholds) are that module's.
"""

from __future__ import annotations

import json
import sqlite3
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from ._compare import StrictCommand, _fail, _Reporter, console, err_console

if TYPE_CHECKING:
    from ..lab.advisor import Advice

#: the width prose is wrapped to (tables use the terminal's width, or none in a pipe)
WIDTH = 80


def _say(text: str = "", indent: str = "", first: str | None = None) -> None:
    """Print ``text`` wrapped to WIDTH columns, never read as markup."""
    if not text:
        console.out("", highlight=False)
        return
    lead = indent if first is None else first
    for line in textwrap.wrap(
        text, WIDTH, initial_indent=lead, subsequent_indent=indent, break_on_hyphens=False
    ):
        console.out(line, highlight=False)


def _print_proposal(advice: Advice, source: str) -> None:
    _say(f"Profile of {source}:")
    for line in advice.profile.lines():
        _say(line, indent="    ", first="  ")
    _say()
    _say("Candidates (the reason each is proposed):")
    for c in advice.candidates:
        _say(f"{c.label} [{c.trigger}]: {c.reason}", indent="    ", first="  ")
    if advice.not_proposed:
        shown = "; ".join(f"{k} ({v})" for k, v in advice.not_proposed.items())
        _say(f"Not proposed: {shown}", indent="    ", first="  ")
    _say()


def _print_recommendation(advice: Advice) -> None:
    """One closing line: the evidence and the rule are printed above it."""
    from ..report.tables import metric_label

    rec = advice.recommendation
    if rec is None or rec.recommended is None:
        why = f" ({rec.reason})" if rec is not None else ""
        _say(f"Advice: no recommendation{why}; read the table above")
        return
    tied = [t for t in rec.top_group if t != rec.recommended]
    also = (
        f"; tied with it on {metric_label(advice.primary or '')}: {', '.join(tied)}" if tied else ""
    )
    _say(f"Advice: use {rec.recommended}{also}")


def _print_caveats(advice: Advice) -> None:
    _say()
    _say("Caveats:")
    for c in advice.caveats:
        _say(c, indent="    ", first="  - ")


def advise(
    data: Annotated[Path | None, typer.Option(help="your own CSV or Parquet file")] = None,
    target: Annotated[str | None, typer.Option(help="target column of --data")] = None,
    task: Annotated[
        str | None,
        typer.Option(
            "--task",
            "-t",
            help="a built-in binary, multiclass or regression task instead of --data "
            "(see `losslab tasks`)",
        ),
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind",
            help="with --data: binary, multiclass or regression (default: inferred from the "
            "target by the rule of `losslab compare --kind`)",
        ),
    ] = None,
    seeds: Annotated[int, typer.Option(help="seeds per candidate in the quick study")] = 3,
    epochs: Annotated[
        int | None,
        typer.Option(help="at most this many epochs (default: the task's own; early stopping)"),
    ] = None,
    out: Annotated[Path, typer.Option(help="folder holding the studies")] = Path("losslab-runs"),
    name: Annotated[
        str | None, typer.Option(help="study name (default: study-<date>-<time>)")
    ] = None,
    json_file: Annotated[
        Path | None,
        typer.Option("--json", help="also write the advice (profile, candidates, result) here"),
    ] = None,
    no_run: Annotated[
        bool,
        typer.Option(
            "--no-run",
            "--quick",
            help="profile the data and propose candidates only: no study",
        ),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="no progress output while the study runs")
    ] = False,
) -> None:
    """Profile your data, propose candidate losses from the catalog, test them in a quick study
    and recommend one by the lab's rule."""
    from ..lab import advisor as A

    if (data is None) == (task is None):
        got = "both" if data is not None else "neither"
        _fail(
            f"advise: pass either '--data FILE' (with '--target COL') or '--task NAME', got {got}"
        )
    if data is not None and target is None:
        _fail("advise: '--target' must name the target column when '--data' is given, got nothing")
    if task is not None and (target is not None or kind is not None):
        _fail("advise: '--target'/'--kind' need '--data FILE', not '--task'")
    source = f"{data} (target {target!r})" if data is not None else f"task {task!r}"
    try:
        if data is not None:
            advice = A.advise_file(
                data, target or "", kind=kind, seeds=seeds, epochs=epochs, name=name, run=False
            )
        else:
            advice = A.advise_task(task or "", seeds=seeds, epochs=epochs, name=name, run=False)
    except (ValueError, TypeError) as exc:
        _fail(str(exc))
    _print_proposal(advice, source)
    if not no_run:
        advice = _run(advice, seeds, epochs, out, name, quiet)
        _print_study(advice)
    _print_caveats(advice)
    if json_file is not None:
        try:
            json_file.write_text(json.dumps(advice.to_json(), indent=2, default=str) + "\n")
        except OSError as exc:
            _fail(f"advise: '--json' must be a writable file, got {str(json_file)!r}: {exc}")
        console.print(f"\nAdvice written to {escape(str(json_file))}")
    if advice.folder is not None:
        console.print(f"\nStudy folder: {escape(str(advice.folder))}")
        for label, path in advice.paths.items():
            console.print(f"  {label}: {escape(str(path))}")


def _run(
    advice: Advice, seeds: int, epochs: int | None, out: Path, name: str | None, quiet: bool
) -> Advice:
    import torch

    from ..lab import advisor as A
    from ..lab.study import NothingToRun, default_study_dir

    folder = default_study_dir(name, out)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the lab's models are tiny: one thread is fastest
    try:
        with _Reporter(quiet) as rep:
            try:
                return A.run_candidates(
                    advice,
                    seeds=seeds,
                    epochs=epochs,
                    out=folder.parent,
                    name=folder.name,
                    callbacks=rep.callbacks(),
                )
            except (ValueError, TypeError) as exc:
                if rep.started:  # a failure while training, not a refused option
                    raise
                _fail(str(exc).replace("compare: ", "advise: ", 1))
    except NothingToRun as exc:
        _fail(str(exc))
    except (OSError, sqlite3.DatabaseError) as exc:
        _fail(f"advise: cannot write the study folder {str(folder)!r}: {exc}")
    except KeyboardInterrupt:
        err_console.print(f"interrupted: every finished run is stored in {escape(str(folder))}")
        raise typer.Exit(code=130) from None
    finally:
        torch.set_num_threads(threads)
    return advice  # not reached: every path above returns or exits


def _print_study(advice: Advice) -> None:
    from ..report import print_summary

    if advice.report is not None:
        print_summary(advice.report, console)
    _print_recommendation(advice)


def register_commands(app: typer.Typer) -> None:
    app.command("advise", cls=StrictCommand)(advise)
