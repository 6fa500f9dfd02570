"""Catalog commands: ``losslab losses``, ``losslab show NAME``, ``losslab derivatives``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from .. import catalog
from ..catalog import PROPERTIES, TASKS, LossSpec
from ._latex import render

console = Console()
err_console = Console(stderr=True)

_SHORT = {
    "nonnegative": "≥0",
    "zero_at_perfect": "0@perfect",
    "convex": "convex",
    "smooth": "smooth",
    "bounded": "bounded",
    "robust_to_outliers": "robust",
    "symmetric": "symmetric",
}


def _lookup(name: str) -> LossSpec:
    try:
        return catalog.get(name)
    except catalog.UnknownLossError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(code=2) from None


def _bad_option(option: str, expected: list[str], got: str) -> None:
    err_console.print(f"[red]error:[/red] {option} must be one of {', '.join(expected)}; got {escape(repr(got))}")
    raise typer.Exit(code=2)


def _props(spec: LossSpec) -> str:
    return " ".join(_SHORT[p] for p, v in spec.properties.items() if v)


def losses(
    task: Annotated[str | None, typer.Option(help=f"only losses for this task ({', '.join(TASKS)})")] = None,
    prop: Annotated[
        list[str] | None,
        typer.Option("--property", "-p", help=f"only losses with this property ({', '.join(PROPERTIES)})"),
    ] = None,
    family: Annotated[str | None, typer.Option(help="only this family")] = None,
) -> None:
    """List the catalog as a table (filter by task, property, family)."""
    if task is not None and task not in TASKS:
        _bad_option("--task", list(TASKS), task)
    for p in prop or []:
        if p not in PROPERTIES:
            _bad_option("--property", list(PROPERTIES), p)
    specs = catalog.list_losses(task=task, properties=prop or [], family=family)
    table = Table(title=f"losslab catalog ({len(specs)} losses)", show_lines=False)
    for col in ("name", "family", "input", "tasks", "properties", "summary"):
        table.add_column(col, overflow="fold")
    for s in specs:
        table.add_row(
            escape(s.name), s.family, s.input_kind, ", ".join(s.tasks), _props(s), escape(s.summary)
        )
    console.print(table)
    if not specs:
        console.print("No loss matches these filters.")


def show(name: Annotated[str, typer.Argument(help="loss name, e.g. sigmoid_focal_loss")]) -> None:
    """Formula, derivative, properties, expected output head, advice and references of one loss."""
    s = _lookup(name)
    console.print(Panel.fit(f"[bold]{escape(s.name)}[/bold]  ({s.family})\n{escape(s.summary)}", border_style="cyan"))
    console.print(f"[bold]Formula[/bold]     {escape(render(s.formula))}")
    console.print(f"            [dim]LaTeX: {escape(s.formula)}[/dim]", highlight=False)
    console.print(f"[bold]Derivative[/bold]  {escape(render(s.derivative))}")
    console.print(f"            [dim]LaTeX: {escape(s.derivative)}[/dim]", highlight=False)
    console.print(f"[bold]Input[/bold]       {s.input_kind}")
    heads = Table(show_header=True, box=None, padding=(0, 2))
    heads.add_column("task")
    heads.add_column("output head")
    for task in s.tasks:
        heads.add_row(task, escape(s.head_for(task).describe()))
    console.print("[bold]Expected head[/bold]")
    console.print(heads)
    props = Table(show_header=False, box=None, padding=(0, 2))
    for p, v in s.properties.items():
        undeclared = "[dim]n/a[/dim]" if s.builtin else "[yellow]unknown[/yellow]"  # user losses may not say
        mark = "[green]yes[/green]" if v else (undeclared if v is None else "[red]no[/red]")
        props.add_row(p, mark, f"[dim]{PROPERTIES[p]}[/dim]")
    console.print("[bold]Properties[/bold]")
    console.print(props)
    if s.params:
        params = Table(show_header=True, box=None, padding=(0, 2))
        for col in ("hyperparameter", "default", "constraint"):
            params.add_column(col)
        defaults = s.defaults
        for pname, p in s.params.items():
            params.add_row(pname, escape(repr(defaults.get(pname, "required"))), escape(p.describe()))
        console.print("[bold]Hyperparameters[/bold]")
        console.print(params)
    console.print(f"[bold]When to use[/bold] {escape(s.when_to_use)}")
    if s.drop_in_for:
        console.print(f"[bold]Drop-in for[/bold] {s.drop_in_for}")
    if s.notes:
        console.print(f"[bold]Notes[/bold]       {escape(s.notes)}")
    console.print("[bold]References[/bold]")
    for ref in s.references:
        console.print(f"  - {escape(ref)}", highlight=False)


def derivatives(
    names: Annotated[list[str] | None, typer.Argument(help="losses to include (default: all)")] = None,
    tolerance: Annotated[float, typer.Option(help="largest acceptable error")] = 1e-6,
) -> None:
    """Derivative table (the articles' "Table 2"), each row checked against autograd now."""
    specs = [_lookup(n) for n in names] if names else [catalog.get(n) for n in catalog.names()]
    table = Table(title="Derivatives w.r.t. the input, checked against autograd (float64)")
    for col in ("loss", "loss formula", "derivative", "max |analytic - autograd|", ""):
        table.add_column(col, overflow="fold")
    failed = []
    for s in specs:
        err = catalog.derivative_error(s)
        if err is None:
            shown, mark = "autograd only", "[dim]-[/dim]"
        else:
            shown = f"{err:.2e}"
            ok = err <= tolerance
            mark = "[green]ok[/green]" if ok else "[red]FAIL[/red]"
            if not ok:
                failed.append(s.name)
        table.add_row(escape(s.name), escape(render(s.formula)), escape(render(s.derivative)), shown, mark)
    console.print(table)
    if failed:
        err_console.print(f"[red]error:[/red] derivative check failed for {escape(', '.join(failed))}")
        raise typer.Exit(code=1)


def register_commands(app: typer.Typer) -> None:
    app.command("losses")(losses)
    app.command("show")(show)
    app.command("derivatives")(derivatives)
