"""The study in the terminal (rich), as ``losslab compare`` and ``losslab report`` print it.

Order: the recommendations and a summary across tasks first, then each task's table, its power
notes, the legend and the rules. Tables fit the console's width (80 columns in a pipe unless
``COLUMNS`` says otherwise): the label, the primary metric, the difference from the best and the
verdict always show; the task's other metrics fill the width that is left, and those that do not
fit follow in a second table. Cells are compact (``0.967±0.021``). In a pipe or a file nothing is
boxed; a row stays on one line (``grep`` sees its numbers and verdict), except that a label too
long for the width continues on the next line rather than pushing the table past it.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..lab.recommend import RULE, summary_paragraph
from ..lab.stats import metric_range
from .tables import (
    VERDICT_LEGEND,
    MainRow,
    StudyReport,
    TaskReport,
    digits_for,
    fmt_lr,
    metric_label,
)

__all__ = ["print_summary", "print_recommendations", "task_tables", "lr_table"]

_VERDICT_STYLE = {"best": "bold green", "worse": "red", "better": "green", "same": "", "na": "dim"}
#: marks the recommended loss in a table (also visible without colour)
MARK = "*"
_GAP = 2  # columns between two table columns


@dataclass(frozen=True)
class _Column:
    header: str
    cells: tuple[str, ...]
    justify: str = "right"
    style: Callable[[int], str] | None = None

    @property
    def width(self) -> int:
        return max([len(self.header), *(len(c) for c in self.cells)])


def _recommended(task: TaskReport) -> set[str]:
    return {r.recommended for r in task.recommendations if r.recommended}


def _effect_text(row: MainRow, digits: int) -> str:
    e = row.effect
    if row.is_best:
        return "–"
    if e is None or e.n == 0 or math.isnan(e.mean):
        return "n/a"
    if e.n < 2 or math.isnan(e.low):
        return f"{e.mean:+.{digits}f}"
    return f"{e.mean:+.{digits}f}±{(e.high - e.low) / 2:.{digits}f}"


def _columns(task: TaskReport, rows: Sequence[MainRow]) -> tuple[list[_Column], list[_Column]]:
    """The fixed columns (always shown) and the optional ones (the other metrics), in order."""
    marked = _recommended(task)
    digits = {m: digits_for(r.cells.get(m) for r in rows) for m in task.metrics}
    p = task.primary
    labels = tuple(f"{MARK} {r.label}" if r.label in marked else f"  {r.label}" for r in rows)
    fixed = [
        _Column("#", tuple(str(i) for i in range(1, len(rows) + 1))),
        _Column("loss", labels, "left", lambda i: "bold" if rows[i].label in marked else ""),
    ]
    if len(task.lrs) > 1:
        fixed.append(_Column("lr", tuple(fmt_lr(r.lr) for r in rows)))
    fixed.append(
        _Column(
            metric_label(p),
            tuple(r.cells[p].text(digits[p], compact=True) if p in r.cells else "–" for r in rows),
        )
    )
    fixed.append(_Column("Δ vs best", tuple(_effect_text(r, digits[p]) for r in rows)))
    fixed.append(
        _Column(
            "verdict",
            tuple(r.verdict_code for r in rows),
            "left",
            lambda i: _VERDICT_STYLE[rows[i].verdict_kind],
        )
    )
    if any(r.diverged or r.diverged_other_lrs for r in rows) or len({r.runs for r in rows}) > 1:
        fixed.append(
            _Column(
                "ok/runs",
                tuple(
                    f"{r.runs - r.diverged}/{r.runs}"
                    + (f" +{r.diverged_other_lrs}d" if r.diverged_other_lrs else "")
                    for r in rows
                ),
            )
        )
    optional = [
        _Column(
            metric_label(m),
            tuple(r.cells[m].text(digits[m], compact=True) if m in r.cells else "–" for r in rows),
        )
        for m in task.metrics
        if m != p
    ]
    return fixed, optional


def _span(columns: Sequence[_Column]) -> int:
    return sum(c.width for c in columns) + _GAP * max(len(columns) - 1, 0)


def _short(column: _Column, width: int) -> _Column:
    """The label column cut to ``width`` characters (continuation tables: the # says which)."""
    cells = tuple(c if len(c) <= width else c[: width - 1] + "…" for c in column.cells)
    return _Column(column.header, cells, column.justify, column.style)


def _table(columns: Sequence[_Column], *, plain: bool) -> Table:
    table = Table(
        box=None if plain else box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, _GAP // 2),
    )
    for c in columns:
        # a label too long for the width folds (the row's numbers stay on its first line)
        fold = c.header == "loss"
        table.add_column(
            Text(c.header),
            justify=c.justify,  # type: ignore[arg-type]
            no_wrap=not fold,
            overflow="fold" if fold else "ellipsis",
        )
    for i in range(len(columns[0].cells)):
        table.add_row(*(Text(c.cells[i], style=c.style(i) if c.style else "") for c in columns))
    return table


def _name(task: TaskReport, group: str) -> str:
    return f"{task.name} / {group}" if group else task.name


def task_tables(
    task: TaskReport, width: int = 80, *, plain: bool = False
) -> list[tuple[str, Table]]:
    """The task's "loss × metrics" tables fitted to ``width``, one per competitor group, each with
    its title (printed as a paragraph above it, so a long title wraps at the console's width): the
    fixed columns and as many of the other metrics as fit; the rest follow in further tables (the
    # column says which row)."""
    out = []
    for n, group in enumerate(task.groups):
        rows = [r for r in task.main if r.group == group]
        if not rows:
            continue
        name = _name(task, group)
        fixed, optional = _columns(task, rows)
        first = list(fixed)
        while optional and _span([*first, optional[0]]) <= width:
            first.append(optional.pop(0))
        title = f"{name}: {task.description}" if n == 0 else name
        out.append((title, _table(first, plain=plain)))
        while optional:
            # the # says which row; in a pipe labels stay whole (grep sees whole rows)
            more = [fixed[0], fixed[1] if plain else _short(fixed[1], 18)]
            while optional and (len(more) == 2 or _span([*more, optional[0]]) <= width):
                more.append(optional.pop(0))
            out.append((f"{name}: more metrics", _table(more, plain=plain)))
    return out


def lr_table(task: TaskReport, *, plain: bool = False) -> Table | None:
    """Test primary metric of each loss at each learning rate (``losslab report --lr``)."""
    if task.by_lr is None:
        return None
    digits = digits_for(c for r in task.by_lr.rows for c in r.cells.values())
    cols = [_Column("loss", tuple(r.label for r in task.by_lr.rows), "left")]
    for lr in task.by_lr.lrs:
        cells = []
        for r in task.by_lr.rows:
            c = r.cells.get(lr)
            text = "–" if c is None else c.text(digits, compact=True)
            cells.append(text + ("*" if r.chosen == lr else " "))
        cols.append(_Column(f"lr {fmt_lr(lr)}", tuple(cells)))
    return _table(cols, plain=plain)


def _emit(table: Table, console: Console, plain: bool) -> None:
    if not plain:
        console.print(table)
        return
    wide = Console(width=max(console.width, 40), no_color=True, highlight=False)
    with wide.capture() as captured:
        wide.print(table)
    for line in captured.get().splitlines():
        console.out(line.rstrip(), highlight=False)  # never wrapped, recorded if recording


def _indented(console: Console, text: str, indent: int = 2, style: str = "") -> None:
    """A paragraph wrapped at the console's width with a hanging indent, no trailing spaces."""
    pad = " " * indent
    wrapped = textwrap.fill(
        text,
        width=max(console.width, 40),
        initial_indent=pad,
        subsequent_indent=pad,
        break_on_hyphens=False,
    )
    console.print(Text(wrapped, style=style), soft_wrap=True)


def _para(console: Console, text: str, style: str = "") -> None:
    _indented(console, text, 0, style)


def print_recommendations(report: StudyReport, console: Console) -> None:
    """The recommendation of each task (and competitor group), its reason and trade-offs, and
    the summary across tasks."""
    if not report.tasks:
        return
    console.print(Text("Recommendations", style="bold"))
    for task in report.tasks:
        for r in task.recommendations:
            head = Text(f"{_name(task, r.group)}: ", style="bold")
            head.append(r.recommended or "none", style="bold green" if r.resolved else "yellow")
            console.print(head)
            _indented(console, r.reason)
            for t in r.tradeoffs:
                _indented(console, f"trade-off: {t}")
    console.print()
    _para(console, summary_paragraph(report, picks=False))
    console.print()


def _task_notes(task: TaskReport, console: Console) -> None:
    ranges = [m for m in task.metrics if metric_range(m) != (-math.inf, math.inf)]
    line = (
        f"test set, mean±95% CI over {task.seeds} seed{'s' if task.seeds != 1 else ''} "
        f"({task.primary_label}: {task.direction}); "
    )
    if ranges:
        line += "intervals stay in each metric's range; "
    line += task.selection_rule
    _para(console, line, "dim")
    for w in task.warnings:
        _para(console, f"warning: {w}", "yellow")
    for n in task.power_notes:
        _para(console, f"power: {n}", "yellow")


def print_summary(report: StudyReport, console: Console, *, lrs: bool = False) -> None:
    """Print the recommendations, then every task's tables, notes and (``lrs``) its loss × lr
    table, then the legend and the skipped tasks with their reasons."""
    plain = not console.is_terminal
    width = max(console.width, 40)
    print_recommendations(report, console)
    for task in report.tasks:
        for title, table in task_tables(task, width, plain=plain):
            _para(console, title, "bold")
            _emit(table, console, plain)
        _task_notes(task, console)
        if lrs:
            table = lr_table(task, plain=plain)
            if table is not None:
                console.print()
                console.print(Text(f"{task.name}: test {task.primary_label} by learning rate"))
                _emit(table, console, plain)
                console.print(Text("* the learning rate each loss is reported at", style="dim"))
        console.print()
    if report.tasks:
        _para(
            console,
            f"{MARK} recommended. Δ vs best: mean paired difference from the group's best "
            f"± 95% CI half-width. Verdicts: {VERDICT_LEGEND}.",
            "dim",
        )
        _para(console, f"Rule: {RULE}", "dim")
    for s in report.skipped:
        _para(console, f"skipped {s.name}: {s.reason}", "yellow")
    if not report.tasks:
        console.print("no finished runs in this study yet")
