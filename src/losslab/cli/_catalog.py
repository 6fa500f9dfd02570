"""Catalog commands: ``losslab losses``, ``losslab show NAME``, ``losslab derivatives``.

Importing this module costs no torch: the catalog (and with it torch) is imported inside the
commands, help texts read the torch-free :mod:`losslab._vocabulary`. On a terminal tables are
drawn with rich; when stdout is a pipe or a file they print plainly, one row per line, so that
``losslab losses | grep focal`` finds whole rows. ``--format csv|json`` gives every field to a
script.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .._vocabulary import PROPERTIES, TASKS

if TYPE_CHECKING:
    from ..catalog import LossSpec

FORMATS = ("table", "csv", "json")

_SHORT = {
    "nonnegative": "≥0",
    "zero_at_perfect": "0@perfect",
    "convex": "convex",
    "smooth": "smooth",
    "bounded": "bounded",
    "robust_to_outliers": "robust",
    "symmetric": "symmetric",
}


# -- shared helpers (also used by ``losslab plot``) --------------------------------------------
def fail(command: str, message: str) -> None:
    """Print ``error: <command>: <message>`` on stderr (one line, no traceback) and exit 2."""
    typer.echo(f"error: {command}: {message}", err=True)
    raise typer.Exit(code=2)


def lookup(name: str, command: str) -> LossSpec:
    """A catalog name or alias, or ``module:function`` for a user loss (imported from the cwd)."""
    from .. import catalog

    if ":" in name:
        from ..custom import LossLoadError, load_loss

        try:
            return load_loss(name, search_cwd=True)
        except LossLoadError as exc:
            fail(command, str(exc))
    try:
        return catalog.get(name)
    except catalog.UnknownLossError as exc:
        fail(command, str(exc))
    raise AssertionError("unreachable")


def parse_value(text: str) -> Any:
    """A hyperparameter value from the command line: a Python literal (0, 2.5, True, 'x'),
    ``inf``/``-inf``, or else the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        pass
    try:
        return float(text)  # inf, -inf, nan
    except ValueError:
        return text


def parse_params(items: Sequence[str], command: str, option: str = "--param") -> dict[str, Any]:
    """``["alpha=0", "scale=2,beta=1"]`` -> ``{"alpha": 0, "scale": 2, "beta": 1}``."""
    out: dict[str, Any] = {}
    for item in items:
        for part in item.split(","):
            key, sep, value = part.partition("=")
            if not sep or not key.strip() or not value.strip():
                fail(command, f"{option} must look like NAME=VALUE (e.g. alpha=0), got {part!r}")
            out[key.strip()] = parse_value(value.strip())
    return out


def check_format(fmt: str, command: str) -> None:
    if fmt not in FORMATS:
        fail(command, f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")


def is_terminal() -> bool:
    return sys.stdout.isatty()


def console():  # type: ignore[no-untyped-def]
    from rich.console import Console

    return Console(highlight=False)


def print_plain_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], title: str = ""
) -> None:
    """Columns padded with spaces, one row per line, the last column never padded."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    if title:
        typer.echo(title)

    def line(cells: Sequence[str]) -> str:
        padded = [c.ljust(w) for c, w in zip(cells[:-1], widths[:-1], strict=True)]
        return "  ".join([*padded, cells[-1]]).rstrip()

    typer.echo(line(header))
    for r in rows:
        typer.echo(line(r))


def print_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    title: str = "",
    no_wrap: Sequence[int] = (0,),
) -> None:
    """A rich table on a terminal (``no_wrap`` columns never fold), plain text elsewhere."""
    if not is_terminal():
        print_plain_table(header, rows, title)
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(title) if title else None)
    for i, col in enumerate(header):
        table.add_column(
            col,
            no_wrap=i in no_wrap,
            overflow="fold",
            min_width=max([len(col)] + [len(r[i]) for r in rows]) if i in no_wrap else None,
        )
    for r in rows:
        table.add_row(*(escape(c) for c in r))
    console().print(table)


def write_csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    typer.echo(buf.getvalue(), nl=False)


def write_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


# -- losses ------------------------------------------------------------------------------------
def _props(spec: LossSpec) -> str:
    parts = []
    for p, v in spec.properties.items():
        if p in spec.rules:
            parts.append(f"{_SHORT[p]}({spec.rules[p].condition})")
        elif v:
            parts.append(_SHORT[p])
    return " ".join(parts)


def _record(spec: LossSpec) -> dict[str, Any]:
    """Every field of a spec a script needs (plain JSON types)."""
    from ..catalog import render_formula

    defaults = spec.defaults
    return {
        "name": spec.name,
        "family": spec.family,
        "input_kind": spec.input_kind,
        "tasks": list(spec.tasks),
        "properties": dict(spec.properties),
        "property_rules": {k: r.condition for k, r in spec.rules.items()},
        "summary": spec.summary,
        "when_to_use": spec.when_to_use,
        "formula": spec.formula,
        "formula_text": render_formula(spec.formula),
        "derivative": spec.derivative,
        "derivative_text": render_formula(spec.derivative),
        "analytic_derivative": spec.derivative_fn is not None,
        "heads": {t: spec.head_for(t).describe() for t in spec.tasks},
        "hyperparameters": {
            n: {"default": _jsonable(defaults.get(n, "required")), "constraint": p.describe()}
            for n, p in spec.params.items()
        },
        "aliases": list(spec.aliases),
        "drop_in_for": spec.drop_in_for,
        "references": list(spec.references),
        "notes": spec.notes,
        "builtin": spec.builtin,
    }


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if hasattr(v, "tolist"):
        return v.tolist()
    return repr(v)


_LIST_COLUMNS = ("name", "family", "input", "tasks", "properties", "summary")


def losses(
    task: Annotated[
        str | None, typer.Option(help=f"only losses for this task ({', '.join(TASKS)})")
    ] = None,
    prop: Annotated[
        list[str] | None,
        typer.Option(
            "--property", "-p", help=f"only losses with this property ({', '.join(PROPERTIES)})"
        ),
    ] = None,
    family: Annotated[str | None, typer.Option(help="only this family")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, csv or json")] = "table",
) -> None:
    """List the catalog (filter by task, property, family)."""
    check_format(fmt, "losses")
    if task is not None and task not in TASKS:
        fail("losses", f"--task must be one of {', '.join(TASKS)}, got {task!r}")
    for p in prop or []:
        if p not in PROPERTIES:
            fail("losses", f"--property must be one of {', '.join(PROPERTIES)}, got {p!r}")
    from .. import catalog

    specs = catalog.list_losses(task=task, properties=prop or [], family=family)
    if fmt == "json":
        write_json([_record(s) for s in specs])
        return
    if fmt == "csv":
        keys = list(PROPERTIES)
        write_csv(
            ["name", "family", "input_kind", "tasks", *keys, "summary"],
            [
                [
                    s.name,
                    s.family,
                    s.input_kind,
                    " ".join(s.tasks),
                    *(s.describe_property(k) for k in keys),
                    s.summary,
                ]
                for s in specs
            ],
        )
        return
    rows = [
        [s.name, s.family, s.input_kind, ", ".join(s.tasks), _props(s), s.summary] for s in specs
    ]
    columns: Sequence[str] = _LIST_COLUMNS
    if is_terminal() and console().width < 120:  # a narrow terminal: the columns that matter most
        keep = [0, 2, 3, 4]
        columns = [columns[i] for i in keep]
        rows = [[r[i] for i in keep] for r in rows]
    print_table(columns, rows, title=f"losslab catalog ({len(specs)} losses)", no_wrap=(0,))
    if not specs:
        typer.echo("No loss matches these filters.")


# -- show --------------------------------------------------------------------------------------
def show(
    name: Annotated[
        str, typer.Argument(help="loss name (e.g. sigmoid_focal_loss) or module:function")
    ],
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param", help="hyperparameter for the properties, NAME=VALUE (repeat, or a,b=...)"
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, csv or json")] = "table",
) -> None:
    """Formula, derivative, properties, expected output head, advice and references of one loss."""
    check_format(fmt, "show")
    hp = parse_params(param or [], "show")
    s = lookup(name, "show")
    try:
        props = s.properties_at(**hp)
    except (TypeError, ValueError) as exc:
        fail("show", f"--param: {exc}")
    record = _record(s)
    record["properties"] = props
    record["properties_at"] = {k: _jsonable(v) for k, v in hp.items()}
    if fmt == "json":
        write_json(record)
        return
    if fmt == "csv":
        write_csv(
            ["field", "value"],
            [
                [k, v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)]
                for k, v in record.items()
            ],
        )
        return
    _show_text(s, props, hp, record)


def _mark(s: LossSpec, key: str, value: bool | None, hp: dict[str, Any]) -> str:
    rule = s.rules.get(key)
    if rule is not None and not (set(hp) & set(rule.names)):
        return (
            f"{'yes' if value else 'no'} here; yes if {rule.condition}"
            if hp
            else f"yes if {rule.condition}"
        )
    if rule is not None:
        return f"{'yes' if value else 'no'} (yes if {rule.condition})"
    if value is None:
        return "n/a" if s.builtin else "unknown"
    return "yes" if value else "no"


def _show_text(
    s: LossSpec, props: dict[str, bool | None], hp: dict[str, Any], record: dict[str, Any]
) -> None:
    out = typer.echo
    out(f"{s.name}  ({s.family})")
    out(f"  {s.summary}")
    out(f"Formula      {record['formula_text']}")
    out(f"             LaTeX: {s.formula}")
    out(f"Derivative   {record['derivative_text']}")
    out(f"             LaTeX: {s.derivative}")
    out(f"Input        {s.input_kind}")
    out("Expected head")
    for task in s.tasks:
        out(f"  {task:<14} {s.head_for(task).describe()}")
    at = ", ".join(f"{k}={v}" for k, v in hp.items())
    out(f"Properties{f' at {at}' if at else ''}")
    width = max(len(p) for p in PROPERTIES)
    for p in PROPERTIES:
        if p in props:
            out(f"  {p:<{width}}  {_mark(s, p, props[p], hp):<28} {PROPERTIES[p]}")
    if s.params:
        out("Hyperparameters")
        defaults = s.defaults
        for pname, p in s.params.items():
            out(f"  {pname:<18} default {defaults.get(pname, 'required')!r:<10} {p.describe()}")
    out(f"When to use  {s.when_to_use}")
    if s.drop_in_for:
        out(f"Drop-in for  {s.drop_in_for}")
    if s.notes:
        out(f"Notes        {s.notes}")
    out("References")
    for ref in s.references:
        out(f"  - {ref}")


# -- derivatives -------------------------------------------------------------------------------
def derivatives(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="losses (or module:function) to include (default: all)"),
    ] = None,
    tolerance: Annotated[float, typer.Option(help="largest acceptable error")] = 1e-6,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, csv or json")] = "table",
) -> None:
    """Derivative table (the articles' "Table 2"), each row checked against autograd now."""
    check_format(fmt, "derivatives")
    from .. import catalog

    specs = (
        [lookup(n, "derivatives") for n in names]
        if names
        else [catalog.get(n) for n in catalog.names()]
    )
    records = []
    for s in specs:
        err = catalog.derivative_error(s)
        records.append(
            {
                "name": s.name,
                "formula": s.formula,
                "formula_text": catalog.render_formula(s.formula),
                "derivative": s.derivative,
                "derivative_text": catalog.render_formula(s.derivative),
                "max_abs_error": err,
                "status": "autograd only"
                if err is None
                else ("ok" if err <= tolerance else "FAIL"),
            }
        )
    failed = [r["name"] for r in records if r["status"] == "FAIL"]
    if fmt == "json":
        write_json(records)
    elif fmt == "csv":
        keys = list(records[0]) if records else ["name"]
        write_csv(keys, [[("" if r[k] is None else r[k]) for k in keys] for r in records])
    else:
        rows = [
            [
                r["name"],
                r["formula_text"],
                r["derivative_text"],
                "-" if r["max_abs_error"] is None else f"{r['max_abs_error']:.2e}",
                r["status"],
            ]
            for r in records
        ]
        print_table(
            ("loss", "loss formula", "derivative", "max |analytic - autograd|", "status"),
            rows,
            title="Derivatives w.r.t. the input, checked against autograd (float64)",
            no_wrap=(0, 3, 4),
        )
    if failed:
        typer.echo(
            f"error: derivatives: the check failed for {', '.join(failed)} (tolerance {tolerance:g})",
            err=True,
        )
        raise typer.Exit(code=1)


def register_commands(app: typer.Typer) -> None:
    app.command("losses")(losses)
    app.command("show")(show)
    app.command("derivatives")(derivatives)
